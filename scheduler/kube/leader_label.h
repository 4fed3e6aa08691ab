// The leader's mark on its own pod: label accelsched.io/leader=true while this replica leads,
// none otherwise (issue 16). A Service that selects on the label sends kube-scheduler to the
// leader only, so every synced replica may be Ready (the pod readiness that a
// PodDisruptionBudget counts) while only the leader gets the verbs.
//
// A replica whose pod may still carry the label although it no longer leads (the patch that takes
// it off failed, e.g. it is cut off from the API server) is "stale": it must not count as ready,
// so that the kubelet takes it out of the Service even when the label stays. A new process
// starts stale: its pod may carry the label of the container it replaces (a restart keeps the
// pod), and its first Sync takes the label off.
//
// Thread-safety: Sync() on one thread; StaleReason() from any thread. Nothing here throws; API
// failures are logged and retried at the next Sync().
#ifndef ACCELSCHED_SCHEDULER_KUBE_LEADER_LABEL_H_
#define ACCELSCHED_SCHEDULER_KUBE_LEADER_LABEL_H_

#include <atomic>
#include <optional>
#include <string>

#include "scheduler/kube/client.h"

namespace accelsched::scheduler::kube {

class LeaderLabel {
 public:
  static constexpr const char* kKey = "accelsched.io/leader";
  static constexpr const char* kValue = "true";

  // `client` is not owned and must outlive this.
  LeaderLabel(const KubeClient* client, const std::string& pod_namespace,
              const std::string& pod_name);

  // Brings the pod's label in line with `leader`: sets it while leading, takes it off otherwise.
  // True when the pod is known to match (a patch was not needed or succeeded).
  bool Sync(bool leader);
  // Why a replica that is not (or no longer) the leader must not count as ready: its pod may
  // still carry the label. nullopt when it leads or its label is known to be off.
  std::optional<std::string> StaleReason(bool leader) const;
  const std::string& pod() const { return pod_; }

 private:
  enum Mark : int { kUnknown, kOn, kOff };

  const KubeClient* client_;
  std::string path_;                 // /api/v1/namespaces/{ns}/pods/{name}
  std::string pod_;                  // {ns}/{name}
  std::atomic<int> mark_{kUnknown};  // What the pod carries, as far as this process knows.
  bool failing_ = false;             // The last patch failed (logged once per streak).
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_LEADER_LABEL_H_
