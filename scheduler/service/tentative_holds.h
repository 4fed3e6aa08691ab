// TentativeHolds: the devices prioritize chose for a pod, held until its bind arrives.
//
// kube-scheduler binds in the background: the next pod's filter and prioritize run before the
// previous pod's bind reaches the extender, which then offered the same GPU capacity twice, and
// one of the binds was rejected ("no longer fits") and retried with backoff (issue 16). So when
// prioritize gives a node the top score, the devices the bind would take there are held in the
// ledger for that pod (Holder::kTentative, ledger uid HoldUid(pod uid)); later filters see them
// as used. The pod's bind on that node takes them over (Ledger::Transfer: the same devices); a
// bind elsewhere, a new filter or prioritize of the same pod (a new scheduling cycle), the pod
// appearing bound through the API, or the deadline gives them back.
//
// Thread-safety: thread-safe (one mutex, never held while calling the ledger). Time comes from
// the injected clock.
#ifndef ACCELSCHED_SCHEDULER_SERVICE_TENTATIVE_HOLDS_H_
#define ACCELSCHED_SCHEDULER_SERVICE_TENTATIVE_HOLDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/state/clock.h"
#include "scheduler/state/ledger.h"

namespace accelsched::scheduler {

class TentativeHolds {
 public:
  // `ledger` is not owned. `seconds` 0 turns holding off.
  TentativeHolds(Ledger* ledger, Clock clock, double seconds);

  bool enabled() const { return seconds_ > 0; }

  // The ledger uid a hold of pod `uid` is kept under.
  static std::string HoldUid(const std::string& uid) { return "hold:" + uid; }

  // Holds on `node` what `choose` picks for `pod`, until the deadline, replacing an earlier hold
  // of the pod. Nothing is held for a pod without a uid, one the ledger already places, or when
  // the node has no room (the bind then decides as without holds).
  void Hold(const codec::PodObject& pod, const std::string& node, const Ledger::Chooser& choose)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Gives back pod `uid`'s hold, if it has one.
  void Drop(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);

  // At pod `pod`'s bind on `node`: if it holds devices there, it takes them over (the result of
  // Ledger::Transfer); nullopt if it held nothing there (a hold on another node is given back),
  // or if the takeover failed (the hold is given back): the bind then places the pod itself.
  std::optional<PlacedPod> Convert(const codec::PodObject& pod, const std::string& node)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Gives back the holds past their deadline.
  void Expire() ABSL_LOCKS_EXCLUDED(mu_);

  // Holds now kept.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  // Holds made, taken over by their pod's bind, given back when the pod bound elsewhere or
  // started a new cycle, and expired, since the start.
  struct Counts {
    int64_t made = 0;
    int64_t bound = 0;
    int64_t dropped = 0;
    int64_t expired = 0;
  };
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Held {
    std::string node;
    double deadline = 0;
  };
  // Removes pod `uid`'s entry; the node it held, if any.
  std::optional<Held> Take(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);

  Ledger* const ledger_;
  const Clock clock_;
  const double seconds_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);  // Pod uid -> hold.
  double next_deadline_ ABSL_GUARDED_BY(mu_) = 0;  // The earliest deadline (0: none).
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_SERVICE_TENTATIVE_HOLDS_H_
