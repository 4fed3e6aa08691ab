// Kubernetes mode (DESIGN section 8): keeps the ledger in step with the cluster by list+watch of
// Nodes and Pods, and binds through the API.
//
// - Start(): lists Nodes and Pods, builds the nodes, adopts every bound pod from its assignment
//   annotations (the ledger is rebuilt after a restart from what the pods record), then marks
//   the service ready.
// - Run(): one watch per kind from the list's resourceVersion, with allowWatchBookmarks. Events:
//   a bound pod the ledger does not hold is adopted; a deleted or finished pod is released; a
//   node whose capacity, labels or topology changed rebuilds the node set (placements kept). 410
//   Gone -> relist and reconcile; other failures -> reconnect with exponential backoff
//   (0.5 s doubling to 30 s).
// - KubeBinder: POST .../pods/{name}/binding with the assignment annotations in the Binding's
//   metadata; a 409 because the pod is already bound to the same node counts as success (a retry).
//
// Thread-safety: Start() then Run() on one thread; Stop() from any thread.
#ifndef ACCELSCHED_SCHEDULER_KUBE_SYNC_H_
#define ACCELSCHED_SCHEDULER_KUBE_SYNC_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/extender.h"
#include "scheduler/kube/client.h"
#include "scheduler/ledger.h"

namespace accelsched::scheduler::kube {

class KubeBinder final : public Binder {
 public:
  explicit KubeBinder(const KubeClient* client) : client_(client) {}
  absl::Status Bind(const codec::PodObject& pod, const std::string& node,
                    const std::map<std::string, std::string>& annotations) override;

 private:
  const KubeClient* client_;
};

class KubeSync {
 public:
  // Not owned; all must outlive the sync. `extender` adopts pods into `ledger`.
  KubeSync(const KubeClient* client, Ledger* ledger, Extender* extender)
      : client_(client), ledger_(ledger), extender_(extender) {}
  ~KubeSync() { Stop(); }

  // The initial list. Errors: Unavailable/PermissionDenied from the API.
  absl::Status Start();
  // Watches until Stop(); returns then.
  void Run();
  void Stop();

  // Counters for tests and logs.
  int relists() const { return relists_; }

 private:
  absl::Status ListNodes();
  absl::Status ListPods();
  // PodGroups (scheduling.x-k8s.io/v1alpha1): minMember of each gang. Not installed (404) or not
  // allowed (403): gangs then need the accelsched.io/gang-size annotation; OK either way.
  absl::Status ListPodGroups();
  // Namespaces: tenancy (label accelsched.io/isolation). A bad label value is logged and the
  // namespace treated as shared.
  absl::Status ListNamespaces();
  void OnNamespace(const std::string& type, const codec::Json& object);
  void WatchLoop(const std::string& kind);
  void OnNode(const std::string& type, const codec::Json& object);
  void OnPod(const std::string& type, const codec::Json& object);
  void OnPodGroup(const std::string& type, const codec::Json& object);
  absl::Status RebuildNodes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KubeClient* client_;
  Ledger* ledger_;
  Extender* extender_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> relists_{0};
  absl::Mutex mu_;
  std::map<std::string, codec::NodeObject> nodes_ ABSL_GUARDED_BY(mu_);
  codec::TopologyCache topologies_ ABSL_GUARDED_BY(mu_);
  std::string node_version_ ABSL_GUARDED_BY(mu_);
  std::string pod_version_ ABSL_GUARDED_BY(mu_);
  std::string pod_group_version_ ABSL_GUARDED_BY(mu_);
  std::string namespace_version_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> pod_groups_available_{false};
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_SYNC_H_
