// SolverMemo against its oracle, the Solver itself: after every random change to the cluster,
// the memo's filter verdicts (with their reasons) and score totals must equal a fresh
// PreFilter + Filter + Score, for every policy, while the memo really reuses results.
#include "plugins/framework/memo.h"

#include <array>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "plugins/baselines/baselines.h"
#include "plugins/policy.h"
#include "tests/testing/builders.h"
#include "topology/profiles.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using ::accelsched::testing::Shape;

std::shared_ptr<const NodeTopology> Builtin(const char* name) {
  absl::StatusOr<topology::Topology> t = topology::BuiltinProfile(name);
  EXPECT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::shared_ptr<const NodeTopology>> nt = NodeTopology::Create(*std::move(t));
  EXPECT_TRUE(nt.ok()) << nt.status();
  return *nt;
}

// `n` nodes cycling through DGX-1 V100 (NVLink topology), A100 with MIG on half its GPUs,
// 2-GPU T4 without topology and CPU-only nodes; `salt` varies the capacities so that two
// clusters differ.
ClusterSnapshot MixedCluster(int n, int salt) {
  static const std::shared_ptr<const NodeTopology> dgx1 = Builtin("dgx1-v100");
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < n; ++i) {
    const std::string name = "n" + std::to_string(i);
    const int64_t cpu = 16000 + 8000 * ((i + salt) % 3);
    switch (i % 4) {
      case 0:
        nodes.push_back(Node(name).Cpu(cpu).Mem(256000).Gpus(8, "V100", 16000).Topo(dgx1));
        break;
      case 1:
        nodes.push_back(Node(name).Cpu(cpu).Mem(256000).Gpus(4, "A100-80GB", 81920).Mig(0b11));
        break;
      case 2:
        nodes.push_back(Node(name).Cpu(cpu).Mem(64000).Gpus(2, "T4", 15360));
        break;
      default:
        nodes.push_back(Node(name).Cpu(cpu).Mem(32000));
    }
  }
  return BuildSnapshot(nodes);
}

// A handful of shapes, so that the memo sees each many times; names differ per call (the
// memo must ignore them).
PodRequest RandomPod(std::mt19937_64& rng) {
  const std::string name = "ns/pod-" + std::to_string(rng() % 1000);
  switch (rng() % 8) {
    case 0:
      return Pod(name).Cpu(4000).Gpus(1);
    case 1:
      return Pod(name).Cpu(8000).Gpus(4).Nvlink(TopologyPreference::kPreferred);
    case 2:
      return Pod(name).Cpu(8000).Gpus(2).Nvlink(TopologyPreference::kRequired);
    case 3:
      return Pod(name).Cpu(2000).Share(300, 4000);
    case 4:
      return Pod(name).Cpu(1000).Mig(1);
    case 5:
      return Pod(name).Cpu(1000).Mig(3);
    case 6:
      return Pod(name).Cpu(12000).Mem(20000);
    default:
      return Pod(name).Cpu(2000).Gpus(1).Models({"T4"});
  }
}

WorkloadModel Workload() {
  WorkloadModel w;
  w.shapes = {Shape(4000, 1, 0, 0.4), Shape(2000, 1, 300, 0.3), Shape(8000, 4, 0, 0.2),
              Shape(1000, 0, 0, 0.1)};
  return w;
}

// The oracle's answer and the memo's must agree in every field.
void ExpectSameAsSolver(const Solver& solver, SolverMemo& memo, const PodRequest& pod,
                        const ClusterSnapshot& snapshot, const std::vector<NodeIndex>& candidates) {
  absl::StatusOr<CycleState> state = solver.PreFilter(pod, snapshot, /*explain=*/true);
  ASSERT_TRUE(state.ok()) << state.status();
  absl::StatusOr<CandidateVerdicts> want = solver.Filter(*state, pod, snapshot, candidates);
  ASSERT_TRUE(want.ok()) << want.status();
  absl::StatusOr<SolverMemo::FilterOutcome> got = memo.Filter(pod, snapshot, candidates);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->verdicts.feasible, want->feasible);
  ASSERT_EQ(got->verdicts.verdicts.size(), want->verdicts.size());
  for (size_t k = 0; k < want->verdicts.size(); ++k) {
    EXPECT_EQ(got->verdicts.verdicts[k].feasibility, want->verdicts[k].feasibility);
    EXPECT_EQ(got->verdicts.verdicts[k].reason, want->verdicts[k].reason);
  }
  if (want->feasible.empty()) {
    return;
  }
  absl::StatusOr<std::vector<int64_t>> want_totals =
      solver.Score(*state, pod, snapshot, want->feasible);
  ASSERT_TRUE(want_totals.ok()) << want_totals.status();
  absl::StatusOr<std::vector<int64_t>> got_totals =
      memo.Score(*got, pod, snapshot, got->verdicts.feasible);
  ASSERT_TRUE(got_totals.ok()) << got_totals.status();
  EXPECT_EQ(*got_totals, *want_totals);
}

// With `tenants`, pods belong to one of three namespaces whose isolation changes at random.
constexpr std::array<const char*, 3> kTenants = {"a", "b", "c"};
constexpr std::array<Isolation, 4> kIsolations = {
    Isolation::kShared, Isolation::kMig, Isolation::kExclusiveGpu, Isolation::kExclusiveNode};

PodRequest RandomPod(std::mt19937_64& rng, bool tenants) {
  PodRequest pod = RandomPod(rng);
  if (tenants) {
    pod.tenant = kTenants[rng() % kTenants.size()];
  }
  return pod;
}

// Random steps: place a pod with the solver (the cluster changes on one node), release one,
// change a namespace's isolation (with `tenants`), or ask the memo about a random pod over a
// random subset of the nodes in random order.
void RunRandomSteps(const Solver& solver, SolverMemo& memo, ClusterState& cluster, int steps,
                    std::mt19937_64& rng, bool tenants = false) {
  std::vector<std::pair<Assignment, TenantId>> placed;
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE(step);
    const ClusterSnapshot& view = cluster.view();
    const int op = static_cast<int>(rng() % 10);
    if (op < 3) {
      const PodRequest pod = RandomPod(rng, tenants);
      absl::StatusOr<Placement> p = solver.Place(pod, view, nullptr);
      ASSERT_TRUE(p.ok()) << p.status();
      if (p->assignment.has_value()) {
        const TenantId tenant = tenants ? cluster.Tenant(pod.tenant) : kNoTenant;
        ASSERT_TRUE(cluster.Apply(*p->assignment, tenant).ok());
        placed.emplace_back(*p->assignment, tenant);
      }
    } else if (op < 4 && !placed.empty()) {
      const size_t k = rng() % placed.size();
      ASSERT_TRUE(cluster.Release(placed[k].first, placed[k].second).ok());
      placed.erase(placed.begin() + static_cast<std::ptrdiff_t>(k));
    } else if (op < 5 && tenants) {
      cluster.SetIsolation(kTenants[rng() % kTenants.size()],
                           kIsolations[rng() % kIsolations.size()]);
    } else {
      std::vector<NodeIndex> candidates;
      for (NodeIndex i = 0; i < view.num_nodes(); ++i) {
        if (rng() % 4 != 0) {
          candidates.push_back(i);
        }
      }
      if (rng() % 3 == 0) {
        std::shuffle(candidates.begin(), candidates.end(), rng);
      }
      ExpectSameAsSolver(solver, memo, RandomPod(rng, tenants), view, candidates);
    }
  }
}

TEST(SolverMemoTest, EqualsTheSolverUnderRandomChangesForEveryPolicy) {
  for (std::string_view name : PolicyNames()) {
    SCOPED_TRACE(std::string(name));
    PolicyConfig config;
    config.policy = std::string(name);
    absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(config, Workload());
    ASSERT_TRUE(solver.ok()) << solver.status();
    SolverMemo memo(solver->get(), /*max_shapes=*/16);
    ClusterState cluster(MixedCluster(24, 0));
    std::mt19937_64 rng(7);
    RunRandomSteps(**solver, memo, cluster, 400, rng);
    // A new layout (another node list): the memo must not reuse anything of the old one.
    ClusterState other(MixedCluster(20, 1));
    RunRandomSteps(**solver, memo, other, 150, rng);
    const SolverMemo::Stats s = memo.stats();
    // It did reuse: most nodes are unchanged between two questions about one shape.
    EXPECT_GT(s.filter_hits, s.filter_misses);
    if (name == "accelsched" || name == "fgd" || name == "bestfit") {
      EXPECT_GT(s.score_hits, 0u);
    }
    // One PreFilter per shape and layout: 8 shapes x 2 layouts.
    EXPECT_LE(s.shapes_built, 16u);
  }
}

// Tenancy reads what each namespace holds per node (in the node's version) and the tenant table
// (not per node): an isolation change must reach every memoised verdict.
TEST(SolverMemoTest, EqualsTheSolverWithTenantsWhoseIsolationChanges) {
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(PolicyConfig{}, Workload());
  ASSERT_TRUE(solver.ok()) << solver.status();
  SolverMemo memo(solver->get(), /*max_shapes=*/32);
  ClusterState cluster(MixedCluster(24, 3));
  std::mt19937_64 rng(13);
  RunRandomSteps(**solver, memo, cluster, 600, rng, /*tenants=*/true);
  int restricted_nodes = 0;  // The run really met tenancy: some node refused someone.
  for (const NodeInfo& n : cluster.view().nodes()) {
    restricted_nodes += n.tenants.size() > 1 ? 1 : 0;
  }
  EXPECT_GT(restricted_nodes, 0);
  EXPECT_GT(memo.stats().filter_hits, 0u);
}

// A filter that reads something outside (CycleState, pod, node) and says so: the memo must ask
// it every time.
class OutsideFilter final : public FilterPlugin {
 public:
  explicit OutsideFilter(const bool* open) : open_(open) {}
  std::string_view Name() const override { return "Outside"; }
  absl::StatusOr<FilterVerdict> Filter(const CycleState&, const PodRequest&,
                                       const NodeInfo&) const override {
    return *open_ ? FilterVerdict::Feasible() : FilterVerdict::Unschedulable("closed");
  }

 private:
  const bool* open_;
};

TEST(SolverMemoTest, AsksFiltersThatAreNotMemoisableEveryTime) {
  bool open = true;
  SolverBuilder b;
  b.Add(std::make_unique<OutsideFilter>(&open));
  b.Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
  absl::StatusOr<std::unique_ptr<Solver>> solver = std::move(b).Build();
  ASSERT_TRUE(solver.ok()) << solver.status();
  EXPECT_FALSE((*solver)->FiltersMemoisable());
  SolverMemo memo(solver->get(), /*max_shapes=*/4);
  const ClusterSnapshot snapshot = MixedCluster(4, 0);
  const PodRequest pod = Pod("ns/p").Cpu(1000);
  const std::vector<NodeIndex> all = {0, 1, 2, 3};
  EXPECT_EQ(memo.Filter(pod, snapshot, all)->verdicts.feasible.size(), 4u);
  open = false;  // Nothing in the snapshot changed.
  EXPECT_EQ(memo.Filter(pod, snapshot, all)->verdicts.feasible.size(), 0u);
  EXPECT_EQ(memo.stats().filter_hits, 0u);
}

TEST(SolverMemoTest, EvictsShapesBeyondItsCapacityAndStaysCorrect) {
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(PolicyConfig{}, Workload());
  ASSERT_TRUE(solver.ok()) << solver.status();
  SolverMemo memo(solver->get(), /*max_shapes=*/2);  // Fewer than the 8 shapes asked about.
  ClusterState cluster(MixedCluster(16, 2));
  std::mt19937_64 rng(11);
  RunRandomSteps(**solver, memo, cluster, 300, rng);
  EXPECT_GT(memo.stats().shapes_built, 8u);  // Shapes came back after being forgotten.
}

TEST(SolverMemoTest, OffMeansEveryCallRunsTheSolver) {
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(PolicyConfig{}, Workload());
  ASSERT_TRUE(solver.ok()) << solver.status();
  SolverMemo memo(solver->get(), /*max_shapes=*/0);
  ClusterState cluster(MixedCluster(12, 0));
  std::mt19937_64 rng(5);
  RunRandomSteps(**solver, memo, cluster, 100, rng);
  EXPECT_EQ(memo.stats().filter_hits, 0u);
  EXPECT_EQ(memo.stats().score_hits, 0u);
}

TEST(SolverMemoTest, RejectsBadRequestsAndIndicesLikeTheSolver) {
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(PolicyConfig{}, Workload());
  ASSERT_TRUE(solver.ok()) << solver.status();
  SolverMemo memo(solver->get(), 4);
  const ClusterSnapshot snapshot = MixedCluster(4, 0);
  // Inconsistent request: GPU memory without a share.
  EXPECT_EQ(memo.Filter(Pod().GpuMem(100), snapshot, {0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<NodeIndex> out_of_range = {0, 4};
  EXPECT_EQ(memo.Filter(Pod().Gpus(1), snapshot, out_of_range).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Still serves the same shape afterwards.
  absl::StatusOr<SolverMemo::FilterOutcome> ok = memo.Filter(Pod().Gpus(1), snapshot, {0, 1, 2, 3});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->verdicts.verdicts.size(), 4u);
}

// Many threads asking about a few shapes on one snapshot get the solver's answers (run under
// ASan/TSan builds to catch races; here it checks the results).
TEST(SolverMemoTest, ConcurrentCallersGetTheSolversAnswers) {
  absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(PolicyConfig{}, Workload());
  ASSERT_TRUE(solver.ok()) << solver.status();
  SolverMemo memo(solver->get(), 3);
  ClusterState cluster(MixedCluster(32, 0));
  std::mt19937_64 setup(3);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Placement> p = (*solver)->Place(RandomPod(setup), cluster.view(), nullptr);
    ASSERT_TRUE(p.ok());
    if (p->assignment.has_value()) {
      ASSERT_TRUE(cluster.Apply(*p->assignment).ok());
    }
  }
  const std::shared_ptr<const ClusterSnapshot> snapshot = cluster.Snapshot();
  std::vector<NodeIndex> all(static_cast<size_t>(snapshot->num_nodes()));
  for (size_t i = 0; i < all.size(); ++i) {
    all[i] = static_cast<NodeIndex>(i);
  }
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(100 + t));
      for (int i = 0; i < 50; ++i) {
        ExpectSameAsSolver(**solver, memo, RandomPod(rng), *snapshot, all);
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
}

}  // namespace
}  // namespace accelsched::plugins
