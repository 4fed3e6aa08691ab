#include "plugins/topology_score/topology_score.h"

#include <algorithm>
#include <cmath>

#include "plugins/framework/fit.h"

namespace accelsched::plugins {

int64_t TopologyScoreOf(const PodRequest& pod, const NodeInfo& node) {
  if (!pod.WantsWholeGpus()) {
    return kMaxScore;
  }
  if (node.topology == nullptr) {
    return pod.nvlink == TopologyPreference::kNone ? 50 : 0;
  }
  std::optional<GpuMask> set = BestWholeGpuSet(pod, node);
  if (!set.has_value()) {
    return 0;
  }
  const NodeTopology& topo = *node.topology;
  const int k = pod.gpu_count;
  double quality = 1.0;
  if (k >= 2) {
    const GpuMask ideal = topo.search.BestUnconstrained(node.all_gpus(), k);
    const double best = ideal == 0 ? 0 : topo.search.Quality(ideal).ring_mbps;
    quality = best > 0 ? topo.search.Quality(*set).ring_mbps / best : 1.0;
  }
  const GpuMask free = node.WholeFreeGpus();
  const double before = static_cast<double>(topo.search.Leftover(free).ring_sum);
  const double after = static_cast<double>(topo.search.Leftover(free & ~*set).ring_sum);
  const double structure = before > 0 ? after / before : 1.0;
  const double score = 100.0 * (0.75 * std::min(quality, 1.0) + 0.25 * std::min(structure, 1.0));
  return std::clamp<int64_t>(std::llround(score), kMinScore, kMaxScore);
}

absl::Status TopologyScore::Score(const CycleState& /*state*/, const PodRequest& pod,
                                  const ClusterSnapshot& snapshot,
                                  absl::Span<const NodeIndex> nodes,
                                  absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = TopologyScoreOf(pod, snapshot.node(nodes[i]));
  }
  return absl::OkStatus();
}

}  // namespace accelsched::plugins
