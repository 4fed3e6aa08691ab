// Backoff: how long to wait before retrying a failed call to the API server (a list, a watch, the
// initial sync): 0.5 s, doubling up to 30 s, back to 0.5 s after a success.
//
// Thread-safety: not thread-safe; one per retry loop.
#ifndef ACCELSCHED_SCHEDULER_KUBE_BACKOFF_H_
#define ACCELSCHED_SCHEDULER_KUBE_BACKOFF_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace accelsched::scheduler::kube {

class Backoff {
 public:
  static constexpr double kInitialSeconds = 0.5;
  static constexpr double kMaxSeconds = 30;
  // Waits are cut into steps of this length, so that a stop is noticed soon.
  static constexpr std::chrono::milliseconds kStep{50};

  // The next delay.
  double seconds() const { return seconds_; }
  void Reset() { seconds_ = kInitialSeconds; }
  // Waits the current delay (returning early once `stop` is true), then doubles it up to
  // kMaxSeconds.
  void Wait(const std::atomic<bool>& stop) {
    const double step = std::chrono::duration<double>(kStep).count();
    for (double waited = 0; waited < seconds_ && !stop; waited += step) {
      std::this_thread::sleep_for(kStep);
    }
    seconds_ = std::min(kMaxSeconds, seconds_ * 2);
  }

 private:
  double seconds_ = kInitialSeconds;
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_BACKOFF_H_
