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
  // Would the healthy GPUs do if the node were empty? If not, preemption cannot help.
  NodeInfo empty = healthy;
  empty.cpu_free_milli = empty.cpu_capacity_milli;
  empty.memory_free_mib = empty.memory_capacity_mib;
  for (int g = 0; g < empty.gpu_count; ++g) {
    const auto i = static_cast<size_t>(g);
    empty.gpu_free_milli[i] = 1000;
    empty.gpu_free_memory_mib[i] = empty.gpu_memory_mib;
    empty.mig_used_slots[i] = 0;
  }
  empty.mig_media_used = 0;
  BlockGpus(empty, node.unhealthy);
  return CheckFit(state, pod, empty).has_value() ? FilterVerdict::Unresolvable(reason)
                                                 : FilterVerdict::Unschedulable(reason);
}

}  // namespace accelsched::plugins
