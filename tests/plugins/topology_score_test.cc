// Direct tests of the TopologyScore plugin (plugins/topology_score/): the score formula on a
// small topology with every value derived by hand, and on DGX-1 against a brute-force reading of
// the formula for every free mask and GPU count.
#include "plugins/topology_score/topology_score.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/fit.h"
#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"
#include "topology/profiles.h"
#include "topology/topology.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Assign;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

std::shared_ptr<const NodeTopology> MustNodeTopology(absl::StatusOr<topology::Topology> t) {
  EXPECT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::shared_ptr<const NodeTopology>> n = NodeTopology::Create(*std::move(t));
  EXPECT_TRUE(n.ok()) << n.status();
  return *std::move(n);
}

// Two NVLink islands under one PCIe switch: GPU0=GPU1 and GPU2=GPU3 by 2 links of 25 GB/s
// (50 GB/s), every other pair PIX through 24 GB/s PCIe edges. In MB/s, as the search counts:
//   ring of a pair: 50000 inside an island, 24000 across;
//   ring of any 3 or 4 GPUs: 24000 (every cycle crosses between the islands);
//   leftover ring sum R(S) = sum over k >= 2 of the best k-subset's ring:
//     R({0,1,2,3}) = 50000 + 24000 + 24000 = 98000,  R(three GPUs) = 50000 + 24000 = 74000,
//     R(an island) = 50000,  R(a cross pair) = 24000,  R(one GPU) = 0.
std::shared_ptr<const NodeTopology> TwoIslands() {
  topology::TopologyBuilder b("two-islands");
  std::vector<topology::DeviceId> gpu;
  gpu.reserve(4);
  for (int i = 0; i < 4; ++i) {
    gpu.push_back(b.AddGpu("GPU" + std::to_string(i)));
  }
  const topology::DeviceId sw = b.AddPcieSwitch("sw");
  for (topology::DeviceId g : gpu) {
    b.AddPcie(g, sw, 24);
  }
  b.AddNvlink(gpu[0], gpu[1], 2, 25);
  b.AddNvlink(gpu[2], gpu[3], 2, 25);
  return MustNodeTopology(std::move(b).Build());
}

TEST(TopologyScoreTest, HandDerivedScores) {
  // score = round(100 * (0.75 Q + 0.25 L)), Q = ring(S) / best ring of k GPUs of the empty node,
  // L = R(free after S) / R(free before S); S is the set BestWholeGpuSet picks.
  const std::shared_ptr<const NodeTopology> islands = TwoIslands();
  const struct {
    std::string name;
    bool topology;
    GpuMask used;  // Whole GPUs already taken.
    PodRequest pod;
    int64_t want;
  } cases[] = {
      // Pods without whole GPUs: no opinion.
      {"share", true, 0, Pod().Share(300), 100},
      {"MIG", true, 0, Pod().Mig(1), 100},
      {"CPU only", true, 0, Pod().Cpu(1000), 100},
      // k = 1 (Q = 1). Empty: S = {0} (all singles tie; lowest mask), leaves 74000 of 98000:
      // 75 + 25 * 74/98 = 93.88.
      {"one GPU, empty node", true, 0b0000, Pod().Gpus(1), 94},
      // GPU0 taken: S = {1}, the rest of the broken island, leaves R({2,3}) = 50000 of 74000:
      // 75 + 25 * 50/74 = 91.89. (So filling the half-used island scores below breaking a whole
      // one on the empty node, 92 < 94: L is relative to what each node had free.)
      {"one GPU, island half used", true, 0b0001, Pod().Gpus(1), 92},
      // k = 2. Empty: S = {0,1} (ties with {2,3}; lower mask), Q = 50000/50000, leaves 50000 of
      // 98000: 75 + 25 * 50/98 = 87.76.
      {"two GPUs, empty node", true, 0b0000, Pod().Gpus(2), 88},
      // GPU1 taken: S = {2,3}, Q = 1, leaves R({0}) = 0: 75.
      {"two GPUs, one island left", true, 0b0010, Pod().Gpus(2), 75},
      // GPU1 and GPU3 taken: S = {0,2} across, Q = 24000/50000 = 0.48, leaves 0: 75 * 0.48 = 36.
      {"two GPUs across the islands", true, 0b1010, Pod().Gpus(2), 36},
      {"preferred NVLink does not change it", true, 0b1010,
       Pod().Gpus(2).Nvlink(TopologyPreference::kPreferred), 36},
      // Required NVLink and no NVLink pair free: no set, 0.
      {"required NVLink without a free pair", true, 0b1010,
       Pod().Gpus(2).Nvlink(TopologyPreference::kRequired), 0},
      // k = 3 and 4: every candidate ring is 24000 = the best, nothing with two GPUs is left: 75.
      {"three GPUs, empty node", true, 0b0000, Pod().Gpus(3), 75},
      {"three GPUs, the only three free", true, 0b0010, Pod().Gpus(3), 75},
      {"four GPUs, empty node", true, 0b0000, Pod().Gpus(4), 75},
      // More GPUs than free: no set, 0.
      {"two GPUs, one free", true, 0b0111, Pod().Gpus(2), 0},
      // Without a topology: 50 without an NVLink preference, 0 with one.
      {"no topology, no preference", false, 0, Pod().Gpus(2), 50},
      {"no topology, preferred", false, 0, Pod().Gpus(2).Nvlink(TopologyPreference::kPreferred), 0},
      {"no topology, required", false, 0, Pod().Gpus(2).Nvlink(TopologyPreference::kRequired), 0},
      {"no topology, share", false, 0, Pod().Share(500), 100},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Node spec = Node("n").Cpu(64000).Mem(64000).Gpus(4, "X");
    if (tc.topology) {
      spec.Topo(islands);
    }
    ClusterState state(BuildSnapshot({spec}));
    if (tc.used != 0) {
      ASSERT_TRUE(state.Apply(Assign(0, tc.used)).ok());
    }
    EXPECT_EQ(TopologyScoreOf(tc.pod, state.view().node(0)), tc.want);
  }
}

TEST(TopologyScoreTest, ScoreFillsEachNodeInOrder) {
  // The values of HandDerivedScores for a 2-GPU pod: empty islands 88, GPU1 taken 75, no
  // topology 50.
  ClusterState state(
      BuildSnapshot({Node("empty").Cpu(64000).Mem(64000).Gpus(4, "X").Topo(TwoIslands()),
                     Node("half").Cpu(64000).Mem(64000).Gpus(4, "X").Topo(TwoIslands()),
                     Node("plain").Cpu(64000).Mem(64000).Gpus(4, "X")}));
  ASSERT_TRUE(state.Apply(Assign(1, 0b0010)).ok());
  const TopologyScore plugin;
  EXPECT_EQ(plugin.Name(), "TopologyScore");
  EXPECT_TRUE(plugin.ScoresEachNodeAlone());
  const CycleState cycle;
  const std::vector<NodeIndex> nodes = {2, 0, 1};
  std::vector<int64_t> scores(nodes.size(), -1);
  ASSERT_TRUE(plugin.Score(cycle, Pod().Gpus(2), state.view(), nodes, absl::MakeSpan(scores)).ok());
  EXPECT_EQ(scores, (std::vector<int64_t>{50, 88, 75}));
  // Normalize is the default (scores are already 0..100): unchanged.
  ASSERT_TRUE(plugin.Normalize(cycle, absl::MakeSpan(scores)).ok());
  EXPECT_EQ(scores, (std::vector<int64_t>{50, 88, 75}));
}

// The formula read straight from topology_score.h, by brute force over the GPU subsets of a
// topology: ring bottlenecks by trying every cycle, best rings by trying every subset.
class BruteForceTopologyScore {
 public:
  explicit BruteForceTopologyScore(const topology::Topology& t) : g_(t.num_gpus()) {
    ring_.assign(size_t{1} << g_, 0);
    for (GpuMask s = 1; s < (GpuMask{1} << g_); ++s) {
      std::vector<int> members;
      for (int i = 0; i < g_; ++i) {
        if ((s >> i) & 1u) {
          members.push_back(i);
        }
      }
      if (members.size() < 2) {
        continue;
      }
      auto mbps = [&](int a, int b) -> int64_t { return std::llround(t.Bandwidth(a, b) * 1000); };
      int64_t best = 0;
      // Cycles through the members starting at the first one.
      do {
        int64_t bottleneck = mbps(members.back(), members.front());
        for (size_t i = 0; i + 1 < members.size(); ++i) {
          bottleneck = std::min(bottleneck, mbps(members[i], members[i + 1]));
        }
        best = std::max(best, bottleneck);
      } while (std::next_permutation(members.begin() + 1, members.end()));
      ring_[s] = best;
    }
  }

  // The best ring of any k-subset of `set`.
  int64_t BestRing(GpuMask set, int k) const {
    int64_t best = 0;
    for (GpuMask s = set; s != 0; s = (s - 1) & set) {
      if (std::popcount(s) == k) {
        best = std::max(best, ring_[s]);
      }
    }
    return best;
  }
  // The leftover ring sum of `free`.
  int64_t RingSum(GpuMask free) const {
    int64_t sum = 0;
    for (int k = 2; k <= std::popcount(free); ++k) {
      sum += BestRing(free, k);
    }
    return sum;
  }
  int64_t Score(GpuMask chosen, GpuMask free, int k) const {
    const GpuMask all = (GpuMask{1} << g_) - 1;
    double quality = 1.0;
    if (k >= 2 && BestRing(all, k) > 0) {
      quality = static_cast<double>(ring_[chosen]) / static_cast<double>(BestRing(all, k));
    }
    const int64_t before = RingSum(free);
    const double structure =
        before > 0 ? static_cast<double>(RingSum(free & ~chosen)) / static_cast<double>(before)
                   : 1.0;
    return std::llround(100.0 * (0.75 * std::min(quality, 1.0) + 0.25 * std::min(structure, 1.0)));
  }

 private:
  int g_;
  std::vector<int64_t> ring_;  // By subset.
};

TEST(TopologyScoreTest, Dgx1MatchesBruteForceForEveryFreeMaskAndK) {
  const std::shared_ptr<const NodeTopology> dgx1 =
      MustNodeTopology(topology::BuiltinProfile("dgx1-v100"));
  const BruteForceTopologyScore oracle(dgx1->topology);
  const ClusterSnapshot snapshot =
      BuildSnapshot({Node("dgx1").Cpu(64000).Mem(64000).Gpus(8, "V100").Topo(dgx1)});
  int checked = 0;
  for (GpuMask free = 0; free < 256; ++free) {
    NodeInfo node = snapshot.node(0);
    for (int i = 0; i < 8; ++i) {
      node.gpu_free_milli[i] = ((free >> i) & 1u) ? 1000 : 0;
    }
    for (int k = 1; k <= 8; ++k) {
      const PodRequest pod = Pod().Gpus(k);
      const std::optional<GpuMask> chosen = BestWholeGpuSet(pod, node);
      const int64_t want = chosen.has_value() ? oracle.Score(*chosen, free, k) : 0;
      EXPECT_EQ(TopologyScoreOf(pod, node), want) << "free=" << free << " k=" << k;
      checked += chosen.has_value();
    }
  }
  // Every (free, k) with k <= |free| has a set: the sum of |free| over the masks, 8 x 128.
  EXPECT_EQ(checked, 1024);
}

}  // namespace
}  // namespace accelsched::plugins
