// The App: the extender's parts wired together, the same way in both modes (DESIGN section 8).
//
// - Static mode: the cluster from a file of Node and Pod objects, as printed by `kubectl get
//   nodes,pods -A -o json` (or -o yaml), with the pods that are bound adopted into the ledger
//   with the devices their annotations record (LoadStaticCluster). Binds live in memory.
// - Kubernetes mode: an empty ledger filled by the informers (sync/kube_sync.h) once Start()
//   lists the cluster; binds go to the API (KubeBinder).
//
// Both build the solver from the config's policy and the workload model of WorkloadFrom: static
// mode from the pods the file runs, Kubernetes mode from none (its pods are listed only after the
// solver exists, and the solver is immutable).
//
// Thread-safety: App's accessors are thread-safe as the parts are; construction is not.
#ifndef ACCELSCHED_SCHEDULER_CMD_APP_H_
#define ACCELSCHED_SCHEDULER_CMD_APP_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/policy.h"
#include "scheduler/codec/config.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/leader_election.h"
#include "scheduler/service/extender.h"
#include "scheduler/service/metrics.h"
#include "scheduler/state/ledger.h"
#include "scheduler/sync/kube_binder.h"
#include "scheduler/sync/kube_sync.h"

namespace accelsched::scheduler {

struct StaticCluster {
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<Extender> extender;
  std::vector<std::string> warnings;  // Per node: unknown product, topology fallback, ...
};

// The workload model the FGD-based policies score against when no trace is given: the shapes
// of the pods the cluster already runs plus a default mix (1, 2, 4, 8 whole GPUs, shares of
// 250 and 500 milli, CPU-only), so that an empty cluster still has a sensible model.
plugins::WorkloadModel WorkloadFrom(const std::vector<plugins::PodRequest>& running);

// The leader elector's options from the config; `identity` names this replica.
kube::LeaderElectionOptions LeaderElectionOptionsFrom(const LeaderElectionConfig& config,
                                                      std::string identity);
// This replica's identity in the Lease: the host name (the pod's name) and 8 random hex digits.
std::string ReplicaIdentity();
// The server's gate with leader election: nullopt for the leader, else why it does not serve.
std::optional<std::string> StandbyReason(const kube::LeaderElector& elector,
                                         const LeaderElectionConfig& config);

// Kubernetes mode's health: why the service must stop serving (Server::SetDegraded) at steady
// time `now`, given the sync's longest watch outage, or nullopt. An outage counts once it has
// lasted `threshold` seconds (watchFailureSeconds; 0 = never).
std::optional<std::string> DegradedReason(const std::optional<kube::KubeSync::Outage>& outage,
                                          double now, double threshold);

// Parses `text` (`file` names it in errors), builds the ledger and the extender, and adopts
// every pod that holds resources. InvalidArgument naming the item for anything malformed or
// impossible (e.g. two pods on the same GPU).
absl::StatusOr<StaticCluster> LoadStaticCluster(absl::string_view text, absl::string_view file,
                                                const ExtenderConfig& config, Binder* binder,
                                                Metrics* metrics);

// Every part of a running extender but the HTTP server, owned together.
class App {
 public:
  // Static mode from cluster file `file` (its text `text`).
  static absl::StatusOr<std::unique_ptr<App>> Static(absl::string_view text, absl::string_view file,
                                                     const ExtenderConfig& config);
  // Kubernetes mode against the API server of `client`; nothing is listed yet (sync()->Start()).
  static absl::StatusOr<std::unique_ptr<App>> Kubernetes(std::unique_ptr<kube::KubeClient> client,
                                                         const ExtenderConfig& config);

  Ledger& ledger() { return *ledger_; }
  Extender& extender() { return *extender_; }
  Metrics& metrics() { return metrics_; }
  // Kubernetes mode's informers; null in static mode.
  kube::KubeSync* sync() { return sync_.get(); }
  // Kubernetes mode's API client; null in static mode.
  const kube::KubeClient* client() const { return client_.get(); }
  // Start-up warnings (per node: unknown product, topology fallback, ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  App() = default;

  Metrics metrics_;  // First: the extender refers to it.
  InMemoryBinder memory_binder_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<kube::KubeBinder> kube_binder_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Extender> extender_;
  std::unique_ptr<kube::KubeSync> sync_;
  std::vector<std::string> warnings_;
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CMD_APP_H_
