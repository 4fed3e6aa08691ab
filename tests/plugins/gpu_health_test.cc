// The GpuHealth filter (plugins/gpu_health/): a node passes only if the pod fits without its
// unhealthy GPUs, the reason says so, and Reserve never hands one out. Expected sets are worked
// out by hand.
#include "plugins/gpu_health/gpu_health.h"

#include <memory>
#include <string>

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

// Four T4s; GPUs in `unhealthy` are out of service.
ClusterSnapshot FourGpus(std::map<int, std::string> unhealthy) {
  NodeSpec spec = Node("n").Cpu(32000).Mem(256000).Gpus(4, "T4", 15360);
  spec.unhealthy_gpus = std::move(unhealthy);
  return BuildSnapshot({spec});
}

TEST(GpuHealthTest, ANodePassesOnlyIfThePodFitsOnItsHealthyGpus) {
  const GpuHealth plugin;
  CycleState cycle;
  cycle.explain = true;
  const ClusterSnapshot healthy = FourGpus({});
  const ClusterSnapshot one_bad = FourGpus({{2, "XID 79"}});
  EXPECT_EQ(one_bad.node(0).unhealthy, 0b0100u);
  const PodRequest four = Pod("ml/four").Cpu(1000).Gpus(4);
  const PodRequest three = Pod("ml/three").Cpu(1000).Gpus(3);
  const PodRequest share = Pod("ml/share").Cpu(1000).Share(500);
  EXPECT_EQ(plugin.Filter(cycle, four, healthy.node(0))->feasibility, Feasibility::kFeasible);
  EXPECT_EQ(plugin.Filter(cycle, three, one_bad.node(0))->feasibility, Feasibility::kFeasible);
  EXPECT_EQ(plugin.Filter(cycle, share, one_bad.node(0))->feasibility, Feasibility::kFeasible);
  absl::StatusOr<FilterVerdict> v = plugin.Filter(cycle, four, one_bad.node(0));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->feasibility,
            Feasibility::kUnresolvable);  // Freeing pods cannot make 4 healthy GPUs.
  // Three GPUs fit the healthy ones once the share on GPU 0 is gone: preemption can help.
  ClusterState busy(FourGpus({{2, "XID 79"}}));
  ASSERT_TRUE(busy.Apply({.node = 0, .gpus = 0b0001u, .gpu_milli = 300}, kNoTenant).ok());
  EXPECT_EQ(plugin.Filter(cycle, three, busy.view().node(0))->feasibility,
            Feasibility::kUnschedulable);
  EXPECT_EQ(v->reason,
            "GPU health: not enough healthy GPUs (accelsched-node took some out of service; see "
            "the node annotation accelsched.io/unhealthy-gpus)");
  EXPECT_EQ(plugin.BlockedGpus(cycle, three, one_bad.node(0)), 0b0100u);
}

TEST(GpuHealthTest, AGpuOutsideTheNodeIsAnError) {
  NodeSpec spec = Node("n").Cpu(32000).Mem(256000).Gpus(4, "T4", 15360);
  spec.unhealthy_gpus = {{4, "XID 79"}};
  ClusterSnapshotBuilder b;
  b.AddNode(spec);
  absl::StatusOr<ClusterSnapshot> s = std::move(b).Build();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unhealthy GPU 4 is not one of its 4 GPUs"),
            std::string::npos)
      << s.status();
}

// First fit would take GPUs 0-1 and the lowest free GPU for a share; with GPU 0 out of service
// the solver places around it, and a pod already on it stays counted.
TEST(GpuHealthTest, TheSolverNeverPlacesOnAnUnhealthyGpu) {
  PolicyConfig config;
  config.policy = "firstfit";
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(config, WorkloadModel{});
  ASSERT_TRUE(solver.ok()) << solver.status();
  ClusterState state(FourGpus({{0, "XID 48"}}));
  ASSERT_TRUE(state.Apply({.node = 0, .gpus = 0b0001u, .gpu_milli = 300}, kNoTenant).ok());
  absl::StatusOr<Placement> whole =
      (*solver)->Place(Pod("ml/two").Cpu(1000).Gpus(2), state.view(), nullptr);
  ASSERT_TRUE(whole.ok() && whole->assignment.has_value());
  EXPECT_EQ(whole->assignment->gpus, 0b0110u);
  absl::StatusOr<Placement> share =
      (*solver)->Place(Pod("ml/s").Cpu(1000).Share(200), state.view(), nullptr);
  ASSERT_TRUE(share.ok() && share->assignment.has_value());
  EXPECT_EQ(share->assignment->gpus, 0b0010u);
  absl::StatusOr<Placement> four =
      (*solver)->Place(Pod("ml/four").Cpu(1000).Gpus(4), state.view(), nullptr);
  ASSERT_TRUE(four.ok());
  EXPECT_FALSE(four->assignment.has_value());
}

}  // namespace
}  // namespace accelsched::plugins
