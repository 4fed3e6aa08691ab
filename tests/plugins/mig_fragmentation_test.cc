// Direct tests of the MigFragmentation plugin (plugins/mig_fragmentation/): the placement it
// chooses, the raw scores and their normalisation, with every cost derived by hand from
//   F(S) = sum_k p_k * (free compute slices of S - slices_k * most instances of k that fit in S)
// (topology/mig/mig.h, MigSlotTable).
#include "plugins/mig_fragmentation/mig_fragmentation.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::AssignMig;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

// NVIDIA profile IDs on A30 (4 compute slices, 4 memory slots).
constexpr int kA30OneG = 14;    // 1 slot, starts 0-3.
constexpr int kA30OneGMe = 21;  // 1g+me.
constexpr int kA30TwoG = 5;     // 2 slots, starts 0 and 2.
constexpr int kA30FourG = 0;    // 4 slots, start 0.
// On A100-80GB (7 compute slices, 8 memory slots).
constexpr int kA100OneG = 19;   // 1 slot, starts 0-6.
constexpr int kA100ThreeG = 9;  // 4 slots, starts 0 and 4.

std::unique_ptr<MigFragmentation> MustCreate(
    const std::vector<std::pair<MigRequest, double>>& demand) {
  absl::StatusOr<std::unique_ptr<MigFragmentation>> p = MigFragmentation::Create(demand);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

// One node of `model` whose GPUs are all in MIG mode, GPU i holding the instances in
// layouts[i] as (profile ID, start).
ClusterState MigNode(const std::string& model,
                     const std::vector<std::vector<std::pair<int, int>>>& layouts) {
  const GpuMask all = (GpuMask{1} << layouts.size()) - 1;
  ClusterState state(BuildSnapshot(
      {Node("n").Cpu(64000).Mem(64000).Gpus(static_cast<int>(layouts.size()), model).Mig(all)}));
  for (size_t gpu = 0; gpu < layouts.size(); ++gpu) {
    for (const auto& [id, start] : layouts[gpu]) {
      EXPECT_TRUE(state.Apply(AssignMig(0, static_cast<int>(gpu), id, start)).ok())
          << "GPU " << gpu << " profile " << id << "@" << start;
    }
  }
  return state;
}

// A30 with the default demand: uniform over 1g, 2g, 4g (p = 1/3 each; +me profiles excluded).
// Costs of the masks that occur below (slot i = bit i; fc = free compute slices):
//   0x0 empty:        fc 4; 1g fits 4x, 2g 2x, 4g 1x -> (0 + 0 + 0) / 3 = 0
//   0x1 1g@0:         fc 3; 1g 3x (0), 2g 1x at 2 (3-2 = 1), 4g 0x (3) -> 4/3
//   0x2, 0x4, 0x8:    the same by symmetry -> 4/3
//   0x3 1g@0+1g@1 or 2g@0: fc 2; 1g 2x (0), 2g 1x (0), 4g (2) -> 2/3
//   0x5, 0x9:         fc 2; 1g (0), 2g 0x (2), 4g (2) -> 4/3
//   0xC 2g@2:         fc 2; 1g (0), 2g 1x (0), 4g (2) -> 2/3
//   0x7, 0xB, 0xD:    fc 1; 1g (0), 2g (1), 4g (1) -> 2/3
//   0xF:              fc 0 -> 0
// Growth = F(after) - F(before) at the start with the least F(after) (ties: lowest start).
TEST(MigFragmentationTest, ChoosesTheLeastGrowthOnA30) {
  const std::unique_ptr<MigFragmentation> plugin = MustCreate({});
  const struct {
    std::string name;
    std::vector<std::vector<std::pair<int, int>>> layouts;  // Per GPU.
    PodRequest pod;
    std::optional<MigChoice> want;  // growth compared within 1e-9.
  } cases[] = {
      // Every start of an empty GPU gives 4/3: start 0.
      {"1g on an empty GPU", {{}}, Pod().Mig(1), MigChoice{0, kA30OneG, 0, 4.0 / 3}},
      // 0x1 -> 0x3 (2/3) beats 0x5 and 0x9 (4/3): start 1, growth 2/3 - 4/3.
      {"1g next to a 1g", {{{kA30OneG, 0}}}, Pod().Mig(1), MigChoice{0, kA30OneG, 1, -2.0 / 3}},
      // 0x3 -> 0x7 or 0xB, both 2/3: start 2, growth 0.
      {"1g beside a 2g", {{{kA30TwoG, 0}}}, Pod().Mig(1), MigChoice{0, kA30OneG, 2, 0.0}},
      // 0x0 -> 0x3 or 0xC, both 2/3: start 0.
      {"2g on an empty GPU", {{}}, Pod().Mig(2), MigChoice{0, kA30TwoG, 0, 2.0 / 3}},
      // 0x1 -> 0xD (2/3), the only start: growth 2/3 - 4/3.
      {"2g beside a 1g", {{{kA30OneG, 0}}}, Pod().Mig(2), MigChoice{0, kA30TwoG, 2, -2.0 / 3}},
      // 0x0 -> 0xF: 0 - 0.
      {"4g on an empty GPU", {{}}, Pod().Mig(4), MigChoice{0, kA30FourG, 0, 0.0}},
      {"4g does not fit beside a 1g", {{{kA30OneG, 0}}}, Pod().Mig(4), std::nullopt},
      {"full GPU", {{{kA30FourG, 0}}}, Pod().Mig(1), std::nullopt},
      // +me: placed like a 1g (0x0 -> 0x1, 4/3); a second +me instance on one GPU is not allowed.
      {"1g+me on an empty GPU",
       {{}},
       Pod().Mig(1, false, true),
       MigChoice{0, kA30OneGMe, 0, 4.0 / 3}},
      {"second +me instance", {{{kA30OneGMe, 0}}}, Pod().Mig(1, false, true), std::nullopt},
      // Three GPUs: the 1g goes where it grows F least, GPU 1 (-2/3; GPU 0 +4/3, GPU 2 0).
      {"least growth across GPUs",
       {{}, {{kA30OneG, 0}}, {{kA30TwoG, 0}}},
       Pod().Mig(1),
       MigChoice{1, kA30OneG, 1, -2.0 / 3}},
      // Equal growth on GPUs 1 and 2: the lower GPU.
      {"ties go to the lowest GPU",
       {{{kA30FourG, 0}}, {{kA30OneG, 0}}, {{kA30OneG, 3}}},
       Pod().Mig(1),
       MigChoice{1, kA30OneG, 1, -2.0 / 3}},
      {"not a MIG pod", {{}}, Pod().Gpus(1), std::nullopt},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const ClusterState state = MigNode("A30", tc.layouts);
    const std::optional<MigChoice> got = plugin->ChooseMig(tc.pod, state.view().node(0));
    ASSERT_EQ(got.has_value(), tc.want.has_value());
    if (!got.has_value()) {
      continue;
    }
    EXPECT_EQ(got->gpu, tc.want->gpu);
    EXPECT_EQ(got->profile_id, tc.want->profile_id);
    EXPECT_EQ(got->start, tc.want->start);
    EXPECT_NEAR(got->growth, tc.want->growth, 1e-9);
  }
}

TEST(MigFragmentationTest, NoChoiceWithoutMigGpusOrGeometry) {
  const std::unique_ptr<MigFragmentation> plugin = MustCreate({});
  // An A30 node with MIG mode off, and a model without a MIG geometry.
  const ClusterSnapshot snapshot = BuildSnapshot({Node("off").Cpu(1000).Mem(1000).Gpus(1, "A30"),
                                                  Node("t4").Cpu(1000).Mem(1000).Gpus(1, "T4")});
  EXPECT_FALSE(plugin->ChooseMig(Pod().Mig(1), snapshot.node(0)).has_value());
  EXPECT_FALSE(plugin->ChooseMig(Pod().Mig(1), snapshot.node(1)).has_value());
}

TEST(MigFragmentationTest, DemandWeighsTheCost) {
  // Demand 3g only (p = 1 on A100-80GB): F(S) = free compute - 3 x (3g instances that fit).
  //   0x00: 7 - 3*2 = 1;  0x0F (3g@0): 3 - 3 = 0;  0xF0 (3g@4): (7 - 3) - 3 = 1.
  //   0x01 (1g@0): 6 - 3 = 3, and 3g only fits at 4: 0xF1, 3 - 0 = 3 -> growth 0.
  //   0x10 (1g@4): 6 - 3 = 3, and 3g only fits at 0: 0x1F, 2 - 0 = 2 -> growth -1.
  // So a 3g goes to an empty GPU at start 0 (-1) or beside a 1g at 4 (-1), not beside a 1g at 0.
  const std::unique_ptr<MigFragmentation> plugin = MustCreate({{MigRequest{3, false, false}, 1.0}});
  const ClusterState state = MigNode("A100-80GB", {{{kA100OneG, 0}}, {}, {{kA100OneG, 4}}});
  std::optional<MigChoice> got = plugin->ChooseMig(Pod().Mig(3), state.view().node(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->gpu, 1);  // GPUs 1 and 2 tie at -1: the lower.
  EXPECT_EQ(got->profile_id, kA100ThreeG);
  EXPECT_EQ(got->start, 0);
  EXPECT_NEAR(got->growth, -1.0, 1e-9);
  const ClusterState beside_low = MigNode("A100-80GB", {{{kA100OneG, 0}}});
  got = plugin->ChooseMig(Pod().Mig(3), beside_low.view().node(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->start, 4);
  EXPECT_NEAR(got->growth, 0.0, 1e-9);
  // A30 has no 3g: its table falls back to the uniform demand (1g beside a 1g: start 1, -2/3).
  const ClusterState a30 = MigNode("A30", {{{kA30OneG, 0}}});
  got = plugin->ChooseMig(Pod().Mig(1), a30.view().node(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->start, 1);
  EXPECT_NEAR(got->growth, -2.0 / 3, 1e-9);
}

TEST(MigFragmentationTest, ScoresAndNormalizes) {
  const std::unique_ptr<MigFragmentation> plugin = MustCreate({});
  EXPECT_EQ(plugin->Name(), "MigFragmentation");
  EXPECT_TRUE(plugin->ScoresEachNodeAlone());
  // One A30 GPU per node: empty, 1g@0, 2g@0, full. For a 1g pod the growths are 4/3, -2/3, 0
  // (see ChoosesTheLeastGrowthOnA30) and none on the full GPU (counted as 7 slices). Raw score
  // = -round(growth x 1e6).
  ClusterState state(BuildSnapshot({Node("empty").Cpu(1000).Mem(1000).Gpus(1, "A30").Mig(1),
                                    Node("one").Cpu(1000).Mem(1000).Gpus(1, "A30").Mig(1),
                                    Node("two").Cpu(1000).Mem(1000).Gpus(1, "A30").Mig(1),
                                    Node("full").Cpu(1000).Mem(1000).Gpus(1, "A30").Mig(1)}));
  ASSERT_TRUE(state.Apply(AssignMig(1, 0, kA30OneG, 0)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(2, 0, kA30TwoG, 0)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(3, 0, kA30FourG, 0)).ok());
  const CycleState cycle;
  const struct {
    std::string name;
    PodRequest pod;
    std::vector<NodeIndex> nodes;
    std::vector<int64_t> raw;
    std::vector<int64_t> normalized;
  } cases[] = {
      // Min-max over [-1333333, 666667] (range 2000000): (s + 1333333) * 100 / 2000000, with
      // integer division: 0, 100, 1333333 * 100 / 2000000 = 66.
      {"1g", Pod().Mig(1), {0, 1, 2}, {-1333333, 666667, 0}, {0, 100, 66}},
      // The full GPU's miss is the worst growth: 7 slices.
      {"1g with a full node", Pod().Mig(1), {1, 3}, {666667, -7000000}, {100, 0}},
      // One node: all equal, full marks.
      {"one node", Pod().Mig(1), {2}, {0}, {100}},
      // Not a MIG pod: 100 everywhere, and all equal stays 100.
      {"whole GPU pod", Pod().Gpus(1), {0, 1, 2, 3}, {100, 100, 100, 100}, {100, 100, 100, 100}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<int64_t> scores(tc.nodes.size(), std::numeric_limits<int64_t>::min());
    ASSERT_TRUE(plugin->Score(cycle, tc.pod, state.view(), tc.nodes, absl::MakeSpan(scores)).ok());
    EXPECT_EQ(scores, tc.raw);
    ASSERT_TRUE(plugin->Normalize(cycle, absl::MakeSpan(scores)).ok());
    EXPECT_EQ(scores, tc.normalized);
  }
}

TEST(MigFragmentationTest, CreateRejectsBadWeights) {
  const struct {
    std::string name;
    double weight;
    bool ok;
  } cases[] = {
      {"positive", 2.5, true},
      {"zero", 0, true},  // A zero demand names no profile: uniform fallback.
      {"negative", -1, false},
      {"not a number", std::numeric_limits<double>::quiet_NaN(), false},
      {"infinite", std::numeric_limits<double>::infinity(), false},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<std::unique_ptr<MigFragmentation>> p =
        MigFragmentation::Create({{MigRequest{1, false, false}, tc.weight}});
    EXPECT_EQ(p.ok(), tc.ok) << p.status();
    if (!tc.ok) {
      EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace accelsched::plugins
