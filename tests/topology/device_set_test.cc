#include "topology/device_set.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

#include "tests/testing/data_path.h"
#include "topology/profiles.h"
#include "topology/smi_parser.h"

namespace accelsched::topology {
namespace {

using ::accelsched::testing::HaveSharedData;
using ::accelsched::testing::ReadFileOrEmpty;
using ::accelsched::testing::SharedDataPath;

// An independent, slow re-statement of the objective in device_set.h: rings by trying every
// ordering, best sets and leftovers by scanning every subset. Shares nothing with the tables.
class Oracle {
 public:
  // (-ring, worst path, span, -total): smaller is better.
  using QualityKey = std::tuple<int64_t, int, int, int64_t>;
  using LeftoverKey = std::tuple<int64_t, int64_t, int64_t, int64_t>;

  explicit Oracle(const Topology& t) : t_(t), g_(t.num_gpus()), quality_(1u << g_) {
    for (uint32_t s = 1; s < (1u << g_); ++s) {
      quality_[s] = ComputeQuality(s);
    }
    leftover_.resize(1u << g_);
    for (uint32_t r = 0; r < (1u << g_); ++r) {
      leftover_[r] = ComputeLeftover(r);
    }
  }

  // 0 if no set qualifies.
  uint32_t Best(uint32_t free, int k, bool nic, bool numa) const {
    uint32_t best = 0;
    std::tuple<QualityKey, LeftoverKey, uint32_t> best_key;
    for (uint32_t s = 1; s < (1u << g_); ++s) {
      if ((s & ~free) != 0 || std::popcount(s) != k) {
        continue;
      }
      if (nic && !AllCloseNic(s)) {
        continue;
      }
      if (numa && std::get<2>(quality_[s]) != 1) {
        continue;
      }
      auto key = std::make_tuple(quality_[s], leftover_[free & ~s], s);
      if (best == 0 || key < best_key) {
        best = s;
        best_key = key;
      }
    }
    return best;
  }

  const QualityKey& Quality(uint32_t s) const { return quality_[s]; }

 private:
  int64_t Bw(int a, int b) const { return std::llround(t_.Bandwidth(a, b) * 1000); }

  bool AllCloseNic(uint32_t s) const {
    for (int i = 0; i < g_; ++i) {
      if (!((s >> i) & 1)) {
        continue;
      }
      bool close = false;
      for (int j = 0; j < t_.num_nics(); ++j) {
        close |= t_.GpuNicPath(i, j) == PathKind::kPix || t_.GpuNicPath(i, j) == PathKind::kPxb;
      }
      if (!close) {
        return false;
      }
    }
    return true;
  }

  QualityKey ComputeQuality(uint32_t s) const {
    std::vector<int> m;
    for (int i = 0; i < g_; ++i) {
      if ((s >> i) & 1) {
        m.push_back(i);
      }
    }
    int64_t ring = 0;
    if (m.size() == 2) {
      ring = Bw(m[0], m[1]);
    }
    if (m.size() >= 3) {
      std::vector<int> order(m.begin() + 1, m.end());
      do {
        int64_t b = std::min(Bw(m[0], order.front()), Bw(order.back(), m[0]));
        for (size_t i = 0; i + 1 < order.size(); ++i) {
          b = std::min(b, Bw(order[i], order[i + 1]));
        }
        ring = std::max(ring, b);
      } while (std::next_permutation(order.begin(), order.end()));
    }
    int worst = static_cast<int>(PathKind::kSelf);
    int64_t total = 0;
    std::set<int> numa;
    for (size_t i = 0; i < m.size(); ++i) {
      numa.insert(t_.GpuNuma(m[i]));
      for (size_t j = i + 1; j < m.size(); ++j) {
        worst = std::max(worst, static_cast<int>(t_.GpuPath(m[i], m[j])));
        total += Bw(m[i], m[j]);
      }
    }
    return {-ring, worst, static_cast<int>(numa.size()), -total};
  }

  LeftoverKey ComputeLeftover(uint32_t r) const {
    LeftoverKey sum{0, 0, 0, 0};
    for (int k = 2; k <= std::popcount(r); ++k) {
      std::optional<QualityKey> best;
      for (uint32_t s = 1; s < (1u << g_); ++s) {
        if ((s & ~r) == 0 && std::popcount(s) == k && (!best || quality_[s] < *best)) {
          best = quality_[s];
        }
      }
      std::get<0>(sum) += std::get<0>(*best);
      std::get<1>(sum) += std::get<1>(*best);
      std::get<2>(sum) += std::get<2>(*best);
      std::get<3>(sum) += std::get<3>(*best);
    }
    return sum;
  }

  const Topology& t_;
  int g_;
  std::vector<QualityKey> quality_;
  std::vector<LeftoverKey> leftover_;
};

std::vector<Topology> SmallTopologies() {
  std::vector<Topology> out;
  for (const ProfileInfo& p : BuiltinProfiles()) {
    if (p.gpus <= 8) {
      out.push_back(*BuiltinProfile(p.name));
    }
  }
  for (const char* file : {"dgx1-v100-8gpu-hybrid-cube-mesh.txt", "hgx-a100-8gpu-nv12-17nic.txt",
                           "hgx-h100-8gpu-nv18-partial.txt", "pcie-4x-a10-no-nvlink.txt",
                           "pcie-2x-gtx1080ti-phb.txt", "pcie-8x-rtx4090-sys.txt"}) {
    if (!HaveSharedData()) {
      break;  // The caller skips after checking the rest.
    }
    const std::string text =
        ReadFileOrEmpty(SharedDataPath(std::string("nvidia-smi-topo/") + file));
    absl::StatusOr<Topology> t = ParseNvidiaSmiTopo(text, file);
    EXPECT_TRUE(t.ok()) << file << ": " << t.status();
    if (t.ok()) {
      out.push_back(*std::move(t));
    }
  }
  out.push_back(GenericPcieTopology(3));
  return out;
}

// The property test of the issue: every free mask, every k, every constraint combination, on every
// built-in profile and every parsed real matrix with 8 GPUs or fewer.
TEST(DeviceSetSearchTest, MatchesBruteForceOnEveryMaskAndK) {
  for (const Topology& t : SmallTopologies()) {
    SCOPED_TRACE(t.name());
    const Oracle oracle(t);
    absl::StatusOr<DeviceSetSearch> search = DeviceSetSearch::Create(t);
    ASSERT_TRUE(search.ok()) << search.status();
    const int g = t.num_gpus();
    int mismatches = 0;
    for (uint32_t free = 0; free < (1u << g); ++free) {
      for (int k = 1; k <= g; ++k) {
        for (int variant = 0; variant < 4; ++variant) {
          const bool nic = variant & 1;
          const bool numa = variant & 2;
          const uint32_t want = oracle.Best(free, k, nic, numa);
          absl::StatusOr<std::optional<DeviceSetResult>> got = search->Best({k, free, nic, numa});
          ASSERT_TRUE(got.ok()) << got.status();
          const uint32_t got_mask = got->has_value() ? (*got)->gpus : 0;
          if (got_mask != want && ++mismatches <= 5) {
            ADD_FAILURE() << "free=0x" << std::hex << free << std::dec << " k=" << k
                          << " nic=" << nic << " numa=" << numa << ": got 0x" << std::hex
                          << got_mask << ", brute force 0x" << want;
          }
          if (got->has_value()) {
            EXPECT_EQ(std::llround((*got)->bottleneck_gbps * 1000),
                      -std::get<0>(oracle.Quality(got_mask)));
          }
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA() << " (the profiles passed; the real matrices did not run)";
}

TEST(DeviceSetSearchTest, Dgx1HandChecked) {
  const Topology t = *BuiltinProfile("dgx1-v100");
  const DeviceSetSearch s = *DeviceSetSearch::Create(t);
  const GpuMask all = 0xFF;
  // 2 GPUs: an NV2 pair (50 GB/s). 4 GPUs: a quad; no 4-cycle of NV2 links exists (the NV2 links
  // form the single 8-cycle 0-3-2-1-5-6-7-4), so the best ring is 25; quad A = 0-3 has
  // total 0-1 25 + 0-2 25 + 0-3 50 + 1-2 50 + 1-3 25 + 2-3 50 = 225 and is the lower mask.
  auto two = *s.Best({2, all});
  ASSERT_TRUE(two.has_value());
  EXPECT_DOUBLE_EQ(two->bottleneck_gbps, 50);
  EXPECT_EQ(t.NvlinkCount(two->gpu_indices[0], two->gpu_indices[1]), 2);
  auto four = *s.Best({4, all});
  ASSERT_TRUE(four.has_value());
  EXPECT_EQ(four->gpus, 0x0Fu);
  EXPECT_DOUBLE_EQ(four->bottleneck_gbps, 25);
  EXPECT_DOUBLE_EQ(four->total_gbps, 225);
  EXPECT_EQ(four->worst_path, PathKind::kNvlink);
  // 8 GPUs: the Hamiltonian ring of double links 0-3-2-1-5-6-7-4-0 gives 50 GB/s.
  EXPECT_DOUBLE_EQ((*s.Best({8, all}))->bottleneck_gbps, 50);
  // Quad A taken: a 4-GPU request gets quad B.
  EXPECT_EQ((*s.Best({4, 0xF0}))->gpus, 0xF0u);
}

TEST(DeviceSetSearchTest, SingleGpuKeepsSocketsWhole) {
  // H100: GPU 4 is the only free GPU of socket 1; taking it keeps socket 0 (GPU0-3) whole.
  const DeviceSetSearch h100 = *DeviceSetSearch::Create(*BuiltinProfile("hgx-h100"));
  EXPECT_EQ(h100.BestUnconstrained(0x1F, 1), 1u << 4);
  // DGX A100: GPU0 taken; the next single GPU fills its PCIe complex / NUMA node (GPU1).
  const DeviceSetSearch a100 = *DeviceSetSearch::Create(*BuiltinProfile("dgx-a100"));
  EXPECT_EQ(a100.BestUnconstrained(0xFE, 1), 1u << 1);
}

TEST(DeviceSetSearchTest, AllSysBoxUsesNumaAsTheLocalitySignal) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const std::string text =
      ReadFileOrEmpty(SharedDataPath("nvidia-smi-topo/pcie-8x-rtx4090-sys.txt"));
  const Topology t = *ParseNvidiaSmiTopo(text, "4090");
  const DeviceSetSearch s = *DeviceSetSearch::Create(t);
  // Every pair is SYS; GPU0-3 are NUMA 0 and GPU4-7 NUMA 1. A pair of GPU3 + GPU4 would cross.
  auto r = *s.Best({2, 0x18 | 0x01});  // Free: 0, 3, 4.
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->gpus, 0x09u);  // 0 and 3, same NUMA node.
  EXPECT_EQ(r->numa_span, 1);
}

TEST(DeviceSetSearchTest, Constraints) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const std::string text =
      ReadFileOrEmpty(SharedDataPath("nvidia-smi-topo/dgx1-v100-8gpu-hybrid-cube-mesh.txt"));
  const DeviceSetSearch dgx1 = *DeviceSetSearch::Create(*ParseNvidiaSmiTopo(text, "dgx1"));
  // Only GPU2/3 are PIX to mlx5_0.
  EXPECT_EQ((*dgx1.Best({2, 0xFF, /*require_close_nic=*/true, false}))->gpus, 0x0Cu);
  EXPECT_FALSE(dgx1.Best({3, 0xFF, true, false})->has_value());
  const DeviceSetSearch h100 = *DeviceSetSearch::Create(*BuiltinProfile("hgx-h100"));
  EXPECT_EQ((*h100.Best({4, 0xFF, false, /*require_same_numa=*/true}))->gpus, 0x0Fu);
  EXPECT_FALSE(h100.Best({5, 0xFF, false, true})->has_value());
  EXPECT_FALSE(h100.Best({3, 0x03, false, false})->has_value());  // Only 2 free.
}

TEST(DeviceSetSearchTest, BadRequestsAreInvalidArgument) {
  const DeviceSetSearch s = *DeviceSetSearch::Create(*BuiltinProfile("hgx-h100"));
  const struct {
    std::string name;
    DeviceSetRequest request;
    std::string want;
  } cases[] = {
      {"zero gpus", {0, 0xFF}, "gpus: must be 1..8"},
      {"more gpus than the node", {9, 0xFF}, "gpus: must be 1..8"},
      {"free names a missing GPU", {1, 0x1FF}, "free: names GPU 8"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto r = s.Best(tc.request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(tc.want), std::string::npos) << r.status();
  }
}

TEST(DeviceSetSearchTest, SixteenGpuTablesAgreeWithDirectRings) {
  const Topology t = *BuiltinProfile("hgx2-v100");
  const DeviceSetSearch s = *DeviceSetSearch::Create(t);
  ASSERT_EQ(s.num_gpus(), 16);
  // All pairs NV6 through the switches: every ring is 150 GB/s; 8 GPUs take one socket's GPUs.
  auto r = *s.Best({8, 0xFFFF});
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(r->bottleneck_gbps, 150);
  EXPECT_EQ(r->numa_span, 1);
}

}  // namespace
}  // namespace accelsched::topology
