// FGD: Fragmentation Gradient Descent (Weng et al., USENIX ATC'23), as in the artifact's
// pkg/simulator/plugin/fgd_score.go (DESIGN section 11, "FGD decision rule").
//
// For a pod and a feasible node with fragment F0 = F_n(M) (fragmentation.h), the node after the
// placement has fragment F1 and the score is int64(sigmoid((F0 - F1) / 1000) * 100): the node
// whose fragmentation grows least wins; ties (frequent after the truncation) are broken by the
// Solver. For a share, every GPU that fits is tried and the first GPU with the highest truncated
// score is the node's score and, at Reserve, the GPU the pod gets. Whole GPUs are taken from
// the entirely free ones (which ones does not change F; Reserve gives the device-set choice, or
// the lowest indices without a topology). The pod's CPU counts as 100m when it asks for 0, as in
// the artifact's scoring.
//
// Thread-safety: immutable after construction; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FGD_H_
#define ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FGD_H_

#include <string_view>
#include <vector>

#include "plugins/framework/plugin.h"
#include "plugins/names.h"
#include "plugins/share_fragmentation/fragmentation.h"

namespace accelsched::plugins {

// The fragmentation growth of placing `pod` on `node`: F1 - F0 in milli-GPU, minimised over the
// GPUs a share could take (the first GPU on ties when `truncated`, comparing the artifact's
// truncated scores instead of exact deltas). `gpu` is that GPU (-1 when not a share).
struct FragmentationDelta {
  double delta = 0;
  int64_t truncated_score = 0;  // int64(sigmoid(-delta / 1000) * 100) of the chosen GPU.
  int gpu = -1;
};
FragmentationDelta BestFragmentationDelta(const FragmentationModel& model, const PodRequest& pod,
                                          const NodeInfo& node, bool truncated);

// int64(sigmoid(x) * 100), x = (F0 - F1) / 1000.
int64_t FgdScoreOf(double delta_milli);

// FGD's PreFilter and Score under a plugin name of the caller's choice: FgdPlugin is this plus
// FGD's Reserve, and the accelsched policy's "PackingHint" (accelsched/accelsched.h) is this
// alone, so the two score every node identically.
class FgdScore : public PreFilterPlugin, public ScorePlugin {
 public:
  // `name`: from plugins/names.h. `shapes`: the target workload (TypicalShapes of the pod list).
  FgdScore(std::string_view name, std::vector<TaskShape> shapes)
      : name_(name), shapes_(std::move(shapes)) {}

  std::string_view Name() const override { return name_; }
  // Binds the shapes to the snapshot's model table (InvalidArgument if they are invalid).
  absl::Status PreFilter(CycleState& state, const PodRequest& pod,
                         const ClusterSnapshot& snapshot) const override;
  // Per node, the truncated score of its least fragmentation growth (BestFragmentationDelta).
  // Internal before PreFilter.
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }

  // The model bound in this cycle's PreFilter (null before).
  const FragmentationModel* Model(const CycleState& state) const;

 private:
  std::string_view name_;
  std::vector<TaskShape> shapes_;
};

class FgdPlugin final : public FgdScore, public ReservePlugin {
 public:
  // `shapes`: the target workload (TypicalShapes of the pod list).
  explicit FgdPlugin(std::vector<TaskShape> shapes) : FgdScore(names::kFgd, std::move(shapes)) {}

  absl::StatusOr<std::optional<Assignment>> Reserve(const CycleState& state, const PodRequest& pod,
                                                    const ClusterSnapshot& snapshot,
                                                    NodeIndex node) const override;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FGD_H_
