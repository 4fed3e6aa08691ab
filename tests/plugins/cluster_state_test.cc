#include "plugins/framework/cluster_state.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

#include "plugins/baselines/baselines.h"
#include "plugins/framework/fit.h"
#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"
#include "topology/profiles.h"

namespace accelsched::plugins {
namespace {

// A100-80GB MIG profile IDs (topology/mig/mig.cc, SevenSliceProfiles): 19 = 1g (starts 0..6),
// 20 = 1g+me (starts 0..6), 15 = 1g.20gb (0,2,4,6), 14 = 2g (0,2,4), 9 = 3g (0,4), 5 = 4g (0),
// 0 = 7g (0).
constexpr int k1g = 19;
constexpr int k1gMe = 20;
constexpr int k2g = 14;
constexpr int k3g = 9;
constexpr int k4g = 5;

using ::accelsched::testing::Assign;
using ::accelsched::testing::AssignMig;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;

NodeSpec V100Node(std::string name) {
  return Node(std::move(name)).Cpu(8000).Mem(32000).Model("V100").Gpus(4).GpuMem(16000);
}

// 3 A100-80GB GPUs, GPUs 0 and 1 in MIG mode, GPU 2 not.
NodeSpec A100MigNode(std::string name) {
  return Node(std::move(name))
      .Cpu(64000)
      .Mem(256000)
      .Model("A100-80GB")
      .Gpus(3)
      .GpuMem(81920)
      .Mig(0b011);
}

// Node 0: "v100" (V100Node), node 1: "a100" (A100MigNode).
ClusterSnapshot TwoNodeCluster() { return BuildSnapshot({V100Node("v100"), A100MigNode("a100")}); }

// Shorthands over testing::Assign, named for what each case applies.
Assignment Cpu(NodeIndex node, int64_t cpu, int64_t mem = 0) {
  return Assign(node, /*gpus=*/0, /*milli=*/0, /*gpu_mem=*/0, cpu, mem);
}
Assignment Whole(NodeIndex node, GpuMask gpus) { return Assign(node, gpus); }
Assignment Share(NodeIndex node, int gpu, int32_t milli, int64_t gpu_mem = 0) {
  return Assign(node, GpuMask{1} << gpu, milli, gpu_mem);
}
// Any combination, for malformed assignments.
Assignment Raw(NodeIndex node, GpuMask gpus, int32_t milli, int64_t gpu_mem, int profile_id = -1,
               int start = -1) {
  Assignment a = Assign(node, gpus, milli, gpu_mem);
  a.mig_profile_id = profile_id;
  a.mig_start = start;
  return a;
}
Assignment WithCpu(Assignment a, int64_t cpu, int64_t mem) {
  a.cpu_milli = cpu;
  a.memory_mib = mem;
  return a;
}

// Every NodeInfo field.
void ExpectSameNode(const NodeInfo& got, const NodeInfo& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.cpu_capacity_milli, want.cpu_capacity_milli);
  EXPECT_EQ(got.cpu_free_milli, want.cpu_free_milli);
  EXPECT_EQ(got.memory_capacity_mib, want.memory_capacity_mib);
  EXPECT_EQ(got.memory_free_mib, want.memory_free_mib);
  EXPECT_EQ(got.model, want.model);
  EXPECT_EQ(got.gpu_count, want.gpu_count);
  EXPECT_EQ(got.gpu_memory_mib, want.gpu_memory_mib);
  EXPECT_EQ(got.gpu_free_milli, want.gpu_free_milli);
  EXPECT_EQ(got.gpu_free_memory_mib, want.gpu_free_memory_mib);
  EXPECT_EQ(got.mig_geometry, want.mig_geometry);
  EXPECT_EQ(got.mig_enabled, want.mig_enabled);
  EXPECT_EQ(got.mig_used_slots, want.mig_used_slots);
  EXPECT_EQ(got.mig_media_used, want.mig_media_used);
  EXPECT_EQ(got.topology, want.topology);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.pods, want.pods);
  EXPECT_EQ(got.pods_by_gpu_class, want.pods_by_gpu_class);
}

// ---- ClusterSnapshotBuilder ---------------------------------------------------------------------

TEST(ClusterSnapshotBuilderTest, RejectsInvalidNodes) {
  absl::StatusOr<topology::Topology> dgx1 = topology::BuiltinProfile("dgx1-v100");
  ASSERT_TRUE(dgx1.ok()) << dgx1.status();
  absl::StatusOr<std::shared_ptr<const NodeTopology>> dgx1_topo = NodeTopology::Create(*dgx1);
  ASSERT_TRUE(dgx1_topo.ok()) << dgx1_topo.status();

  const struct {
    std::string name;
    std::vector<NodeSpec> nodes;
    std::string want_substr;
  } cases[] = {
      {"empty name", {Node("").Cpu(1)}, "name must not be empty"},
      {"duplicate name", {Node("n").Cpu(1), Node("n").Cpu(2)}, "duplicate node name"},
      {"GPUs without a model", {Node("n").Gpus(2)}, "no GPU model"},
      {"model without GPUs", {Node("n").Model("V100")}, "but no GPUs"},
      {"negative CPU", {Node("n").Cpu(-1)}, "must not be negative"},
      {"negative GPU memory", {Node("n").Model("V100").Gpus(1).GpuMem(-5)}, "must not be negative"},
      {"17 GPUs", {Node("n").Model("V100").Gpus(17)}, "outside 0..16"},
      {"MIG on a model without MIG",
       {Node("n").Model("V100").Gpus(2).Mig(0b01)},
       "no known MIG geometry"},
      {"MIG on a GPU the node lacks",
       {Node("n").Model("A100-80GB").Gpus(2).Mig(0b100)},
       "does not have"},
      {"topology GPU count mismatch",
       {Node("n").Model("V100").Gpus(4).Topo(*dgx1_topo)},
       "topology has 8 GPUs but the node has 4"},
      {"second node bad after a good one", {V100Node("ok"), Node("bad").Gpus(1)}, "node bad"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterSnapshotBuilder b;
    for (const NodeSpec& n : tc.nodes) {
      b.AddNode(n);
    }
    absl::StatusOr<ClusterSnapshot> s = std::move(b).Build();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.status().message(), tc.want_substr)) << s.status();
  }
}

TEST(ClusterSnapshotBuilderTest, InternsModelsAndStartsEveryNodeEmpty) {
  ClusterSnapshotBuilder b;
  b.AddNode(V100Node("v0"))
      .AddNode(Node("a").Model("A100-80GB").Gpus(2))
      .AddNode(Node("cpu").Cpu(4000).Mem(1000))
      .AddNode(
          Node("v1").Cpu(8000).Mem(32000).Model("V100").Gpus(4).GpuMem(16000).Label("zone", "a"));
  absl::StatusOr<ClusterSnapshot> s = std::move(b).Build();
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->num_nodes(), 4);
  // Models in order of first appearance: V100 (0), A100-80GB (1).
  ASSERT_EQ(s->models().size(), 2u);
  EXPECT_EQ(s->models()[0], "V100");
  EXPECT_EQ(s->models()[1], "A100-80GB");
  EXPECT_EQ(s->node(0).model, 0);
  EXPECT_EQ(s->node(1).model, 1);
  EXPECT_EQ(s->node(2).model, kNoModel);
  EXPECT_EQ(s->node(3).model, 0);
  EXPECT_EQ(s->ModelIndex("A100-80GB"), 1);
  EXPECT_EQ(s->ModelIndex("H100"), kNoModel);
  // 4 + 2 + 0 + 4 GPUs = 10 GPUs = 10000 milli.
  EXPECT_EQ(s->gpu_capacity_milli(), 10000);
  EXPECT_EQ(s->gpu_used_milli(), 0);
  EXPECT_EQ(s->version(), 0u);
  EXPECT_EQ(s->Find("cpu"), std::optional<NodeIndex>(2));
  EXPECT_EQ(s->Find("nope"), std::nullopt);
  // Everything free; GPUs beyond gpu_count stay 0.
  const NodeInfo& v0 = s->node(0);
  EXPECT_EQ(v0.cpu_free_milli, 8000);
  EXPECT_EQ(v0.memory_free_mib, 32000);
  for (int i = 0; i < kMaxGpus; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(v0.gpu_free_milli[i], i < 4 ? 1000 : 0);
    EXPECT_EQ(v0.gpu_free_memory_mib[i], i < 4 ? 16000 : 0);
  }
  EXPECT_EQ(v0.WholeFreeGpus(), 0b1111u);
  EXPECT_EQ(v0.mig_geometry, nullptr);
  // A MIG-capable model gets its geometry even with MIG off.
  EXPECT_NE(s->node(1).mig_geometry, nullptr);
  EXPECT_EQ(s->node(1).mig_enabled, 0u);
  // Labels.
  EXPECT_EQ(s->node(3).Label("zone"), std::optional<absl::string_view>("a"));
  EXPECT_EQ(s->node(3).Label("rack"), std::nullopt);
  EXPECT_EQ(s->node(0).Label("zone"), std::nullopt);
}

TEST(ClusterSnapshotBuilderTest, VersionsAndLayoutsAreNeverReusedAndCopiesKeepThem) {
  const ClusterSnapshot a = TwoNodeCluster();
  const ClusterSnapshot b = TwoNodeCluster();  // Same content, built again.
  const std::set<uint64_t> versions = {a.node_version(0), a.node_version(1), b.node_version(0),
                                       b.node_version(1)};
  EXPECT_EQ(versions.size(), 4u);
  EXPECT_EQ(versions.count(0), 0u);
  EXPECT_NE(a.layout(), b.layout());
  EXPECT_NE(a.layout(), 0u);
  const ClusterSnapshot copy = a;
  EXPECT_EQ(copy.layout(), a.layout());
  EXPECT_EQ(copy.node_version(1), a.node_version(1));
}

TEST(ClusterStateTest, PublishedSnapshotsNeverSeeLaterChangesAndShareUnchangedNodes) {
  // 200 CPU nodes: more than three chunks of 64.
  std::vector<std::pair<std::string, int64_t>> specs;
  specs.reserve(200);
  for (int i = 0; i < 200; ++i) {
    specs.emplace_back("c" + std::to_string(i), 1000);
  }
  ClusterState state(::accelsched::testing::CpuNodes(specs));
  std::vector<std::shared_ptr<const ClusterSnapshot>> published;
  std::vector<std::vector<int64_t>> want;  // Each snapshot's free CPU per node when taken.
  std::mt19937 rng(5);
  for (int step = 0; step < 60; ++step) {
    published.push_back(state.Snapshot());
    want.emplace_back();
    for (const NodeInfo& n : published.back()->nodes()) {
      want.back().push_back(n.cpu_free_milli);
    }
    const NodeIndex node = static_cast<NodeIndex>(rng() % 200);
    ASSERT_TRUE(state.Apply(Assign(node, 0, 0, 0, 10, 0)).ok());
  }
  for (size_t k = 0; k < published.size(); ++k) {
    SCOPED_TRACE(k);
    for (NodeIndex i = 0; i < 200; ++i) {
      ASSERT_EQ(published[k]->node(i).cpu_free_milli, want[k][static_cast<size_t>(i)]);
      EXPECT_EQ(published[k]->node(i).name, "c" + std::to_string(i));
      EXPECT_EQ(published[k]->Find("c" + std::to_string(i)), std::optional<NodeIndex>(i));
    }
  }
  // A copy shares what did not change since: node 199 sits in the last chunk.
  const std::shared_ptr<const ClusterSnapshot> before = state.Snapshot();
  ASSERT_TRUE(state.Apply(Assign(0, 0, 0, 0, 10, 0)).ok());  // Changes the first chunk only.
  EXPECT_EQ(&before->node(199), &state.view().node(199));
  EXPECT_NE(&before->node(0), &state.view().node(0));
  EXPECT_EQ(state.view().node(0).cpu_free_milli, before->node(0).cpu_free_milli - 10);
}

// ---- Apply / Release ----------------------------------------------------------------------------

TEST(ClusterStateTest, ApplyThenReleaseRestoresTheNodeExactly) {
  const struct {
    std::string name;
    Assignment a;
  } cases[] = {
      {"cpu only", Cpu(0, 1000, 2000)},
      {"two whole GPUs", WithCpu(Whole(0, 0b0110), 500, 10)},
      {"share with GPU memory", Share(0, 3, 300, 4000)},
      {"share without GPU memory", Share(0, 0, 999)},
      {"MIG 2g at slot 2", AssignMig(1, 0, k2g, 2)},
      {"MIG 1g+me at slot 6", AssignMig(1, 1, k1gMe, 6)},
      {"whole non-MIG GPU of the MIG node", Whole(1, 0b100)},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterState state(TwoNodeCluster());
    const NodeInfo before = state.view().node(tc.a.node);
    const uint64_t before_version = state.view().node_version(tc.a.node);
    const uint64_t before_layout = state.view().layout();
    const int64_t used_before = state.view().gpu_used_milli();

    ASSERT_TRUE(state.Apply(tc.a).ok());
    EXPECT_EQ(state.view().node(tc.a.node).pods, before.pods + 1);
    const uint64_t applied = state.view().node_version(tc.a.node);
    EXPECT_NE(applied, before_version);
    ASSERT_TRUE(state.Release(tc.a).ok());

    ExpectSameNode(state.view().node(tc.a.node), before);
    EXPECT_EQ(state.view().gpu_used_milli(), used_before);
    // Two changes: the apply and the release. The content is back to `before`, but a version
    // is never reused: memoised results are keyed by it and must not be mistaken.
    EXPECT_NE(state.view().node_version(tc.a.node), before_version);
    EXPECT_NE(state.view().node_version(tc.a.node), applied);
    EXPECT_EQ(state.view().version(), 2u);
    EXPECT_EQ(state.view().layout(), before_layout);
  }
}

TEST(ClusterStateTest, RejectsInvalidChangesAndLeavesStateUnchanged) {
  struct Step {
    bool release;
    Assignment a;
  };
  const struct {
    std::string name;
    std::vector<Step> setup;  // Applied (or released) first; each must succeed.
    Step bad;
    std::string want_substr;
  } cases[] = {
      // Node 0 has 8000m CPU, 32000 MiB, 4 GPUs of 16000 MiB.
      {"CPU over capacity", {}, {false, Cpu(0, 8001)}, "not enough free CPU"},
      {"CPU over what is left",
       {{false, Cpu(0, 5000)}},
       {false, Cpu(0, 3001)},
       "not enough free CPU"},  // 8000 - 5000 = 3000 < 3001.
      {"memory over capacity", {}, {false, Cpu(0, 0, 32001)}, "not enough free memory"},
      {"share milli over what is left",
       {{false, Share(0, 0, 600)}},
       {false, Share(0, 0, 401)},
       "not enough free milli-GPU"},  // 1000 - 600 = 400 < 401.
      {"share GPU memory over what is left",
       {{false, Share(0, 0, 100, 10000)}},
       {false, Share(0, 0, 100, 6001)},
       "not enough free GPU memory"},  // 16000 - 10000 = 6000 < 6001.
      {"whole GPU on a partially used GPU",
       {{false, Share(0, 1, 1)}},
       {false, Whole(0, 0b0010)},
       "not entirely free"},
      {"whole GPU taken twice",
       {{false, Whole(0, 0b0001)}},
       {false, Whole(0, 0b0011)},
       "not entirely free"},
      {"share of a whole GPU", {}, {false, Share(0, 0, 1000)}, "below 1000"},
      {"share on two GPUs", {}, {false, Raw(0, 0b11, 100, 0)}, "exactly one GPU"},
      {"GPU memory without a share", {}, {false, Raw(0, 0b1, 0, 10)}, "GPU memory without a share"},
      {"unknown node", {}, {false, Cpu(2, 1)}, "unknown node"},
      {"negative node", {}, {false, Cpu(-1, 1)}, "unknown node"},
      {"GPU beyond the node", {}, {false, Whole(0, 0b10000)}, "beyond"},
      {"negative CPU", {}, {false, Cpu(0, -1)}, "negative"},
      {"double release of whole GPUs",
       {{false, Whole(0, 0b0011)}, {true, Whole(0, 0b0011)}},
       {true, Whole(0, 0b0011)},
       "not taken whole"},
      {"double release of a share",
       {{false, Share(0, 2, 300)}, {true, Share(0, 2, 300)}},
       {true, Share(0, 2, 300)},
       "share was not taken"},  // 1000 + 300 > 1000.
      {"double release of CPU",
       {{false, Cpu(0, 100)}, {true, Cpu(0, 100)}},
       {true, Cpu(0, 100)},
       "CPU was not taken"},
      {"release of memory never taken", {}, {true, Cpu(0, 0, 1)}, "memory was not taken"},
      // Node 1: A100-80GB x3, GPUs 0 and 1 MIG-enabled.
      {"MIG 2g@2 overlaps 3g@0",
       {{false, AssignMig(1, 0, k3g, 0)}},
       {false, AssignMig(1, 0, k2g, 2)},
       "slots are in use"},  // 3g@0 covers slots 0-3, 2g@2 slots 2-3.
      {"MIG 4g@0 overlaps 1g@3",
       {{false, AssignMig(1, 0, k1g, 3)}},
       {false, AssignMig(1, 0, k4g, 0)},
       "slots are in use"},  // 4g@0 covers slots 0-3.
      {"same MIG instance twice",
       {{false, AssignMig(1, 1, k1g, 5)}},
       {false, AssignMig(1, 1, k1g, 5)},
       "slots are in use"},
      {"second +me instance on one GPU",
       {{false, AssignMig(1, 0, k1gMe, 0)}},
       {false, AssignMig(1, 0, k1gMe, 1)},
       "already has a +me"},  // Slots 0 and 1 are disjoint; only the +me rule rejects it.
      {"MIG at an illegal start", {}, {false, AssignMig(1, 0, k2g, 1)}, "illegal MIG start"},
      {"MIG on a GPU not in MIG mode", {}, {false, AssignMig(1, 2, k1g, 0)}, "not MIG-enabled"},
      {"MIG with an unknown profile id", {}, {false, AssignMig(1, 0, 99, 0)}, "is not defined"},
      {"share on a MIG GPU", {}, {false, Share(1, 0, 100)}, "MIG-enabled GPU"},
      {"whole GPU on a MIG GPU", {}, {false, Whole(1, 0b001)}, "MIG-enabled GPU"},
      {"release of a MIG instance never taken",
       {},
       {true, AssignMig(1, 0, k1g, 0)},
       "were not taken"},
      {"release of a +me instance whose GPU has none",
       {{false, AssignMig(1, 0, k1g, 0)}},
       {true, AssignMig(1, 0, k1gMe, 0)},
       "no +me instance"},
      {"MIG and share at once", {}, {false, Raw(1, 0b1, 10, 0, k1g, 0)}, "both a share and a MIG"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterState state(TwoNodeCluster());
    for (const Step& s : tc.setup) {
      ASSERT_TRUE((s.release ? state.Release(s.a) : state.Apply(s.a)).ok()) << DebugString(s.a);
    }
    const ClusterSnapshot before = state.view();
    const absl::Status st = tc.bad.release ? state.Release(tc.bad.a) : state.Apply(tc.bad.a);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), tc.want_substr)) << st;
    EXPECT_EQ(state.view().version(), before.version());
    EXPECT_EQ(state.view().gpu_used_milli(), before.gpu_used_milli());
    for (NodeIndex i = 0; i < before.num_nodes(); ++i) {
      ExpectSameNode(state.view().node(i), before.node(i));
      EXPECT_EQ(state.view().node_version(i), before.node_version(i));
    }
  }
}

TEST(ClusterStateTest, AcceptsDisjointMigInstancesAndOneMeInstancePerGpu) {
  ClusterState state(TwoNodeCluster());
  // 3g@0 covers slots 0-3, 3g@4 slots 4-7: disjoint.
  EXPECT_TRUE(state.Apply(AssignMig(1, 0, k3g, 0)).ok());
  EXPECT_TRUE(state.Apply(AssignMig(1, 0, k3g, 4)).ok());
  EXPECT_EQ(state.view().node(1).mig_used_slots[0], 0xFF);
  // One +me instance on each MIG GPU is fine.
  EXPECT_TRUE(state.Apply(AssignMig(1, 1, k1gMe, 0)).ok());
  EXPECT_EQ(state.view().node(1).mig_media_used, 0b010u);
  // A plain 1g next to the +me one on the same GPU is fine as well.
  EXPECT_TRUE(state.Apply(AssignMig(1, 1, k1g, 1)).ok());
  EXPECT_EQ(state.view().node(1).mig_used_slots[1], 0b11);
  // Releasing the +me instance clears the GPU's +me flag, so another +me instance fits.
  EXPECT_TRUE(state.Release(AssignMig(1, 1, k1gMe, 0)).ok());
  EXPECT_EQ(state.view().node(1).mig_media_used, 0u);
  EXPECT_TRUE(state.Apply(AssignMig(1, 1, k1gMe, 2)).ok());
}

TEST(ClusterStateTest, TracksUsedMilliPodClassesAndVersions) {
  struct Expect {
    int64_t used;                 // ClusterSnapshot::gpu_used_milli.
    int node;                     // Node checked below.
    int32_t pods;                 // That node's pods.
    int16_t share, two, mig;      // pods_by_gpu_class[0], [2], [17] of that node.
    std::array<int16_t, 3> free;  // gpu_free_milli[0..2] of that node.
  };
  const struct {
    std::string name;
    bool release;
    Assignment a;
    Expect want;
  } steps[] = {
      // Node 0 (4 V100): 2 whole GPUs = 2000 milli.
      {"whole GPUs 0,1", false, Whole(0, 0b0011), {2000, 0, 1, 0, 1, 0, {0, 0, 1000}}},
      // + 300 = 2300.
      {"share 300 on GPU 2", false, Share(0, 2, 300), {2300, 0, 2, 1, 1, 0, {0, 0, 700}}},
      // + 200 = 2500; GPU 2 free 700 - 200 = 500.
      {"share 200 on GPU 2", false, Share(0, 2, 200), {2500, 0, 3, 2, 1, 0, {0, 0, 500}}},
      // CPU-only: a pod, but no GPU class and no milli.
      {"cpu only", false, Cpu(0, 100), {2500, 0, 4, 2, 1, 0, {0, 0, 500}}},
      // Node 1 (A100, GPU 0 MIG): 1g@0 uses 1 of 7 compute slices, free = 1000 * 6 / 7 = 857
      // (integer), so used grows by 1000 - 857 = 143 -> 2643.
      {"MIG 1g@0", false, AssignMig(1, 0, k1g, 0), {2643, 1, 1, 0, 0, 1, {857, 1000, 1000}}},
      // 2g@2: slots {0, 2, 3} used, 4 compute slices free: 1000 * 4 / 7 = 571; used grows by
      // 857 - 571 = 286 -> 2929.
      {"MIG 2g@2", false, AssignMig(1, 0, k2g, 2), {2929, 1, 2, 0, 0, 2, {571, 1000, 1000}}},
      // Node 0 again: releasing the 300 share: 2929 - 300 = 2629, GPU 2 back to 800.
      {"release share 300", true, Share(0, 2, 300), {2629, 0, 3, 1, 1, 0, {0, 0, 800}}},
      // Releasing 2 whole GPUs: 2629 - 2000 = 629.
      {"release whole GPUs", true, Whole(0, 0b0011), {629, 0, 2, 1, 0, 0, {1000, 1000, 800}}},
  };
  ClusterState state(TwoNodeCluster());
  // Node 0 has 4 GPUs, node 1 has 3: 7000 milli in all.
  EXPECT_EQ(state.view().gpu_capacity_milli(), 7000);
  uint64_t version = 0;
  std::array<uint64_t, 2> node_version{state.view().node_version(0), state.view().node_version(1)};
  for (const auto& tc : steps) {
    SCOPED_TRACE(tc.name);
    ASSERT_TRUE((tc.release ? state.Release(tc.a) : state.Apply(tc.a)).ok());
    ++version;
    const ClusterSnapshot& s = state.view();
    // The changed node gets a new version (larger: drawn from one increasing counter); the other
    // keeps its own.
    const size_t changed = static_cast<size_t>(tc.a.node);
    EXPECT_GT(s.node_version(tc.a.node), node_version[changed]);
    node_version[changed] = s.node_version(tc.a.node);
    EXPECT_EQ(s.gpu_used_milli(), tc.want.used);
    EXPECT_EQ(s.version(), version);
    EXPECT_EQ(s.node_version(0), node_version[0]);
    EXPECT_EQ(s.node_version(1), node_version[1]);
    const NodeInfo& n = s.node(tc.want.node);
    EXPECT_EQ(n.pods, tc.want.pods);
    EXPECT_EQ(n.pods_by_gpu_class[kShareClass], tc.want.share);
    EXPECT_EQ(n.pods_by_gpu_class[2], tc.want.two);
    EXPECT_EQ(n.pods_by_gpu_class[kMigClass], tc.want.mig);
    for (int g = 0; g < 3; ++g) {
      SCOPED_TRACE(g);
      EXPECT_EQ(n.gpu_free_milli[g], tc.want.free[static_cast<size_t>(g)]);
    }
    // The used total is always the capacity minus every node's free milli.
    int64_t free_total = 0;
    for (const NodeInfo& node : s.nodes()) {
      free_total += node.GpuFreeMilliTotal();
    }
    EXPECT_EQ(s.gpu_used_milli(), s.gpu_capacity_milli() - free_total);
  }
}

TEST(ClusterStateTest, WholeGpusTakeAndGiveBackGpuMemory) {
  ClusterState state(TwoNodeCluster());
  ASSERT_TRUE(state.Apply(Whole(0, 0b0101)).ok());
  EXPECT_EQ(state.view().node(0).gpu_free_memory_mib[0], 0);
  EXPECT_EQ(state.view().node(0).gpu_free_memory_mib[1], 16000);
  EXPECT_EQ(state.view().node(0).gpu_free_memory_mib[2], 0);
  EXPECT_EQ(state.view().node(0).WholeFreeGpus(), 0b1010u);
  ASSERT_TRUE(state.Release(Whole(0, 0b0101)).ok());
  EXPECT_EQ(state.view().node(0).gpu_free_memory_mib[0], 16000);
  EXPECT_EQ(state.view().node(0).gpu_free_memory_mib[2], 16000);
}

TEST(ClusterStateTest, SnapshotIsAnIndependentCopy) {
  ClusterState state(TwoNodeCluster());
  ASSERT_TRUE(state.Apply(Cpu(0, 1000)).ok());
  std::shared_ptr<const ClusterSnapshot> snap = state.Snapshot();
  ASSERT_TRUE(state.Apply(Cpu(0, 2000)).ok());
  // The copy still shows 8000 - 1000 = 7000 free; the live view 8000 - 3000 = 5000.
  EXPECT_EQ(snap->node(0).cpu_free_milli, 7000);
  EXPECT_EQ(snap->version(), 1u);
  EXPECT_EQ(state.view().node(0).cpu_free_milli, 5000);
  EXPECT_EQ(state.view().version(), 2u);
}

TEST(ClusterStateTest, DebugStringNamesTheDevices) {
  EXPECT_EQ(DebugString(WithCpu(Whole(3, 0b101), 10, 20)), "node=3 gpus=[0,2] cpu=10m mem=20MiB");
  EXPECT_EQ(DebugString(Share(1, 2, 250, 512)),
            "node=1 gpus=[2] share=250m/512MiB cpu=0m mem=0MiB");
  EXPECT_EQ(DebugString(AssignMig(0, 1, k3g, 4)), "node=0 gpus=[1] mig=9@4 cpu=0m mem=0MiB");
}

// Regression (found by this suite, fixed): ClusterState::Check (the share branch,
// "not enough free GPU memory"). NodeSpec::gpu_memory_mib documents 0 as "unknown (memory then
// never limits a share)", and ShareCandidates (fit.cc) indeed ignores GPU memory on such a node,
// so the filter accepts a share pod with gpu_memory_mib > 0 and DefaultAssignment copies
// gpu_memory_mib into the Assignment. Apply then compares it with gpu_free_memory_mib, which is
// 0 on that node, and rejects the very assignment the solver just produced.
TEST(ClusterStateTest, AppliesAShareWithGpuMemoryOnANodeWithUnknownGpuMemory) {
  ClusterSnapshotBuilder b;
  b.AddNode(Node("unknown-mem").Cpu(8000).Mem(8000).Model("T4").Gpus(1).GpuMem(0));
  absl::StatusOr<ClusterSnapshot> snap = std::move(b).Build();
  ASSERT_TRUE(snap.ok()) << snap.status();
  PodRequest pod;
  pod.cpu_milli = 100;
  pod.gpu_milli = 500;
  pod.gpu_memory_mib = 4000;
  ASSERT_TRUE(pod.Validate().ok());
  // The filter side says GPU 0 can take the share (memory does not limit it on this node).
  ASSERT_EQ(ShareCandidates(pod, snap->node(0)), 0b1u);
  // The default allocator (what every baseline policy reserves) hands out GPU 0 with the memory.
  const std::optional<Assignment> a = DefaultAssignment(pod, snap->node(0), 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, WithCpu(Share(0, 0, 500, 4000), 100, 0));
  ClusterState state(*std::move(snap));
  const absl::Status st = state.Apply(*a);
  EXPECT_TRUE(st.ok()) << st;
}

}  // namespace
}  // namespace accelsched::plugins
