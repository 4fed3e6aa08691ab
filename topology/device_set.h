// Device-set search inside one node: which k of a node's free GPUs to give a pod.
//
// The objective, compared lexicographically (first difference decides):
//   1. ring bottleneck (max): the largest b such that the set's GPUs can be ordered in a ring whose
//      every hop has pair bandwidth >= b (Topology::Bandwidth). This is what a ring all-reduce
//      (NCCL) is limited by. k = 2: the pair's bandwidth; k = 1: 0 (no traffic).
//   2. worst path (min): the farthest nvidia-smi path kind between two members (NV < PIX < ... <
//      SYS). Separates PCIe sets of equal bandwidth (same switch before across host bridges).
//   3. NUMA span (min): number of distinct NUMA nodes of the members. On boxes where every pair is
//      SYS (e.g. 8x RTX 4090), CPU affinity is the only locality signal.
//   4. total bandwidth (max): sum of pair bandwidths over all member pairs (all-to-all traffic).
//   5. leftover structure (max): for R = free - set, the best set of every size k' = 2..|R| that
//      R could still give (by criteria 1-4), summed per criterion and compared in the same order.
//      Buddy-allocator behaviour falls out of it: a 1-GPU request fills a half-used NVLink pair,
//      PCIe switch or socket instead of breaking a whole one.
//   6. lowest GPU mask, so the answer is deterministic.
// Optional hard constraints: every member has a NIC at PIX/PXB distance (GPUDirect RDMA), and/or
// all members on one NUMA node. Neither changes the objective, only which sets compete.
//
// Tables (built once per topology by Create, for up to kMaxGpus = 16 GPUs; G = GPU count):
//   per subset S: quality (ring bottleneck by a Held-Karp style DP over (subset, last vertex) in
//   O(2^G G^2), the other criteria incrementally in O(2^G G)); per subset R and size k the best
//   subset of R (DP over R minus one GPU, O(2^G G^2)); the leftover score of every R; and the
//   answer for every (free mask, k) without constraints, by enumerating every (free, subset) pair:
//   O(3^G). Queries without constraints are one table lookup; constrained queries enumerate the
//   C(|free|, k) candidate sets with the precomputed per-subset tables.
//
// Thread-safety: immutable after Create; all methods are const and safe to call concurrently.
#ifndef ACCELSCHED_TOPOLOGY_DEVICE_SET_H_
#define ACCELSCHED_TOPOLOGY_DEVICE_SET_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

#include "topology/topology.h"

namespace accelsched::topology {

// Criteria 1-4 of one GPU set. Bandwidths in MB/s (integers, so sums compare exactly).
struct SetQuality {
  uint32_t ring_mbps = 0;
  PathKind worst_path = PathKind::kSelf;
  uint8_t numa_span = 0;
  uint64_t total_mbps = 0;
};

// Criterion 5: sums over k' = 2..|R| of the best set's criteria 1-4 in R.
struct LeftoverScore {
  uint64_t ring_sum = 0;
  uint32_t path_sum = 0;
  uint32_t span_sum = 0;
  uint64_t total_sum = 0;
};

// <0 if a is better than b, 0 if equal, >0 if worse (criteria 1-4).
int CompareQuality(const SetQuality& a, const SetQuality& b);
// <0 if a is better than b, 0 if equal, >0 if worse.
int CompareLeftover(const LeftoverScore& a, const LeftoverScore& b);

struct DeviceSetRequest {
  int k = 1;
  GpuMask free = 0;
  bool require_close_nic = false;  // Every member has a NIC at PIX or PXB.
  bool require_same_numa = false;  // All members on one NUMA node.
};

struct DeviceSetResult {
  GpuMask gpus = 0;
  std::vector<int> gpu_indices;  // The members, ascending.
  double bottleneck_gbps = 0;    // Criterion 1, GB/s.
  double total_gbps = 0;         // Criterion 4, GB/s.
  PathKind worst_path = PathKind::kSelf;
  int numa_span = 0;
};

class DeviceSetSearch {
 public:
  // Builds the tables; InvalidArgument if the topology has more than kMaxGpus GPUs.
  static absl::StatusOr<DeviceSetSearch> Create(const Topology& topology);
  int num_gpus() const { return g_; }

  // The best set for the request, or nullopt if no set satisfies it (fewer than k free GPUs, or the
  // constraints exclude every set): an outcome, not an error. InvalidArgument if k is outside
  // 1..num_gpus() or `free` names GPUs the node does not have.
  absl::StatusOr<std::optional<DeviceSetResult>> Best(const DeviceSetRequest& request) const;

  // The unconstrained answer straight from the table; 0 if fewer than k GPUs are free. Requires
  // 1 <= k <= num_gpus() and free within all GPUs (unchecked: the hot path).
  GpuMask BestUnconstrained(GpuMask free, int k) const {
    return answer_[static_cast<size_t>(free) * (g_ + 1) + k];
  }

  const SetQuality& Quality(GpuMask set) const { return quality_[set]; }
  const LeftoverScore& Leftover(GpuMask rest) const { return leftover_[rest]; }

 private:
  DeviceSetSearch() = default;
  // <0 if choosing a from `free` is better than choosing b (criteria 1-6).
  int CompareChoice(GpuMask free, GpuMask a, GpuMask b) const;
  DeviceSetResult MakeResult(GpuMask set) const;

  int g_ = 0;
  GpuMask close_nic_ = 0;
  std::vector<SetQuality> quality_;      // By subset.
  std::vector<LeftoverScore> leftover_;  // By subset.
  std::vector<uint16_t> answer_;         // [free * (g + 1) + k] -> best subset (0 = none).
};

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_DEVICE_SET_H_
