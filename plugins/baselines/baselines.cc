#include "plugins/baselines/baselines.h"

#include <algorithm>
#include <array>
#include <bit>

#include "plugins/framework/fit.h"

namespace accelsched::plugins {

namespace mig = topology::mig;

namespace {

int GpuClassOf(const PodRequest& pod) {
  if (pod.WantsMig()) {
    return kMigClass;
  }
  if (pod.WantsShare()) {
    return kShareClass;
  }
  if (pod.WantsWholeGpus()) {
    return std::min(pod.gpu_count, kMaxGpus);
  }
  return -1;
}

int64_t Clamp(int64_t v) { return std::clamp<int64_t>(v, kMinScore, kMaxScore); }

// Per-GPU free milli as a request of `pod` sees it: MIG-enabled GPUs offer nothing.
std::array<int, kMaxGpus> UsableFree(const NodeInfo& node) {
  std::array<int, kMaxGpus> f{};
  for (int i = 0; i < node.gpu_count; ++i) {
    f[i] = ((node.mig_enabled >> i) & 1u) ? 0 : node.gpu_free_milli[i];
  }
  return f;
}

}  // namespace

int64_t BestFitRaw(const PodRequest& pod, const NodeInfo& node) {
  const double cpu_left = static_cast<double>(node.cpu_free_milli - ScoringCpuMilli(pod));
  const double gpu_left = static_cast<double>(node.GpuFreeMilliTotal() - pod.GpuMilli());
  if (cpu_left < 0 || gpu_left < 0) {
    return 0;
  }
  const double s = 0.5 * cpu_left / kMaxSpecCpuMilli + 0.5 * gpu_left / kMaxSpecGpuMilli;
  return Clamp(static_cast<int64_t>((1.0 - s) * 100));
}

int64_t DotProductRaw(const PodRequest& pod, const NodeInfo& node) {
  const int64_t cpu = ScoringCpuMilli(pod);
  if (node.cpu_free_milli < cpu) {
    return 0;
  }
  const double dot = (static_cast<double>(node.cpu_free_milli) / kMaxSpecCpuMilli) *
                         (static_cast<double>(cpu) / kMaxSpecCpuMilli) +
                     (static_cast<double>(node.GpuFreeMilliTotal()) / kMaxSpecGpuMilli) *
                         (static_cast<double>(pod.GpuMilli()) / kMaxSpecGpuMilli);
  return Clamp(static_cast<int64_t>(100 * (1.0 - dot / 2)));
}

int64_t GpuPackingRaw(const PodRequest& pod, const NodeInfo& node) {
  if (pod.GpuMilli() <= 0 || node.gpu_count == 0) {
    return 0;
  }
  const std::array<int, kMaxGpus> f = UsableFree(node);
  int fully_free = 0;
  for (int i = 0; i < node.gpu_count; ++i) {
    fully_free += f[i] == 1000;
  }
  const int n = int{node.gpu_count};  // Widens the int8_t count.
  if (fully_free == n) {
    return std::max(100 / 3 - n, n);
  }
  // GPUs in ascending free order (stable: lower index first on ties), the first that fit.
  std::array<int, kMaxGpus> order{};
  for (int i = 0; i < n; ++i) {
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.begin() + n, [&](int a, int b) { return f[a] < f[b]; });
  const int per_gpu = pod.WantsShare() ? pod.gpu_milli : 1000;
  const int want = pod.WantsWholeGpus() ? pod.gpu_count : 1;
  int taken = 0;
  int k = 0;
  int64_t r = 0;
  for (int j = 0; j < n && taken < want; ++j) {
    const int g = order[j];
    if (f[g] < per_gpu) {
      continue;
    }
    ++taken;
    if (f[g] == 1000) {
      ++k;
    }
    r += f[g] * 100 / 1000;
  }
  if (k > 0) {
    return std::max(50 - k, 33);
  }
  return Clamp(std::max<int64_t>(100 - r / 10, 50));
}

int64_t GpuClusteringRaw(const PodRequest& pod, const NodeInfo& node) {
  const int cls = GpuClassOf(pod);
  if (cls < 0) {
    return 0;
  }
  const int64_t left = node.GpuFreeMilliTotal();
  const int64_t base = std::max<int64_t>(0, 100 / 4 * (kMaxSpecGpuMilli - left) / kMaxSpecGpuMilli);
  int classes = 0;
  for (int16_t c : node.pods_by_gpu_class) {
    classes += c > 0;
  }
  const bool has = node.pods_by_gpu_class[static_cast<size_t>(cls)] > 0;
  if (has && classes == 1) {
    return Clamp(base + 75);
  }
  if (has) {
    return Clamp(base + 50);
  }
  if (classes == 0) {
    return Clamp(base + 25);
  }
  return Clamp(base);
}

absl::Status RandomScore::Score(const CycleState& state, const PodRequest& /*pod*/,
                                const ClusterSnapshot& /*snapshot*/,
                                absl::Span<const NodeIndex> nodes,
                                absl::Span<int64_t> scores) const {
  if (nodes.empty()) {
    return absl::OkStatus();
  }
  size_t pick = 0;
  if (state.rng != nullptr) {
    pick = std::uniform_int_distribution<size_t>(0, nodes.size() - 1)(*state.rng);
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    scores[i] = i == pick ? kMaxScore : kMinScore;
  }
  return absl::OkStatus();
}

absl::Status FirstFitScore::Score(const CycleState& /*state*/, const PodRequest& /*pod*/,
                                  const ClusterSnapshot& /*snapshot*/,
                                  absl::Span<const NodeIndex> nodes,
                                  absl::Span<int64_t> scores) const {
  if (nodes.empty()) {
    return absl::OkStatus();
  }
  const NodeIndex first = *std::min_element(nodes.begin(), nodes.end());
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = nodes[i] == first ? kMaxScore : kMinScore;
  }
  return absl::OkStatus();
}

absl::Status BestFitScore::Score(const CycleState& /*state*/, const PodRequest& pod,
                                 const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                                 absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = BestFitRaw(pod, snapshot.node(nodes[i]));
  }
  return absl::OkStatus();
}

absl::Status BestFitScore::Normalize(const CycleState& /*state*/,
                                     absl::Span<int64_t> scores) const {
  MinMaxNormalize(scores, /*when_equal=*/kMinScore);  // The artifact gives 0 when all tie.
  return absl::OkStatus();
}

absl::Status DotProductScore::Score(const CycleState& /*state*/, const PodRequest& pod,
                                    const ClusterSnapshot& snapshot,
                                    absl::Span<const NodeIndex> nodes,
                                    absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = DotProductRaw(pod, snapshot.node(nodes[i]));
  }
  return absl::OkStatus();
}

absl::Status GpuPackingScore::Score(const CycleState& /*state*/, const PodRequest& pod,
                                    const ClusterSnapshot& snapshot,
                                    absl::Span<const NodeIndex> nodes,
                                    absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = GpuPackingRaw(pod, snapshot.node(nodes[i]));
  }
  return absl::OkStatus();
}

absl::Status GpuClusteringScore::Score(const CycleState& /*state*/, const PodRequest& pod,
                                       const ClusterSnapshot& snapshot,
                                       absl::Span<const NodeIndex> nodes,
                                       absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = GpuClusteringRaw(pod, snapshot.node(nodes[i]));
  }
  return absl::OkStatus();
}

int BestFitShareGpu(const NodeInfo& node, GpuMask candidates) {
  int best = -1;
  for (int i = 0; i < node.gpu_count; ++i) {
    if (((candidates >> i) & 1u) == 0) {
      continue;
    }
    if (best < 0 || node.gpu_free_milli[i] < node.gpu_free_milli[best]) {
      best = i;
    }
  }
  return best;
}

std::optional<Assignment> DefaultAssignment(const PodRequest& pod, const NodeInfo& node,
                                            NodeIndex index) {
  Assignment a = BaseAssignment(pod, index);
  if (pod.WantsWholeGpus()) {
    std::optional<GpuMask> set = BestWholeGpuSet(pod, node);
    if (!set.has_value()) {
      return std::nullopt;
    }
    a.gpus = *set;
  } else if (pod.WantsShare()) {
    const int g = BestFitShareGpu(node, ShareCandidates(pod, node));
    if (g < 0) {
      return std::nullopt;
    }
    a.gpus = GpuMask{1} << g;
    a.gpu_milli = pod.gpu_milli;
    a.gpu_memory_mib = pod.gpu_memory_mib;
  } else if (pod.WantsMig()) {
    const mig::MigProfile* profile = MigProfileFor(*pod.mig, node);
    if (profile == nullptr) {
      return std::nullopt;
    }
    const GpuMask candidates = MigCandidates(*profile, node);
    if (candidates == 0) {
      return std::nullopt;
    }
    const int g = std::countr_zero(candidates);
    a.gpus = GpuMask{1} << g;
    a.mig_profile_id = profile->id;
    a.mig_start = std::countr_zero(UsableMigStarts(node, g, *profile));
  }
  return a;
}

absl::StatusOr<std::optional<Assignment>> GpuAllocator::Reserve(const CycleState& state,
                                                                const PodRequest& pod,
                                                                const ClusterSnapshot& snapshot,
                                                                NodeIndex index) const {
  const NodeInfo& node = snapshot.node(index);
  if (CheckFit(state, pod, node).has_value()) {
    return std::optional<Assignment>();
  }
  if (share_ == ShareChoice::kRandom && pod.WantsShare() && state.rng != nullptr) {
    const GpuMask candidates = ShareCandidates(pod, node);
    const int count = std::popcount(candidates);
    int pick = std::uniform_int_distribution<int>(0, count - 1)(*state.rng);
    GpuMask m = candidates;
    while (pick-- > 0) {
      m &= m - 1;
    }
    Assignment a = BaseAssignment(pod, index);
    a.gpus = m & (~m + 1);
    a.gpu_milli = pod.gpu_milli;
    a.gpu_memory_mib = pod.gpu_memory_mib;
    return std::optional<Assignment>(a);
  }
  return DefaultAssignment(pod, node, index);
}

}  // namespace accelsched::plugins
