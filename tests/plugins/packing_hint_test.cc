// Direct tests of the accelsched policy's PackingHint score plugin (plugins/accelsched/): FGD's
// truncated score of the least fragmentation growth, derived by hand, and the same numbers as
// FgdPlugin on every node of a random cluster.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#include "plugins/accelsched/accelsched.h"
#include "plugins/framework/cluster_state.h"
#include "plugins/framework/snapshot.h"
#include "plugins/policy.h"
#include "plugins/share_fragmentation/fgd.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Assign;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using ::accelsched::testing::Shape;

// Node 0 "one": 1 x V100 with a 300 share (700 free). Node 1 "two": 2 x V100, GPU 0 with a 300
// share (700 free), GPU 1 free. 4000m CPU each.
ClusterState TwoNodes() {
  ClusterState state(BuildSnapshot({Node("one").Cpu(4000).Mem(4000).Gpus(1, "V100"),
                                    Node("two").Cpu(4000).Mem(4000).Gpus(2, "V100")}));
  for (NodeIndex n : {0, 1}) {
    EXPECT_TRUE(state.Apply(Assign(n, 0b1, 300)).ok());
  }
  return state;
}

// Raw scores of `plugin` for `pod` on `nodes` after its PreFilter.
std::vector<int64_t> Scores(const FgdScore& plugin, const PodRequest& pod,
                            const ClusterSnapshot& snapshot, const std::vector<NodeIndex>& nodes) {
  CycleState state;
  EXPECT_TRUE(plugin.PreFilter(state, pod, snapshot).ok());
  std::vector<int64_t> scores(nodes.size(), -1);
  EXPECT_TRUE(plugin.Score(state, pod, snapshot, nodes, absl::MakeSpan(scores)).ok());
  return scores;
}

TEST(PackingHintTest, HandDerivedScores) {
  // Workload: one shape (100m, 1 GPU, 600 milli), p = 1. A node's fragment F is its free milli
  // R minus the free milli of its GPUs with >= 600 free, if it has one and >= 100m CPU (else R).
  // Score = int64(100 * sigmoid(-(F1 - F0) / 1000)); sigmoid(0) -> 50, sigmoid(-0.3) = 0.4256
  // -> 42, sigmoid(-0.5) = 0.3775 -> 37, sigmoid(-0.7) = 0.3318 -> 33, sigmoid(-1.7) = 0.1545
  // -> 15. Before every placement both nodes have F0 = 0 (700 >= 600).
  const ClusterState cluster = TwoNodes();
  const AccelschedPacking plugin({Shape(100, 1, 600, 1)});
  const struct {
    std::string name;
    PodRequest pod;
    std::vector<NodeIndex> nodes;
    std::vector<int64_t> want;
  } cases[] = {
      // [700] -> [300]: F1 = 300 -> 42. [700, 1000]: GPU 0 -> [300, 1000], F1 = 300 -> 42;
      // GPU 1 -> [700, 600], F1 = 0 -> 50; the node scores its best GPU.
      {"share 400", Pod().Share(400), {0, 1}, {42, 50}},
      // [600] and [600, 1000] still host the shape: 50 both.
      {"share 100", Pod().Share(100), {0, 1}, {50, 50}},
      // [500]: F1 = 500 -> 37. Node 1 via GPU 1 ([700, 800]): 50.
      {"share 200", Pod().Share(200), {0, 1}, {37, 50}},
      // [0]: nothing free, F1 = 0 -> 50. Node 1 via GPU 0 ([0, 1000]): 50.
      {"share 700", Pod().Share(700), {0, 1}, {50, 50}},
      // 50m CPU left < 100m: no shape fits, F1 = R: 700 -> 33 and 1700 -> 15.
      {"CPU only", Pod().Cpu(3950), {0, 1}, {33, 15}},
      // Node 1's free GPU taken: [700, 0], F1 = 0 -> 50.
      {"whole GPU", Pod().Gpus(1), {1}, {50}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(Scores(plugin, tc.pod, cluster.view(), tc.nodes), tc.want);
  }
}

TEST(PackingHintTest, ScoresAsFgdOnEveryNode) {
  // 200 nodes of 1-8 GPUs with random shares taken, a workload of three shapes, and pods of
  // every kind: PackingHint and FGD give the same raw score everywhere.
  std::mt19937 rng(13);
  std::vector<NodeSpec> specs;
  specs.reserve(200);
  for (int n = 0; n < 200; ++n) {
    specs.push_back(Node("n" + std::to_string(n))
                        .Cpu(int64_t{1000} * std::uniform_int_distribution<int>(1, 64)(rng))
                        .Mem(100000)
                        .Gpus(std::uniform_int_distribution<int>(1, 8)(rng), "V100"));
  }
  ClusterState state(BuildSnapshot(specs));
  for (NodeIndex n = 0; n < 200; ++n) {
    for (int g = 0; g < state.view().node(n).gpu_count; ++g) {
      const int used = std::uniform_int_distribution<int>(0, 10)(rng) * 100;
      if (used > 0 && used < 1000) {
        ASSERT_TRUE(state.Apply(Assign(n, GpuMask{1} << g, used)).ok());
      }
    }
  }
  const std::vector<TaskShape> shapes = {Shape(1000, 1, 500, 0.5), Shape(4000, 2, 1000, 0.3),
                                         Shape(2000, 0, 0, 0.2)};
  const AccelschedPacking packing(shapes);
  const FgdPlugin fgd(shapes);
  std::vector<NodeIndex> nodes(200);
  for (NodeIndex n = 0; n < 200; ++n) {
    nodes[static_cast<size_t>(n)] = n;
  }
  for (const PodRequest& pod :
       {static_cast<PodRequest>(Pod().Share(300)),
        static_cast<PodRequest>(Pod().Share(800).Cpu(2000)), static_cast<PodRequest>(Pod().Gpus(1)),
        static_cast<PodRequest>(Pod().Cpu(8000))}) {
    EXPECT_EQ(Scores(packing, pod, state.view(), nodes), Scores(fgd, pod, state.view(), nodes));
  }
}

TEST(PackingHintTest, NameAndErrors) {
  const ClusterState cluster = TwoNodes();
  const ClusterSnapshot& snapshot = cluster.view();
  const AccelschedPacking plugin({Shape(100, 1, 600, 1)});
  EXPECT_EQ(plugin.Name(), "PackingHint");
  EXPECT_TRUE(plugin.ScoresEachNodeAlone());
  // Score with a CycleState its PreFilter never saw: Internal.
  const CycleState empty;
  const std::vector<NodeIndex> nodes = {0};
  std::vector<int64_t> scores(1);
  EXPECT_EQ(plugin.Score(empty, Pod().Share(100), snapshot, nodes, absl::MakeSpan(scores)).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(plugin.Model(empty), nullptr);
  // Popularities summing to 0.5: PreFilter fails with InvalidArgument.
  const AccelschedPacking bad({Shape(100, 1, 600, 0.5)});
  CycleState state;
  EXPECT_EQ(bad.PreFilter(state, Pod().Share(100), snapshot).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PackingHintTest, AccelschedPolicyPlacesByItsScore) {
  // Policy accelsched on TwoNodes for a 400 share: PackingHint prefers node 1 (50 over 42; the
  // topology and MIG scores are 100 on both for a share), and the allocator gives GPU 1, the
  // GPU of least growth (0 against +300).
  PolicyConfig config;
  config.policy = "accelsched";
  config.random_ties = false;
  absl::StatusOr<std::unique_ptr<Solver>> solver =
      BuildSolver(config, WorkloadModel{{Shape(100, 1, 600, 1)}, {}});
  ASSERT_TRUE(solver.ok()) << solver.status();
  const ClusterState cluster = TwoNodes();
  absl::StatusOr<Placement> placed = (*solver)->Place(Pod().Share(400), cluster.view(), nullptr);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(placed->assignment.has_value());
  EXPECT_EQ(placed->assignment->node, 1);
  EXPECT_EQ(placed->assignment->gpus, 0b10u);
  EXPECT_EQ(placed->assignment->gpu_milli, 400);
}

}  // namespace
}  // namespace accelsched::plugins
