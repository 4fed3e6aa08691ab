// Tests of accelsched-sim's trace loader and the paper's protocol (bench/sim/).
#include "bench/sim/trace.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

#include "bench/sim/cli.h"
#include "bench/sim/scenario.h"
#include "bench/sim/trace_sim.h"
#include "plugins/policy.h"
#include "tests/testing/data_path.h"

namespace accelsched::sim {
namespace {

constexpr char kPodHeader[] =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n";

TEST(ParseTracePodsTest, ErrorsNameFileAndLine) {
  const struct {
    std::string name;
    std::string body;
    std::string want;  // Substring of the error.
  } cases[] = {
      {"wrong header", "a,b\n", "pods.csv:1: header is 'a,b'"},
      {"short row", std::string(kPodHeader) + "p,1,2,1\n", "pods.csv:2: expected 11 columns"},
      {"bad number", std::string(kPodHeader) + "p,x,2,1,1000,,LS,Running,0,0,0\n",
       "pods.csv:2: column cpu_milli: 'x'"},
      {"share on two GPUs", std::string(kPodHeader) + "p,1,2,2,500,,LS,Running,0,0,0\n",
       "pods.csv:2: a GPU share"},
      {"milli above 1000", std::string(kPodHeader) + "p,1,2,1,1500,,LS,Running,0,0,0\n",
       "pods.csv:2: column gpu_milli"},
      {"empty model", std::string(kPodHeader) + "p,1,2,1,1000,T4|,LS,Running,0,0,0\n",
       "pods.csv:2: column gpu_spec"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto r = ParseTracePods(tc.body, "pods.csv");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(std::string(r.status().message()).find(tc.want), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseTracePodsTest, ReadsBothLayouts) {
  auto eleven = ParseTracePods(
      std::string(kPodHeader) + "p0,8000,16384,1,460,V100M16|V100M32,LS,Running,0,1,0\r\n",
      "a.csv");
  ASSERT_TRUE(eleven.ok()) << eleven.status();
  ASSERT_EQ(eleven->size(), 1u);
  EXPECT_EQ((*eleven)[0].gpu_milli, 460);
  EXPECT_EQ((*eleven)[0].gpu_spec, (std::vector<std::string>{"V100M16", "V100M32"}));
  auto five =
      ParseTracePods("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,1,2,4,1000\n", "b.csv");
  ASSERT_TRUE(five.ok()) << five.status();
  EXPECT_EQ((*five)[0].GpuMilli(), 4000);
  plugins::PodRequest r = ToPodRequest((*five)[0]);
  EXPECT_EQ(r.gpu_count, 4);
  EXPECT_EQ(r.gpu_milli, 0);
}

TEST(ParseTraceNodesTest, RejectsDuplicatesAndModelMismatch) {
  const std::string header = "sn,cpu_milli,memory_mib,gpu,model\n";
  EXPECT_FALSE(ParseTraceNodes(header + "n,1,1,2,T4\nn,1,1,2,T4\n", "n.csv").ok());
  EXPECT_FALSE(ParseTraceNodes(header + "n,1,1,2,\n", "n.csv").ok());
  EXPECT_FALSE(ParseTraceNodes(header + "n,1,1,0,T4\n", "n.csv").ok());
  auto ok = ParseTraceNodes(header + "n,96000,393216,8,G2\n", "n.csv");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].gpus, 8);
}

TEST(ParseTraceTest, RealFilesParse) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  // The README's counts: 1213 GPU nodes; 8152 pods in the default list, 8324 in multigpu20.
  auto nodes =
      LoadTraceNodes(testing::SharedDataPath("alibaba-gpu-v2023/openb_node_list_gpu_node.csv"));
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ(nodes->size(), 1213u);
  int gpus = 0;
  for (const TraceNode& n : *nodes) {
    gpus += n.gpus;
  }
  EXPECT_EQ(gpus, 6212);
  auto pods =
      LoadTracePods(testing::SharedDataPath("alibaba-gpu-v2023/openb_pod_list_default.csv"));
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 8152u);
  auto multi =
      LoadTracePods(testing::SharedDataPath("alibaba-gpu-v2023/openb_pod_list_multigpu20.csv"));
  ASSERT_TRUE(multi.ok()) << multi.status();
  EXPECT_EQ(multi->size(), 8324u);
}

TraceRunOptions Options(uint64_t seed) {
  TraceRunOptions o;
  o.seed = seed;
  return o;
}

TEST(TuneWorkloadTest, StopsBeforeExceedingTarget) {
  // Pods of 1000, 500 and 0 milli-GPU; capacity 10 GPUs, ratio 1.3 -> target 13000.
  std::vector<TracePod> pods(3);
  pods[0] = {"a", 1000, 1, 1, 1000, {}};
  pods[1] = {"b", 1000, 1, 1, 500, {}};
  pods[2] = {"c", 1000, 1, 0, 0, {}};
  plugins::Rng rng(5);
  std::vector<TracePod> tuned = TuneWorkload(pods, 10000, 1.3, rng);
  int64_t total = 0;
  for (const TracePod& p : tuned) {
    total += p.GpuMilli();
  }
  // Clones are only added while total + milli <= 13000, and the loop stops at the first pod
  // that would exceed it: the final total is within one pod (1000) of the target.
  EXPECT_LE(total, 13000);
  EXPECT_GT(total, 12000);
  EXPECT_GE(tuned.size(), 3u);
  // The originals come first (shuffled), the clones after.
  std::vector<std::string> first(3);
  for (int i = 0; i < 3; ++i) {
    first[static_cast<size_t>(i)] = tuned[static_cast<size_t>(i)].name;
  }
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::string>{"a", "b", "c"}));
}

// Issue 14: a trace without GPU pods cloned pods forever (GB of memory).
TEST(TuneWorkloadTest, ATraceWithoutGpuPodsIsReturnedAsItIs) {
  std::vector<TracePod> pods(2);
  pods[0] = {"a", 1000, 1, 0, 0, {}};
  pods[1] = {"b", 1000, 1, 0, 0, {}};
  plugins::Rng rng(5);
  EXPECT_EQ(TuneWorkload(pods, 10000, 1.3, rng).size(), 2u);
  plugins::PolicyConfig config;
  config.policy = "bestfit";
  auto solver = plugins::BuildSolver(config, {});
  ASSERT_TRUE(solver.ok()) << solver.status();
  const std::vector<TraceNode> nodes = {{"n0", 64000, 262144, 8, "V100M32"}};
  auto r = RunTrace(**solver, nodes, pods, {}, Options(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no pod of the trace asks for a GPU"), std::string::npos)
      << r.status();
}

TEST(TuneWorkloadTest, TunesDownWhenAboveTarget) {
  std::vector<TracePod> pods;
  pods.reserve(30);
  for (int i = 0; i < 30; ++i) {
    pods.push_back({"p" + std::to_string(i), 1, 1, 1, 1000, {}});
  }
  plugins::Rng rng(1);
  std::vector<TracePod> tuned = TuneWorkload(pods, 10000, 1.3, rng);
  EXPECT_EQ(tuned.size(), 13u);  // 13 x 1000 = 13000 <= 1.3 x 10000.
}

TEST(RoundHalfEvenTest, MatchesPython) {
  EXPECT_EQ(RoundHalfEven(2.5, 0), 2.0);  // Python: round(2.5) == 2
  EXPECT_EQ(RoundHalfEven(3.5, 0), 4.0);
  EXPECT_EQ(RoundHalfEven(99.4, 0), 99.0);
  EXPECT_NEAR(RoundHalfEven(95.2349, 2), 95.23, 1e-9);
}

TEST(RunTraceTest, SliceOfDefaultTraceIsConsistent) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  // 400 pods of the default trace on the real 1213 nodes: the demand is far below capacity, so
  // nothing fails and the allocation equals the arrived demand at every event. Buckets past
  // the arrived demand (130% of capacity is never reached) fall back to NaN.
  auto nodes =
      LoadTraceNodes(testing::SharedDataPath("alibaba-gpu-v2023/openb_node_list_gpu_node.csv"));
  auto pods =
      LoadTracePods(testing::SharedDataPath("alibaba-gpu-v2023/openb_pod_list_default.csv"));
  ASSERT_TRUE(nodes.ok() && pods.ok());
  pods->resize(400);
  std::vector<plugins::PodRequest> requests;
  for (const TracePod& p : *pods) {
    requests.push_back(ToPodRequest(p));
  }
  auto shapes = plugins::TypicalShapes(requests);
  ASSERT_TRUE(shapes.ok());
  for (const char* policy : {"fgd", "bestfit", "accelsched"}) {
    SCOPED_TRACE(policy);
    plugins::PolicyConfig config;
    config.policy = policy;
    config.random_ties = false;
    auto solver = plugins::BuildSolver(config, {*shapes, {}});
    ASSERT_TRUE(solver.ok()) << solver.status();
    TraceRunOptions o = Options(42);
    o.tune_ratio = 0.05;  // 5% of 6212 GPUs: 310.6 GPUs.
    auto r = RunTrace(**solver, *nodes, *pods, *shapes, o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->failed, 0);
    EXPECT_EQ(r->placed, r->pods);
    EXPECT_NEAR(r->final_alloc_pct, 5.0, 0.1);
    for (int k = 1; k <= 4; ++k) {
      // Allocation tracks arrival within the bucket width.
      EXPECT_NEAR(r->alloc_pct[static_cast<size_t>(k)], k, 0.6) << "bucket " << k;
    }
    EXPECT_TRUE(std::isnan(r->alloc_pct[130]));
  }
}

TEST(ScenarioTest, BadFieldsAreNamed) {
  const struct {
    std::string name;
    std::string json;
    std::string want;
  } cases[] = {
      {"not json", "{", "not valid JSON"},
      {"no nodes", R"({"workload": {"classes": [{}]}})", "scenario.nodes"},
      {"bad profile",
       R"({"nodes": [{"name": "a", "profile": "nope"}], "workload": {"classes": [{}]}})",
       "scenario.nodes[0].profile"},
      {"bad class", R"({"nodes": [{"name": "a", "gpus": 2, "gpu_model": "T4"}],
         "workload": {"classes": [{"gpus": 1}, {"mig": "9x"}]}})",
       "scenario.workload.classes[1].mig"},
      {"unknown field", R"({"nodes": [{"name": "a", "colour": 1}], "workload": {}})",
       "scenario.nodes[0].colour"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto s = ParseScenario(tc.json, -1);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(std::string(s.status().message()).find(tc.want), std::string::npos)
        << s.status().message();
  }
}

TEST(ScenarioTest, EveryPodPlacedOrWaitingAndCapacityNeverExceeded) {
  // Two 8-GPU DGX-1 nodes, 4-GPU pods requiring NVLink: at most 4 run at once. Every pod is
  // eventually placed (departures free room), each on an NVLink ring.
  const std::string json = R"({
    "seed": 3,
    "nodes": [{"name": "v", "count": 2, "profile": "dgx1-v100", "gpu_model": "V100",
               "cpu_milli": 80000, "memory_mib": 524288}],
    "workload": {"pods": 40, "mean_interarrival_s": 10,
                 "classes": [{"gpus": 4, "nvlink": "required", "cpu_milli": 1000,
                              "mean_duration_s": 100}]}})";
  auto s = ParseScenario(json, -1);
  ASSERT_TRUE(s.ok()) << s.status();
  plugins::PolicyConfig config;
  auto solver = plugins::BuildSolver(config, s->workload);
  ASSERT_TRUE(solver.ok()) << solver.status();
  auto r = RunScenario(**solver, *s, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->placed, 40);
  EXPECT_EQ(r->never_placed, 0);
  EXPECT_EQ(r->multi_gpu_nvlink_ring, 40);
  EXPECT_LE(r->mean_alloc_pct, 100.0);
  EXPECT_GT(r->mean_alloc_pct, 0.0);
}

// Four 8-GPU nodes from a scenario with racks of two (s-0, s-1 in rack 0; s-2, s-3 in rack 1),
// and a hand-made arrival list: an 8-GPU pod for 100 s at t=1, a gang of two 8-GPU members for
// 50 s at t=2, a gang of four at t=3 (it must wait for everything else to leave).
Scenario HandMadeGangs() {
  absl::StatusOr<Scenario> s = ParseScenario(R"({
    "nodes": [{"name": "s", "count": 4, "gpus": 8, "gpu_model": "H100", "cpu_milli": 64000}],
    "network": {"nodes_per_rack": 2, "racks_per_block": 2},
    "workload": {"pods": 1, "classes": [{"gpus": 8}]}})",
                                             -1);
  EXPECT_TRUE(s.ok()) << s.status();
  ScenarioPod single, pair, quad;
  single.request.cpu_milli = pair.request.cpu_milli = quad.request.cpu_milli = 1000;
  single.request.gpu_count = pair.request.gpu_count = quad.request.gpu_count = 8;
  single.arrival = 1;
  single.duration = 100;
  pair.arrival = 2;
  pair.duration = 50;
  pair.members = 2;
  quad.arrival = 3;
  quad.duration = 10;
  quad.members = 4;
  s->pods = {single, pair, quad};
  return *s;
}

// Scenario `s` under `policy` (gangs by the planner for accelsched, member by member otherwise),
// seed 1, gangs from `large_gang` members counted as large.
absl::StatusOr<ScenarioResult> RunPolicy(const std::string& policy, const Scenario& s,
                                         int large_gang = 16) {
  plugins::PolicyConfig config;
  config.policy = policy;
  absl::StatusOr<std::unique_ptr<plugins::Solver>> solver =
      plugins::BuildSolver(config, s.workload);
  if (!solver.ok()) {
    return solver.status();
  }
  ScenarioOptions options;
  options.gangs = policy == "accelsched" ? GangMethod::kPlanner : GangMethod::kPodByPod;
  options.large_gang = large_gang;
  return RunScenario(**solver, s, 1, options);
}

TEST(ScenarioTest, GangsAreAllOrNothingAndThePlannerKeepsThemInOneRack) {
  const Scenario s = HandMadeGangs();
  for (const char* policy : {"firstfit", "accelsched"}) {
    SCOPED_TRACE(policy);
    const std::string p = policy;
    auto r = RunPolicy(p, s, /*large_gang=*/4);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->placed, 3);
    EXPECT_EQ(r->gangs, 2);
    EXPECT_EQ(r->gangs_placed, 2);
    // First fit by node puts the single pod on s-0 and the pair on s-1 and s-2: across racks.
    // The planner puts the pair in the rack the single pod left whole.
    EXPECT_EQ(r->gangs_in_rack, p == "accelsched" ? 1 : 0);
    // The quad fits only on the empty cluster: it waits for the single pod (t=101), so 98 s.
    EXPECT_EQ(r->large, 1);
    EXPECT_EQ(r->large_placed, 1);
    EXPECT_EQ(r->large_in_rack, 0);   // Four nodes: two racks.
    EXPECT_EQ(r->large_in_block, 1);  // One block of two racks.
    EXPECT_DOUBLE_EQ(r->large_mean_wait_s, 98.0);
    EXPECT_EQ(r->large_fit_rack, 0);  // Four 8-GPU members, racks of two 8-GPU nodes.
  }
}

// The bound on large gangs within one rack: of the pair (two 8-GPU members) and the quad, only
// the pair fits the two nodes of a rack; with four members of 4 GPUs each it fits as well (two
// per node). By hand from the layout, whatever the policy.
TEST(ScenarioTest, LargeGangsThatFitOneRackBoundTheRackShare) {
  Scenario s = HandMadeGangs();
  for (const char* policy : {"firstfit", "accelsched"}) {
    SCOPED_TRACE(policy);
    auto r = RunPolicy(policy, s, /*large_gang=*/2);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->large, 2);
    EXPECT_EQ(r->large_fit_rack, 1);
    EXPECT_LE(r->large_in_rack, r->large_fit_rack);
    Scenario half = s;
    half.pods[2].request.gpu_count = 4;  // The quad: four members of 4 GPUs.
    r = RunPolicy(policy, half, /*large_gang=*/2);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->large_fit_rack, 2);
  }
}

// A 2-GPU pod, then a 4-GPU pod, on an empty DGX-1 V100: both count as on a topology, and both
// get a best set (accelsched-topo best-set --profile dgx1-v100 gives GPUs 1,2 at 50 GB/s and
// 0-3 at 25 GB/s, the best of their sizes), under first fit as under accelsched: every policy
// takes its devices with the topology-aware device-set search. (IsBestSetTest checks the
// judgement itself, on every subset.)
TEST(ScenarioTest, BestSetsAreCountedAgainstTheBestTheNodeModelOffers) {
  absl::StatusOr<Scenario> s = ParseScenario(R"({
    "nodes": [{"name": "v", "count": 1, "profile": "dgx1-v100", "gpu_model": "V100"}],
    "workload": {"pods": 1, "classes": [{"gpus": 2}]}})",
                                             -1);
  ASSERT_TRUE(s.ok()) << s.status();
  ScenarioPod pair, quad;
  pair.request.gpu_count = 2;
  pair.arrival = 1;
  pair.duration = 10;
  quad.request.gpu_count = 4;
  quad.arrival = 20;
  quad.duration = 10;
  s->pods = {pair, quad};
  for (const auto& [policy, best_sets] : {std::pair{"firstfit", 2}, std::pair{"accelsched", 2}}) {
    SCOPED_TRACE(policy);
    auto r = RunPolicy(policy, *s);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->multi_gpu_on_topology, 2);
    EXPECT_EQ(r->multi_gpu_best_set, best_sets);
    EXPECT_EQ(r->multi_gpu_best_available, 2);  // The node is empty for each.
  }
}

// Under contention, every pod given a best set had one available, and not every pod had one:
// best set <= best available <= on a topology, for every policy.
TEST(ScenarioTest, ABestSetIsGivenOnlyWhereOneWasAvailable) {
  absl::StatusOr<Scenario> s = ParseScenario(R"({
    "nodes": [{"name": "v", "count": 3, "profile": "dgx1-v100", "gpu_model": "V100"}],
    "workload": {"pods": 300, "mean_interarrival_s": 10, "classes": [
      {"weight": 2, "gpus": 1, "mean_duration_s": 100},
      {"weight": 1, "gpus": 2, "mean_duration_s": 100},
      {"weight": 1, "gpus": 3, "mean_duration_s": 100}]}})",
                                             -1);
  ASSERT_TRUE(s.ok()) << s.status();
  for (const char* policy : {"firstfit", "bestfit", "fgd", "accelsched"}) {
    SCOPED_TRACE(policy);
    auto r = RunPolicy(policy, *s);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(r->multi_gpu_on_topology, 100);
    EXPECT_EQ(r->multi_gpu_on_topology, r->multi_gpu_placed);
    EXPECT_LE(r->multi_gpu_best_set, r->multi_gpu_best_available);
    EXPECT_LT(r->multi_gpu_best_available, r->multi_gpu_on_topology);
  }
}

TEST(ScenarioTest, GangFieldsAreChecked) {
  const struct {
    const char* json;
    const char* fragment;
  } cases[] = {
      {R"({"nodes": [{"name": "a"}], "workload": {"classes": [{"gang_sizes": [1]}]}})",
       "scenario.workload.classes[0].gang_sizes: member counts must be integers in 2..100000"},
      {R"({"nodes": [{"name": "a"}], "workload": {"classes": [{"gang_network": "required:rack"}]}})",
       "scenario.workload.classes[0].gang_network: needs gang_sizes"},
      {R"({"nodes": [{"name": "a"}],
           "workload": {"classes": [{"gang_sizes": [2], "gang_network": "rack"}]}})",
       "gang_network: must be \"required:LEVEL\""},
      {R"({"nodes": [{"name": "a"}],
           "workload": {"classes": [{"gang_sizes": [2], "gang_network": "required:rack"}]}})",
       "scenario.network: required by gang_network"},
      {R"({"nodes": [{"name": "a"}], "network": {"nodes_per_rack": 0}, "workload": {"classes": [{}]}})",
       "scenario.network.nodes_per_rack: must be in 1..100000"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.json);
    auto s = ParseScenario(tc.json, -1);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find(tc.fragment), std::string::npos) << s.status().message();
  }
}

}  // namespace
}  // namespace accelsched::sim

namespace accelsched::sim {
namespace {

TEST(ParseSeedsTest, SeedsRangesAndLists) {
  EXPECT_EQ(*ParseSeeds("42"), (std::vector<uint64_t>{42}));
  EXPECT_EQ(*ParseSeeds("42-45"), (std::vector<uint64_t>{42, 43, 44, 45}));
  EXPECT_EQ(*ParseSeeds("1,3,7-8"), (std::vector<uint64_t>{1, 3, 7, 8}));
  for (const char* bad : {"", "x", "9-3", "1-", "-4", "1,,2", "0-100001"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::vector<uint64_t>> s = ParseSeeds(bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("--seeds"), std::string::npos) << s.status();
  }
}

}  // namespace
}  // namespace accelsched::sim
