#include "plugins/framework/solver.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

#include "plugins/baselines/baselines.h"
#include "plugins/framework/cluster_state.h"
#include "plugins/framework/fit.h"
#include "plugins/framework/snapshot.h"
#include "plugins/policy.h"
#include "plugins/resource_fit/resource_fit.h"
#include "plugins/share_fragmentation/fgd.h"
#include "tests/testing/builders.h"

namespace accelsched::plugins {
namespace {

using ::accelsched::testing::Assign;
using ::accelsched::testing::BuildSnapshot;
using ::accelsched::testing::CpuNodes;
using ::accelsched::testing::MustBuild;
using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;

// ---- Test plugins -------------------------------------------------------------------------------

// Scores each node with a fixed table entry (by node index), then divides by `divisor` in
// Normalize.
class TableScore final : public ScorePlugin {
 public:
  TableScore(std::string name, std::vector<int64_t> by_node, int64_t divisor = 1)
      : name_(std::move(name)), by_node_(std::move(by_node)), divisor_(divisor) {}
  std::string_view Name() const override { return name_; }
  absl::Status Score(const CycleState& /*state*/, const PodRequest& /*pod*/,
                     const ClusterSnapshot& /*snapshot*/, absl::Span<const NodeIndex> nodes,
                     absl::Span<int64_t> scores) const override {
    for (size_t i = 0; i < nodes.size(); ++i) {
      scores[i] = by_node_[static_cast<size_t>(nodes[i])];
    }
    return absl::OkStatus();
  }
  absl::Status Normalize(const CycleState& /*state*/, absl::Span<int64_t> scores) const override {
    for (int64_t& s : scores) {
      s /= divisor_;
    }
    return absl::OkStatus();
  }

 private:
  std::string name_;
  std::vector<int64_t> by_node_;
  int64_t divisor_;
};

// Rejects the listed nodes with the given verdict.
class RejectFilter final : public FilterPlugin {
 public:
  RejectFilter(std::string name, std::map<std::string, FilterVerdict> rejects)
      : name_(std::move(name)), rejects_(std::move(rejects)) {}
  std::string_view Name() const override { return name_; }
  absl::StatusOr<FilterVerdict> Filter(const CycleState& /*state*/, const PodRequest& /*pod*/,
                                       const NodeInfo& node) const override {
    auto it = rejects_.find(node.name);
    if (it == rejects_.end()) {
      return FilterVerdict::Feasible();
    }
    return it->second;
  }

 private:
  std::string name_;
  std::map<std::string, FilterVerdict> rejects_;
};

// Rejects every node and blocks GPU 0, unless its PreFilter skipped it (pods without CPU).
class SkippingFilter final : public PreFilterPlugin, public FilterPlugin {
 public:
  std::string_view Name() const override { return "Skipping"; }
  absl::Status PreFilter(CycleState& state, const PodRequest& pod,
                         const ClusterSnapshot& /*snapshot*/) const override {
    if (pod.cpu_milli == 0) {
      state.SkipFilter(this);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<FilterVerdict> Filter(const CycleState& /*state*/, const PodRequest& /*pod*/,
                                       const NodeInfo& /*node*/) const override {
    return FilterVerdict::Unschedulable("not skipped");
  }
  GpuMask BlockedGpus(const CycleState& /*state*/, const PodRequest& /*pod*/,
                      const NodeInfo& /*node*/) const override {
    return 1;
  }
};

// Gives the pod nothing but the node (or nullopt when `refuse`).
class PlainReserve final : public ReservePlugin {
 public:
  explicit PlainReserve(bool refuse = false) : refuse_(refuse) {}
  std::string_view Name() const override { return "PlainReserve"; }
  absl::StatusOr<std::optional<Assignment>> Reserve(const CycleState& /*state*/,
                                                    const PodRequest& pod,
                                                    const ClusterSnapshot& /*snapshot*/,
                                                    NodeIndex node) const override {
    if (refuse_) {
      return std::optional<Assignment>();
    }
    return std::optional<Assignment>(BaseAssignment(pod, node));
  }

 private:
  bool refuse_;
};

ClusterSnapshot ThreeCpuNodes() { return CpuNodes({{"n0", 4000}, {"n1", 4000}, {"n2", 4000}}); }

// ---- SelectBest ---------------------------------------------------------------------------------

TEST(SelectBestTest, FirstMaximumWithoutRng) {
  const struct {
    std::string name;
    std::vector<int64_t> totals;
    int want;
  } cases[] = {
      {"empty", {}, -1},
      {"single", {5}, 0},
      {"tie goes to the first", {3, 7, 7, 1}, 1},
      {"last is best", {1, 2, 3}, 2},
      {"all equal", {0, 0, 0}, 0},
      {"negative totals", {-1, -5}, 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(Solver::SelectBest(tc.totals, nullptr), tc.want);
  }
}

TEST(SelectBestTest, SeededRngPicksEveryTiedMaximumAndNothingElse) {
  // Maximum 9 at indices 1, 3 and 4; 7 at index 5 is a near miss.
  const std::vector<int64_t> totals = {5, 9, 2, 9, 9, 7};
  Rng rng(99);
  std::array<int, 6> picked{};
  constexpr int kTrials = 3000;
  for (int t = 0; t < kTrials; ++t) {
    const int i = Solver::SelectBest(totals, &rng);
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 6);
    ++picked[static_cast<size_t>(i)];
  }
  EXPECT_EQ(picked[0], 0);
  EXPECT_EQ(picked[2], 0);
  EXPECT_EQ(picked[5], 0);
  // Uniform among the three: 1000 expected each (fixed seed, so deterministic; a uniform
  // sampler is far inside these bounds, a biased one such as "always the last tie" is not).
  for (size_t i : {1u, 3u, 4u}) {
    SCOPED_TRACE(i);
    EXPECT_GT(picked[i], 800);
    EXPECT_LT(picked[i], 1200);
  }
  // A single maximum never depends on the rng.
  const std::vector<int64_t> single_max = {1, 8, 3};
  for (int t = 0; t < 100; ++t) {
    EXPECT_EQ(Solver::SelectBest(single_max, &rng), 1);
  }
}

// ---- Solver steps -------------------------------------------------------------------------------

TEST(SolverTest, PlaceReportsGroupedReasonsWhenNothingFits) {
  // Pod: 2000m CPU and one GPU. Node order: gpu-less, too little CPU in all, gpu-less.
  //   n0, n2: 4000m CPU >= 2000m, no GPUs -> "node has no GPUs".
  //   n1: 1000m CPU in all < 2000m -> "pod asks 2000m CPU, more than the node has in all"
  //   (checked first).
  const ClusterSnapshot snap = CpuNodes({{"n0", 4000}, {"n1", 1000}, {"n2", 4000}});
  SolverBuilder b;
  b.Add(std::make_unique<ResourceFit>()).Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
  std::unique_ptr<Solver> solver = MustBuild(std::move(b));
  const PodRequest pod = Pod().Cpu(2000).Gpus(1);

  absl::StatusOr<Placement> p = solver->Place(pod, snap, nullptr, /*explain=*/true);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->assignment.has_value());
  EXPECT_EQ(p->feasible_nodes, 0);
  // Grouped in order of first appearance, with counts.
  EXPECT_EQ(p->reason,
            "2 nodes: node has no GPUs; 1 node: pod asks 2000m CPU, more than the node has in all");

  // Without explain there is no reason, but still no assignment (and no error).
  p = solver->Place(pod, snap, nullptr, /*explain=*/false);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->assignment.has_value());
  EXPECT_EQ(p->reason, "");

  // Only candidate n1.
  const std::vector<NodeIndex> only_n1 = {1};
  p = solver->Place(pod, snap, nullptr, true, only_n1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->reason, "1 node: pod asks 2000m CPU, more than the node has in all");

  // An empty cluster has no candidates at all.
  p = solver->Place(pod, ClusterSnapshot(), nullptr, true);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->assignment.has_value());
  EXPECT_EQ(p->reason, "no candidate nodes");
}

TEST(SolverTest, AFilterSkippedByItsPreFilterIsNotAsked) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  SolverBuilder b;
  b.Add(std::make_unique<SkippingFilter>()).Add(std::make_unique<PlainReserve>());
  std::unique_ptr<Solver> solver = MustBuild(std::move(b));
  for (int64_t cpu : {0, 1}) {
    SCOPED_TRACE(cpu);
    const PodRequest pod = Pod().Cpu(cpu);
    absl::StatusOr<CycleState> state = solver->PreFilter(pod, snap);
    ASSERT_TRUE(state.ok()) << state.status();
    absl::StatusOr<FilterVerdict> v = solver->FilterNode(*state, pod, snap.node(0));
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->feasibility, cpu == 0 ? Feasibility::kFeasible : Feasibility::kUnschedulable);
    EXPECT_EQ(solver->BlockedGpus(*state, pod, snap.node(0)), cpu == 0 ? 0u : 1u);
  }
}

TEST(SolverTest, FilterKeepsCandidateOrderAndStopsAtTheFirstRejection) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  SolverBuilder b;
  b.Add(std::make_unique<RejectFilter>("first",
                                       std::map<std::string, FilterVerdict>{
                                           {"n2", FilterVerdict::Unresolvable("first says no")}}))
      .Add(
          std::make_unique<RejectFilter>("second",
                                         std::map<std::string, FilterVerdict>{
                                             {"n2", FilterVerdict::Unschedulable("second says no")},
                                             {"n0", FilterVerdict::Unschedulable("n0 is busy")}}))
      .Add(std::make_unique<PlainReserve>());
  std::unique_ptr<Solver> solver = MustBuild(std::move(b));
  const PodRequest pod = Pod().Cpu(1);
  absl::StatusOr<CycleState> state = solver->PreFilter(pod, snap);
  ASSERT_TRUE(state.ok());
  const std::vector<NodeIndex> candidates = {2, 1, 0};
  absl::StatusOr<CandidateVerdicts> r = solver->Filter(*state, pod, snap, candidates);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->feasible, (std::vector<NodeIndex>{1}));
  ASSERT_EQ(r->verdicts.size(), 3u);  // In candidate order: nodes 2, 1, 0.
  EXPECT_EQ(r->verdicts[0].feasibility, Feasibility::kUnresolvable);
  EXPECT_EQ(r->verdicts[0].reason, "first says no");  // The second filter never ran.
  EXPECT_EQ(r->verdicts[1].feasibility, Feasibility::kFeasible);
  EXPECT_EQ(r->verdicts[2].feasibility, Feasibility::kUnschedulable);
  EXPECT_EQ(r->verdicts[2].reason, "n0 is busy");

  const std::vector<NodeIndex> out_of_range = {0, 3};
  EXPECT_EQ(solver->Filter(*state, pod, snap, out_of_range).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(solver->Reserve(*state, pod, snap, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SolverTest, ScoreRejectsOutOfRangePluginScores) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  const struct {
    std::string name;
    std::vector<int64_t> by_node;
    int64_t divisor;
    bool ok;
  } cases[] = {
      {"within range", {0, 50, 100}, 1, true},
      {"101 on n1", {0, 101, 100}, 1, false},
      {"-1 on n2", {0, 0, -1}, 1, false},
      // Raw 1000 is fine when Normalize brings it to 100: the check is after Normalize.
      {"normalized into range", {0, 500, 1000}, 10, true},
      {"normalized but still too high", {0, 500, 1010}, 10, false},  // 1010 / 10 = 101.
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    SolverBuilder b;
    b.Add(std::make_unique<TableScore>("Table", tc.by_node, tc.divisor))
        .Add(std::make_unique<PlainReserve>());
    std::unique_ptr<Solver> solver = MustBuild(std::move(b));
    const PodRequest pod = Pod().Cpu(1);
    absl::StatusOr<CycleState> state = solver->PreFilter(pod, snap);
    ASSERT_TRUE(state.ok());
    const std::vector<NodeIndex> all = {0, 1, 2};
    absl::StatusOr<std::vector<int64_t>> got = solver->Score(*state, pod, snap, all);
    EXPECT_EQ(got.ok(), tc.ok) << got.status();
    if (!tc.ok) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
      EXPECT_TRUE(absl::StrContains(got.status().message(), "plugin Table")) << got.status();
      // Place surfaces the same error.
      EXPECT_EQ(solver->Place(pod, snap, nullptr).status().code(), absl::StatusCode::kInternal);
    }
  }
}

TEST(SolverTest, WeightsMultiplyAndDecide) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  // Plugin A scores n0..n2 as 10, 20, 0; plugin B as 20, 0, 12.
  const struct {
    std::string name;
    int64_t weight_a, weight_b;
    std::vector<int64_t> want_totals;
    int64_t want_max;
    NodeIndex want_node;
  } cases[] = {
      // 1*10 + 1*20 = 30, 1*20 + 0 = 20, 0 + 1*12 = 12.
      {"equal weights", 1, 1, {30, 20, 12}, 200, 0},
      // 3*10 + 1*20 = 50, 3*20 = 60, 1*12 = 12: n1 now wins.
      {"A weighs 3", 3, 1, {50, 60, 12}, 400, 1},
      // 3*10 + 5*20 = 130, 3*20 = 60, 5*12 = 60.
      {"A 3, B 5", 3, 5, {130, 60, 60}, 800, 0},
      // 1000*10 + 1000*20 = 30000, ...: max weight allowed.
      {"maximum weights", 1000, 1000, {30000, 20000, 12000}, 200000, 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    SolverBuilder b;
    b.RandomTies(false)
        .Add(std::make_unique<TableScore>("A", std::vector<int64_t>{10, 20, 0}), tc.weight_a)
        .Add(std::make_unique<TableScore>("B", std::vector<int64_t>{20, 0, 12}), tc.weight_b)
        .Add(std::make_unique<PlainReserve>());
    std::unique_ptr<Solver> solver = MustBuild(std::move(b));
    EXPECT_EQ(solver->MaxTotalScore(), tc.want_max);  // 100 * (weight_a + weight_b).
    const PodRequest pod = Pod().Cpu(1);
    absl::StatusOr<CycleState> state = solver->PreFilter(pod, snap);
    ASSERT_TRUE(state.ok());
    const std::vector<NodeIndex> all = {0, 1, 2};
    absl::StatusOr<std::vector<int64_t>> totals = solver->Score(*state, pod, snap, all);
    ASSERT_TRUE(totals.ok()) << totals.status();
    EXPECT_EQ(*totals, tc.want_totals);
    absl::StatusOr<Placement> p = solver->Place(pod, snap, nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->assignment.has_value());
    EXPECT_EQ(p->assignment->node, tc.want_node);
    EXPECT_EQ(p->score, tc.want_totals[static_cast<size_t>(tc.want_node)]);
    EXPECT_EQ(p->feasible_nodes, 3);
  }
}

TEST(SolverTest, RandomTiesUseTheRngOnlyWhenEnabled) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  for (bool random : {false, true}) {
    SCOPED_TRACE(random ? "random ties" : "first node");
    SolverBuilder b;
    b.RandomTies(random)
        .Add(std::make_unique<TableScore>("Flat", std::vector<int64_t>{7, 7, 7}))
        .Add(std::make_unique<PlainReserve>());
    std::unique_ptr<Solver> solver = MustBuild(std::move(b));
    Rng rng(5);
    std::set<NodeIndex> chosen;
    for (int t = 0; t < 200; ++t) {
      absl::StatusOr<Placement> p = solver->Place(Pod().Cpu(1), snap, &rng);
      ASSERT_TRUE(p.ok() && p->assignment.has_value());
      chosen.insert(p->assignment->node);
    }
    const std::set<NodeIndex> want = random ? std::set<NodeIndex>{0, 1, 2} : std::set<NodeIndex>{0};
    EXPECT_EQ(chosen, want);
  }
}

TEST(SolverTest, ReserveFindingNothingAfterFiltersIsInternal) {
  const ClusterSnapshot snap = ThreeCpuNodes();
  SolverBuilder b;
  b.Add(std::make_unique<PlainReserve>(/*refuse=*/true));
  std::unique_ptr<Solver> solver = MustBuild(std::move(b));
  EXPECT_EQ(solver->Place(Pod().Cpu(1), snap, nullptr).status().code(),
            absl::StatusCode::kInternal);
}

TEST(SolverTest, PreFilterValidatesThePodAndResolvesModels) {
  ClusterSnapshotBuilder b;
  for (const char* model : {"V100", "A100-80GB"}) {
    NodeSpec s;
    s.name = model;
    s.gpu_model = model;
    s.gpu_count = 1;
    b.AddNode(std::move(s));
  }
  absl::StatusOr<ClusterSnapshot> snap = std::move(b).Build();
  ASSERT_TRUE(snap.ok());
  SolverBuilder sb;
  sb.Add(std::make_unique<PlainReserve>());
  std::unique_ptr<Solver> solver = MustBuild(std::move(sb));
  const struct {
    std::string name;
    std::vector<std::string> models;
    uint64_t want;
  } cases[] = {
      {"any model", {}, ~uint64_t{0}},
      {"A100 is index 1", {"A100-80GB"}, uint64_t{1} << 1},
      {"both, plus an unknown name", {"H100", "V100", "A100-80GB"}, 0b11},
      {"only unknown names", {"H100"}, 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<CycleState> state =
        solver->PreFilter(Pod().Gpus(1).Models(tc.models), *snap, /*explain=*/false);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->allowed_models, tc.want);
    EXPECT_FALSE(state->explain);
  }
  // An inconsistent pod is InvalidArgument, from PreFilter and from Place.
  const PodRequest bad = Pod().Gpus(1).Share(100);
  EXPECT_EQ(solver->PreFilter(bad, *snap).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(solver->Place(bad, *snap, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- SolverBuilder ------------------------------------------------------------------------------

TEST(SolverBuilderTest, RejectsInvalidPluginSets) {
  const struct {
    std::string name;
    std::function<void(SolverBuilder&)> add;
    std::string want_substr;  // Empty: builds.
  } cases[] = {
      {"no reserve plugin", [](SolverBuilder& b) { b.Add(std::make_unique<ResourceFit>()); },
       "no reserve plugin"},
      {"nothing at all", [](SolverBuilder&) {}, "no reserve plugin"},
      {"two reserve plugins",
       [](SolverBuilder& b) {
         b.Add(std::make_unique<GpuAllocator>(ShareChoice::kBest))
             .Add(std::make_unique<FgdPlugin>(std::vector<TaskShape>{}));
       },
       "two reserve plugins: GpuAllocator and FGD"},
      {"score weight 0",
       [](SolverBuilder& b) {
         b.Add(std::make_unique<BestFitScore>(), 0)
             .Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
       },
       "score weight 0 is outside 1..1000"},
      {"score weight 1001",
       [](SolverBuilder& b) {
         b.Add(std::make_unique<BestFitScore>(), 1001)
             .Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
       },
       "score weight 1001 is outside 1..1000"},
      {"same plugin twice",
       [](SolverBuilder& b) {
         b.Add(std::make_unique<ResourceFit>())
             .Add(std::make_unique<ResourceFit>())
             .Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
       },
       "plugin ResourceFit added twice"},
      {"null plugin",
       [](SolverBuilder& b) {
         b.Add(nullptr).Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
       },
       "null plugin"},
      {"weight 0 on a non-scorer is ignored",
       [](SolverBuilder& b) {
         b.Add(std::make_unique<ResourceFit>(), 0)
             .Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
       },
       ""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    SolverBuilder b;
    tc.add(b);
    absl::StatusOr<std::unique_ptr<Solver>> s = std::move(b).Build();
    if (tc.want_substr.empty()) {
      EXPECT_TRUE(s.ok()) << s.status();
      continue;
    }
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.status().message(), tc.want_substr)) << s.status();
  }
}

TEST(SolverBuilderTest, DescribeListsPluginsInOrderWithWeights) {
  SolverBuilder b;
  b.Add(std::make_unique<ResourceFit>())
      .Add(std::make_unique<BestFitScore>(), 7)
      .Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
  std::unique_ptr<Solver> s = MustBuild(std::move(b));
  const std::vector<std::pair<std::string, int64_t>> want = {
      {"ResourceFit", 0}, {"BestFit", 7}, {"GpuAllocator", 0}};
  EXPECT_EQ(s->Describe(), want);
  EXPECT_EQ(s->MaxTotalScore(), 700);  // 100 * 7.
}

// ---- PodRequest ---------------------------------------------------------------------------------

TEST(PodRequestTest, ValidateNamesTheBadField) {
  const struct {
    std::string name;
    PodRequest pod;
    std::string want_substr;  // Empty: valid.
  } cases[] = {
      {"CPU-only", Pod().Cpu(100).Mem(10), ""},
      {"everything zero", Pod(), ""},
      {"16 whole GPUs with constraints",
       Pod().Gpus(16).Nvlink(TopologyPreference::kRequired).Nic().Numa(), ""},
      {"share with memory", Pod().Share(999, 1024), ""},
      {"MIG 1g double memory", Pod().Mig(1, true), ""},
      {"MIG 7g", Pod().Mig(7), ""},
      {"negative CPU", Pod().Cpu(-1), "cpu_milli: must not be negative"},
      {"negative memory", Pod().Mem(-1), "memory_mib: must not be negative"},
      {"negative GPUs", Pod().Gpus(-1), "gpu_count: must be in 0..16"},
      {"17 GPUs", Pod().Gpus(17), "gpu_count: must be in 0..16"},
      {"share of 1000", Pod().Share(1000), "gpu_milli: must be in 0..999"},
      {"negative share", Pod().Share(-5), "gpu_milli"},
      {"negative GPU memory", Pod().Share(10, -1), "gpu_memory_mib: must not be negative"},
      {"whole GPUs and a share", Pod().Gpus(1).Share(100), "more than one"},
      {"share and MIG", Pod().Share(100).Mig(1), "more than one"},
      {"whole GPUs and MIG", Pod().Gpus(1).Mig(1), "more than one"},
      {"GPU memory without a share", Pod().Gpus(1).GpuMem(10), "only meaningful with a GPU share"},
      {"MIG 5g", Pod().Mig(5), "mig.compute_slices: must be 1, 2, 3, 4 or 7"},
      {"MIG 0g", Pod().Mig(0), "mig.compute_slices"},
      {"double memory on 2g", Pod().Mig(2, true), "mig.double_memory"},
      {"NVLink on a share", Pod().Share(100).Nvlink(TopologyPreference::kPreferred), "topology"},
      {"NIC on a CPU pod", Pod().Nic(), "topology"},
      {"NUMA on a MIG pod", Pod().Mig(1).Numa(), "topology"},
      {"empty model name", Pod().Gpus(1).Models({"V100", ""}), "allowed_models"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::Status s = tc.pod.Validate();
    if (tc.want_substr.empty()) {
      EXPECT_TRUE(s.ok()) << s;
      continue;
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), tc.want_substr)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "pod default/p")) << s;
  }
}

TEST(PodRequestTest, GpuMilliPerKind) {
  const struct {
    std::string name;
    PodRequest pod;
    int64_t want;
  } cases[] = {
      {"CPU only", Pod().Cpu(1), 0},
      {"3 whole GPUs", Pod().Gpus(3), 3000},
      {"share", Pod().Share(250), 250},
      {"MIG 1g", Pod().Mig(1), 142},  // 1000 * 1 / 7 = 142.86 -> 142.
      {"MIG 3g", Pod().Mig(3), 428},  // 3000 / 7 = 428.57 -> 428.
      {"MIG 7g", Pod().Mig(7), 1000},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.pod.GpuMilli(), tc.want);
    EXPECT_EQ(tc.pod.WantsGpu(), tc.want > 0);
  }
}

// ---- policy.h -----------------------------------------------------------------------------------

TEST(PolicyTest, NamesAreStable) {
  const std::vector<std::string_view> want = {"random",  "firstfit",   "bestfit",
                                              "dotprod", "gpupacking", "gpuclustering",
                                              "fgd",     "accelsched"};
  const absl::Span<const std::string_view> got = PolicyNames();
  EXPECT_EQ(std::vector<std::string_view>(got.begin(), got.end()), want);
}

TEST(PolicyTest, ValidatePolicyConfig) {
  auto config = [](std::string policy, int64_t frag, int64_t topo, int64_t mig) {
    PolicyConfig c;
    c.policy = std::move(policy);
    c.fragmentation_weight = frag;
    c.topology_weight = topo;
    c.mig_weight = mig;
    return c;
  };
  const struct {
    std::string name;
    PolicyConfig config;
    std::string want_substr;  // Empty: valid.
  } cases[] = {
      {"defaults", PolicyConfig(), ""},
      {"bestfit", config("bestfit", 10, 2, 2), ""},
      {"unknown policy", config("tetris", 10, 2, 2), "unknown policy 'tetris'; known: random, "},
      {"case matters", config("BestFit", 10, 2, 2), "unknown policy"},
      {"fragmentation weight -1", config("fgd", -1, 2, 2), "fragmentation_weight: -1"},
      {"topology weight 1001", config("fgd", 10, 1001, 2), "topology_weight: 1001 is outside"},
      {"mig weight 1001", config("accelsched", 10, 2, 1001), "mig_weight: 1001"},
      {"weights at the bounds", config("accelsched", 1000, 1000, 0), ""},
      {"accelsched topology and MIG off", config("accelsched", 1, 0, 0), ""},
      {"accelsched needs fragmentation", config("accelsched", 0, 2, 2),
       "fragmentation_weight: must be >= 1"},
      {"zero weights are fine for a baseline", config("gpupacking", 0, 0, 0), ""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::Status s = ValidatePolicyConfig(tc.config);
    if (tc.want_substr.empty()) {
      EXPECT_TRUE(s.ok()) << s;
      continue;
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), tc.want_substr)) << s;
  }
}

// Node 0 "cpu": no GPUs. Node 1 "used": 2 x V100, a 300 share on GPU 0 (free [700, 1000]).
// Node 2 "idle": 2 x V100, empty. 8000m CPU each.
ClusterState PolicyCluster() {
  ClusterState state(BuildSnapshot({Node("cpu").Cpu(8000).Mem(8000),
                                    Node("used").Cpu(8000).Mem(8000).Gpus(2, "V100", 16000),
                                    Node("idle").Cpu(8000).Mem(8000).Gpus(2, "V100", 16000)}));
  EXPECT_TRUE(state.Apply(Assign(1, 0b1, 300)).ok());
  return state;
}

TEST(PolicyTest, BuildSolverForEveryBaselinePlacesASmallWorkload) {
  // Pod: 1000m CPU, share 300. Workload for FGD: (1000m, 1 GPU, 300 milli) p 1.
  // Every deterministic policy picks node 1 "used" and its GPU 0 (700 free):
  //   firstfit: lowest feasible index (node 0 has no GPU).
  //   bestfit: used: s = 0.5*7000/128000 + 0.5*(1700-300)/8000 = 0.1148 -> 88; idle: 0.0273 +
  //     0.5*1700/8000 = 0.1336 -> 86; normalized 100 vs 0.
  //   dotprod: both round to 99 (dot 0.0085 vs 0.0099) -> tie -> first (random_ties false).
  //   gpupacking: used: 700 first fit, r = 70 -> 100 - 7 = 93; idle: max(33 - 2, 2) = 31.
  //   gpuclustering: used: L = 1700, 25*6300/8000 = 19, shares only -> 94; idle: L = 2000,
  //     25*6000/8000 = 18, no GPU pods -> 43.
  //   fgd: every GPU >= 300 before and after on both nodes -> F stays 0, score 50 everywhere;
  //     first node, first GPU.
  //   The allocator's best-fit share choice on node 1 is GPU 0 (700 < 1000).
  WorkloadModel workload;
  TaskShape shape;
  shape.cpu_milli = 1000;
  shape.gpu_count = 1;
  shape.gpu_milli = 300;
  shape.popularity = 1;
  workload.shapes = {shape};
  const PodRequest pod = Pod().Cpu(1000).Share(300);
  int built = 0;
  for (std::string_view name : PolicyNames()) {
    if (name == "accelsched") {
      continue;  // Not built yet.
    }
    SCOPED_TRACE(std::string(name));
    PolicyConfig config;
    config.policy = std::string(name);
    config.random_ties = false;
    absl::StatusOr<std::unique_ptr<Solver>> solver = BuildSolver(config, workload);
    ASSERT_TRUE(solver.ok()) << solver.status();
    ++built;
    const std::vector<std::pair<std::string, int64_t>> plugins = (*solver)->Describe();
    ASSERT_FALSE(plugins.empty());
    EXPECT_EQ(plugins.front().first, "ResourceFit");
    ClusterState cluster = PolicyCluster();
    Rng rng(3);
    absl::StatusOr<Placement> p = (*solver)->Place(pod, cluster.view(), &rng);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->assignment.has_value());
    EXPECT_EQ(p->feasible_nodes, 2);
    if (name != "random") {
      EXPECT_EQ(p->assignment->node, 1);
      EXPECT_EQ(p->assignment->gpus, 0b1u);
    } else {
      EXPECT_NE(p->assignment->node, 0);
    }
    EXPECT_EQ(p->assignment->gpu_milli, 300);
    EXPECT_EQ(p->assignment->cpu_milli, 1000);
    EXPECT_TRUE(cluster.Apply(*p->assignment).ok());
  }
  EXPECT_EQ(built, 7);
}

TEST(PolicyTest, BuildSolverRejectsBadConfigsAndMissingWorkload) {
  PolicyConfig fgd;
  fgd.policy = "fgd";
  EXPECT_EQ(BuildSolver(fgd, WorkloadModel()).status().code(), absl::StatusCode::kInvalidArgument);
  PolicyConfig unknown;
  unknown.policy = "nope";
  EXPECT_EQ(BuildSolver(unknown, WorkloadModel()).status().code(),
            absl::StatusCode::kInvalidArgument);
  PolicyConfig heavy;
  heavy.policy = "bestfit";
  heavy.topology_weight = 5000;
  EXPECT_EQ(BuildSolver(heavy, WorkloadModel()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Baselines need no workload.
  PolicyConfig bestfit;
  bestfit.policy = "bestfit";
  EXPECT_TRUE(BuildSolver(bestfit, WorkloadModel()).ok());
}

}  // namespace
}  // namespace accelsched::plugins
