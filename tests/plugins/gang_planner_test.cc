// The gang planner: hand-checked plans on a small two-level network, and a brute-force oracle
// (every assignment of a small gang to the nodes of every domain) for the lowest level at which
// the whole gang fits.
#include <bit>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "plugins/gang/planner.h"
#include "plugins/policy.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::FirstFitSolver;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
const std::vector<std::string> kLevels = {"kubernetes.io/hostname", "topology.accelsched.io/rack",
                                          "topology.accelsched.io/block"};

// 8 H100 nodes h0..h7 (8 GPUs, 64 cores): racks r0 = {h0,h1}, r1 = {h2,h3}, r2 = {h4,h5},
// r3 = {h6,h7}; blocks b0 = {r0,r1}, b1 = {r2,r3}.
std::vector<NodeSpec> Network() {
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "h" + std::to_string(i);
    nodes.push_back(Node(name)
                        .Cpu(64000)
                        .Mem(512000)
                        .Gpus(8, "H100", 81920)
                        .Label(kLevels[0], name)
                        .Label(kLevels[1], "r" + std::to_string(i / 2))
                        .Label(kLevels[2], "b" + std::to_string(i / 4)));
  }
  return nodes;
}

// `used[i]`: GPUs taken on node i (by a CPU-less pod).
ClusterState WithUsed(const std::vector<GpuMask>& used) {
  ClusterState state(BuildSnapshot(Network()));
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i] == 0) {
      continue;
    }
    Assignment a;
    a.node = static_cast<NodeIndex>(i);
    a.gpus = used[i];
    EXPECT_TRUE(state.Apply(a).ok());
  }
  return state;
}

GangSpec Gang(int members, int gpus, NetworkMode mode = NetworkMode::kNone, int level = -1) {
  GangSpec g;
  g.name = "train-a";
  for (int i = 0; i < members; ++i) {
    g.members.push_back(Pod("ml/w" + std::to_string(i)).Cpu(8000).Gpus(gpus));
  }
  g.mode = mode;
  g.level = level;
  return g;
}

// Every slot applies cleanly (no double booking) and sits in the named domain.
void ExpectValidPlan(const ClusterSnapshot& s, const GangSpec& g, const GangPlan& plan) {
  ASSERT_EQ(plan.slots.size(), g.members.size());
  ClusterState check(s);
  for (size_t m = 0; m < plan.slots.size(); ++m) {
    EXPECT_EQ(std::popcount(plan.slots[m].gpus), g.members[m].gpu_count);
    EXPECT_TRUE(check.Apply(plan.slots[m]).ok()) << m;
    if (plan.level < static_cast<int>(kLevels.size())) {
      EXPECT_EQ(s.node(plan.slots[m].node).Label(kLevels[static_cast<size_t>(plan.level)]),
                std::optional<absl::string_view>(plan.domain));
    }
  }
}

TEST(GangPlannerTest, BoundMembersAnchorThePlanToTheirDomain) {
  // A member already bound fills h4 (rack r2). One more 8-GPU member: without the anchor, the
  // first empty node (h0); with it, the rest of rack r2 (h5). If h5 is full too, the rack
  // cannot hold it: a required rack waits, a preferred one widens to block b1 (h6).
  ClusterState state = WithUsed({0, 0, 0, 0, 0xff, 0, 0, 0});
  GangSpec g = Gang(1, 8, NetworkMode::kPreferred, 1);
  const NetworkDomains domains = NetworkDomains::Build(state.view(), kLevels);
  absl::StatusOr<GangPlanOutcome> out = PlanGang(*FirstFitSolver(), state.view(), domains, g);
  ASSERT_TRUE(out.ok() && out->plan.has_value());
  EXPECT_EQ(state.view().node(out->plan->slots[0].node).name, "h0");
  g.anchors = {4};
  out = PlanGang(*FirstFitSolver(), state.view(), domains, g);
  ASSERT_TRUE(out.ok() && out->plan.has_value());
  EXPECT_EQ(state.view().node(out->plan->slots[0].node).name, "h5");
  EXPECT_EQ(out->plan->domain, "r2");

  ClusterState full = WithUsed({0, 0, 0, 0, 0xff, 0xff, 0, 0});
  const NetworkDomains full_domains = NetworkDomains::Build(full.view(), kLevels);
  out = PlanGang(*FirstFitSolver(), full.view(), full_domains, g);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->plan.has_value()) << out->reason;
  EXPECT_EQ(full.view().node(out->plan->slots[0].node).name, "h6");
  EXPECT_EQ(out->plan->domain, "b1");
  g.mode = NetworkMode::kRequired;
  out = PlanGang(*FirstFitSolver(), full.view(), full_domains, g);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->plan.has_value());
  g.anchors = {99};
  EXPECT_FALSE(PlanGang(*FirstFitSolver(), full.view(), full_domains, g).ok());
}

TEST(GangPlannerTest, AGangWiderThanABlockFillsTheFullestBlockAndRackFirst) {
  // Used: h0 all 8 GPUs, h3, h4 and h6 4 each. Free: r0 8, r1 12 (b0 20); r2 12, r3 12 (b1 24).
  // Seven 4-GPU members (28 GPUs) fit in no rack and no block: the cluster. By hand, the fullest
  // block b0 first, in it the fullest rack r0 (h1 takes 2), then r1 (h3 with 4 free first: 1,
  // then h2: 2); then b1, whose racks tie at 12 (r2 first by index: h4 1, h5 1). Rack r3 stays
  // untouched, whole for the next gang; plain best fit by node would have started on h3, h4 and
  // h6 (the nodes with 4 free) and cut into all four racks.
  ClusterState state = WithUsed({0xff, 0, 0, 0x0f, 0x0f, 0, 0x0f, 0});
  const ClusterSnapshot& s = state.view();
  const GangSpec g = Gang(7, 4);
  absl::StatusOr<GangPlanOutcome> out =
      PlanGang(*FirstFitSolver(), s, NetworkDomains::Build(s, kLevels), g);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->plan.has_value()) << out->reason;
  EXPECT_EQ(out->plan->level, 3);
  ExpectValidPlan(s, g, *out->plan);
  std::map<std::string, int> per_node;
  for (const Assignment& a : out->plan->slots) {
    ++per_node[s.node(a.node).name];
  }
  const std::map<std::string, int> want = {{"h1", 2}, {"h2", 2}, {"h3", 1}, {"h4", 1}, {"h5", 1}};
  EXPECT_EQ(per_node, want);
}

TEST(GangPlannerTest, SmallestDomainThenBestFit) {
  auto solver = FirstFitSolver();
  // h0: 4 used, h2: all 8 used, h4, h5: 2 used each; the rest empty.
  ClusterState c = WithUsed({0x0f, 0, 0xff, 0, 0x03, 0x03, 0, 0});
  const ClusterSnapshot& s = c.view();
  struct Case {
    const char* name;
    GangSpec gang;
    int level;
    std::string domain;
  } cases[] = {
      // 2 x 4 GPUs fit on one host: h0 has 4 free (best fit: 4 left 0... h0 cannot take 8), so
      // a single empty host takes both; the fullest fitting host is h4/h5 (6 free each, 4 x 2 =
      // 8 > 6): no; h1 (8 free) is the first empty host.
      {"two halves on one host", Gang(2, 4), 0, "h1"},
      // 2 x 8: no host; racks: r0 = {h0 (4 free), h1 (8)}: no; r1 = {h2 (0), h3 (8)}: no;
      // r2 = {h4 (6), h5 (6)}: no; r3 = {h6, h7}: yes.
      {"two full nodes in one rack", Gang(2, 8), 1, "r3"},
      // 3 x 8: no rack has three; blocks: b0 has h1, h3 (2 free nodes): no; b1: h6, h7 and
      // h4/h5 have 6 free: no... b1 has only two empty nodes too: the whole cluster (4 empty).
      {"three full nodes only in the cluster", Gang(3, 8), 3, ""},
      // 4 x 6: a rack of h4, h5 (6 free each) is too small for four; block b1 = {h4..h7}
      // fits all four, b0 = {h0 (4), h1, h2 (0), h3}: only two nodes with 6.
      {"four 6-GPU members in one block", Gang(4, 6), 2, "b1"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<GangPlanOutcome> out =
        PlanGang(*solver, s, NetworkDomains::Build(s, kLevels), tc.gang);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE(out->plan.has_value()) << out->reason;
    EXPECT_EQ(out->plan->level, tc.level);
    EXPECT_EQ(out->plan->domain, tc.domain);
    ExpectValidPlan(s, tc.gang, *out->plan);
  }
}

TEST(GangPlannerTest, BestFitKeepsTheEmptierDomainWhole) {
  auto solver = FirstFitSolver();
  // 2 x 8 fits in r1 (h2 has 4 used: no)... set up: r0 = {h0, h1} empty, r3 = {h6, h7} empty,
  // r1 = {h2 (2 used), h3 (2 used)}, r2 = {h4 (2 used), h5}. A 2 x 6 gang fits r0, r1, r2 and r3;
  // r1 leaves 12 - 12 = 0 free, the best fit.
  ClusterState c = WithUsed({0, 0, 0x03, 0x03, 0x03, 0, 0, 0});
  absl::StatusOr<GangPlanOutcome> out =
      PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), Gang(2, 6));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->plan.has_value());
  EXPECT_EQ(out->plan->level, 1);
  EXPECT_EQ(out->plan->domain, "r1");
}

TEST(GangPlannerTest, RequiredLevelWaitsAndSaysWhy) {
  auto solver = FirstFitSolver();
  ClusterState c = WithUsed({0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0, 0x0f});
  // 2 x 8 within one rack: only h6 is empty. Preferred widens to... the cluster has only one
  // empty node too: no plan either way.
  const GangSpec required = Gang(2, 8, NetworkMode::kRequired, 1);
  absl::StatusOr<GangPlanOutcome> out =
      PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), required);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->plan.has_value());
  EXPECT_NE(out->reason.find("gang train-a needs 2 pods"), std::string::npos) << out->reason;
  EXPECT_NE(out->reason.find("within one rack"), std::string::npos) << out->reason;
  // 2 x 4 required within one rack: r0 = {h0, h1} has 4 + 4 free: fits at the rack level.
  out = PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels),
                 Gang(2, 4, NetworkMode::kRequired, 1));
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->plan.has_value());
  // h6 alone hosts both (host level, inside any rack).
  EXPECT_EQ(out->plan->level, 0);
  EXPECT_EQ(out->plan->domain, "h6");
}

TEST(GangPlannerTest, RailAlignedMembersGetTheSameGpuIndices) {
  auto solver = FirstFitSolver();
  // h0: GPUs 0-3 used; h1: 4-7 used; h2: 0,1,4,5 used; h3..h7: all 8 used except h3 (2,3,6,7
  // free... set as used 0,1,4,5). 2 x 4 rail-aligned: sets free on two nodes: {2,3,6,7} on h2
  // and h3.
  ClusterState c = WithUsed({0x0f, 0xf0, 0x33, 0x33, 0xff, 0xff, 0xff, 0xff});
  GangSpec g = Gang(2, 4, NetworkMode::kNone);
  g.rail_aligned = true;
  absl::StatusOr<GangPlanOutcome> out =
      PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), g);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->plan.has_value()) << out->reason;
  EXPECT_EQ(out->plan->slots[0].gpus, 0xccu);
  EXPECT_EQ(out->plan->slots[1].gpus, 0xccu);
  EXPECT_EQ(out->plan->level, 1);  // h2 and h3 share rack r1.
  EXPECT_EQ(out->plan->domain, "r1");
  ExpectValidPlan(c.view(), g, *out->plan);
  // Rail alignment with members of different sizes is refused.
  g.members.push_back(Pod("ml/launcher").Cpu(1000));
  EXPECT_EQ(
      PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), g).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(GangPlannerTest, ExactSearchWhenBestFitPackingFails) {
  auto solver = FirstFitSolver();
  // h0: 4 GPUs free, 64 cores free; h1: 6 GPUs free, 12 cores free; the rest full.
  ClusterState c(BuildSnapshot(Network()));
  const std::vector<std::pair<GpuMask, int64_t>> used = {
      {0x0f, 0}, {0x03, 52000}, {0xff, 0}, {0xff, 0}, {0xff, 0}, {0xff, 0}, {0xff, 0}, {0xff, 0}};
  for (size_t i = 0; i < used.size(); ++i) {
    Assignment a;
    a.node = static_cast<NodeIndex>(i);
    a.gpus = used[i].first;
    a.cpu_milli = used[i].second;
    ASSERT_TRUE(c.Apply(a).ok());
  }
  // Largest first: a (4 GPUs, 10 cores) goes to the best fit h0 (4 free < 6), and then b
  // (2 GPUs, 60 cores) fits nowhere. The only plan: a on h1, b on h0, within rack r0.
  GangSpec g;
  g.name = "mixed";
  g.members = {Pod("ml/a").Cpu(10000).Gpus(4), Pod("ml/b").Cpu(60000).Gpus(2)};
  absl::StatusOr<GangPlanOutcome> out =
      PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), g);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->plan.has_value()) << out->reason;
  EXPECT_EQ(out->plan->level, 1);
  EXPECT_EQ(out->plan->domain, "r0");
  EXPECT_EQ(out->plan->slots[0].node, 1);
  EXPECT_EQ(out->plan->slots[1].node, 0);
  ExpectValidPlan(c.view(), g, *out->plan);
  // Greedy only (no search budget): no plan.
  GangPlannerOptions greedy_only;
  greedy_only.search_budget = 0;
  out = PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), g, greedy_only);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->plan.has_value());
}

TEST(GangPlannerTest, RejectsEmptyGangsBadLevelsAndDomainsOfAnotherLayout) {
  auto solver = FirstFitSolver();
  ClusterState c = WithUsed({});
  const ClusterSnapshot rebuilt = BuildSnapshot(Network());  // Same nodes, another layout.
  EXPECT_EQ(PlanGang(*solver, c.view(), NetworkDomains::Build(rebuilt, kLevels), Gang(2, 1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), GangSpec{})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels),
                     Gang(2, 1, NetworkMode::kRequired, 3))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Brute-force oracle --------------------------------------------------------------------

// Whether some assignment of all members to `nodes` fits (whole GPUs, CPU), trying every map.
bool BruteFits(const ClusterSnapshot& s, const std::vector<NodeIndex>& nodes,
               const std::vector<PodRequest>& members) {
  const size_t m = members.size();
  std::vector<size_t> pick(m, 0);
  while (true) {
    std::map<NodeIndex, std::pair<int, int64_t>> use;  // GPUs, CPU
    for (size_t k = 0; k < m; ++k) {
      auto& u = use[nodes[pick[k]]];
      u.first += members[k].gpu_count;
      u.second += members[k].cpu_milli;
    }
    bool ok = true;
    for (const auto& [n, u] : use) {
      const NodeInfo& info = s.node(n);
      ok = ok && u.first <= std::popcount(info.WholeFreeGpus()) && u.second <= info.cpu_free_milli;
    }
    if (ok) {
      return true;
    }
    size_t k = 0;
    while (k < m && ++pick[k] == nodes.size()) {
      pick[k++] = 0;
    }
    if (k == m) {
      return false;
    }
  }
}

// The lowest level with a domain where the gang fits (kLevels.size() = the whole cluster), or -1.
int OracleLevel(const ClusterSnapshot& s, const std::vector<PodRequest>& members) {
  for (size_t level = 0; level <= kLevels.size(); ++level) {
    std::map<std::string, std::vector<NodeIndex>> domains;
    for (NodeIndex i = 0; i < s.num_nodes(); ++i) {
      domains[level == kLevels.size() ? "" : std::string(*s.node(i).Label(kLevels[level]))]
          .push_back(i);
    }
    for (const auto& [name, nodes] : domains) {
      if (BruteFits(s, nodes, members)) {
        return static_cast<int>(level);
      }
    }
  }
  return -1;
}

TEST(GangPlannerTest, FindsTheLowestFeasibleLevelLikeBruteForce) {
  auto solver = FirstFitSolver();
  std::mt19937_64 rng(17);
  int planned = 0, refused = 0, above_host = 0;
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    // Random occupancy: each node's used GPUs and CPU.
    ClusterState c(BuildSnapshot(Network()));
    for (NodeIndex i = 0; i < 8; ++i) {
      Assignment a;
      a.node = i;
      a.gpus = static_cast<GpuMask>(rng() & 0xff) & static_cast<GpuMask>(rng() & 0xff);
      a.cpu_milli = static_cast<int64_t>(rng() % 5) * 12000;
      ASSERT_TRUE(c.Apply(a).ok());
    }
    GangSpec g;
    g.name = "g";
    const int members = 2 + static_cast<int>(rng() % 3);  // 2..4
    for (int k = 0; k < members; ++k) {
      const int gpus = 1 << (rng() % 4);  // 1, 2, 4, 8
      g.members.push_back(
          Pod("ml/m" + std::to_string(k)).Cpu(static_cast<int64_t>(rng() % 8) * 8000).Gpus(gpus));
    }
    const int want = OracleLevel(c.view(), g.members);
    absl::StatusOr<GangPlanOutcome> out =
        PlanGang(*solver, c.view(), NetworkDomains::Build(c.view(), kLevels), g);
    ASSERT_TRUE(out.ok()) << out.status();
    if (want < 0) {
      EXPECT_FALSE(out->plan.has_value());
      ++refused;
      continue;
    }
    ASSERT_TRUE(out->plan.has_value()) << "oracle level " << want << "; " << out->reason;
    EXPECT_EQ(out->plan->level, want);
    ExpectValidPlan(c.view(), g, *out->plan);
    ++planned;
    above_host += want > 0;
  }
  // The random cases cover all outcomes.
  EXPECT_GT(planned, 50);
  EXPECT_GT(refused, 10);
  EXPECT_GT(above_host, 20);
}

}  // namespace
}  // namespace accelsched::plugins
