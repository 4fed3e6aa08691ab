// Filter outcomes and the score range shared by every placement plugin (DESIGN section 5,
// STYLE.md snippet (a)). "Does not fit" is a verdict value, never an error status.
//
// Thread-safety: plain values.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_

#include <cstdint>
#include <string_view>

namespace accelsched::plugins {

enum class Feasibility { kFeasible, kUnschedulable, kUnresolvable };

// A reason is a view, not a string: a filter over 5,000 nodes must not allocate one string per
// failing node. It points into the cycle's CycleState (CycleState::Reason interns it there) or
// into storage that outlives the cycle (a literal, the plugin itself), so it is valid while the
// cycle's CycleState lives; copy it to keep it longer.
//
// Reasons should not carry per-node numbers: kube-scheduler counts failing nodes by identical
// reason text ("0/5000 nodes are available: 2500 <reason>, ..."), so a reason should say what
// the pod needs that the node lacks ("insufficient GPUs: fewer than 8 entirely free").
struct FilterVerdict {
  Feasibility feasibility = Feasibility::kFeasible;
  std::string_view reason;  // Human-readable; empty iff kFeasible (or explain is off).

  static FilterVerdict Feasible() { return {}; }
  // Preemption might help (kube-scheduler's FailedNodes).
  static FilterVerdict Unschedulable(std::string_view why) {
    return {Feasibility::kUnschedulable, why};
  }
  // Preemption cannot help (FailedAndUnresolvableNodes).
  static FilterVerdict Unresolvable(std::string_view why) {
    return {Feasibility::kUnresolvable, why};
  }
};

// Every score plugin normalizes to [kMinScore, kMaxScore]; the solver checks the range.
inline constexpr int64_t kMinScore = 0;
inline constexpr int64_t kMaxScore = 100;

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_VERDICT_H_
