#include "plugins/accelsched/accelsched.h"

#include <algorithm>

#include "plugins/baselines/baselines.h"
#include "plugins/framework/fit.h"
#include "plugins/share_fragmentation/fgd.h"
#include "topology/status_macros.h"

namespace accelsched::plugins {

absl::StatusOr<std::optional<Assignment>> AccelschedAllocator::Reserve(
    const CycleState& state, const PodRequest& pod, const ClusterSnapshot& snapshot,
    NodeIndex index) const {
  const NodeInfo& node = snapshot.node(index);
  if (CheckFit(state, pod, node).has_value()) {
    return std::optional<Assignment>();
  }
  Assignment a = BaseAssignment(pod, index);
  if (pod.WantsShare()) {
    const FragmentationModel* model = packing_->Model(state);
    if (model == nullptr) {
      return absl::InternalError("AccelschedAllocator: no fragmentation model");
    }
    const FragmentationDelta d = BestFragmentationDelta(*model, pod, node, /*truncated=*/false);
    a.gpus = GpuMask{1} << d.gpu;
    a.gpu_milli = pod.gpu_milli;
    a.gpu_memory_mib = pod.gpu_memory_mib;
    return std::optional<Assignment>(a);
  }
  if (pod.WantsMig()) {
    std::optional<MigChoice> c = mig_->ChooseMig(pod, node);
    if (!c.has_value()) {
      return std::optional<Assignment>();
    }
    a.gpus = GpuMask{1} << c->gpu;
    a.mig_profile_id = c->profile_id;
    a.mig_start = c->start;
    return std::optional<Assignment>(a);
  }
  return DefaultAssignment(pod, node, index);
}

}  // namespace accelsched::plugins
