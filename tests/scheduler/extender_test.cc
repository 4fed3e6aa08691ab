// Tests of the extender verbs on typed values (scheduler/extender.h) over a static cluster
// loaded through the real cluster-file path (scheduler/cluster_file.h).
#include "scheduler/service/extender.h"

#include <atomic>
#include <bit>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "scheduler/cmd/app.h"
#include "scheduler/codec/extender.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/json_util.h"
#include "tests/testing/placed.h"

namespace accelsched::scheduler {
namespace {

using codec::Json;

// A GFD-labelled node: `gpus` GPUs of `product`, 64 cores, 512 GiB.
Json GpuNode(const std::string& name, const std::string& product, int gpus, int64_t memory_mib) {
  return Json{{"kind", "Node"},
              {"metadata",
               {{"name", name},
                {"labels",
                 {{"nvidia.com/gpu.product", product},
                  {"nvidia.com/gpu.count", std::to_string(gpus)},
                  {"nvidia.com/gpu.memory", std::to_string(memory_mib)}}}}},
              {"status",
               {{"allocatable",
                 {{"cpu", "64"}, {"memory", "512Gi"}, {"nvidia.com/gpu", std::to_string(gpus)}}}}}};
}

// A pod asking for `gpus` whole GPUs (or a share of `milli`), 1 core, 1 GiB.
Json GpuPod(const std::string& name, const std::string& uid, int gpus, int milli = 0) {
  Json limits = {{"cpu", "1"}, {"memory", "1Gi"}};
  if (gpus > 0) limits["nvidia.com/gpu"] = gpus;
  if (milli > 0) limits["accelsched.io/gpu-milli"] = milli;
  return Json{
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", "team"}, {"uid", uid}}},
      {"spec",
       {{"containers", Json::array({{{"name", "c"}, {"resources", {{"limits", limits}}}}})}}}};
}

// The same pod bound to `node` with accelsched's gpu-ids annotation.
Json BoundPod(const std::string& name, const std::string& uid, int gpus, const std::string& node,
              const std::string& gpu_ids) {
  Json p = GpuPod(name, uid, gpus);
  p["spec"]["nodeName"] = node;
  p["status"] = {{"phase", "Running"}};
  p["metadata"]["annotations"] = {{"accelsched.io/gpu-ids", gpu_ids}};
  return p;
}

struct Fixture {
  Metrics metrics;
  InMemoryBinder binder;
  StaticCluster cluster;
  Extender& extender() { return *cluster.extender; }
};

std::unique_ptr<Fixture> Load(const Json& items, Binder* binder = nullptr,
                              const ExtenderConfig& config = ExtenderConfig{}) {
  auto f = std::make_unique<Fixture>();
  Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
  absl::StatusOr<StaticCluster> c = LoadStaticCluster(list.dump(), "test.json", config,
                                                      binder ? binder : &f->binder, &f->metrics);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  f->cluster = std::move(*c);
  return f;
}

codec::ExtenderArgs Args(const Json& pod, std::vector<std::string> nodes) {
  codec::ExtenderArgs args;
  absl::StatusOr<codec::PodObject> p = codec::DecodePod(pod, "Pod");
  EXPECT_TRUE(p.ok()) << p.status();
  args.pod = *p;
  args.node_names = std::move(nodes);
  return args;
}

codec::BindingArgs Binding(const std::string& name, const std::string& uid,
                           const std::string& node) {
  return codec::BindingArgs{name, "team", uid, node};
}

// n1: 8 H100, 4 of them used by pod "a" (GPUs 0-3); n2: 8 H100, empty; v1: 4 V100.
Json ThreeNodes() {
  return Json::array({GpuNode("n1", "NVIDIA-H100-80GB-HBM3", 8, 81559),
                      GpuNode("n2", "NVIDIA-H100-80GB-HBM3", 8, 81559),
                      GpuNode("v1", "Tesla-V100-SXM2-32GB", 4, 32768),
                      BoundPod("a", "uid-a", 4, "n1", "0,1,2,3")});
}

TEST(ExtenderFilterTest, EveryNodeAccountedForWithTheRightKindOfFailure) {
  auto f = Load(ThreeNodes());
  ASSERT_NE(f, nullptr);
  // 8 GPUs: n1 has 4 free (preemption could help), n2 fits, v1 has 4 in all (cannot ever fit),
  // "ghost" is unknown.
  const codec::ExtenderArgs args = Args(GpuPod("p", "uid-p", 8), {"n1", "n2", "v1", "ghost"});
  absl::StatusOr<codec::FilterResult> r = f->extender().Filter(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->survivors, std::vector<int>{1});
  const auto named_failed = r->Named(args, /*unresolvable=*/false);
  const auto named_unresolvable = r->Named(args, /*unresolvable=*/true);
  const std::map<std::string, std::string> failed(named_failed.begin(), named_failed.end());
  const std::map<std::string, std::string> unresolvable(named_unresolvable.begin(),
                                                        named_unresolvable.end());
  ASSERT_EQ(failed.size(), 1u);
  ASSERT_TRUE(failed.count("n1"));
  EXPECT_NE(failed.at("n1").find("insufficient GPUs"), std::string::npos) << failed.at("n1");
  EXPECT_EQ(unresolvable.size(), 2u);
  EXPECT_TRUE(unresolvable.count("v1"));
  ASSERT_TRUE(unresolvable.count("ghost"));
  EXPECT_NE(unresolvable.at("ghost").find("unknown"), std::string::npos);
  EXPECT_EQ(f->cluster.ledger->num_pods(), 1u);  // Filter changes nothing.
}

// Issue 16, finding 4: kube-scheduler before 1.20 has no FailedAndUnresolvableNodes and drops
// the reasons given there (an impossible pod's event said only "Insufficient memory"). With
// unresolvableAsFailedNodes every refused node is in FailedNodes, in candidate order, with its
// own reason.
TEST(ExtenderFilterTest, UnresolvableAsFailedNodesPutsEveryReasonInFailedNodes) {
  ExtenderConfig config;
  config.unresolvable_as_failed_nodes = true;
  auto f = Load(ThreeNodes(), nullptr, config);
  ASSERT_NE(f, nullptr);
  const codec::ExtenderArgs args = Args(GpuPod("p", "uid-p", 8), {"ghost", "n1", "n2", "v1"});
  absl::StatusOr<codec::FilterResult> r = f->extender().Filter(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->survivors, std::vector<int>{2});
  EXPECT_TRUE(r->failed_unresolvable.empty());
  const auto failed = r->Named(args, /*unresolvable=*/false);
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_EQ(failed[0].first, "ghost");
  EXPECT_NE(failed[0].second.find("unknown to accelsched"), std::string::npos) << failed[0].second;
  EXPECT_EQ(failed[1].first, "n1");
  EXPECT_NE(failed[1].second.find("insufficient GPUs"), std::string::npos) << failed[1].second;
  EXPECT_EQ(failed[2].first, "v1");
  EXPECT_NE(failed[2].second.find("more than the node has"), std::string::npos) << failed[2].second;
}

// Issue 16, finding 1: kube-scheduler does not check accelsched.io/gpu-milli (ignoredByScheduler)
// and counted GPUs from the nvidia.com/gpu.count label, so pods went to nodes whose allocatable
// does not advertise what they ask; the kubelet then starts them without the device. Filter
// refuses such a node (unresolvable), naming the resource, and never uses more GPUs outside MIG
// mode than allocatable nvidia.com/gpu advertises.
TEST(ExtenderFilterTest, NodesMustAdvertiseEveryAcceleratorResourceThePodAsks) {
  Json nothing = GpuNode("bare", "NVIDIA-H100-80GB-HBM3", 8, 81559);  // GPUs from labels only.
  nothing["status"]["allocatable"].erase("nvidia.com/gpu");
  Json whole = GpuNode("whole", "NVIDIA-H100-80GB-HBM3", 8, 81559);  // No gpu-milli.
  Json shares = GpuNode("shares", "NVIDIA-H100-80GB-HBM3", 8, 81559);
  shares["status"]["allocatable"]["accelsched.io/gpu-milli"] = "8000";
  Json fewer = GpuNode("fewer", "NVIDIA-H100-80GB-HBM3", 8, 81559);  // 2 GPUs withheld.
  fewer["status"]["allocatable"]["nvidia.com/gpu"] = "6";
  Json mig = GpuNode("mig", "NVIDIA-A100-SXM4-80GB", 8, 81920);
  mig["metadata"]["annotations"] = {{"accelsched.io/mig-gpus", "0"}};
  mig["status"]["allocatable"]["nvidia.com/gpu"] = "7";
  mig["status"]["allocatable"]["nvidia.com/mig-3g.40gb"] = "2";
  mig["status"]["allocatable"]["nvidia.com/mig-1g.10gb.me"] = "1";  // The device plugin's name.
  auto f = Load(Json::array({nothing, whole, shares, fewer, mig}));
  ASSERT_NE(f, nullptr);
  const std::vector<std::string> nodes = {"bare", "whole", "shares", "fewer", "mig"};
  auto mig_pod = [](const std::string& resource) {
    Json p = GpuPod("m", "uid-m", 0);
    p["spec"]["containers"][0]["resources"]["limits"][resource] = 1;
    return p;
  };
  const struct {
    std::string name;
    Json pod;
    std::vector<int> survivors;
    std::map<std::string, std::string> refused;  // Node -> part of its reason.
  } cases[] = {
      {"whole GPU",
       GpuPod("w", "uid-w", 1),
       {1, 2, 3, 4},
       {{"bare", "does not advertise nvidia.com/gpu in allocatable"}}},
      {"share",
       GpuPod("s", "uid-s", 0, 250),
       {2},
       {{"bare", "does not advertise accelsched.io/gpu-milli"},
        {"whole", "does not advertise accelsched.io/gpu-milli in allocatable"},
        {"fewer", "does not advertise accelsched.io/gpu-milli"},
        {"mig", "does not advertise accelsched.io/gpu-milli"}}},
      {"8 GPUs where 6 are advertised",
       GpuPod("e", "uid-e", 8),
       {1, 2},
       {{"bare", "nvidia.com/gpu"}, {"fewer", "unhealthy"}, {"mig", "outside MIG mode"}}},
      {"advertised MIG profile", mig_pod("nvidia.com/mig-3g.40gb"), {4}, {}},
      {"advertised +me profile", mig_pod("nvidia.com/mig-1g.10gb.me"), {4}, {}},
      {"MIG profile not advertised",
       mig_pod("nvidia.com/mig-1g.10gb"),
       {},
       {{"mig", "does not advertise nvidia.com/mig-1g.10gb in allocatable"}}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const codec::ExtenderArgs args = Args(tc.pod, nodes);
    absl::StatusOr<codec::FilterResult> r = f->extender().Filter(args);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->survivors, tc.survivors);
    const auto unresolvable = r->Named(args, /*unresolvable=*/true);
    const auto failed = r->Named(args, /*unresolvable=*/false);
    std::map<std::string, std::string> reasons(unresolvable.begin(), unresolvable.end());
    reasons.insert(failed.begin(), failed.end());
    for (const auto& [node, fragment] : tc.refused) {
      ASSERT_TRUE(reasons.count(node)) << node;
      EXPECT_NE(reasons.at(node).find(fragment), std::string::npos)
          << node << ": " << reasons.at(node);
    }
  }
  // "fewer" holds 6 usable GPUs: a 6-GPU pod fits, and after it nothing whole is left.
  const codec::ExtenderArgs six = Args(GpuPod("six", "uid-six", 6), {"fewer"});
  ASSERT_EQ(f->extender().Filter(six)->survivors, std::vector<int>{0});
  ASSERT_TRUE(f->extender().Bind(Binding("six", "uid-six", "fewer")).ok());
  EXPECT_TRUE(
      f->extender().Filter(Args(GpuPod("one", "uid-one", 1), {"fewer"}))->survivors.empty());
}

TEST(ExtenderPrioritizeTest, SolverChoiceGetsTenInfeasibleZero) {
  auto f = Load(ThreeNodes());
  ASSERT_NE(f, nullptr);
  // A 4-GPU pod fits n1 (fills it) and n2 (half). Filling n1 leaves no fragment, while n2 would
  // keep 4 GPUs that an 8-GPU pod cannot use, so the packing policy prefers n1.
  // Scores in the order of the names: n2, n1, ghost.
  absl::StatusOr<std::vector<int64_t>> r =
      f->extender().Prioritize(Args(GpuPod("p", "uid-p", 4), {"n2", "n1", "ghost"}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[1], 10);
  EXPECT_LT((*r)[0], 10);
  EXPECT_EQ((*r)[2], 0);
}

// The memo (memoShapes, on by default) must not change an answer: the same cycles through two
// extenders, one with it off, give identical filter results, reasons and scores, while binds
// change the cluster between cycles.
TEST(ExtenderPrioritizeTest, MemoOnAndOffGiveTheSameAnswersAcrossBinds) {
  Json items = Json::array();
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) {
    names.push_back("h" + std::to_string(i));
    items.push_back(i % 3 == 2 ? GpuNode(names.back(), "Tesla-V100-SXM2-32GB", 4, 32768)
                               : GpuNode(names.back(), "NVIDIA-H100-80GB-HBM3", 8, 81559));
  }
  names.emplace_back("ghost");
  auto with = Load(items);
  ExtenderConfig off;
  off.memo_shapes = 0;
  auto without = Load(items, nullptr, off);
  ASSERT_NE(with, nullptr);
  ASSERT_NE(without, nullptr);
  const struct { int gpus, milli; } shapes[] = {{1, 0}, {2, 0}, {4, 0}, {8, 0}, {0, 250}, {0, 500}};
  int bound = 0;
  for (int i = 0; i < 60; ++i) {
    SCOPED_TRACE(i);
    const auto& shape = shapes[(i * 7) % 6];
    const std::string pod = "p" + std::to_string(i);
    const codec::ExtenderArgs args =
        Args(GpuPod(pod, "uid-" + pod, shape.gpus, shape.milli), names);
    absl::StatusOr<codec::FilterResult> a = with->extender().Filter(args);
    absl::StatusOr<codec::FilterResult> b = without->extender().Filter(args);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->survivors, b->survivors);
    EXPECT_EQ(a->Named(args, false), b->Named(args, false));
    EXPECT_EQ(a->Named(args, true), b->Named(args, true));
    if (a->survivors.empty()) continue;
    std::vector<std::string> survivors;
    for (int k : a->survivors) survivors.push_back(names[static_cast<size_t>(k)]);
    const codec::ExtenderArgs pargs =
        Args(GpuPod(pod, "uid-" + pod, shape.gpus, shape.milli), survivors);
    absl::StatusOr<std::vector<int64_t>> pa = with->extender().Prioritize(pargs);
    absl::StatusOr<std::vector<int64_t>> pb = without->extender().Prioritize(pargs);
    ASSERT_TRUE(pa.ok() && pb.ok());
    EXPECT_EQ(*pa, *pb);
    ASSERT_EQ(pa->size(), survivors.size());
    std::string best;
    int64_t best_score = -1;
    for (size_t k = 0; k < pa->size(); ++k) {
      if ((*pa)[k] > best_score) {
        best_score = (*pa)[k];
        best = survivors[k];
      }
    }
    ASSERT_TRUE(with->extender().Bind(Binding(pod, "uid-" + pod, best)).ok());
    ASSERT_TRUE(without->extender().Bind(Binding(pod, "uid-" + pod, best)).ok());
    ++bound;
  }
  EXPECT_GT(bound, 20);
  const plugins::SolverMemo::Stats on = with->extender().memo_stats();
  EXPECT_GT(on.filter_hits, on.filter_misses);  // It was used, and changed only what changed.
  EXPECT_EQ(without->extender().memo_stats().filter_hits, 0u);
}

TEST(ExtenderBindTest, BindsOnceAndRetriesAreIdempotent) {
  auto f = Load(ThreeNodes());
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->extender().Filter(Args(GpuPod("p", "uid-p", 4), {"n1"})).ok());
  ASSERT_TRUE(f->extender().Bind(Binding("p", "uid-p", "n1")).ok());
  std::optional<PlacedPod> placed = f->cluster.ledger->Find("uid-p");
  ASSERT_TRUE(placed.has_value());
  EXPECT_EQ(
      AssignmentAnnotationsOf(*placed, *f->cluster.ledger->Snapshot()).at("accelsched.io/gpu-ids"),
      "4,5,6,7");  // 0-3 are pod a's.
  const int64_t used = f->cluster.ledger->Snapshot()->gpu_used_milli();
  EXPECT_EQ(used, 8000);
  // A retry after a lost reply: success, nothing allocated twice.
  EXPECT_TRUE(f->extender().Bind(Binding("p", "uid-p", "n1")).ok());
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), used);
  EXPECT_EQ(f->cluster.ledger->num_pods(), 2u);
  // The same pod to another node: refused.
  absl::Status other = f->extender().Bind(Binding("p", "uid-p", "n2"));
  EXPECT_TRUE(absl::IsFailedPrecondition(other)) << other;
  // A pod that was never filtered: NotFound, and the name must match the UID.
  EXPECT_TRUE(absl::IsNotFound(f->extender().Bind(Binding("q", "uid-q", "n2"))));
  ASSERT_TRUE(f->extender().Filter(Args(GpuPod("r", "uid-r", 1), {"n2"})).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(f->extender().Bind(Binding("not-r", "uid-r", "n2"))));
  // n1 is now full: a 1-GPU pod no longer fits there.
  absl::Status full = f->extender().Bind(Binding("r", "uid-r", "n1"));
  EXPECT_TRUE(absl::IsFailedPrecondition(full)) << full;
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), used);
}

class FailingBinder final : public Binder {
 public:
  absl::Status Bind(const codec::PodObject&, const std::string&,
                    const std::map<std::string, std::string>&) override {
    ++calls;
    return absl::UnavailableError("API server unreachable");
  }
  int calls = 0;
};

// Issue 16, finding 3: kube-scheduler binds in the background, so pod B's filter and prioritize
// run before pod A's bind arrives. Without holds the extender offered A's devices to B too, and
// the later bind was rejected ("no longer fits"). With them, prioritize holds A's devices: B is
// refused at filter (and goes elsewhere), and A's bind takes exactly the held devices.
TEST(ExtenderBindTest, PrioritizeHoldsTheDevicesUntilTheBindArrives) {
  for (const bool hold : {false, true}) {
    SCOPED_TRACE(hold ? "holds on" : "holds off (the race)");
    ExtenderConfig config;
    config.tentative_hold_seconds = hold ? 15 : 0;
    Json one = GpuNode("one", "NVIDIA-H100-80GB-HBM3", 8, 81559);
    one["status"]["allocatable"]["accelsched.io/gpu-milli"] = "8000";
    Json two = one;
    two["metadata"]["name"] = "two";
    auto f = Load(Json::array({one, two}), nullptr, config);
    ASSERT_NE(f, nullptr);
    const codec::ExtenderArgs a = Args(GpuPod("a", "uid-a", 6), {"one", "two"});
    const codec::ExtenderArgs b = Args(GpuPod("b", "uid-b", 6), {"one", "two"});
    ASSERT_EQ(f->extender().Filter(a)->survivors, (std::vector<int>{0, 1}));
    ASSERT_EQ(*f->extender().Prioritize(a), (std::vector<int64_t>{10, 9}));
    // B's cycle runs before A's bind.
    absl::StatusOr<codec::FilterResult> fb = f->extender().Filter(b);
    absl::StatusOr<std::vector<int64_t>> pb = f->extender().Prioritize(b);
    ASSERT_TRUE(fb.ok() && pb.ok());
    const std::string b_node = (*pb)[0] == 10 ? "one" : "two";
    const absl::Status bind_b = f->extender().Bind(Binding("b", "uid-b", b_node));
    const absl::Status bind_a = f->extender().Bind(Binding("a", "uid-a", "one"));
    if (!hold) {
      // The control: B was offered "one" too, took it, and A's bind is rejected.
      EXPECT_EQ(fb->survivors, (std::vector<int>{0, 1}));
      EXPECT_EQ(b_node, "one");
      EXPECT_TRUE(bind_b.ok()) << bind_b;
      EXPECT_EQ(bind_a.code(), absl::StatusCode::kFailedPrecondition) << bind_a;
      continue;
    }
    EXPECT_EQ(fb->survivors, std::vector<int>{1});  // "one" is held for A.
    EXPECT_EQ(b_node, "two");
    EXPECT_TRUE(bind_b.ok()) << bind_b;
    EXPECT_TRUE(bind_a.ok()) << bind_a;
    EXPECT_EQ(f->cluster.ledger->num_pods(), 2u);
    EXPECT_EQ(f->cluster.ledger->Find("uid-a")->node, "one");
    EXPECT_EQ(f->extender().holds().size(), 0u);
    EXPECT_EQ(f->extender().holds().counts().bound, 2);
  }
}

// A hold does not stand in its own pod's way: the pod's next cycle gives it back first, and a
// bind on another node than the top one gives it back too.
TEST(ExtenderBindTest, AHoldIsGivenBackByTheNextCycleOrABindElsewhere) {
  auto f = Load(Json::array({GpuNode("one", "NVIDIA-H100-80GB-HBM3", 8, 81559),
                             GpuNode("two", "NVIDIA-H100-80GB-HBM3", 8, 81559)}));
  ASSERT_NE(f, nullptr);
  const codec::ExtenderArgs a = Args(GpuPod("a", "uid-a", 8), {"one", "two"});
  ASSERT_EQ(*f->extender().Prioritize(a), (std::vector<int64_t>{10, 9}));
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), 8000);
  // Retried (e.g. kube-scheduler's own plugins failed it later): both nodes are open to it.
  EXPECT_EQ(f->extender().Filter(a)->survivors, (std::vector<int>{0, 1}));
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), 0);
  ASSERT_EQ(*f->extender().Prioritize(a), (std::vector<int64_t>{10, 9}));
  // kube-scheduler's own scores chose "two": the hold on "one" goes back.
  ASSERT_TRUE(f->extender().Bind(Binding("a", "uid-a", "two")).ok());
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), 8000);
  EXPECT_EQ(f->cluster.ledger->num_pods(), 1u);
  EXPECT_EQ(f->cluster.ledger->Find("uid-a")->node, "two");
}

TEST(ExtenderBindTest, FailedApiBindRollsBack) {
  FailingBinder binder;
  auto f = Load(ThreeNodes(), &binder);
  ASSERT_NE(f, nullptr);
  const int64_t before = f->cluster.ledger->Snapshot()->gpu_used_milli();
  ASSERT_TRUE(f->extender().Filter(Args(GpuPod("p", "uid-p", 2), {"n2"})).ok());
  absl::Status s = f->extender().Bind(Binding("p", "uid-p", "n2"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(binder.calls, 1);
  EXPECT_FALSE(f->cluster.ledger->Find("uid-p").has_value());
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), before);
}

TEST(ExtenderBindTest, ConcurrentBindsNeverDoubleAllocate) {
  auto f = Load(Json::array({GpuNode("n", "NVIDIA-H100-80GB-HBM3", 8, 81559)}));
  ASSERT_NE(f, nullptr);
  // 12 one-GPU pods race for 8 GPUs: exactly 8 win, on 8 distinct GPUs.
  constexpr int kPods = 12;
  for (int i = 0; i < kPods; ++i) {
    ASSERT_TRUE(f->extender()
                    .Filter(Args(GpuPod(absl::StrCat("p", i), absl::StrCat("u", i), 1), {"n"}))
                    .ok());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] {
      if (f->extender().Bind(Binding(absl::StrCat("p", i), absl::StrCat("u", i), "n")).ok()) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  std::set<std::string> gpus;
  for (const PlacedPod& p : f->cluster.ledger->Pods()) gpus.insert(testing::GpuIds(p));
  EXPECT_EQ(gpus.size(), 8u);
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), 8000);
}

TEST(ExtenderPreemptTest, KeepsOnlyNodesWhereEvictionHelpsAndTrimsVictims) {
  // n1: pods a (GPUs 0-3) and b (4-7); v1: pod c on all 4 V100s.
  Json items = Json::array(
      {GpuNode("n1", "NVIDIA-H100-80GB-HBM3", 8, 81559),
       GpuNode("v1", "Tesla-V100-SXM2-32GB", 4, 32768), BoundPod("a", "uid-a", 4, "n1", "0,1,2,3"),
       BoundPod("b", "uid-b", 4, "n1", "4,5,6,7"), BoundPod("c", "uid-c", 4, "v1", "0,1,2,3")});
  auto f = Load(items);
  ASSERT_NE(f, nullptr);
  codec::PreemptionArgs args;
  args.pod = *codec::DecodePod(GpuPod("p", "uid-p", 4), "Pod");
  // kube-scheduler proposes evicting both pods on n1; one is enough. On v1, evicting c frees 4
  // GPUs, which fits too. "ghost" is unknown. An 8-GPU pod could only use n1.
  args.victims = {{"n1", {"uid-a", "uid-b"}}, {"v1", {"uid-c"}}, {"ghost", {"x"}}};
  args.pdb_violations = {{"n1", 1}};
  absl::StatusOr<Extender::PreemptOutcome> r = f->extender().Preempt(args);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->victims.size(), 2u);
  // Put back in the order given: a still leaves b's GPUs free, so a is spared; then b must go.
  EXPECT_EQ(r->victims.at("n1"), std::vector<std::string>{"uid-b"});
  EXPECT_EQ(r->victims.at("v1"), std::vector<std::string>{"uid-c"});
  EXPECT_EQ(r->pdb_violations.at("n1"), 1);

  args.pod = *codec::DecodePod(GpuPod("big", "uid-big", 8), "Pod");
  r = f->extender().Preempt(args);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->victims.size(), 1u);  // v1 has 4 GPUs: no eviction helps.
  EXPECT_EQ(r->victims.at("n1"), (std::vector<std::string>{"uid-a", "uid-b"}));
  // Preempt is a what-if: nothing was released.
  EXPECT_EQ(f->cluster.ledger->num_pods(), 3u);
  EXPECT_EQ(f->cluster.ledger->Snapshot()->gpu_used_milli(), 12000);
}

TEST(StaticClusterTest, TwoPodsOnOneGpuAreRejectedNamingThePod) {
  Json items =
      Json::array({GpuNode("n1", "NVIDIA-H100-80GB-HBM3", 8, 81559),
                   BoundPod("a", "uid-a", 2, "n1", "0,1"), BoundPod("b", "uid-b", 2, "n1", "1,2")});
  Metrics metrics;
  InMemoryBinder binder;
  Json list = {{"kind", "List"}, {"items", items}};
  absl::StatusOr<StaticCluster> c =
      LoadStaticCluster(list.dump(), "c.json", ExtenderConfig{}, &binder, &metrics);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("team/b"), std::string::npos) << c.status();
}

TEST(StaticClusterTest, ShareAndMigPodsAdoptedFromAnnotations) {
  Json a100 = GpuNode("a100", "NVIDIA-A100-SXM4-80GB", 8, 81920);
  a100["metadata"]["annotations"] = {{"accelsched.io/mig-gpus", "0-3"}};
  Json share = GpuPod("s", "uid-s", 0, 300);
  share["spec"]["nodeName"] = "a100";
  share["metadata"]["annotations"] = {{"accelsched.io/gpu-ids", "5"},
                                      {"accelsched.io/gpu-share", "5@300"}};
  Json mig = GpuPod("m", "uid-m", 0);
  mig["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/mig-3g.40gb"] = 1;
  mig["spec"]["nodeName"] = "a100";
  mig["metadata"]["annotations"] = {{"accelsched.io/gpu-ids", "2"},
                                    {"accelsched.io/mig-placement", "2:3g.40gb@4"}};
  auto f = Load(Json::array({a100, share, mig}));
  ASSERT_NE(f, nullptr);
  const plugins::NodeInfo& n = f->cluster.ledger->Snapshot()->node(0);
  EXPECT_EQ(n.gpu_free_milli[5], 700);
  // 3g at start slot 4 takes memory slots 4-7 of GPU 2.
  EXPECT_EQ(n.mig_used_slots[2], 0xF0);
}

}  // namespace
}  // namespace accelsched::scheduler
