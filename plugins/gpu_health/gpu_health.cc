#include "plugins/gpu_health/gpu_health.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/fit.h"

namespace accelsched::plugins {

absl::StatusOr<FilterVerdict> GpuHealth::Filter(const CycleState& state, const PodRequest& pod,
                                                const NodeInfo& node) const {
  if (node.unhealthy == 0 || !pod.WantsGpu()) return FilterVerdict::Feasible();
  NodeInfo healthy = node;
  BlockGpus(healthy, node.unhealthy);
  const std::optional<FitProblem> problem = CheckFit(state, pod, healthy);
  if (!problem.has_value()) return FilterVerdict::Feasible();
  const std::string_view reason =
      state.explain ? state.Reason(CycleState::kGpuHealthReasonKey,
                                   [] {
                                     return std::string(
                                         "GPU health: not enough healthy GPUs (accelsched-node "
                                         "took some out of service; see the node annotation "
                                         "accelsched.io/unhealthy-gpus)");
                                   })
                    : std::string_view();
  return problem->unresolvable ? FilterVerdict::Unresolvable(reason)
                               : FilterVerdict::Unschedulable(reason);
}

}  // namespace accelsched::plugins
