#include "plugins/share_fragmentation/fgd.h"

#include <cmath>

#include "plugins/baselines/baselines.h"
#include "plugins/framework/fit.h"
#include "topology/status_macros.h"

namespace accelsched::plugins {
namespace {

struct FgdState final : StateData {
  explicit FgdState(FragmentationModel m) : model(std::move(m)) {}
  FragmentationModel model;
};

}  // namespace

int64_t FgdScoreOf(double delta_milli) {
  const double x = -delta_milli / 1000.0;
  return static_cast<int64_t>(1.0 / (1.0 + std::exp(-x)) * 100);
}

FragmentationDelta BestFragmentationDelta(const FragmentationModel& model, const PodRequest& pod,
                                          const NodeInfo& node, bool truncated) {
  std::array<int16_t, kMaxGpus> free = ShareableFree(node);
  const auto span = absl::MakeConstSpan(free.data(), static_cast<size_t>(node.gpu_count));
  const double f0 = model.NodeFragment(node.model, node.cpu_free_milli, span);
  const int64_t cpu_after = node.cpu_free_milli - ScoringCpuMilli(pod);
  FragmentationDelta best;
  if (pod.WantsShare()) {
    const GpuMask candidates = ShareCandidates(pod, node);
    bool found = false;
    for (int i = 0; i < node.gpu_count; ++i) {
      if (((candidates >> i) & 1u) == 0) continue;
      // GPUs with equal free milli give equal results; skip repeats of an earlier one.
      bool repeat = false;
      for (int j = 0; j < i && !repeat; ++j) {
        repeat = ((candidates >> j) & 1u) && free[j] == free[i];
      }
      if (repeat) continue;
      free[i] = static_cast<int16_t>(free[i] - pod.gpu_milli);
      const double delta = model.NodeFragment(node.model, cpu_after, span) - f0;
      free[i] = static_cast<int16_t>(free[i] + pod.gpu_milli);
      const int64_t score = FgdScoreOf(delta);
      const bool better = truncated ? score > best.truncated_score : delta < best.delta;
      if (!found || better) {
        best = {delta, score, i};
        found = true;
      }
    }
    return best;
  }
  if (pod.WantsWholeGpus()) {
    int left = pod.gpu_count;
    for (int i = 0; i < node.gpu_count && left > 0; ++i) {
      if (free[i] == 1000 && ((node.mig_enabled >> i) & 1u) == 0) {
        free[i] = 0;
        --left;
      }
    }
  }
  best.delta = model.NodeFragment(node.model, cpu_after, span) - f0;
  best.truncated_score = FgdScoreOf(best.delta);
  return best;
}

absl::Status FgdPlugin::PreFilter(CycleState& state, const PodRequest& /*pod*/,
                                  const ClusterSnapshot& snapshot) const {
  ACCELSCHED_ASSIGN_OR_RETURN(FragmentationModel model,
                              FragmentationModel::Create(shapes_, snapshot.models()));
  state.Write(this, std::make_unique<FgdState>(std::move(model)));
  return absl::OkStatus();
}

const FragmentationModel* FgdPlugin::Model(const CycleState& state) const {
  const FgdState* s = state.Read<FgdState>(this);
  return s == nullptr ? nullptr : &s->model;
}

absl::Status FgdPlugin::Score(const CycleState& state, const PodRequest& pod,
                              const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                              absl::Span<int64_t> scores) const {
  const FragmentationModel* model = Model(state);
  if (model == nullptr) return absl::InternalError("FGD: Score before PreFilter");
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = BestFragmentationDelta(*model, pod, snapshot.node(nodes[i]), /*truncated=*/true)
                    .truncated_score;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Assignment>> FgdPlugin::Reserve(const CycleState& state,
                                                             const PodRequest& pod,
                                                             const ClusterSnapshot& snapshot,
                                                             NodeIndex index) const {
  const NodeInfo& node = snapshot.node(index);
  if (CheckFit(state, pod, node).has_value()) return std::optional<Assignment>();
  if (!pod.WantsShare()) return DefaultAssignment(pod, node, index);
  const FragmentationModel* model = Model(state);
  if (model == nullptr) return absl::InternalError("FGD: Reserve before PreFilter");
  const FragmentationDelta d = BestFragmentationDelta(*model, pod, node, /*truncated=*/true);
  Assignment a = BaseAssignment(pod, index);
  a.gpus = GpuMask{1} << d.gpu;
  a.gpu_milli = pod.gpu_milli;
  a.gpu_memory_mib = pod.gpu_memory_mib;
  return std::optional<Assignment>(a);
}

}  // namespace accelsched::plugins
