// Kubernetes mode (DESIGN section 8): keeps the service in step with the cluster by list+watch of
// Nodes, PodGroups, Namespaces and Pods.
//
// - Start(): lists every kind in that order (PodGroups before Pods: their gangs' sizes), builds
//   the nodes, adopts every bound pod from its assignment annotations (the ledger is rebuilt
//   after a restart from what the pods record). The caller then marks the service ready.
// - Run(): one watch per kind from its list's resourceVersion, with allowWatchBookmarks. Events:
//   a bound pod is made to agree with the API (adopted if not held; converged to the API's node
//   and devices if held otherwise; a conflict, reported as an Event on the pod, if its devices
//   are another pod's); a deleted or finished pod is released; a node whose capacity, labels or
//   topology changed rebuilds the node set (placements kept). 410 Gone -> relist and reconcile;
//   other failures -> reconnect with exponential backoff, reset by an event or a relist.
// - Every kind is one row of a table (Informer: its path, how its list and its events are
//   applied); the list/watch/relist/backoff logic is written once for all of them.
// - PodGroups (scheduling.x-k8s.io/v1alpha1) are optional: not installed (404) or not allowed
//   (403) is logged, and gangs then take their size from the accelsched.io/gang-size annotation.
//
// Nothing here throws: malformed lists and events are logged and skipped (an undecodable watch
// line reconnects the watch).
//
// Thread-safety: Start() then Run() on one thread; Stop() from any thread.
#ifndef ACCELSCHED_SCHEDULER_SYNC_KUBE_SYNC_H_
#define ACCELSCHED_SCHEDULER_SYNC_KUBE_SYNC_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/codec/kube.h"
#include "scheduler/kube/backoff.h"
#include "scheduler/kube/client.h"
#include "scheduler/service/extender.h"
#include "scheduler/state/ledger.h"

namespace accelsched::scheduler::kube {

class KubeSync {
 public:
  // Not owned; all must outlive the sync. `extender` adopts pods into `ledger`.
  KubeSync(const KubeClient* client, Ledger* ledger, Extender* extender);
  ~KubeSync() { Stop(); }
  KubeSync(const KubeSync&) = delete;
  KubeSync& operator=(const KubeSync&) = delete;

  // The initial list. Errors: Unavailable/PermissionDenied from the API.
  absl::Status Start();
  // Watches until Stop(); returns then.
  void Run();
  void Stop();

  // Counters for tests and logs.
  int relists() const { return relists_; }
  // The resourceVersion of the last list or watch event of `kind` ("pods", "nodes", ...) that was
  // applied; empty before the first. Tests wait on it instead of sleeping.
  std::string Version(const std::string& kind) ABSL_LOCKS_EXCLUDED(mu_);
  // The delay before the next retry of `kind`'s watch after a failure: back to the shortest after
  // an event or a successful relist (issue 14: it stayed at its ceiling after an outage).
  double RetryDelay(const std::string& kind) ABSL_LOCKS_EXCLUDED(mu_);

  // The longest failure going on: since when a kind's watch (and relist) has failed without a
  // success in between (an event, a bookmark, a clean end of the stream or a relist), which
  // kind, and its last error; nullopt when every watch works. Time is the steady clock's
  // (SteadySeconds).
  struct Outage {
    double since = 0;
    std::string kind;
    std::string error;
  };
  std::optional<Outage> LongestOutage() ABSL_LOCKS_EXCLUDED(mu_);

  // A watch's timeoutSeconds: the server ends the stream after it and the watch reconnects.
  static constexpr int kWatchTimeoutSeconds = 300;

 private:
  // One watched kind.
  struct Informer {
    std::string kind;       // "nodes": in paths and logs.
    std::string path;       // "/api/v1/nodes".
    bool optional = false;  // 404 and 403 mean "not installed": not watched, not an error.
    // What works without the kind (optional kinds), for the log.
    std::string without;
    // Applies a list answer's text, requested at `listed_at` (Extender::GangClock); returns the
    // list's resourceVersion.
    std::function<absl::StatusOr<std::string>(absl::string_view text, double listed_at)> apply_list;
    // Applies one watch line; returns the event's resourceVersion ("" if none). An error ends the
    // watch (Aborted: 410 Gone, relist).
    std::function<absl::StatusOr<std::string>(absl::string_view line)> apply_event;
  };

  // GETs and applies `informer`'s list. OK without doing anything for an optional kind that is
  // not installed (marking it unavailable).
  absl::Status List(Informer& informer);
  // Watches `informer` until Stop(), relisting after 410 and reconnecting with backoff.
  void WatchLoop(Informer& informer);
  void SetVersion(const std::string& kind, const std::string& version) ABSL_LOCKS_EXCLUDED(mu_);
  void SetRetryDelay(const std::string& kind, double seconds) ABSL_LOCKS_EXCLUDED(mu_);
  // Records a failure of `kind`'s watch (the first since its last success starts an outage), or
  // a success (ending it).
  void MarkFailing(const std::string& kind, const absl::Status& error) ABSL_LOCKS_EXCLUDED(mu_);
  void MarkWorking(const std::string& kind) ABSL_LOCKS_EXCLUDED(mu_);

  // Per kind: the list and the events.
  absl::StatusOr<std::string> ApplyNodeList(absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> ApplyPodList(absl::string_view text, double listed_at);
  absl::StatusOr<std::string> ApplyPodGroupList(absl::string_view text);
  absl::StatusOr<std::string> ApplyNamespaceList(absl::string_view text);
  void OnNode(const codec::WatchEvent<codec::NodeObject>& event) ABSL_LOCKS_EXCLUDED(mu_);
  void OnPod(const codec::WatchEvent<codec::PodObject>& event);
  void OnPodGroup(const codec::WatchEvent<codec::PodGroupObject>& event);
  void OnNamespace(const codec::WatchEvent<codec::NamespaceObject>& event);
  // A bound pod from a list or an event: made to agree with the API (Extender::ReconcileBound),
  // a new conflict reported.
  void AdoptBound(const codec::PodObject& pod);
  void ReportConflicts();
  absl::Status RebuildNodes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KubeClient* client_;
  Ledger* ledger_;
  Extender* extender_;
  std::vector<Informer> informers_;  // Listed in this order; fixed after construction.
  std::atomic<bool> stopped_{false};
  std::atomic<int> relists_{0};
  absl::Mutex mu_;
  std::map<std::string, codec::NodeObject> nodes_ ABSL_GUARDED_BY(mu_);
  codec::TopologyCache topologies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> versions_ ABSL_GUARDED_BY(mu_);  // By kind.
  std::map<std::string, bool> available_ ABSL_GUARDED_BY(mu_);        // Optional kinds.
  std::map<std::string, double> retry_delays_ ABSL_GUARDED_BY(mu_);   // By kind, seconds.
  std::map<std::string, Outage> outages_ ABSL_GUARDED_BY(mu_);        // Failing kinds.
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_SYNC_KUBE_SYNC_H_
