// The baseline policies of the FGD artifact (Weng et al., ATC'23;
// hkust-adsl/kubernetes-scheduler-simulator, pkg/simulator/plugin/*_score.go), plus first-fit,
// and the artifact's GPU allocator. Each score is the artifact's integer formula, so that the
// simulator reproduces the paper's numbers (DESIGN section 11 and bench/RESULTS.md):
//
//   RandomScore    100 for one uniformly random feasible node, 0 for the rest.
//   FirstFit       100 for the first feasible node in snapshot order, 0 for the rest.
//   BestFit        int64((1 - (0.5 (cpuLeft - cpu)/128000 + 0.5 (gpuLeft - gpu)/8000)) * 100),
//                  then min-max normalized (integer), as the artifact's NormalizeScore.
//   DotProduct     int64(100 (1 - dot/2)), dot = [cpuLeft/128000, gpuLeft/8000] .
//                  [cpu/128000, gpu/8000]; 0 if cpuLeft < cpu. The smallest product wins.
//   GpuPacking     bands: node with no GPU in use max(33 - n, n); the pod needs k > 0 entirely free
//                  GPUs max(50 - k, 33); else max(100 - r/10, 50), r = sum over the chosen GPUs
//                  (ascending free milli, first that fit) of free*100/1000. 0 for CPU-only pods.
//   GpuClustering  25 (8000 - L)/8000 (L = node's free milli-GPU) plus 75 if the pod's class
//                  (share, or k whole GPUs) is the only class on the node, 50 if present with
//                  others, 25 if the node has no GPU pods, 0 otherwise. 0 for CPU-only pods.
// The constants 128000 and 8000 are the artifact's MaxSpecCpu / MaxSpecGpu ("-norm max"); scores
// use the pod's CPU request with 0 counted as 100m (kube-scheduler's GetNonzeroRequests), the
// filter the real one. Multi-GPU and MIG pods count their milli-GPU (PodRequest::GpuMilli).
//
// GpuAllocator (the artifact's open-gpu-share Reserve, "-gpusel"): whole GPUs: the device-set
// search when the node has a topology, else the lowest-index free GPUs; a share: kBest = the GPU
// with the least free milli that fits (lowest index on ties), kRandom = a uniformly random GPU
// that fits; MIG: the lowest GPU and start slot that fit.
//
// Thread-safety: immutable; safe for concurrent use (randomness comes from the CycleState).
#ifndef ACCELSCHED_PLUGINS_BASELINES_BASELINES_H_
#define ACCELSCHED_PLUGINS_BASELINES_BASELINES_H_

#include "plugins/framework/plugin.h"
#include "plugins/names.h"

namespace accelsched::plugins {

// The artifact's normalisation constants (MaxSpecCpu, MaxSpecGpu).
inline constexpr int64_t kMaxSpecCpuMilli = 128000;
inline constexpr int64_t kMaxSpecGpuMilli = 8000;

// CPU request as score plugins see it: 0 counts as 100m (kube-scheduler GetNonzeroRequests).
inline int64_t ScoringCpuMilli(const PodRequest& pod) {
  return pod.cpu_milli == 0 ? 100 : pod.cpu_milli;
}

class RandomScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kRandomScore; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
};

class FirstFitScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kFirstFit; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
};

class BestFitScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kBestFit; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
  absl::Status Normalize(const CycleState& state, absl::Span<int64_t> scores) const override;
};

class DotProductScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kDotProduct; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
};

class GpuPackingScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kGpuPacking; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
};

class GpuClusteringScore final : public ScorePlugin {
 public:
  std::string_view Name() const override { return names::kGpuClustering; }
  absl::Status Score(const CycleState& state, const PodRequest& pod,
                     const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override;
  bool ScoresEachNodeAlone() const override { return true; }
};

// Per-node scores of the formulas above, exposed for tests (the plugins call these).
int64_t BestFitRaw(const PodRequest& pod, const NodeInfo& node);
int64_t DotProductRaw(const PodRequest& pod, const NodeInfo& node);
int64_t GpuPackingRaw(const PodRequest& pod, const NodeInfo& node);
int64_t GpuClusteringRaw(const PodRequest& pod, const NodeInfo& node);

enum class ShareChoice { kBest, kRandom };

class GpuAllocator final : public ReservePlugin {
 public:
  explicit GpuAllocator(ShareChoice share) : share_(share) {}
  std::string_view Name() const override { return names::kGpuAllocator; }
  absl::StatusOr<std::optional<Assignment>> Reserve(const CycleState& state, const PodRequest& pod,
                                                    const ClusterSnapshot& snapshot,
                                                    NodeIndex node) const override;

 private:
  ShareChoice share_;
};

// The artifact's "best" share choice: the GPU of `candidates` with the least free milli, lowest
// index on ties. -1 if `candidates` is empty.
int BestFitShareGpu(const NodeInfo& node, GpuMask candidates);

// Devices for the pod on the node with the default rules above (whole GPUs, best-fit share,
// first MIG start); nullopt if it does not fit. Shared by the policies that only score.
std::optional<Assignment> DefaultAssignment(const PodRequest& pod, const NodeInfo& node,
                                            NodeIndex index);

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_BASELINES_BASELINES_H_
