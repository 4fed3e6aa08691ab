#include "topology/device_set.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace accelsched::topology {
namespace {

template <typename T>
int Cmp(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int LowestBit(uint32_t mask) { return std::countr_zero(mask); }
int HighestBit(uint32_t mask) { return 31 - std::countl_zero(mask); }

}  // namespace

int CompareQuality(const SetQuality& a, const SetQuality& b) {
  if (int c = Cmp(b.ring_mbps, a.ring_mbps)) {
    return c;  // Larger is better.
  }
  if (int c = Cmp(a.worst_path, b.worst_path)) {
    return c;
  }
  if (int c = Cmp(a.numa_span, b.numa_span)) {
    return c;
  }
  return Cmp(b.total_mbps, a.total_mbps);
}

int CompareLeftover(const LeftoverScore& a, const LeftoverScore& b) {
  if (int c = Cmp(b.ring_sum, a.ring_sum)) {
    return c;
  }
  if (int c = Cmp(a.path_sum, b.path_sum)) {
    return c;
  }
  if (int c = Cmp(a.span_sum, b.span_sum)) {
    return c;
  }
  return Cmp(b.total_sum, a.total_sum);
}

namespace {

// GPU pair bandwidths in MB/s (integers, so that sums and comparisons are exact), g x g.
std::vector<uint32_t> PairBandwidthMbps(const Topology& topology) {
  const int g = topology.num_gpus();
  std::vector<uint32_t> bw(static_cast<size_t>(g) * g, 0);
  for (int a = 0; a < g; ++a) {
    for (int b = 0; b < g; ++b) {
      if (a != b) {
        bw[a * g + b] = static_cast<uint32_t>(std::llround(topology.Bandwidth(a, b) * 1000));
      }
    }
  }
  return bw;
}

// Criteria 2-4 of every subset, incrementally: S = (S without its highest GPU) + that GPU.
// ring_mbps is left 0 (RingBandwidths fills it).
std::vector<SetQuality> WorstPathSpanAndTotal(const Topology& topology,
                                              const std::vector<uint32_t>& bw) {
  const int g = topology.num_gpus();
  const uint32_t n = 1u << g;
  std::vector<SetQuality> quality(n, SetQuality{});
  std::vector<uint32_t> numa_bits(n, 0);
  for (uint32_t set = 1; set < n; ++set) {
    const int top = HighestBit(set);
    const uint32_t rest = set & ~(1u << top);
    SetQuality q = quality[rest];
    numa_bits[set] = numa_bits[rest] | (1u << topology.NumaRank(top));
    q.numa_span = static_cast<uint8_t>(std::popcount(numa_bits[set]));
    for (uint32_t r = rest; r != 0; r &= r - 1) {
      const int j = LowestBit(r);
      q.total_mbps += bw[top * g + j];
      q.worst_path = std::max(q.worst_path, topology.GpuPath(top, j));
    }
    quality[set] = q;
  }
  return quality;
}

// Criterion 1 of every subset into quality[S].ring_mbps. path[S][v] = best bottleneck of a
// Hamiltonian path through S that starts at the lowest GPU of S and ends at v (0 = no such path
// yet). Extending only with GPUs above the start keeps the start the lowest. A ring closes the
// path back to the start. O(2^g g^2) time, O(2^g g) memory (freed on return).
void RingBandwidths(int g, const std::vector<uint32_t>& bw, std::vector<SetQuality>& quality) {
  const uint32_t n = 1u << g;
  constexpr uint32_t kInf = ~0u;
  std::vector<uint32_t> path(static_cast<size_t>(n) * g, 0);
  for (int v = 0; v < g; ++v) {
    path[(1u << v) * g + v] = kInf;
  }
  for (uint32_t set = 1; set < n; ++set) {
    const int start = LowestBit(set);
    for (uint32_t members = set; members != 0; members &= members - 1) {
      const int v = LowestBit(members);
      const uint32_t here = path[set * g + v];
      if (here == 0) {
        continue;
      }
      for (int u = start + 1; u < g; ++u) {
        if (set & (1u << u)) {
          continue;
        }
        const uint32_t next = set | (1u << u);
        uint32_t& slot = path[next * g + u];
        slot = std::max(slot, std::min(here, bw[v * g + u]));
      }
    }
    const int size = std::popcount(set);
    if (size == 2) {
      quality[set].ring_mbps = bw[start * g + HighestBit(set)];
    } else if (size >= 3) {
      uint32_t best = 0;
      for (uint32_t members = set & (set - 1); members != 0; members &= members - 1) {
        const int v = LowestBit(members);
        best = std::max(best, std::min(path[set * g + v], bw[v * g + start]));
      }
      quality[set].ring_mbps = best;
    }
  }
}

// best_of[R * (g+1) + k]: the best k-subset of R by criteria 1-4 (ties: lower mask). Every proper
// k-subset of R lies inside R minus one of its GPUs.
std::vector<uint16_t> BestSubsets(int g, const std::vector<SetQuality>& quality) {
  const uint32_t n = 1u << g;
  std::vector<uint16_t> best_of(static_cast<size_t>(n) * (g + 1), 0);
  for (uint32_t r = 1; r < n; ++r) {
    const int size = std::popcount(r);
    best_of[r * (g + 1) + size] = static_cast<uint16_t>(r);
    for (uint32_t members = r; members != 0; members &= members - 1) {
      const uint32_t sub = r & ~(1u << LowestBit(members));
      for (int k = 1; k < size; ++k) {
        const uint16_t cand = best_of[sub * (g + 1) + k];
        uint16_t& cur = best_of[r * (g + 1) + k];
        if (cand == 0) {
          continue;
        }
        if (cur == 0) {
          cur = cand;
          continue;
        }
        const int c = CompareQuality(quality[cand], quality[cur]);
        if (c < 0 || (c == 0 && cand < cur)) {
          cur = cand;
        }
      }
    }
  }
  return best_of;
}

// Criterion 5 of every set R of GPUs left free: the sums over k >= 2 of the criteria 1-4 of R's
// best k-subset.
std::vector<LeftoverScore> LeftoverScores(int g, const std::vector<SetQuality>& quality) {
  const uint32_t n = 1u << g;
  const std::vector<uint16_t> best_of = BestSubsets(g, quality);
  std::vector<LeftoverScore> leftover(n, LeftoverScore{});
  for (uint32_t r = 1; r < n; ++r) {
    LeftoverScore l;
    for (int k = 2; k <= std::popcount(r); ++k) {
      const SetQuality& q = quality[best_of[r * (g + 1) + k]];
      l.ring_sum += q.ring_mbps;
      l.path_sum += static_cast<uint32_t>(q.worst_path);
      l.span_sum += q.numa_span;
      l.total_sum += q.total_mbps;
    }
    leftover[r] = l;
  }
  return leftover;
}

}  // namespace

absl::StatusOr<DeviceSetSearch> DeviceSetSearch::Create(const Topology& topology) {
  const int g = topology.num_gpus();
  if (g < 1 || g > kMaxGpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("device-set search supports 1..", kMaxGpus, " GPUs, topology has ", g));
  }
  DeviceSetSearch s;
  s.g_ = g;
  s.close_nic_ = topology.close_nic_gpus();
  const uint32_t n = 1u << g;
  const std::vector<uint32_t> bw = PairBandwidthMbps(topology);
  s.quality_ = WorstPathSpanAndTotal(topology, bw);
  RingBandwidths(g, bw, s.quality_);
  s.leftover_ = LeftoverScores(g, s.quality_);

  // Unconstrained answers: every subset of every free mask. Submasks of `free` are enumerated in
  // decreasing order, so ties on criteria 1-5 go to the last one seen with "<=" (the lowest mask).
  s.answer_.assign(static_cast<size_t>(n) * (g + 1), 0);
  for (uint32_t free = 1; free < n; ++free) {
    uint16_t* ans = &s.answer_[static_cast<size_t>(free) * (g + 1)];
    for (uint32_t sub = free; sub != 0; sub = (sub - 1) & free) {
      const int k = std::popcount(sub);
      if (ans[k] == 0 || s.CompareChoice(free, sub, ans[k]) <= 0) {
        ans[k] = static_cast<uint16_t>(sub);
      }
    }
  }
  return s;
}

int DeviceSetSearch::CompareChoice(GpuMask free, GpuMask a, GpuMask b) const {
  if (int c = CompareQuality(quality_[a], quality_[b])) {
    return c;
  }
  if (int c = CompareLeftover(leftover_[free & ~a], leftover_[free & ~b])) {
    return c;
  }
  return Cmp(a, b);
}

DeviceSetResult DeviceSetSearch::MakeResult(GpuMask set) const {
  DeviceSetResult r;
  r.gpus = set;
  for (GpuMask m = set; m != 0; m &= m - 1) {
    r.gpu_indices.push_back(LowestBit(m));
  }
  const SetQuality& q = quality_[set];
  r.bottleneck_gbps = q.ring_mbps / 1000.0;
  r.total_gbps = static_cast<double>(q.total_mbps) / 1000.0;
  r.worst_path = q.worst_path;
  r.numa_span = q.numa_span;
  return r;
}

absl::StatusOr<std::optional<DeviceSetResult>> DeviceSetSearch::Best(
    const DeviceSetRequest& request) const {
  if (request.k < 1 || request.k > g_) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpus: must be 1..", g_, " on this node, got ", request.k));
  }
  const GpuMask all = (1u << g_) - 1;
  if ((request.free & ~all) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("free: names GPU ", HighestBit(request.free),
                                                   " but the node has GPUs 0..", g_ - 1));
  }
  if (!request.require_close_nic && !request.require_same_numa) {
    const GpuMask set = BestUnconstrained(request.free, request.k);
    if (set == 0) {
      return std::nullopt;
    }
    return MakeResult(set);
  }
  const GpuMask pool = request.free & (request.require_close_nic ? close_nic_ : all);
  if (std::popcount(pool) < request.k) {
    return std::nullopt;
  }
  GpuMask best = 0;
  // Gosper's hack over the k-subsets of the pool's compacted index space.
  const int m = std::popcount(pool);
  std::vector<int> index;
  for (GpuMask p = pool; p != 0; p &= p - 1) {
    index.push_back(LowestBit(p));
  }
  for (uint32_t comb = (1u << request.k) - 1; comb < (1u << m);) {
    GpuMask set = 0;
    for (uint32_t c = comb; c != 0; c &= c - 1) {
      set |= 1u << index[LowestBit(c)];
    }
    if (!request.require_same_numa || quality_[set].numa_span == 1) {
      if (best == 0 || CompareChoice(request.free, set, best) < 0) {
        best = set;
      }
    }
    // Next combination with the same popcount; dividing by the lowest set bit is a shift.
    const uint32_t ripple = comb + (comb & -comb);
    comb = (((ripple ^ comb) >> 2) >> std::countr_zero(comb)) | ripple;
  }
  if (best == 0) {
    return std::nullopt;
  }
  return MakeResult(best);
}

}  // namespace accelsched::topology
