#include "plugins/share_fragmentation/fgd.h"

#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"

#include "plugins/baselines/baselines.h"
#include "plugins/framework/fit.h"
#include "topology/status_macros.h"

namespace accelsched::plugins {
namespace {

struct FgdScoreState final : StateData {
  explicit FgdScoreState(FragmentationModel m) : model(std::move(m)) {}
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
  const FragmentationModel::GpuProfile profile = model.Profile(span);
  const double f0 = model.Fragment(profile, node.model, node.cpu_free_milli);
  const int64_t cpu_after = node.cpu_free_milli - ScoringCpuMilli(pod);
  FragmentationDelta best;
  if (pod.WantsShare()) {
    // The delta of every distinct free value among the candidate GPUs (equal free milli give
    // equal deltas), in GPU order.
    const GpuMask candidates = ShareCandidates(pod, node);
    // Left uninitialised on purpose: only the first `n` entries are written and read, and zeroing
    // them costs about 10% of a 5,000-node share filter+score (BM_SolverFilterScore5000_Share500).
    // NOLINTBEGIN(cppcoreguidelines-pro-type-member-init)
    std::array<double, kMaxGpus> delta;
    std::array<int, kMaxGpus> gpu;
    // NOLINTEND(cppcoreguidelines-pro-type-member-init)
    int n = 0;
    int min_at = -1;
    for (int i = 0; i < node.gpu_count; ++i) {
      if (((candidates >> i) & 1u) == 0) {
        continue;
      }
      bool repeat = false;
      for (int j = 0; j < n && !repeat; ++j) {
        repeat = free[gpu[j]] == free[i];
      }
      if (repeat) {
        continue;
      }
      delta[n] =
          model.FragmentAfterTake(profile, node.model, cpu_after, free[i], pod.gpu_milli) - f0;
      gpu[n] = i;
      if (min_at < 0 || delta[n] < delta[min_at]) {
        min_at = n;
      }
      ++n;
    }
    if (n == 0) {
      return best;
    }
    // The score does not increase with the delta, so the best score is the least delta's. With
    // `truncated`, the GPU is the first one reaching that score (the artifact's choice), found
    // without scoring every GPU.
    const int64_t top = FgdScoreOf(delta[min_at]);
    int chosen = min_at;
    if (truncated) {
      for (int j = 0; j < min_at; ++j) {
        if (FgdScoreOf(delta[j]) == top) {
          chosen = j;
          break;
        }
      }
    }
    return {delta[chosen], top, gpu[chosen]};
  }
  if (pod.WantsWholeGpus()) {
    int left = pod.gpu_count;
    for (int i = 0; i < node.gpu_count && left > 0; ++i) {
      if (free[i] == 1000 && ((node.mig_enabled >> i) & 1u) == 0) {
        free[i] = 0;
        --left;
      }
    }
    best.delta = model.NodeFragment(node.model, cpu_after, span) - f0;
  } else {
    best.delta = model.Fragment(profile, node.model, cpu_after) - f0;  // GPUs unchanged.
  }
  best.truncated_score = FgdScoreOf(best.delta);
  return best;
}

absl::Status FgdScore::PreFilter(CycleState& state, const PodRequest& /*pod*/,
                                 const ClusterSnapshot& snapshot) const {
  ACCELSCHED_ASSIGN_OR_RETURN(FragmentationModel model,
                              FragmentationModel::Create(shapes_, snapshot.models()));
  state.Write(this, std::make_unique<FgdScoreState>(std::move(model)));
  return absl::OkStatus();
}

const FragmentationModel* FgdScore::Model(const CycleState& state) const {
  const FgdScoreState* s = state.Read<FgdScoreState>(this);
  return s == nullptr ? nullptr : &s->model;
}

absl::Status FgdScore::Score(const CycleState& state, const PodRequest& pod,
                             const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                             absl::Span<int64_t> scores) const {
  const FragmentationModel* model = Model(state);
  if (model == nullptr) {
    return absl::InternalError(absl::StrCat(std::string(name_), ": Score before PreFilter"));
  }
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
  if (CheckFit(state, pod, node).has_value()) {
    return std::optional<Assignment>();
  }
  if (!pod.WantsShare()) {
    return DefaultAssignment(pod, node, index);
  }
  const FragmentationModel* model = Model(state);
  if (model == nullptr) {
    return absl::InternalError("FGD: Reserve before PreFilter");
  }
  const FragmentationDelta d = BestFragmentationDelta(*model, pod, node, /*truncated=*/true);
  // CheckFit accepted the share, so some GPU can take it and a GPU was chosen.
  if (d.gpu < 0 || d.gpu >= node.gpu_count) {
    return absl::InternalError(
        absl::StrCat("FGD: Reserve chose no GPU (", d.gpu, ") for a share that fits ", node.name));
  }
  Assignment a = BaseAssignment(pod, index);
  a.gpus = GpuMask{1} << d.gpu;
  a.gpu_milli = pod.gpu_milli;
  a.gpu_memory_mib = pod.gpu_memory_mib;
  return std::optional<Assignment>(a);
}

}  // namespace accelsched::plugins
