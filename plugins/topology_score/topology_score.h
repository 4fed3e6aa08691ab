// TopologyScore: how good a GPU set a node can give a multi-GPU pod, and how much of its free
// structure the set leaves intact (DESIGN section 5; topology/device_set.h).
//
// For a whole-GPU pod on a node with a known topology, let S be the set BestWholeGpuSet picks:
//   quality   Q = ring bottleneck of S / ring bottleneck of the best k-set of an empty node of
//               the same hardware (1 for k = 1);
//   structure L = leftover score after S / leftover score of the free GPUs before (the ring-sum
//               component of device_set's criterion 5; 1 when nothing was left before), so a
//               node where S fills a half-used NVLink island scores higher than one where S
//               breaks a whole one;
//   score     = round(100 * (0.75 Q + 0.25 L)).
// Nodes without a topology score 0 for pods that prefer NVLink and 50 otherwise; pods without
// whole GPUs score 100 everywhere (no opinion).
//
// Thread-safety: stateless; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_TOPOLOGY_SCORE_TOPOLOGY_SCORE_H_
#define ACCELSCHED_PLUGINS_TOPOLOGY_SCORE_TOPOLOGY_SCORE_H_

#include "plugins/framework/plugin.h"
#include "plugins/names.h"

namespace accelsched::plugins {

class TopologyScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kTopologyScore; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
};

// The score above for one node (exposed for tests).
int64_t TopologyScoreOf(const PodRequest& pod, const NodeInfo& node);

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_TOPOLOGY_SCORE_TOPOLOGY_SCORE_H_
