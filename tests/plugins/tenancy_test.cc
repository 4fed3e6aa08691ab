// The tenancy plugin (plugins/tenancy/) and the tenant data it reads (framework/tenants.h,
// ClusterState): the sharing rules of each isolation, checked case by case against the table in
// the header comment, the reasons, and that Reserve never hands out a blocked GPU.
#include "plugins/tenancy/tenancy.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/solver.h"
#include "plugins/policy.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

TEST(TenantsTest, ParseIsolationNamesTheLabel) {
  EXPECT_EQ(*ParseIsolation("shared"), Isolation::kShared);
  EXPECT_EQ(*ParseIsolation("mig"), Isolation::kMig);
  EXPECT_EQ(*ParseIsolation("exclusive-gpu"), Isolation::kExclusiveGpu);
  EXPECT_EQ(*ParseIsolation("exclusive-node"), Isolation::kExclusiveNode);
  absl::StatusOr<Isolation> bad = ParseIsolation("private");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("label accelsched.io/isolation: 'private' is not"),
            std::string::npos);
  for (Isolation i :
       {Isolation::kShared, Isolation::kMig, Isolation::kExclusiveGpu, Isolation::kExclusiveNode}) {
    EXPECT_EQ(*ParseIsolation(IsolationName(i)), i);
  }
}

TEST(TenantsTest, TableInternsNamespacesAndCountsTheRestrictedOnes) {
  ClusterState state(BuildSnapshot({Node("n").Cpu(8000).Mem(8000)}));
  const uint64_t empty = state.view().tenants().version;
  const TenantId a = state.Tenant("a");
  EXPECT_EQ(state.Tenant("a"), a);  // Stable.
  EXPECT_NE(state.Tenant("b"), a);
  EXPECT_NE(state.view().tenants().version, empty);
  EXPECT_EQ(state.view().tenants().restricted, 0);
  state.SetIsolation("a", Isolation::kMig);
  state.SetIsolation("c", Isolation::kExclusiveGpu);  // Added by setting it.
  EXPECT_EQ(state.view().tenants().restricted, 2);
  EXPECT_EQ(state.view().tenants().Of(a), Isolation::kMig);
  EXPECT_EQ(state.view().tenants().Of(kNoTenant), Isolation::kShared);
  const uint64_t before = state.view().tenants().version;
  state.SetIsolation("a", Isolation::kMig);  // No change: same version.
  EXPECT_EQ(state.view().tenants().version, before);
  state.SetIsolation("a", Isolation::kShared);  // Label removed.
  EXPECT_EQ(state.view().tenants().restricted, 1);
  EXPECT_NE(state.view().tenants().version, before);
}

TEST(TenantsTest, NodesCountEachTenantsPodsAndPartlyUsedGpus) {
  ClusterState state(BuildSnapshot({Node("n").Cpu(8000).Mem(8000).Gpus(2, "T4", 15360)}));
  const TenantId a = state.Tenant("a");
  Assignment share{.node = 0, .gpus = 0b10, .gpu_milli = 300, .cpu_milli = 100};
  Assignment whole{.node = 0, .gpus = 0b01, .cpu_milli = 100};
  ASSERT_TRUE(state.Apply(share, a).ok());
  ASSERT_TRUE(state.Apply(share, a).ok());
  ASSERT_TRUE(state.Apply(whole, a).ok());
  ASSERT_TRUE(state.Apply(Assignment{.node = 0, .cpu_milli = 5}).ok());  // No tenant: uncounted.
  ASSERT_EQ(state.view().node(0).tenants.size(), 1u);
  const TenantUse& use = state.view().node(0).tenants[0];
  EXPECT_EQ(use.pods, 3);
  EXPECT_EQ(use.partial[1], 2);
  EXPECT_EQ(use.PartlyUsedGpus(), 0b10u);  // A whole GPU leaves no room for anyone.
  // Releasing under another tenant, or one never applied, is refused and changes nothing.
  const TenantId b = state.Tenant("b");
  absl::Status wrong = state.Release(share, b);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.message().find("tenant b holds no such pod"), std::string::npos) << wrong;
  EXPECT_EQ(state.Apply(whole, 99).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(state.Release(share, a).ok());
  ASSERT_TRUE(state.Release(share, a).ok());
  ASSERT_TRUE(state.Release(whole, a).ok());
  EXPECT_TRUE(state.view().node(0).tenants.empty());
}

// One occupant of namespace "them" and a pod of namespace "me" on a 4-GPU A100 node whose GPUs 0
// and 3 are in MIG mode: the occupant holds a share of GPU 1, a MIG instance on GPU 0, or whole
// GPUs 1-2; the pod asks for a share, a MIG instance or a whole GPU. What may it do? (The pod
// always fits without the blocked GPU, so only exclusion fails the node.)
TEST(TenancyTest, RulesBothWays) {
  enum Kind { kShare, kMig, kWhole };
  struct Case {
    Isolation mine, theirs;
    Kind pod, occupant;
    bool excluded;
    bool blocked;  // The occupant's GPU is blocked.
  };
  using I = Isolation;
  const Case cases[] = {
      // Shares: only shared with shared.
      {I::kShared, I::kShared, kShare, kShare, false, false},
      {I::kShared, I::kMig, kShare, kShare, false, true},
      {I::kMig, I::kShared, kShare, kShare, false, true},
      {I::kShared, I::kExclusiveGpu, kShare, kShare, false, true},
      {I::kExclusiveGpu, I::kShared, kShare, kShare, false, true},
      // MIG instances: shared and mig tenants may share a MIG GPU; exclusive-gpu may not.
      {I::kShared, I::kShared, kMig, kMig, false, false},
      {I::kMig, I::kShared, kMig, kMig, false, false},
      {I::kMig, I::kMig, kMig, kMig, false, false},
      {I::kExclusiveGpu, I::kMig, kMig, kMig, false, true},
      {I::kMig, I::kExclusiveGpu, kMig, kMig, false, true},
      // Whole GPUs never share a GPU: only exclusive-node matters.
      {I::kExclusiveGpu, I::kShared, kWhole, kShare, false, false},
      {I::kShared, I::kExclusiveGpu, kWhole, kWhole, false, false},
      {I::kExclusiveNode, I::kShared, kWhole, kWhole, true, false},
      {I::kShared, I::kExclusiveNode, kWhole, kWhole, true, false},
      {I::kShared, I::kExclusiveNode, kShare, kShare, true, false},
      // A whole-GPU occupant leaves nothing to share: nothing to block.
      {I::kExclusiveGpu, I::kShared, kShare, kWhole, false, false},
  };
  const Tenancy plugin;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(IsolationName(c.mine)) + " pod vs " + IsolationName(c.theirs) +
                 " occupant, kinds " + std::to_string(c.pod) + "/" + std::to_string(c.occupant));
    ClusterState state(
        BuildSnapshot({Node("n").Cpu(32000).Mem(256000).Gpus(4, "A100-80GB", 81920).Mig(0b1001)}));
    state.SetIsolation("me", c.mine);
    state.SetIsolation("them", c.theirs);
    Assignment occupant{.node = 0, .cpu_milli = 1000};
    if (c.occupant == kShare) {
      occupant.gpus = 0b0010;
      occupant.gpu_milli = 500;
    } else if (c.occupant == kMig) {
      occupant.gpus = 0b0001;
      occupant.mig_profile_id = 19;  // 1g.10gb on A100-80GB.
      occupant.mig_start = 0;
    } else {
      occupant.gpus = 0b0110;
    }
    ASSERT_TRUE(state.Apply(occupant, state.Tenant("them")).ok());
    for (const char* ns : {"me", "them"}) {  // The same namespace never conflicts with itself.
      const bool self = std::string(ns) == "them";
      PodRequest pod = Pod(std::string(ns) + "/p").Tenant(ns).Cpu(1000);
      if (c.pod == kShare) pod.gpu_milli = 250;
      if (c.pod == kMig) pod.mig = MigRequest{1, false, false};
      if (c.pod == kWhole) pod.gpu_count = 1;
      CycleState cycle;
      ASSERT_TRUE(plugin.PreFilter(cycle, pod, state.view()).ok());
      const NodeInfo& node = state.view().node(0);
      absl::StatusOr<FilterVerdict> v = plugin.Filter(cycle, pod, node);
      ASSERT_TRUE(v.ok()) << v.status();
      // Blocked GPUs alone do not fail the node: other GPUs fit the pod.
      EXPECT_EQ(v->feasibility,
                c.excluded && !self ? Feasibility::kUnresolvable : Feasibility::kFeasible)
          << v->reason;
      const GpuMask want = c.blocked && !self ? occupant.gpus : 0;
      EXPECT_EQ(plugin.BlockedGpus(cycle, pod, node), want);
    }
  }
}

TEST(TenancyTest, ANodeFailsWhenThePodFitsOnlyOnBlockedGpusAndReasonsNameTheNamespace) {
  ClusterState state(BuildSnapshot({Node("n").Cpu(32000).Mem(256000).Gpus(1, "T4", 15360)}));
  state.SetIsolation("secure", Isolation::kExclusiveGpu);
  state.SetIsolation("solo", Isolation::kExclusiveNode);
  ASSERT_TRUE(state.Apply({.node = 0, .gpus = 1, .gpu_milli = 500}, state.Tenant("secure")).ok());
  const Tenancy plugin;
  auto verdict = [&](const std::string& ns) {
    const PodRequest pod = Pod(ns + "/p").Tenant(ns).Share(250);
    CycleState cycle;
    EXPECT_TRUE(plugin.PreFilter(cycle, pod, state.view()).ok());
    absl::StatusOr<FilterVerdict> v = plugin.Filter(cycle, pod, state.view().node(0));
    EXPECT_TRUE(v.ok()) << v.status();
    return std::make_pair(v->feasibility, std::string(v->reason));
  };
  EXPECT_EQ(verdict("team"),
            std::make_pair(Feasibility::kUnresolvable,
                           std::string("tenancy: the GPUs with room are used by namespace secure, "
                                       "which is exclusive-gpu")));
  EXPECT_EQ(verdict("solo"),
            std::make_pair(Feasibility::kUnresolvable,
                           std::string("tenancy: namespace solo is exclusive-node and the node "
                                       "runs pods of namespace secure")));
  EXPECT_EQ(verdict("secure").first, Feasibility::kFeasible);
  // Now secure joins team's GPU from the other side.
  ClusterState other(BuildSnapshot({Node("n").Cpu(32000).Mem(256000).Gpus(1, "T4", 15360)}));
  other.SetIsolation("secure", Isolation::kExclusiveGpu);
  ASSERT_TRUE(other.Apply({.node = 0, .gpus = 1, .gpu_milli = 500}, other.Tenant("team")).ok());
  const PodRequest pod = Pod("secure/p").Tenant("secure").Share(250);
  CycleState cycle;
  ASSERT_TRUE(plugin.PreFilter(cycle, pod, other.view()).ok());
  EXPECT_EQ(plugin.Filter(cycle, pod, other.view().node(0))->reason,
            "tenancy: namespace secure is exclusive-gpu; the GPUs with room are used by other "
            "namespaces");
}

// The solver's Reserve hides blocked GPUs from the allocator: best fit would put a share on the
// fuller GPU 0, but tenancy forbids it.
TEST(TenancyTest, ReserveNeverTakesABlockedGpu) {
  PolicyConfig config;
  config.policy = "firstfit";
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(config, WorkloadModel{});
  ASSERT_TRUE(solver.ok()) << solver.status();
  for (Isolation isolation : {Isolation::kShared, Isolation::kExclusiveGpu}) {
    SCOPED_TRACE(IsolationName(isolation));
    ClusterState state(BuildSnapshot({Node("n").Cpu(32000).Mem(256000).Gpus(2, "T4", 15360)}));
    state.SetIsolation("them", isolation);
    ASSERT_TRUE(state.Apply({.node = 0, .gpus = 1, .gpu_milli = 500}, state.Tenant("them")).ok());
    const PodRequest pod = Pod("me/p").Tenant("me").Cpu(1000).Share(250);
    absl::StatusOr<Placement> p = (*solver)->Place(pod, state.view(), nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->assignment.has_value());
    EXPECT_EQ(p->assignment->gpus, isolation == Isolation::kShared ? 0b01u : 0b10u);
  }
}

}  // namespace
}  // namespace accelsched::plugins
