#include "plugins/share_fragmentation/fgd.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/snapshot.h"
#include "plugins/framework/solver.h"
#include "plugins/resource_fit/resource_fit.h"
#include "plugins/share_fragmentation/fragmentation.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Assign;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Info;
using ::accelsched::testing::MustBuild;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using ::accelsched::testing::Shape;

FragmentationModel Model(std::vector<TaskShape> shapes) {
  const std::vector<std::string> models = {"V100"};
  absl::StatusOr<FragmentationModel> m = FragmentationModel::Create(std::move(shapes), models);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

TEST(FgdScoreOfTest, TruncatedSigmoidOfTheNegatedDelta) {
  // int64(100 / (1 + exp(delta / 1000))).
  const struct {
    std::string name;
    double delta;
    int64_t want;
  } cases[] = {
      {"no change", 0, 50},                 // sigmoid(0) = 0.5.
      {"tiny decrease truncates", -1, 50},  // sigmoid(0.001) = 0.50025 -> 50.
      {"tiny increase truncates", 1, 49},   // sigmoid(-0.001) = 0.49975 -> 49.
      {"decrease by 1000", -1000, 73},      // sigmoid(1) = 0.7311.
      {"increase by 1000", 1000, 26},       // sigmoid(-1) = 0.2689.
      {"increase by 500", 500, 37},         // sigmoid(-0.5) = 0.3775.
      {"decrease by 3000", -3000, 95},      // sigmoid(3) = 0.9526.
      {"huge increase", 1e6, 0},            // exp(1000) = inf -> 0.
      {"huge decrease", -1e6, 100},         // exp(-1000) = 0 -> exactly 1.
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(FgdScoreOf(tc.delta), tc.want);
  }
}

TEST(BestFragmentationDeltaTest, HandBuiltNodes) {
  const struct {
    std::string name;
    std::vector<TaskShape> shapes;
    PodRequest pod;
    NodeInfo node;
    bool truncated;
    FragmentationDelta want;
  } cases[] = {
      // Shape (100m, 1 GPU, 600) p 1. F0 = R - hosted = 1500 - 1000 = 500.
      // GPU 0 -> [500, 500]: nothing >= 600, F1 = 1000, delta +500, score 37.
      // GPU 1 -> [1000, 0]: F1 = 1000 - 1000 = 0, delta -500, sigmoid(0.5) = 0.6225 -> 62.
      {"second GPU shrinks fragmentation",
       {Shape(100, 1, 600, 1)},
       Pod().Share(500),
       Info(1000, {1000, 500}),
       true,
       {-500, 62, 1}},
      {"same, exact deltas",
       {Shape(100, 1, 600, 1)},
       Pod().Share(500),
       Info(1000, {1000, 500}),
       false,
       {-500, 62, 1}},
      // Shape (100m, 1 GPU, 500) p 1. F0 = 1700 - 1700 = 0.
      // GPU 0 -> [700, 700]: F1 = 0, delta 0, score 50.
      // GPU 1 (best fit, 700) -> [1000, 400]: F1 = 1400 - 1000 = 400, score 40.
      {"not the best-fit GPU",
       {Shape(100, 1, 500, 1)},
       Pod().Share(300),
       Info(1000, {1000, 700}),
       true,
       {0, 50, 0}},
      // Shapes (100m, 1 GPU, 950) p 1/64, CPU-only p 63/64.
      // F0 = 1600 - 1000/64 = 1584.375.
      // GPU 0 -> [900, 600]: F1 = 1500, delta -84.375, sigmoid(0.084375) = 0.5211 -> 52.
      // GPU 1 -> [1000, 500]: F1 = 1500 - 15.625 = 1484.375, delta -100, sigmoid(0.1) = 0.5250
      // -> 52. Truncated scores tie: the first GPU; exact deltas: GPU 1.
      {"truncated tie goes to the first GPU",
       {Shape(100, 1, 950, 1.0 / 64), Shape(100, 0, 0, 63.0 / 64)},
       Pod().Share(100),
       Info(1000, {1000, 600}),
       true,
       {-84.375, 52, 0}},
      {"exact deltas pick the smaller one",
       {Shape(100, 1, 950, 1.0 / 64), Shape(100, 0, 0, 63.0 / 64)},
       Pod().Share(100),
       Info(1000, {1000, 600}),
       false,
       {-100, 52, 1}},
      // Shape (100m, 1 GPU, 500) p 1. CPU 0 counts as 100m: 150 -> 50 < 100, so the shape is no
      // longer hosted: F0 = 0, F1 = R = 1000, delta 1000, score 26.
      {"CPU-only pod with CPU 0",
       {Shape(100, 1, 500, 1)},
       Pod().Cpu(0),
       Info(150, {1000}),
       true,
       {1000, 26, -1}},
      // Same shape. F0 = 1400 - 1000 = 400; one whole GPU -> [0, 400]: F1 = 400, delta 0.
      {"whole GPU",
       {Shape(100, 1, 500, 1)},
       Pod().Gpus(1),
       Info(1000, {1000, 400}),
       true,
       {0, 50, -1}},
      // Same shape; GPU 0 in MIG mode counts as 0 free and is no candidate.
      // F0 = 1000 - 1000 = 0 (GPU 1 only); GPU 1 -> [0, 700]: F1 = 0, delta 0.
      {"MIG GPU is skipped",
       {Shape(100, 1, 500, 1)},
       Pod().Share(300),
       Info(1000, {1000, 1000}, 0b01),
       true,
       {0, 50, 1}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const FragmentationModel model = Model(tc.shapes);
    const FragmentationDelta got = BestFragmentationDelta(model, tc.pod, tc.node, tc.truncated);
    EXPECT_DOUBLE_EQ(got.delta, tc.want.delta);
    EXPECT_EQ(got.truncated_score, tc.want.truncated_score);
    EXPECT_EQ(got.gpu, tc.want.gpu);
  }
}

// ---- Brute force over random nodes --------------------------------------------------------------

// Per-shape definition (fragmentation.h), independent of the code under test.
double OracleFragment(const std::vector<TaskShape>& shapes, int64_t cpu_free,
                      const std::vector<int16_t>& free) {
  double r = 0;
  for (int16_t f : free) {
    r += f;
  }
  double total = 0;
  for (const TaskShape& s : shapes) {
    double frag = r;
    if (s.gpu_count > 0 && cpu_free >= s.cpu_milli) {
      int big = 0;
      double small = 0;
      for (int16_t f : free) {
        if (f >= s.gpu_milli) {
          ++big;
        } else {
          small += f;
        }
      }
      if (big >= s.gpu_count) {
        frag = small;
      }
    }
    total += s.popularity * frag;
  }
  return total;
}

// sigmoid(-delta / 1000) * 100, truncated.
int64_t OracleScore(double delta) {
  return static_cast<int64_t>(1.0 / (1.0 + std::exp(delta / 1000.0)) * 100);
}

TEST(BestFragmentationDeltaTest, ShareChoiceMatchesBruteForceOnRandomNodes) {
  // Popularities are multiples of 1/64 and free amounts integers, so every fragment is exact in
  // binary and oracle and code agree bit for bit (no truncation flips at score boundaries).
  std::mt19937 rng(4242);
  std::uniform_int_distribution<int> die(0, 1 << 20);
  const int gpu_counts[] = {1, 2, 4, 8};
  const int64_t cpus[] = {100, 500, 1000, 2000};
  const int16_t frees[] = {0, 100, 250, 300, 500, 600, 700, 999, 1000};
  const int shares[] = {50, 100, 250, 300, 500, 700};
  int checked = 0;
  int not_first = 0;
  for (int round = 0; round < 400; ++round) {
    // 1..4 shapes with weights summing to 64.
    const int n = 1 + die(rng) % 4;
    std::vector<int> w(static_cast<size_t>(n), 1);
    for (int left = 64 - n; left > 0; --left) {
      ++w[static_cast<size_t>(die(rng) % n)];
    }
    std::vector<TaskShape> shapes;
    for (int i = 0; i < n; ++i) {
      const int kind = die(rng) % 3;
      const int64_t cpu = cpus[die(rng) % 4];
      const double p = w[static_cast<size_t>(i)] / 64.0;
      if (kind == 0) {
        shapes.push_back(Shape(cpu, 0, 0, p));
      } else if (kind == 1) {
        shapes.push_back(Shape(cpu, 1, shares[die(rng) % 6] + 50 * (die(rng) % 3), p));
      } else {
        shapes.push_back(Shape(cpu, gpu_counts[die(rng) % 3], 1000, p));
      }
    }
    const FragmentationModel model = Model(shapes);
    for (int k = 0; k < 10; ++k) {
      const int g = gpu_counts[die(rng) % 4];
      std::vector<int16_t> free;
      free.reserve(static_cast<size_t>(g));
      for (int i = 0; i < g; ++i) {
        free.push_back(frees[die(rng) % 9]);
      }
      const GpuMask mig = (die(rng) % 4 == 0) ? GpuMask{1} : 0;
      const int64_t cpu_free = int64_t{100} * (die(rng) % 40);
      const PodRequest pod = Pod().Cpu(die(rng) % 2 == 0 ? 0 : 200).Share(shares[die(rng) % 6]);
      const NodeInfo node = Info(cpu_free, free, mig);

      // Oracle: MIG GPUs count 0 and take nothing; CPU 0 counts as 100m.
      std::vector<int16_t> shareable = free;
      if (mig != 0) {
        shareable[0] = 0;
      }
      const int64_t cpu_after = cpu_free - (pod.cpu_milli == 0 ? 100 : pod.cpu_milli);
      const double f0 = OracleFragment(shapes, cpu_free, shareable);
      int first_fit = -1;
      int best_trunc = -1;
      int best_exact = -1;
      std::vector<double> delta(static_cast<size_t>(g));
      for (int i = 0; i < g; ++i) {
        if (shareable[static_cast<size_t>(i)] < pod.gpu_milli || ((mig >> i) & 1u)) {
          continue;
        }
        if (first_fit < 0) {
          first_fit = i;
        }
        std::vector<int16_t> after = shareable;
        after[static_cast<size_t>(i)] =
            static_cast<int16_t>(after[static_cast<size_t>(i)] - pod.gpu_milli);
        delta[static_cast<size_t>(i)] = OracleFragment(shapes, cpu_after, after) - f0;
        if (best_trunc < 0 || OracleScore(delta[static_cast<size_t>(i)]) >
                                  OracleScore(delta[static_cast<size_t>(best_trunc)])) {
          best_trunc = i;
        }
        if (best_exact < 0 ||
            delta[static_cast<size_t>(i)] < delta[static_cast<size_t>(best_exact)]) {
          best_exact = i;
        }
      }
      if (best_trunc < 0) {
        continue;  // The share fits no GPU: not a case Score sees.
      }
      SCOPED_TRACE(::testing::Message() << "round " << round << " node " << k);
      const FragmentationDelta t = BestFragmentationDelta(model, pod, node, /*truncated=*/true);
      EXPECT_EQ(t.gpu, best_trunc);
      EXPECT_DOUBLE_EQ(t.delta, delta[static_cast<size_t>(best_trunc)]);
      EXPECT_EQ(t.truncated_score, OracleScore(delta[static_cast<size_t>(best_trunc)]));
      const FragmentationDelta e = BestFragmentationDelta(model, pod, node, /*truncated=*/false);
      EXPECT_EQ(e.gpu, best_exact);
      EXPECT_DOUBLE_EQ(e.delta, delta[static_cast<size_t>(best_exact)]);
      // The model's own F agrees with the oracle, too.
      EXPECT_DOUBLE_EQ(model.NodeFragment(node), f0);
      ++checked;
      not_first += best_trunc != first_fit;
    }
  }
  EXPECT_GT(checked, 2000);
  EXPECT_GT(not_first, 100);  // The choice is often not simply the first GPU that fits.
}

// ---- FgdPlugin in a Solver ----------------------------------------------------------------------

// Node 0 "one": 1 x V100 with a 300 share (700 free). Node 1 "two": 2 x V100, GPU 0 with a 300
// share (700 free), GPU 1 free. 4000m CPU each.
ClusterState FgdCluster() {
  ClusterState state(BuildSnapshot({Node("one").Cpu(4000).Mem(4000).Gpus(1, "V100"),
                                    Node("two").Cpu(4000).Mem(4000).Gpus(2, "V100")}));
  for (NodeIndex n : {0, 1}) {
    EXPECT_TRUE(state.Apply(Assign(n, 0b1, 300)).ok());
  }
  return state;
}

std::unique_ptr<Solver> FgdSolver(std::vector<TaskShape> shapes) {
  SolverBuilder b;
  b.RandomTies(false)
      .Add(std::make_unique<ResourceFit>())
      .Add(std::make_unique<FgdPlugin>(std::move(shapes)));
  return MustBuild(std::move(b));
}

TEST(FgdPluginTest, SolverPicksTheNodeAndGpuWithLeastFragmentationGrowth) {
  // Workload: (100m, 1 GPU, 600 milli) p 1. Pod: share 400.
  //   Node 0 [700]: F0 = 0 (700 >= 600 hosts it); after [300]: F1 = R = 300; delta +300,
  //     sigmoid(-0.3) = 0.4256 -> 42.
  //   Node 1 [700, 1000]: F0 = 0. GPU 0 -> [300, 1000]: F1 = 1300 - 1000 = 300 -> 42.
  //     GPU 1 -> [700, 600]: both >= 600, F1 = 0, delta 0 -> 50. Node 1 scores 50 via GPU 1.
  // So node 1, GPU 1, although node 0 / GPU 0 are the tighter (best-fit) choices.
  const ClusterState cluster = FgdCluster();
  const ClusterSnapshot& snap = cluster.view();
  std::unique_ptr<Solver> solver = FgdSolver({Shape(100, 1, 600, 1)});
  const PodRequest pod = Pod().Share(400);

  absl::StatusOr<Placement> placed = solver->Place(pod, snap, /*rng=*/nullptr);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(placed->assignment.has_value());
  EXPECT_EQ(placed->assignment->node, 1);
  EXPECT_EQ(placed->assignment->gpus, 0b10u);
  EXPECT_EQ(placed->assignment->gpu_milli, 400);
  EXPECT_EQ(placed->score, 50);
  EXPECT_EQ(placed->feasible_nodes, 2);

  // The steps one by one: scores per node, and Reserve gives the GPU that scored.
  absl::StatusOr<CycleState> state = solver->PreFilter(pod, snap);
  ASSERT_TRUE(state.ok()) << state.status();
  const std::vector<NodeIndex> nodes = {0, 1};
  absl::StatusOr<std::vector<int64_t>> totals = solver->Score(*state, pod, snap, nodes);
  ASSERT_TRUE(totals.ok()) << totals.status();
  EXPECT_EQ(*totals, (std::vector<int64_t>{42, 50}));
  absl::StatusOr<std::optional<Assignment>> reserved = solver->Reserve(*state, pod, snap, 1);
  ASSERT_TRUE(reserved.ok() && reserved->has_value());
  EXPECT_EQ((*reserved)->gpus, 0b10u);
  // On node 0 the only GPU.
  reserved = solver->Reserve(*state, pod, snap, 0);
  ASSERT_TRUE(reserved.ok() && reserved->has_value());
  EXPECT_EQ((*reserved)->gpus, 0b1u);
  // The placement applies cleanly.
  ClusterState after = FgdCluster();
  EXPECT_TRUE(after.Apply(*placed->assignment).ok());
}

TEST(FgdPluginTest, EqualScoresGoToTheFirstNodeWithoutRandomTies) {
  // Workload (100m, CPU only) p 1: F = R on every node, and a share lowers R by exactly its
  // size, so delta = -400 everywhere: sigmoid(0.4) = 0.5987 -> 59 on both nodes; first wins.
  const ClusterState cluster = FgdCluster();
  std::unique_ptr<Solver> solver = FgdSolver({Shape(100, 0, 0, 1)});
  absl::StatusOr<Placement> placed = solver->Place(Pod().Share(400), cluster.view(), nullptr);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(placed->assignment.has_value());
  EXPECT_EQ(placed->assignment->node, 0);
  EXPECT_EQ(placed->score, 59);
}

TEST(FgdPluginTest, ReserveForWholeGpusAndNonFittingNodes) {
  const ClusterState cluster = FgdCluster();
  const ClusterSnapshot& snap = cluster.view();
  std::unique_ptr<Solver> solver = FgdSolver({Shape(100, 1, 600, 1)});
  const PodRequest whole = Pod().Gpus(1);
  absl::StatusOr<CycleState> state = solver->PreFilter(whole, snap);
  ASSERT_TRUE(state.ok());
  // Node 1: GPU 1 is the only entirely free GPU.
  absl::StatusOr<std::optional<Assignment>> r = solver->Reserve(*state, whole, snap, 1);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->gpus, 0b10u);
  EXPECT_EQ((*r)->gpu_milli, 0);
  // Node 0 has no entirely free GPU: no assignment (an outcome, not an error).
  r = solver->Reserve(*state, whole, snap, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(FgdPluginTest, ErrorsForBadShapesAndMissingPreFilter) {
  const ClusterState cluster = FgdCluster();
  const ClusterSnapshot& snap = cluster.view();
  // Popularities summing to 0.5: PreFilter (and so Place) fails with InvalidArgument.
  std::unique_ptr<Solver> bad = FgdSolver({Shape(100, 1, 600, 0.5)});
  EXPECT_EQ(bad->Place(Pod().Share(100), snap, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Score or Reserve with a CycleState the plugin never prepared: Internal.
  FgdPlugin plugin({Shape(100, 1, 600, 1)});
  CycleState empty;
  const std::vector<NodeIndex> nodes = {0};
  std::vector<int64_t> scores(1);
  EXPECT_EQ(plugin.Score(empty, Pod().Share(100), snap, nodes, absl::MakeSpan(scores)).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(plugin.Reserve(empty, Pod().Share(100), snap, 0).status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace accelsched::plugins
