#include "plugins/framework/fit.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/snapshot.h"
#include "tests/testing/builders.h"
#include "topology/profiles.h"

namespace accelsched::plugins {
namespace {

// A100-80GB MIG profile IDs (topology/mig/mig.cc): 19 = 1g, 20 = 1g+me, 9 = 3g (starts 0, 4),
// 0 = 7g (start 0).
constexpr int k1g = 19;
constexpr int k1gMe = 20;
constexpr int k3g = 9;
constexpr int k7g = 0;

using ::accelsched::testing::Assign;
using ::accelsched::testing::AssignMig;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

std::shared_ptr<const NodeTopology> Dgx1() {
  static const std::shared_ptr<const NodeTopology> topo = [] {
    absl::StatusOr<topology::Topology> t = topology::BuiltinProfile("dgx1-v100");
    EXPECT_TRUE(t.ok()) << t.status();
    absl::StatusOr<std::shared_ptr<const NodeTopology>> nt = NodeTopology::Create(*std::move(t));
    EXPECT_TRUE(nt.ok()) << nt.status();
    return *nt;
  }();
  return topo;
}

// The NodeInfo with exactly the GPUs in `free` entirely free and the others fully used.
NodeInfo WithFreeMask(NodeInfo n, GpuMask free) {
  for (int i = 0; i < n.gpu_count; ++i) {
    n.gpu_free_milli[i] = ((free >> i) & 1u) ? 1000 : 0;
  }
  return n;
}

// ---- CheckFit -----------------------------------------------------------------------------------

TEST(CheckFitTest, ReasonsAndResolvability) {
  // Node 0 "v100": 8000m CPU, 32000 MiB, 4 x V100 16000 MiB. After the setup: 2000m CPU and
  // 2000 MiB free; GPUs 0,1 whole-used; GPU 2 share 700 with 1000 MiB (300 milli, 15000 MiB free);
  // GPU 3 share 200 with 10000 MiB (800 milli, 6000 MiB free).
  // Node 1 "cpu": 8000m CPU, no GPUs.
  // Node 2 "mig": 2 x A100-80GB, both in MIG mode; GPU 0 holds 7g@0 (full), GPU 1 holds 3g@0
  // (slots 0-3), so a 3g still fits at start 4 and a 4g (start 0 only) nowhere.
  // Node 3 "a100": 1 x A100-80GB, MIG off, no topology.
  // Node 4 "dgx1": 8 x V100 with the DGX-1 topology, only GPUs 0 and 5 free (no NVLink between
  // them: DESIGN section 11 lists 0-5 as SYS).
  ClusterState state(BuildSnapshot(
      {Node("v100").Cpu(8000).Mem(32000).Gpus(4, "V100", 16000), Node("cpu").Cpu(8000).Mem(8000),
       Node("mig").Cpu(8000).Mem(8000).Gpus(2, "A100-80GB", 81920).Mig(0b11),
       Node("a100").Cpu(8000).Mem(8000).Gpus(1, "A100-80GB", 81920),
       Node("dgx1").Cpu(8000).Mem(8000).Gpus(8, "V100", 16000).Topo(Dgx1())}));
  ASSERT_TRUE(state.Apply(Assign(0, 0b0011, 0, 0, 6000, 30000)).ok());
  ASSERT_TRUE(state.Apply(Assign(0, 0b0100, 700, 1000)).ok());
  ASSERT_TRUE(state.Apply(Assign(0, 0b1000, 200, 10000)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(2, 0, k7g, 0)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(2, 1, k3g, 0)).ok());
  ASSERT_TRUE(state.Apply(Assign(4, 0b11011110)).ok());
  const ClusterSnapshot& snap = state.view();
  // Model indices: V100 = 0, A100-80GB = 1.
  ASSERT_EQ(snap.ModelIndex("V100"), 0);

  constexpr uint64_t kAll = ~uint64_t{0};
  const struct {
    std::string name;
    PodRequest pod;
    NodeIndex node;
    uint64_t allowed_models;
    bool fits;
    bool unresolvable;
    std::string reason;  // Contained in the reason when it does not fit.
  } cases[] = {
      {"share fits the 800-milli GPU", Pod().Cpu(1000).Share(800), 0, kAll, true, false, ""},
      {"CPU over capacity", Pod().Cpu(9000), 0, kAll, false, true,
       "pod asks 9000m CPU, more than the node has in all"},
      {"memory over capacity", Pod().Mem(33000), 0, kAll, false, true,
       "pod asks 33000 MiB memory, more than the node has in all"},
      {"CPU over what is free", Pod().Cpu(3000), 0, kAll, false, false,
       "insufficient CPU: less than the pod's 3000m free"},  // 8000 - 6000 = 2000.
      {"memory over what is free", Pod().Mem(2001), 0, kAll, false, false,
       "insufficient memory: less than the pod's 2001 MiB free"},  // 32000 - 30000 = 2000.
      {"GPU pod on a node without GPUs", Pod().Gpus(1), 1, kAll, false, true, "node has no GPUs"},
      {"share on a node without GPUs", Pod().Share(100), 1, kAll, false, true, "node has no GPUs"},
      {"model not allowed", Pod().Share(100), 0, ~uint64_t{1}, false, true,
       "GPU model not allowed by the pod"},
      {"only the other model allowed", Pod().Gpus(1), 3, uint64_t{1}, false, true,
       "GPU model not allowed by the pod"},
      {"more GPUs than the node has", Pod().Gpus(5), 0, kAll, false, true,
       "pod asks 5 whole GPUs, more than the node has outside MIG mode in all"},
      {"whole GPU on an all-MIG node", Pod().Gpus(1), 2, kAll, false, true,
       "pod asks 1 whole GPUs, more than the node has outside MIG mode in all"},
      {"whole GPU but none entirely free", Pod().Gpus(1), 0, kAll, false, false,
       "insufficient GPUs: fewer than 1 entirely free"},
      {"share larger than any free part", Pod().Share(801), 0, kAll, false, false,
       "no GPU has 801 milli-GPU free"},
      // GPU 2 has 300 milli (< 400); GPU 3 has 800 milli but 6000 MiB (< 7000).
      {"share short of GPU memory", Pod().Share(400, 7000), 0, kAll, false, false,
       "no GPU has 400 milli-GPU and 7000 MiB free"},
      // GPU 2: 300 >= 250 milli and 15000 >= 7000 MiB.
      {"share with memory fits GPU 2", Pod().Share(250, 7000), 0, kAll, true, false, ""},
      {"MIG on a model without MIG", Pod().Mig(1), 0, kAll, false, true,
       "no MIG-enabled GPU with a 1g profile"},
      {"MIG on a MIG-capable node with MIG off", Pod().Mig(1), 3, kAll, false, true,
       "no MIG-enabled GPU with a 1g profile"},
      {"MIG shape the model lacks (3g+me)",
       Pod().Mig(3, /*double_memory=*/false, /*media_extensions=*/true), 2, kAll, false, true,
       "no MIG-enabled GPU with a 3g+me profile"},
      {"MIG 3g fits at start 4", Pod().Mig(3), 2, kAll, true, false, ""},
      // The models of a MIG pod that names none come from its profile: the reason says so
      // (issue 16, finding 5), and names the pod's own list only when it has one.
      {"MIG pod on a model without its profile", Pod().Mig(1).Models({"A100-80GB", "H100-80GB"}), 0,
       uint64_t{2}, false, true, "the pod's MIG profile exists only on A100-80GB, H100-80GB"},
      {"MIG pod with its own model list", Pod().Mig(1).Models({"A100-80GB"}).ModelsFromPod(), 0,
       uint64_t{2}, false, true,
       "GPU model not allowed: the pod's MIG profile and its accelsched.io/gpu-models allow only "
       "A100-80GB"},
      {"MIG 4g has no free start", Pod().Mig(4), 2, kAll, false, false,
       "no MIG-enabled GPU has a free legal start for a 4g instance"},
      {"share on an all-MIG node", Pod().Share(100), 2, kAll, false, true,
       "every GPU is in MIG mode; a share needs a non-MIG GPU"},
      {"CPU-only pod ignores GPUs and models", Pod().Cpu(100), 2, 0, true, false, ""},
      {"required NVLink without a topology", Pod().Gpus(1).Nvlink(TopologyPreference::kRequired), 3,
       kAll, false, true,
       "no set of 1 GPUs of this node can ever meet the NVLink requirement (node topology "
       "unknown)"},
      {"close NIC without a topology", Pod().Gpus(1).Nic(), 3, kAll, false, true,
       "the close-NIC requirement (node topology unknown)"},
      {"preferred NVLink without a topology", Pod().Gpus(1).Nvlink(TopologyPreference::kPreferred),
       3, kAll, true, false, ""},
      {"required NVLink, free GPUs 0 and 5 not linked",
       Pod().Gpus(2).Nvlink(TopologyPreference::kRequired), 4, kAll, false, false,
       "no set of 2 free GPUs meets the NVLink requirement"},
      {"preferred NVLink, free GPUs 0 and 5", Pod().Gpus(2).Nvlink(TopologyPreference::kPreferred),
       4, kAll, true, false, ""},
      {"required NVLink, one GPU is a ring", Pod().Gpus(1).Nvlink(TopologyPreference::kRequired), 4,
       kAll, true, false, ""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    for (bool explain : {true, false}) {
      SCOPED_TRACE(explain ? "explain" : "no explain");
      CycleState cs;
      cs.allowed_models = tc.allowed_models;
      cs.explain = explain;
      std::optional<FitProblem> got = CheckFit(cs, tc.pod, snap.node(tc.node));
      ASSERT_EQ(!got.has_value(), tc.fits) << (got ? got->reason : "fits");
      if (got.has_value()) {
        EXPECT_EQ(got->unresolvable, tc.unresolvable);
        if (explain) {
          EXPECT_TRUE(absl::StrContains(std::string(got->reason), tc.reason)) << got->reason;
        } else {
          EXPECT_EQ(got->reason, "");
        }
      }
    }
  }
}

// Regression (found by this suite, fixed): fit.h promises `unresolvable` "when freeing resources
// on the node cannot help (capacity too small, ...)". A share asking for more GPU memory than a
// GPU of the node has in all (known capacity) can never fit there, yet the share branch reports
// it as unschedulable ("no GPU has ... free"), so preemption would be tried in vain.
TEST(CheckFitTest, ShareAskingMoreGpuMemoryThanCapacityIsUnresolvable) {
  ClusterSnapshot snap = BuildSnapshot({Node("v").Cpu(8000).Mem(8000).Gpus(2, "V100", 16000)});
  CycleState cs;
  // Empty node; 16001 MiB > 16000 MiB per GPU, so no amount of freeing helps.
  std::optional<FitProblem> got = CheckFit(cs, Pod().Share(100, 16001), snap.node(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->unresolvable) << got->reason;
}

// Regression (found by this suite, fixed): CheckFit (the topology-constraint branch passed
// `node.topology == nullptr` as `unresolvable`). On a node whose topology is known to have no
// NVLink at all (generic PCIe box), a required-NVLink 2-GPU pod can never fit, even on the empty
// node, but the verdict is unschedulable, against fit.h's contract for `unresolvable`.
TEST(CheckFitTest, RequiredNvlinkOnATopologyWithoutNvlinkIsUnresolvable) {
  absl::StatusOr<std::shared_ptr<const NodeTopology>> pcie =
      NodeTopology::Create(topology::GenericPcieTopology(4));
  ASSERT_TRUE(pcie.ok()) << pcie.status();
  ClusterSnapshot snap = BuildSnapshot({Node("p").Cpu(8000).Mem(8000).Gpus(4, "L4").Topo(*pcie)});
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) {
      ASSERT_EQ((*pcie)->topology.NvlinkCount(a, b), 0);
    }
  }
  CycleState cs;
  std::optional<FitProblem> got =
      CheckFit(cs, Pod().Gpus(2).Nvlink(TopologyPreference::kRequired), snap.node(0));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->unresolvable) << got->reason;
}

// kube-scheduler counts failing nodes by identical reason text, so two nodes short of GPUs by
// different amounts must give the same reason, and the cycle keeps that text once.
TEST(CheckFitTest, NodesShortByDifferentAmountsShareOneInternedReason) {
  ClusterState state(BuildSnapshot({Node("a").Cpu(8000).Mem(8000).Gpus(8, "H100-80GB"),
                                    Node("b").Cpu(8000).Mem(8000).Gpus(8, "H100-80GB"),
                                    Node("c").Cpu(4000).Mem(8000).Gpus(8, "H100-80GB")}));
  ASSERT_TRUE(state.Apply(Assign(0, 0b00001111)).ok());              // 4 free.
  ASSERT_TRUE(state.Apply(Assign(1, 0b00000001, 0, 0, 1000)).ok());  // 7 free, 7000m CPU free.
  ASSERT_TRUE(state.Apply(Assign(2, 0b01111111)).ok());              // 1 free.
  CycleState cs;
  const PodRequest pod = Pod().Cpu(2000).Gpus(8);
  std::optional<FitProblem> a = CheckFit(cs, pod, state.view().node(0));
  std::optional<FitProblem> b = CheckFit(cs, pod, state.view().node(1));
  std::optional<FitProblem> c = CheckFit(cs, pod, state.view().node(2));
  ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
  EXPECT_EQ(a->reason, "insufficient GPUs: fewer than 8 entirely free");
  EXPECT_EQ(a->reason.data(), b->reason.data());  // One text, not a copy per node.
  EXPECT_EQ(a->reason.data(), c->reason.data());
  EXPECT_FALSE(a->unresolvable || b->unresolvable || c->unresolvable);
  // A different shortfall is a different text; a new cycle has its own copy.
  const PodRequest big_cpu = Pod().Cpu(5000).Gpus(1);
  std::optional<FitProblem> d = CheckFit(cs, big_cpu, state.view().node(2));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, "pod asks 5000m CPU, more than the node has in all");
  CycleState other;
  std::optional<FitProblem> e = CheckFit(other, pod, state.view().node(0));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->reason, a->reason);
  EXPECT_NE(e->reason.data(), a->reason.data());
}

// ---- ShareCandidates ----------------------------------------------------------------------------

TEST(ShareCandidatesTest, ChecksMilliGpuMemoryAndMig) {
  // Node 0: 4 x V100 16000 MiB. GPU 0: 500 milli / 4000 MiB free; GPU 1: 800 / 15000;
  // GPU 2: 1000 / 16000; GPU 3: 100 / 15900.
  // Node 1: 2 GPUs with unknown GPU memory (0), empty.
  // Node 2: 2 x A100-80GB, GPU 0 in MIG mode (unused, shows 1000 milli).
  ClusterState state(BuildSnapshot({Node("v").Cpu(1000).Gpus(4, "V100", 16000),
                                    Node("u").Cpu(1000).Gpus(2, "T4", 0),
                                    Node("m").Cpu(1000).Gpus(2, "A100-80GB", 81920).Mig(0b01)}));
  ASSERT_TRUE(state.Apply(Assign(0, 0b0001, 500, 12000)).ok());
  ASSERT_TRUE(state.Apply(Assign(0, 0b0010, 200, 1000)).ok());
  ASSERT_TRUE(state.Apply(Assign(0, 0b1000, 900, 100)).ok());
  const ClusterSnapshot& snap = state.view();
  const struct {
    std::string name;
    PodRequest pod;
    NodeIndex node;
    GpuMask want;
  } cases[] = {
      {"300 milli, no memory: GPU 3 (100) too small", Pod().Share(300), 0, 0b0111},
      {"300 milli and 8000 MiB: GPU 0 (4000 MiB) out", Pod().Share(300, 8000), 0, 0b0110},
      {"100 milli and 15900 MiB: GPU 1 (15000 MiB) and GPU 0 out", Pod().Share(100, 15900), 0,
       0b1100},  // GPU 3 has exactly 15900 MiB and exactly 100 milli: >= fits.
      {"801 milli: only the empty GPU", Pod().Share(801), 0, 0b0100},
      {"memory above capacity: none", Pod().Share(1, 16001), 0, 0},
      {"unknown GPU memory never limits", Pod().Share(300, 99999), 1, 0b11},
      {"MIG GPU never takes a share", Pod().Share(100), 2, 0b10},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(ShareCandidates(tc.pod, snap.node(tc.node)), tc.want);
  }
}

// ---- MIG helpers --------------------------------------------------------------------------------

TEST(MigCandidatesTest, NeedsMigModeAFreeStartAndAtMostOneMeInstance) {
  // 3 x A100-80GB, GPUs 0 and 1 in MIG mode, GPU 2 not. GPU 0 holds 1g+me@0 and 3g@4; GPU 1
  // holds 7g@0 (full).
  ClusterState state(BuildSnapshot({Node("m").Cpu(1000).Gpus(3, "A100-80GB", 81920).Mig(0b011)}));
  ASSERT_TRUE(state.Apply(AssignMig(0, 0, k1gMe, 0)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(0, 0, k3g, 4)).ok());
  ASSERT_TRUE(state.Apply(AssignMig(0, 1, k7g, 0)).ok());
  const NodeInfo& node = state.view().node(0);
  const struct {
    std::string name;
    MigRequest request;
    bool has_profile;
    int want_id;
    GpuMask want;
  } cases[] = {
      // GPU 0 slots 1..3 are free: a 1g fits at 1.
      {"1g on GPU 0", MigRequest{1, false, false}, true, k1g, 0b001},
      // GPU 0 already has a +me instance; GPU 1 is full; GPU 2 is not in MIG mode.
      {"1g+me nowhere", MigRequest{1, false, true}, true, k1gMe, 0},
      // 3g starts 0 or 4: slot 0 and slots 4-7 are taken on GPU 0.
      {"3g nowhere", MigRequest{3, false, false}, true, k3g, 0},
      // 1g.20gb (two slots) starts 0,2,4,6: start 2 (slots 2,3) is free on GPU 0.
      {"1g double memory on GPU 0", MigRequest{1, true, false}, true, 15, 0b001},
      {"5g does not exist", MigRequest{5, false, false}, false, -1, 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const topology::mig::MigProfile* p = MigProfileFor(tc.request, node);
    ASSERT_EQ(p != nullptr, tc.has_profile);
    if (p == nullptr) {
      continue;
    }
    EXPECT_EQ(p->id, tc.want_id);
    EXPECT_EQ(MigCandidates(*p, node), tc.want);
  }
  // Without a geometry there is no profile at all.
  ClusterSnapshot v100 = BuildSnapshot({Node("v").Gpus(1, "V100")});
  EXPECT_EQ(MigProfileFor(MigRequest{1, false, false}, v100.node(0)), nullptr);
}

// ---- BestWholeGpuSet ----------------------------------------------------------------------------

TEST(BestWholeGpuSetTest, WithoutTopologyTakesTheLowestFreeGpus) {
  ClusterSnapshot snap =
      BuildSnapshot({Node("g8").Gpus(8, "V100"), Node("m4").Gpus(4, "A100-80GB").Mig(0b0101)});
  const struct {
    std::string name;
    PodRequest pod;
    NodeIndex node;
    GpuMask free;  // Only used for node 0.
    std::optional<GpuMask> want;
  } cases[] = {
      {"3 of 8 free", Pod().Gpus(3), 0, 0xFF, 0b111},
      {"2 with 0 and 2 used", Pod().Gpus(2), 0, 0b11111010, 0b1010},
      {"4 with 1..3 used", Pod().Gpus(4), 0, 0b11110001, 0b1110001},
      {"all 8", Pod().Gpus(8), 0, 0xFF, 0xFF},
      {"more than free", Pod().Gpus(3), 0, 0b10010000, std::nullopt},
      {"preferred NVLink is only a preference",
       Pod().Gpus(2).Nvlink(TopologyPreference::kPreferred), 0, 0b10010000, 0b10010000},
      {"required NVLink needs a topology", Pod().Gpus(1).Nvlink(TopologyPreference::kRequired), 0,
       0xFF, std::nullopt},
      {"close NIC needs a topology", Pod().Gpus(1).Nic(), 0, 0xFF, std::nullopt},
      {"same NUMA needs a topology", Pod().Gpus(1).Numa(), 0, 0xFF, std::nullopt},
      {"MIG GPUs 0 and 2 are skipped", Pod().Gpus(2), 1, 0, 0b1010},
      {"no GPUs asked", Pod().Cpu(1), 0, 0xFF, std::nullopt},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const NodeInfo node = tc.node == 0 ? WithFreeMask(snap.node(0), tc.free) : snap.node(tc.node);
    EXPECT_EQ(BestWholeGpuSet(tc.pod, node), tc.want);
  }
}

// The DGX-1 V100 NVLink table of DESIGN section 11 ("DGX-1 V100 links"), by pair.
int DesignDgx1Links(int a, int b) {
  if (a > b) {
    std::swap(a, b);
  }
  const std::pair<int, int> nv2[] = {{0, 3}, {0, 4}, {1, 2}, {1, 5},
                                     {2, 3}, {4, 7}, {5, 6}, {6, 7}};
  const std::pair<int, int> nv1[] = {{0, 1}, {0, 2}, {1, 3}, {2, 6},
                                     {3, 7}, {4, 5}, {4, 6}, {5, 7}};
  for (auto [x, y] : nv2) {
    if (x == a && y == b) {
      return 2;
    }
  }
  for (auto [x, y] : nv1) {
    if (x == a && y == b) {
      return 1;
    }
  }
  return 0;
}

TEST(Dgx1TopologyTest, NvlinkCountsMatchTheDesignTable) {
  const topology::Topology& t = Dgx1()->topology;
  ASSERT_EQ(t.num_gpus(), 8);
  for (int a = 0; a < 8; ++a) {
    for (int b = 0; b < 8; ++b) {
      if (a == b) {
        continue;
      }
      SCOPED_TRACE(::testing::Message() << a << "-" << b);
      EXPECT_EQ(t.NvlinkCount(a, b), DesignDgx1Links(a, b));
    }
  }
}

// Independent oracle: can the members of `set` be ordered in a ring whose every hop (including
// the closing one) has NvlinkCount > 0? Tries every ordering with the lowest member fixed first.
bool RingOracle(const topology::Topology& t, GpuMask set) {
  std::vector<int> m;
  for (int i = 0; i < t.num_gpus(); ++i) {
    if ((set >> i) & 1u) {
      m.push_back(i);
    }
  }
  if (m.size() <= 1) {
    return !m.empty();
  }
  do {
    bool ok = true;
    for (size_t i = 0; i < m.size() && ok; ++i) {
      ok = t.NvlinkCount(m[i], m[(i + 1) % m.size()]) > 0;
    }
    if (ok) {
      return true;
    }
  } while (std::next_permutation(m.begin() + 1, m.end()));
  return false;
}

// A best set has the best ring bottleneck of any set of its size on the empty node: checked
// against the maximum over every subset of the DGX-1 V100, and by hand (accelsched-topo
// best-set --profile dgx1-v100): GPUs 1 and 2 share two NVLinks (50 GB/s), 0 and 1 one (25).
TEST(IsBestSetTest, MatchesTheBestRingOfEverySubsetOfItsSize) {
  const NodeTopology& topo = *Dgx1();
  std::array<uint32_t, 9> best_ring{};
  for (GpuMask s = 1; s < 256; ++s) {
    const size_t k = static_cast<size_t>(std::popcount(s));
    best_ring[k] = std::max(best_ring[k], topo.search.Quality(s).ring_mbps);
  }
  int best_sets = 0;
  for (GpuMask s = 1; s < 256; ++s) {
    SCOPED_TRACE(s);
    const bool want =
        topo.search.Quality(s).ring_mbps == best_ring[static_cast<size_t>(std::popcount(s))];
    EXPECT_EQ(IsBestSet(topo, s), want);
    best_sets += want;
  }
  EXPECT_LT(best_sets, 255);  // Not every set is best on this topology.
  EXPECT_TRUE(IsBestSet(topo, 0b0110));
  EXPECT_FALSE(IsBestSet(topo, 0b0011));
  EXPECT_FALSE(IsBestSet(topo, 0));
}

TEST(IsNvlinkRingTest, MatchesBruteForceOnEveryDgx1Subset) {
  const NodeTopology& topo = *Dgx1();
  int rings = 0;
  for (GpuMask s = 1; s < 256; ++s) {
    SCOPED_TRACE(s);
    const bool want = RingOracle(topo.topology, s);
    EXPECT_EQ(IsNvlinkRing(topo, s), want);
    rings += want;
  }
  // Sanity of the oracle itself: every single GPU and every NV pair of the table are rings
  // (8 + 16), quad 0-3 is all-to-all, and 0-3-2-1-5-6-7-4 closes the 8-GPU ring.
  EXPECT_GT(rings, 8 + 16);
  EXPECT_TRUE(RingOracle(topo.topology, 0x0F));
  EXPECT_TRUE(RingOracle(topo.topology, 0xFF));
  EXPECT_FALSE(RingOracle(topo.topology, 0b00100001));  // 0-5: no NVLink.
  // 0,1,4,5: 0-1, 1-5, 5-4, 4-0 are all NVLink, so a ring.
  EXPECT_TRUE(RingOracle(topo.topology, 0b00110011));
  // 0,1,6: 0-6 and 1-6 have no NVLink.
  EXPECT_FALSE(RingOracle(topo.topology, 0b01000011));
}

TEST(BestWholeGpuSetTest, RequiredNvlinkOnDgx1MatchesBruteForceForEveryFreeMask) {
  ClusterSnapshot snap =
      BuildSnapshot({Node("dgx1").Cpu(1000).Gpus(8, "V100", 16000).Topo(Dgx1())});
  const topology::Topology& t = Dgx1()->topology;
  int feasible = 0;
  int infeasible = 0;
  for (GpuMask free = 0; free < 256; ++free) {
    const NodeInfo node = WithFreeMask(snap.node(0), free);
    ASSERT_EQ(node.WholeFreeGpus(), free);
    for (int k = 2; k <= 4; ++k) {
      SCOPED_TRACE(::testing::Message() << "free=" << free << " k=" << k);
      bool exists = false;
      for (GpuMask s = free; s != 0 && !exists; s = (s - 1) & free) {
        exists = std::popcount(s) == k && RingOracle(t, s);
      }
      const PodRequest pod = Pod().Gpus(k).Nvlink(TopologyPreference::kRequired);
      const std::optional<GpuMask> got = BestWholeGpuSet(pod, node);
      ASSERT_EQ(got.has_value(), exists);
      exists ? ++feasible : ++infeasible;
      if (got.has_value()) {
        EXPECT_EQ(*got & ~free, 0u);
        EXPECT_EQ(std::popcount(*got), k);
        EXPECT_TRUE(RingOracle(t, *got));
      }
      // The filter agrees, and an NVLink shortfall with a known topology is unschedulable as
      // long as enough GPUs are free (it is "insufficient GPUs" otherwise; both resolvable).
      CycleState cs;
      std::optional<FitProblem> fit = CheckFit(cs, pod, node);
      EXPECT_EQ(!fit.has_value(), exists);
      if (fit.has_value()) {
        EXPECT_FALSE(fit->unresolvable);
      }
      // Without the requirement any k free GPUs do.
      const std::optional<GpuMask> any = BestWholeGpuSet(Pod().Gpus(k), node);
      ASSERT_EQ(any.has_value(), std::popcount(free) >= k);
      if (any.has_value()) {
        EXPECT_EQ(*any & ~free, 0u);
        EXPECT_EQ(std::popcount(*any), k);
      }
    }
  }
  // Both outcomes occur: 0xFF has a ring for every k; {0, 5} has none for k = 2.
  EXPECT_GT(feasible, 0);
  EXPECT_GT(infeasible, 0);
}

TEST(BaseAssignmentTest, CarriesCpuAndMemoryOnly) {
  const Assignment a = BaseAssignment(Pod().Cpu(1500).Mem(2048).Share(300, 100), 7);
  EXPECT_EQ(a, Assign(7, 0, 0, 0, 1500, 2048));
}

}  // namespace
}  // namespace accelsched::plugins
