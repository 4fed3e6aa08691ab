// MigFragmentation: where a MIG instance goes, by the growth of the slot-mask fragmentation cost
// (DESIGN section 11, "MIG geometries"; topology/mig/mig.h MigSlotTable).
//
// For each built-in MIG geometry the plugin precomputes a MigSlotTable from the expected profile
// demand (shapes with weights; uniform over the non-+me profiles when none is given). For a MIG
// pod on a node, every MIG-enabled GPU that can take the profile is tried at its best start; the
// node's raw value is the smallest cost growth F(mask | instance) - F(mask), and Normalize maps the
// smallest growth over the nodes to 100 and the largest to 0 (all 100 when equal). Other pods get
// 100 everywhere (no opinion). ChooseMig gives the (GPU, start) behind the score, for Reserve.
//
// Thread-safety: immutable after Create; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_MIG_FRAGMENTATION_MIG_FRAGMENTATION_H_
#define ACCELSCHED_PLUGINS_MIG_FRAGMENTATION_MIG_FRAGMENTATION_H_

#include <optional>
#include <utility>
#include <vector>

#include "plugins/framework/plugin.h"
#include "plugins/names.h"
#include "topology/mig/mig.h"

namespace accelsched::plugins {

struct MigChoice {
  int gpu = -1;
  int profile_id = -1;
  int start = -1;
  double growth = 0;  // Cost growth of the GPU's slot mask.
};

class MigFragmentation final : public ScorePlugin {
 public:
  // `demand`: profile shapes with non-negative weights (empty = uniform). InvalidArgument if a
  // weight is negative or not finite.
  static absl::StatusOr<std::unique_ptr<MigFragmentation>> Create(
      const std::vector<std::pair<MigRequest, double>>& demand);

  std::string_view Name() const override { return names::kMigFragmentation; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
  absl::Status Normalize(const CycleState& state, absl::Span<int64_t> scores) const override;

  // The least-growth placement of the pod's MIG instance on `node` (ties: lowest GPU, then the
  // table's lowest start); nullopt if it does not fit.
  std::optional<MigChoice> ChooseMig(const PodRequest& pod, const NodeInfo& node) const;

 private:
  MigFragmentation() = default;
  const topology::mig::MigSlotTable* TableFor(const topology::mig::MigGeometry* g) const;

  // One table per built-in geometry, in BuiltinGeometries() order.
  std::vector<std::pair<absl::string_view, topology::mig::MigSlotTable>> tables_;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_MIG_FRAGMENTATION_MIG_FRAGMENTATION_H_
