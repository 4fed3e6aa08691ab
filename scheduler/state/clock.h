// The service's one clock: seconds on a monotonic clock, injected wherever time matters (gang
// deadlines, the bind tracker, tenant GPU-seconds) so that tests drive time by hand.
//
// Thread-safety: SteadySeconds is thread-safe; a Clock must be callable from any thread.
#ifndef ACCELSCHED_SCHEDULER_STATE_CLOCK_H_
#define ACCELSCHED_SCHEDULER_STATE_CLOCK_H_

#include <chrono>
#include <functional>

namespace accelsched::scheduler {

using Clock = std::function<double()>;

// std::chrono::steady_clock in seconds.
inline double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_STATE_CLOCK_H_
