// Leader election on a coordination.k8s.io/v1 Lease, as kube-scheduler and client-go do it, so
// that of several extender replicas exactly one serves the verbs (issue 16).
//
// - Acquire: every `retry` seconds, read the Lease. Absent: create it holding it. Held by another
//   identity: wait until the record has not changed for `lease` seconds, measured on this
//   process's clock from when it last saw the record change (clocks of other machines are never
//   compared). Then take it over with an update that carries the resourceVersion it was read at:
//   the API server refuses it (409) if anyone changed the Lease in between, so two candidates
//   never both win.
// - Renew: the leader updates renewTime every `retry` seconds, the same way. IsLeader() turns
//   false as soon as `renew_deadline` seconds have passed since the last successful renewal,
//   whatever the loop is doing (a request may hang): with renew_deadline < lease, an old leader
//   has stopped before any other candidate can see its Lease expire.
// - Release (Stop with release): holderIdentity "" and a 1 s duration, so a standby takes over at
//   its next retry instead of waiting for expiry.
//
// Nothing here throws; API failures are logged and retried.
//
// Thread-safety: Run() on one thread; IsLeader(), Stop() and the observers from any thread.
#ifndef ACCELSCHED_SCHEDULER_KUBE_LEADER_ELECTION_H_
#define ACCELSCHED_SCHEDULER_KUBE_LEADER_ELECTION_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/kube.h"
#include "scheduler/kube/client.h"

namespace accelsched::scheduler::kube {

struct LeaderElectionOptions {
  std::string lease_namespace = "accelsched-system";
  std::string lease_name = "accelsched-extender";
  std::string identity;  // Unique per process: "<pod name>_<random>".
  // kube-scheduler's defaults.
  double lease_seconds = 15;
  double renew_deadline_seconds = 10;
  double retry_seconds = 2;
  // Seconds on a monotonic clock; the steady clock when empty (tests inject their own).
  std::function<double()> clock;
};

// InvalidArgument unless 0 < retry < renew_deadline < lease and the names and identity are set.
absl::Status ValidateLeaderElection(const LeaderElectionOptions& o);

class LeaderElector {
 public:
  // `client` is not owned and must outlive the elector.
  LeaderElector(const KubeClient* client, LeaderElectionOptions options);

  // Campaigns and renews until Stop(); returns then (releasing the Lease if Stop asked so).
  void Run();
  // Ends Run(). With `release`, a leader gives the Lease back first (SIGTERM after the drain).
  void Stop(bool release);

  // True while this process holds the Lease and renewed it within renew_deadline.
  bool IsLeader() const ABSL_LOCKS_EXCLUDED(mu_);
  // Who holds the Lease as last read ("" if nobody or not read yet).
  std::string Holder() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& identity() const { return options_.identity; }
  int64_t transitions_won() const { return won_; }

  // One step of the loop, for tests: reads the Lease and acquires or renews it if it may. True if
  // this process holds it afterwards.
  bool TryAcquireOrRenew() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops leading at once and gives the Lease back if this process still holds it.
  void Release() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::string Path(bool with_name) const;
  double Now() const { return options_.clock(); }
  // Writes `record` (an update when it has a resourceVersion, else a create); true on success.
  bool Write(const codec::LeaseRecord& record);
  void Sleep(double seconds) const;

  const KubeClient* client_;
  LeaderElectionOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> release_{false};
  std::atomic<int64_t> won_{0};
  mutable absl::Mutex mu_;
  std::optional<codec::LeaseRecord> observed_ ABSL_GUARDED_BY(mu_);
  double observed_at_ ABSL_GUARDED_BY(mu_) = 0;  // When observed_ last changed (clock seconds).
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  double renewed_at_ ABSL_GUARDED_BY(mu_) = 0;  // Last successful acquire or renew.
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_LEADER_ELECTION_H_
