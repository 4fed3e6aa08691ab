#include "plugins/resource_fit/resource_fit.h"

#include "plugins/framework/fit.h"

namespace accelsched::plugins {

absl::StatusOr<FilterVerdict> ResourceFit::Filter(const CycleState& state, const PodRequest& pod,
                                                  const NodeInfo& node) const {
  std::optional<FitProblem> problem = CheckFit(state, pod, node);
  if (!problem.has_value()) {
    return FilterVerdict::Feasible();
  }
  return problem->unresolvable ? FilterVerdict::Unresolvable(problem->reason)
                               : FilterVerdict::Unschedulable(problem->reason);
}

}  // namespace accelsched::plugins
