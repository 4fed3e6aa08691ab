// BindTracker: which pods are being bound, or were bound a moment ago. Kubernetes mode's pod list
// can be older than a bind that just succeeded (the API shows the pod bound only later); a pod the
// list does not show running must not be released while its bind is in flight or younger than
// `memory` seconds.
//
// Thread-safety: thread-safe (one mutex). Time comes from the injected clock.
#ifndef ACCELSCHED_SCHEDULER_SERVICE_BIND_TRACKER_H_
#define ACCELSCHED_SCHEDULER_SERVICE_BIND_TRACKER_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/state/clock.h"

namespace accelsched::scheduler {

class BindTracker {
 public:
  // How long a finished bind is remembered, in seconds.
  static constexpr double kDefaultMemorySeconds = 60;

  explicit BindTracker(Clock clock, double memory_seconds = kDefaultMemorySeconds)
      : clock_(std::move(clock)), memory_(memory_seconds) {}

  // Pod `uid`'s bind starts (and binds that ended more than `memory` ago are forgotten).
  void Begin(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);
  // Pod `uid`'s bind ended, whatever its outcome.
  void End(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);
  // True while `uid`'s bind runs, and for `memory` seconds after it ended.
  bool InFlight(const std::string& uid) const ABSL_LOCKS_EXCLUDED(mu_);
  // True if `uid`'s bind runs, or ended at or after `since` (and is remembered): a list of the
  // API requested at `since` may not show it. A bind that ended before the list was requested
  // is in it (the API's list is a consistent read), so a pod the list lacks was deleted since.
  bool InFlightSince(const std::string& uid, double since) const ABSL_LOCKS_EXCLUDED(mu_);

  // Begin() now, End() when it goes out of scope.
  class Scope {
   public:
    Scope(BindTracker* tracker, std::string uid) : tracker_(tracker), uid_(std::move(uid)) {
      tracker_->Begin(uid_);
    }
    ~Scope() { tracker_->End(uid_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    BindTracker* tracker_;
    std::string uid_;
  };

 private:
  const Clock clock_;
  const double memory_;
  mutable absl::Mutex mu_;
  // uid -> when its bind ended (clock seconds), or nullopt while it runs.
  absl::flat_hash_map<std::string, std::optional<double>> ended_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_SERVICE_BIND_TRACKER_H_
