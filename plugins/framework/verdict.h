// Filter outcomes and the score range shared by every placement plugin (DESIGN section 5,
// STYLE.md snippet (a)). "Does not fit" is a verdict value, never an error status.
//
// Thread-safety: plain values.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_

#include <cstdint>
#include <string>
#include <utility>

namespace accelsched::plugins {

enum class Feasibility { kFeasible, kUnschedulable, kUnresolvable };

struct FilterVerdict {
  Feasibility feasibility = Feasibility::kFeasible;
  std::string reason;  // Human-readable; empty iff kFeasible.

  static FilterVerdict Feasible() { return {}; }
  // Preemption might help (kube-scheduler's FailedNodes).
  static FilterVerdict Unschedulable(std::string why) {
    return {Feasibility::kUnschedulable, std::move(why)};
  }
  // Preemption cannot help (FailedAndUnresolvableNodes).
  static FilterVerdict Unresolvable(std::string why) {
    return {Feasibility::kUnresolvable, std::move(why)};
  }
};

// Every score plugin normalizes to [kMinScore, kMaxScore]; the solver checks the range.
inline constexpr int64_t kMinScore = 0;
inline constexpr int64_t kMaxScore = 100;

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_
