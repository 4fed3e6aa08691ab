#include "plugins/baselines/baselines.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Assign;
using ::accelsched::testing::AssignMig;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::CpuNodes;
using ::accelsched::testing::Info;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

NodeInfo WithClasses(NodeInfo n, int16_t share, int16_t one, int16_t two, int16_t mig,
                     int16_t sixteen = 0) {
  n.pods_by_gpu_class[kShareClass] = share;
  n.pods_by_gpu_class[1] = one;
  n.pods_by_gpu_class[2] = two;
  n.pods_by_gpu_class[kMaxGpus] = sixteen;
  n.pods_by_gpu_class[kMigClass] = mig;
  return n;
}

TEST(ScoringCpuMilliTest, ZeroCountsAsOneHundred) {
  EXPECT_EQ(ScoringCpuMilli(Pod().Cpu(0)), 100);
  EXPECT_EQ(ScoringCpuMilli(Pod().Cpu(1)), 1);
  EXPECT_EQ(ScoringCpuMilli(Pod().Cpu(5000)), 5000);
}

TEST(BestFitRawTest, ArtifactFormula) {
  // int64((1 - (0.5 (cpuLeft - cpu)/128000 + 0.5 (gpuLeft - gpu)/8000)) * 100).
  const struct {
    std::string name;
    PodRequest pod;
    NodeInfo node;
    int64_t want;
  } cases[] = {
      // cpu left 32000 - 4000 = 28000, gpu left 1600 - 500 = 1100;
      // s = 0.5*28000/128000 + 0.5*1100/8000 = 0.109375 + 0.06875 = 0.178125 -> 82.1875 -> 82.
      {"share on a half-used node", Pod().Cpu(4000).Share(500), Info(32000, {1000, 600}), 82},
      // CPU 0 counts as 100: left 100 - 100 = 0; gpu left 1000 - 1000 = 0; s = 0 -> 100.
      {"exact fit", Pod().Cpu(0).Gpus(1), Info(100, {1000}), 100},
      // 100m (CPU 0) > 50m free: negative left -> 0.
      {"CPU 0 still needs 100m", Pod().Cpu(0).Gpus(1), Info(50, {1000}), 0},
      // gpu left 300 - 500 < 0 -> 0.
      {"GPU short", Pod().Cpu(1).Share(500), Info(1000, {300}), 0},
      // cpu left 128000 - 100 = 127900; gpu left 8000;
      // s = 0.5*127900/128000 + 0.5 = 0.9996... -> 0.039 -> 0.
      {"empty maximal node", Pod().Cpu(0),
       Info(128000, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}), 0},
      // cpu left 32000: s = 0.125 -> 87.5 -> 87.
      {"CPU-only pod on a CPU node", Pod().Cpu(32000), Info(64000, {}), 87},
      // gpu total 3500, left 3500 - 2000 = 1500; s = 0.5*1500/8000 = 0.09375 -> 90.625 -> 90.
      {"two whole GPUs", Pod().Cpu(16000).Gpus(2), Info(16000, {1000, 1000, 1000, 500}), 90},
      // MIG 3g counts 1000*3/7 = 428 milli; left 1000 - 428 = 572;
      // s = 0.5*572/8000 = 0.03575 -> 96.425 -> 96.
      {"MIG 3g", Pod().Cpu(100).Mig(3), Info(100, {1000}), 96},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(BestFitRaw(tc.pod, tc.node), tc.want);
  }
}

TEST(DotProductRawTest, ArtifactFormula) {
  // int64(100 (1 - dot/2)), dot = cpuLeft/128000 * cpu/128000 + gpuLeft/8000 * gpu/8000.
  const struct {
    std::string name;
    PodRequest pod;
    NodeInfo node;
    int64_t want;
  } cases[] = {
      // dot = 32000/128000 * 4000/128000 + 1600/8000 * 500/8000 = 0.25*0.03125 + 0.2*0.0625
      //     = 0.0078125 + 0.0125 = 0.0203125; 100 * (1 - 0.01015625) = 98.98 -> 98.
      {"share on a half-used node", Pod().Cpu(4000).Share(500), Info(32000, {1000, 600}), 98},
      // dot = 1*1 + 1*1 = 2 -> 100 * (1 - 1) = 0.
      {"pod as large as the node", Pod().Cpu(128000).Gpus(8),
       Info(128000, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}), 0},
      // dot = 1*0.5 + 1*0.5 = 1 -> 50.
      {"half of a maximal node", Pod().Cpu(64000).Gpus(4),
       Info(128000, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}), 50},
      // CPU 0 -> 100m: dot = 1 * 100/128000 = 0.00078125 -> 100 * (1 - 0.000390625) -> 99.
      {"CPU 0 counts as 100m", Pod().Cpu(0), Info(128000, {}), 99},
      {"CPU 0 on 99m free", Pod().Cpu(0), Info(99, {}), 0},
      {"not enough CPU", Pod().Cpu(2000).Gpus(1), Info(1999, {1000}), 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(DotProductRaw(tc.pod, tc.node), tc.want);
  }
}

TEST(GpuPackingRawTest, Bands) {
  const struct {
    std::string name;
    PodRequest pod;
    NodeInfo node;
    int64_t want;
  } cases[] = {
      {"CPU-only pod", Pod().Cpu(100), Info(1000, {1000, 1000}), 0},
      {"node without GPUs", Pod().Share(100), Info(1000, {}), 0},
      // No GPU in use: max(100/3 - n, n) = max(33 - n, n).
      {"idle 1-GPU node", Pod().Share(100), Info(1000, {1000}), 32},                    // 33 - 1.
      {"idle 4-GPU node", Pod().Share(100), Info(1000, {1000, 1000, 1000, 1000}), 29},  // 33 - 4.
      {"idle 8-GPU node", Pod().Gpus(8),
       Info(1000, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}), 25},  // 33 - 8.
      {"idle 16-GPU node", Pod().Gpus(1), Info(1000, std::vector<int16_t>(16, 1000)),
       17},  // max(33 - 16, 16) = 17.
      // Needs k entirely free GPUs: max(50 - k, 33). Ascending free: 500 (GPU 1, too small),
      // then GPUs 0 and 2 (1000 each): k = 2 -> 48.
      {"two whole GPUs on a used node", Pod().Gpus(2), Info(1000, {1000, 500, 1000, 1000}), 48},
      {"four whole GPUs", Pod().Gpus(4), Info(1000, {1000, 1000, 1000, 1000, 1000, 0, 0, 0}),
       46},                                                               // 50 - 4.
      {"one whole GPU", Pod().Gpus(1), Info(1000, {1000, 0, 1000}), 49},  // 50 - 1.
      // Share: ascending free 200 (too small), 1000 -> an entirely free GPU, k = 1 -> 49.
      {"share must open a free GPU", Pod().Share(500), Info(1000, {1000, 200}), 49},
      // Share: ascending 300 (GPU 2) fits first: r = 300*100/1000 = 30; 100 - 30/10 = 97.
      {"share on the fullest GPU that fits", Pod().Share(250), Info(1000, {1000, 600, 300, 1000}),
       97},
      // r = 999*100/1000 = 99; 100 - 99/10 = 100 - 9 = 91.
      {"share on 999 free", Pod().Share(999), Info(1000, {999, 1000}), 91},
      // Both 400: r = 40 -> 96.
      {"share, equal GPUs", Pod().Share(300), Info(1000, {400, 400}), 96},
      // A MIG GPU offers nothing (f = 0), so the node is not idle; GPU 1 entirely free: 49.
      {"MIG GPU is not idle", Pod().Share(300), Info(1000, {1000, 1000}, 0b01), 49},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(GpuPackingRaw(tc.pod, tc.node), tc.want);
  }
}

TEST(GpuClusteringRawTest, Bands) {
  // base = 25 (8000 - L)/8000 (integer, >= 0), L = node's free milli; + 75 if the pod's class is
  // the only one on the node, + 50 if present with others, + 25 if the node has no GPU pods.
  const std::vector<int16_t> idle16(16, 1000);
  const struct {
    std::string name;
    PodRequest pod;
    NodeInfo node;
    int64_t want;
  } cases[] = {
      {"CPU-only pod", Pod().Cpu(100), Info(1000, {1000}), 0},
      // L = 8000: base 0, no GPU pods: 0 + 25.
      {"idle 8-GPU node", Pod().Share(100),
       Info(1000, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}), 25},
      // L = 1000: 25*7000/8000 = 21 (21.875), + 25 = 46.
      {"idle 1-GPU node", Pod().Gpus(1), Info(1000, {1000}), 46},
      // L = 3500: 25*4500/8000 = 14 (14.06); only shares on it: 14 + 75 = 89.
      {"share joins shares only", Pod().Share(100),
       WithClasses(Info(1000, {1000, 1000, 1000, 500}), 1, 0, 0, 0), 89},
      // Same node, a 1-GPU pod: its class is absent and others exist: 14 + 0.
      {"1-GPU pod on a share node", Pod().Gpus(1),
       WithClasses(Info(1000, {1000, 1000, 1000, 500}), 1, 0, 0, 0), 14},
      // L = 2500: 25*5500/8000 = 17 (17.19); shares and 1-GPU pods: share pod 17 + 50 = 67.
      {"share among two classes", Pod().Share(100),
       WithClasses(Info(1000, {1000, 1000, 500, 0}), 1, 1, 0, 0), 67},
      {"1-GPU pod among two classes", Pod().Gpus(1),
       WithClasses(Info(1000, {1000, 1000, 500, 0}), 1, 1, 0, 0), 67},
      {"2-GPU pod, class absent", Pod().Gpus(2),
       WithClasses(Info(1000, {1000, 1000, 500, 0}), 1, 1, 0, 0), 17},
      // L = 16000 > 8000: 25*(-8000)/8000 = -25 -> 0; + 25 = 25.
      {"idle 16-GPU node", Pod().Gpus(1), Info(1000, idle16), 25},
      // L = 0: base 25; shares only: 25 + 75 = 100.
      {"full node of shares", Pod().Share(100), WithClasses(Info(1000, {0}), 2, 0, 0, 0), 100},
      // L = 857 + 1000 = 1857: 25*6143/8000 = 19 (19.2); MIG only: 19 + 75 = 94.
      {"MIG joins MIG", Pod().Mig(1), WithClasses(Info(1000, {857, 1000}), 0, 0, 0, 1), 94},
      {"share on a MIG-only node", Pod().Share(1), WithClasses(Info(1000, {857, 1000}), 0, 0, 0, 1),
       19},
      // 16 GPUs whole: class 16; L = 0: 25 + 75 = 100.
      {"16-GPU pod joins 16-GPU pods", Pod().Gpus(16),
       WithClasses(Info(1000, std::vector<int16_t>(16, 0)), 0, 0, 0, 0, 1), 100},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(GpuClusteringRaw(tc.pod, tc.node), tc.want);
  }
}

TEST(BestFitScoreTest, NormalizeIsIntegerMinMax) {
  const struct {
    std::string name;
    std::vector<int64_t> raw;
    std::vector<int64_t> want;
  } cases[] = {
      {"empty", {}, {}},
      {"single", {7}, {0}},
      {"all equal", {5, 5, 5}, {0, 0, 0}},
      // (20 - 10)*100/30 = 33 (33.3).
      {"spread", {10, 20, 40}, {0, 33, 100}},
      {"unsorted", {3, 1, 2}, {100, 0, 50}},  // (2 - 1)*100/2 = 50.
      {"already 0..100", {0, 100}, {0, 100}},
  };
  BestFitScore plugin;
  CycleState state;
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<int64_t> got = tc.raw;
    ASSERT_TRUE(plugin.Normalize(state, absl::MakeSpan(got)).ok());
    EXPECT_EQ(got, tc.want);
  }
}

ClusterSnapshot FiveCpuNodes() {
  return CpuNodes({{"a", 1000}, {"b", 1000}, {"c", 1000}, {"d", 1000}, {"e", 1000}},
                  /*memory_mib=*/0);
}

TEST(RandomScoreTest, GivesOneRandomNodeTheMaximum) {
  const ClusterSnapshot snap = FiveCpuNodes();
  const std::vector<NodeIndex> nodes = {4, 0, 2, 1, 3};
  RandomScore plugin;
  Rng rng(7);
  CycleState state;
  state.rng = &rng;
  std::array<int, 5> picked{};
  constexpr int kTrials = 1000;
  for (int t = 0; t < kTrials; ++t) {
    const Rng before = rng;
    std::vector<int64_t> scores(nodes.size(), -1);
    ASSERT_TRUE(plugin.Score(state, Pod().Cpu(1), snap, nodes, absl::MakeSpan(scores)).ok());
    EXPECT_NE(rng, before) << "the plugin must draw from the cycle's rng";
    int maxima = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      EXPECT_TRUE(scores[i] == 0 || scores[i] == 100) << scores[i];
      if (scores[i] == 100) {
        ++maxima;
        ++picked[i];
      }
    }
    ASSERT_EQ(maxima, 1);
  }
  // Uniform over 5 positions: 200 expected each; a fixed seed, so this is deterministic, and a
  // uniform sampler is far inside these bounds.
  for (size_t i = 0; i < picked.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GT(picked[i], 120);
    EXPECT_LT(picked[i], 280);
  }
  // Without an rng: the first node, deterministically.
  state.rng = nullptr;
  std::vector<int64_t> scores(nodes.size());
  ASSERT_TRUE(plugin.Score(state, Pod().Cpu(1), snap, nodes, absl::MakeSpan(scores)).ok());
  EXPECT_EQ(scores, (std::vector<int64_t>{100, 0, 0, 0, 0}));
}

TEST(FirstFitScoreTest, LowestNodeIndexWins) {
  const ClusterSnapshot snap = FiveCpuNodes();
  FirstFitScore plugin;
  CycleState state;
  const struct {
    std::string name;
    std::vector<NodeIndex> nodes;
    std::vector<int64_t> want;
  } cases[] = {
      {"lowest index is second in order", {3, 1, 2}, {0, 100, 0}},
      {"single", {4}, {100}},
      {"already ordered", {0, 1, 2, 3, 4}, {100, 0, 0, 0, 0}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<int64_t> got(tc.nodes.size(), -1);
    ASSERT_TRUE(plugin.Score(state, Pod().Cpu(1), snap, tc.nodes, absl::MakeSpan(got)).ok());
    EXPECT_EQ(got, tc.want);
  }
}

TEST(ScorePluginsTest, ScoreEachNodeWithTheRawFormula) {
  // The batched plugins must give, node by node, what the per-node formula gives (in order).
  ClusterSnapshotBuilder b;
  for (int i = 0; i < 3; ++i) {
    NodeSpec s;
    s.name = "n" + std::to_string(i);
    s.cpu_milli = int64_t{8000} * (i + 1);
    s.gpu_model = "V100";
    s.gpu_count = 2 * (i + 1);
    b.AddNode(std::move(s));
  }
  absl::StatusOr<ClusterSnapshot> snap0 = std::move(b).Build();
  ASSERT_TRUE(snap0.ok());
  ClusterState state(*std::move(snap0));
  Assignment a;
  a.node = 1;
  a.gpus = 0b1;
  a.gpu_milli = 400;
  a.cpu_milli = 3000;
  ASSERT_TRUE(state.Apply(a).ok());
  const ClusterSnapshot& snap = state.view();
  const PodRequest pod = Pod().Cpu(2000).Share(300);
  const std::vector<NodeIndex> nodes = {2, 0, 1};
  CycleState cs;
  auto check = [&](const ScorePlugin& plugin, int64_t (*raw)(const PodRequest&, const NodeInfo&)) {
    SCOPED_TRACE(std::string(plugin.Name()));
    std::vector<int64_t> got(nodes.size(), -1);
    ASSERT_TRUE(plugin.Score(cs, pod, snap, nodes, absl::MakeSpan(got)).ok());
    for (size_t i = 0; i < nodes.size(); ++i) {
      EXPECT_EQ(got[i], raw(pod, snap.node(nodes[i])));
    }
  };
  check(BestFitScore(), &BestFitRaw);
  check(DotProductScore(), &DotProductRaw);
  check(GpuPackingScore(), &GpuPackingRaw);
  check(GpuClusteringScore(), &GpuClusteringRaw);
}

// ---- GpuAllocator -------------------------------------------------------------------------------

// Node 0: 4 x V100 16000 MiB; GPU 0 700 milli free, GPU 1 300 free with 15000 MiB, GPU 2 300
// free with 16000 MiB, GPU 3 entirely free.
// Node 1: 2 x A100-80GB in MIG mode; GPU 0 holds 3g@0.
// Node 2: 8 GPUs, no topology; GPUs 0 and 2 taken whole.
ClusterState AllocatorCluster() {
  ClusterState state(BuildSnapshot({Node("v100").Cpu(8000).Mem(8000).Gpus(4, "V100", 16000),
                                    Node("mig").Cpu(8000).Gpus(2, "A100-80GB").Mig(0b11),
                                    Node("g8").Cpu(8000).Gpus(8, "V100")}));
  EXPECT_TRUE(state.Apply(Assign(0, 0b0001, 300)).ok());
  EXPECT_TRUE(state.Apply(Assign(0, 0b0010, 700, 1000)).ok());
  EXPECT_TRUE(state.Apply(Assign(0, 0b0100, 700)).ok());
  EXPECT_TRUE(state.Apply(AssignMig(1, 0, /*3g=*/9, 0)).ok());
  EXPECT_TRUE(state.Apply(Assign(2, 0b0101)).ok());
  return state;
}

TEST(GpuAllocatorTest, BestShareChoiceWholeGpusAndMig) {
  const ClusterState cluster = AllocatorCluster();
  const ClusterSnapshot& snap = cluster.view();
  const struct {
    std::string name;
    PodRequest pod;
    NodeIndex node;
    std::optional<Assignment> want;
  } cases[] = {
      // Fitting GPUs 0 (700), 1 (300), 2 (300), 3 (1000): least free is 300, GPU 1 wins the tie.
      {"share: least free, lowest index on ties", Pod().Cpu(100).Mem(5).Share(250), 0,
       Assign(0, 0b0010, 250, 0, 100, 5)},
      // 301 rules out GPUs 1 and 2; 700 < 1000.
      {"share 301 takes GPU 0", Pod().Share(301), 0, Assign(0, 0b0001, 301)},
      {"share 701 takes the free GPU", Pod().Share(701), 0, Assign(0, 0b1000, 701)},
      // GPU 1 has 15000 MiB (< 15500): GPU 2 is the least-free GPU that fits.
      {"share with memory skips GPU 1", Pod().Share(250, 15500), 0, Assign(0, 0b0100, 250, 15500)},
      {"one whole GPU", Pod().Gpus(1), 0, Assign(0, 0b1000)},
      {"two whole GPUs do not fit", Pod().Gpus(2), 0, std::nullopt},
      {"CPU-only pod gets no devices", Pod().Cpu(8000), 0, Assign(0, 0, 0, 0, 8000)},
      {"CPU over capacity", Pod().Cpu(8001), 0, std::nullopt},
      // Free GPUs 1,3,4,5,6,7: the lowest three.
      {"whole GPUs: lowest free indices", Pod().Gpus(3), 2, Assign(2, 0b11010)},
      // GPU 0 holds 3g@0; 3g starts 0 or 4, so GPU 0 start 4 (lowest GPU first).
      {"MIG 3g: lowest GPU, lowest start", Pod().Mig(3), 1, AssignMig(1, 0, 9, 4)},
      // 4g starts only at 0: GPU 0 is taken there; GPU 1 at 0.
      {"MIG 4g: next GPU", Pod().Mig(4), 1, AssignMig(1, 1, 5, 0)},
      // 1g starts 0..6: slots 0-3 used on GPU 0, so 4.
      {"MIG 1g: first free slot", Pod().Mig(1), 1, AssignMig(1, 0, 19, 4)},
  };
  GpuAllocator allocator(ShareChoice::kBest);
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    CycleState cs;
    absl::StatusOr<std::optional<Assignment>> got = allocator.Reserve(cs, tc.pod, snap, tc.node);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, tc.want) << (got->has_value() ? DebugString(**got) : "nullopt");
    // DefaultAssignment is the same rule.
    if (tc.want.has_value()) {
      EXPECT_EQ(DefaultAssignment(tc.pod, snap.node(tc.node), tc.node), tc.want);
    }
  }
}

TEST(GpuAllocatorTest, RandomShareChoiceDrawsAmongFittingGpus) {
  const ClusterState cluster = AllocatorCluster();
  const ClusterSnapshot& snap = cluster.view();
  GpuAllocator allocator(ShareChoice::kRandom);
  // Share 500: GPUs 0 (700) and 3 (1000) fit, GPUs 1 and 2 (300) do not.
  const PodRequest pod = Pod().Share(500);
  Rng rng(12345);
  CycleState cs;
  cs.rng = &rng;
  std::array<int, 4> picked{};
  for (int t = 0; t < 400; ++t) {
    absl::StatusOr<std::optional<Assignment>> got = allocator.Reserve(cs, pod, snap, 0);
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value());
    const Assignment& a = **got;
    ASSERT_TRUE(a.gpus == 0b0001 || a.gpus == 0b1000) << DebugString(a);
    EXPECT_EQ(a.gpu_milli, 500);
    ++picked[a.gpus == 0b0001 ? 0 : 3];
  }
  // 200 expected each.
  EXPECT_GT(picked[0], 120);
  EXPECT_GT(picked[3], 120);
  // Without an rng it falls back to the best-fit choice: GPU 0 (700 < 1000).
  cs.rng = nullptr;
  absl::StatusOr<std::optional<Assignment>> got = allocator.Reserve(cs, pod, snap, 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Assign(0, 0b0001, 500));
}

TEST(BestFitShareGpuTest, LeastFreeLowestIndexOrMinusOne) {
  const NodeInfo n = Info(1000, {500, 200, 900, 200});
  EXPECT_EQ(BestFitShareGpu(n, 0b1111), 1);  // 200 at GPUs 1 and 3: lowest index.
  EXPECT_EQ(BestFitShareGpu(n, 0b1101), 3);  // 500, 900, 200 -> GPU 3.
  EXPECT_EQ(BestFitShareGpu(n, 0b0100), 2);
  EXPECT_EQ(BestFitShareGpu(n, 0), -1);
}

}  // namespace
}  // namespace accelsched::plugins
