// Tenancy (scheduler/tenancy.h): the sharing rules of each isolation, checked case by case
// against the table in the header comment, and the rules through the extender's filter and bind
// on a static cluster whose file lists the namespaces.
#include "scheduler/state/tenancy.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "scheduler/cmd/app.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/json_util.h"
#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::Pod;
using codec::Json;
using plugins::Assignment;

Assignment ShareOn(int gpu, int milli) {
  Assignment a;
  a.node = 0;
  a.gpus = plugins::GpuMask{1} << gpu;
  a.gpu_milli = milli;
  return a;
}

Assignment MigOn(int gpu) {
  Assignment a;
  a.node = 0;
  a.gpus = plugins::GpuMask{1} << gpu;
  a.mig_profile_id = 19;
  a.mig_start = 0;
  return a;
}

Assignment WholeOn(plugins::GpuMask gpus) {
  Assignment a;
  a.node = 0;
  a.gpus = gpus;
  return a;
}

TEST(TenancyTest, ParseIsolationNamesTheLabel) {
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

TEST(TenancyTest, TableKeepsOnlyRestrictedNamespaces) {
  TenancyTable t;
  EXPECT_FALSE(t.AnyRestricted());
  t.Set("a", Isolation::kMig);
  t.Set("b", Isolation::kShared);
  EXPECT_TRUE(t.AnyRestricted());
  EXPECT_EQ(t.Of("a"), Isolation::kMig);
  EXPECT_EQ(t.Of("b"), Isolation::kShared);
  EXPECT_EQ(t.Of("unknown"), Isolation::kShared);
  t.Set("a", Isolation::kShared);  // Label removed.
  EXPECT_FALSE(t.AnyRestricted());
}

// One occupant of namespace "them" on GPU 0 (a share, a MIG instance or whole GPUs 0-1) and a
// pod of namespace "me" asking for a share, a MIG instance or a whole GPU: what may it do?
TEST(TenancyTest, RulesBothWays) {
  enum Kind { kShare, kMig, kWhole };
  struct Case {
    Isolation mine, theirs;
    Kind pod, occupant;
    bool excluded;
    plugins::GpuMask blocked;
  };
  using I = Isolation;
  const Case cases[] = {
      // Shares: only shared with shared.
      {I::kShared, I::kShared, kShare, kShare, false, 0},
      {I::kShared, I::kMig, kShare, kShare, false, 1},
      {I::kMig, I::kShared, kShare, kShare, false, 1},
      {I::kShared, I::kExclusiveGpu, kShare, kShare, false, 1},
      {I::kExclusiveGpu, I::kShared, kShare, kShare, false, 1},
      // MIG instances: shared and mig tenants may share a MIG GPU; exclusive-gpu may not.
      {I::kShared, I::kShared, kMig, kMig, false, 0},
      {I::kMig, I::kShared, kMig, kMig, false, 0},
      {I::kMig, I::kMig, kMig, kMig, false, 0},
      {I::kExclusiveGpu, I::kMig, kMig, kMig, false, 1},
      {I::kMig, I::kExclusiveGpu, kMig, kMig, false, 1},
      // Whole GPUs never share a GPU: only exclusive-node matters.
      {I::kExclusiveGpu, I::kShared, kWhole, kShare, false, 0},
      {I::kShared, I::kExclusiveGpu, kWhole, kWhole, false, 0},
      {I::kExclusiveNode, I::kShared, kWhole, kWhole, true, 0},
      {I::kShared, I::kExclusiveNode, kWhole, kWhole, true, 0},
      {I::kShared, I::kExclusiveNode, kShare, kShare, true, 0},
      // A whole-GPU occupant leaves nothing to share: nothing to block.
      {I::kExclusiveGpu, I::kShared, kShare, kWhole, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(IsolationName(c.mine)) + " pod vs " + IsolationName(c.theirs) +
                 " occupant, kinds " + std::to_string(c.pod) + "/" + std::to_string(c.occupant));
    std::map<std::string, Isolation> restricted;
    if (c.mine != I::kShared) restricted["me"] = c.mine;
    if (c.theirs != I::kShared) restricted["them"] = c.theirs;
    plugins::PodRequest pod = Pod("me/p").Cpu(1000);
    if (c.pod == kShare) pod.gpu_milli = 250;
    if (c.pod == kMig) pod.mig = plugins::MigRequest{1, false, false};
    if (c.pod == kWhole) pod.gpu_count = 1;
    const Assignment occupant = c.occupant == kShare ? ShareOn(0, 500)
                                : c.occupant == kMig ? MigOn(0)
                                                     : WholeOn(0b11);
    const TenancyVerdict v = CheckTenancy(restricted, "me", pod, {{"them", occupant}});
    EXPECT_EQ(v.node_excluded, c.excluded) << v.reason;
    EXPECT_EQ(v.blocked, c.blocked) << v.reason;
    EXPECT_EQ(v.reason.empty(), !c.excluded && c.blocked == 0) << v.reason;
    // The same namespace never conflicts with itself.
    const TenancyVerdict self = CheckTenancy(restricted, "them", pod, {{"them", occupant}});
    EXPECT_FALSE(self.node_excluded);
    EXPECT_EQ(self.blocked, 0u);
  }
}

TEST(TenancyTest, OnlySharingPodsOrExclusiveNodeTenantsNeedChecks) {
  plugins::PodRequest whole = Pod("a/w").Gpus(2);
  plugins::PodRequest share = Pod("a/s");
  share.gpu_milli = 300;
  EXPECT_FALSE(TenancyMatters({}, share));
  EXPECT_TRUE(TenancyMatters({{"b", Isolation::kMig}}, share));
  EXPECT_FALSE(TenancyMatters({{"b", Isolation::kExclusiveGpu}}, whole));
  EXPECT_TRUE(TenancyMatters({{"b", Isolation::kExclusiveNode}}, whole));
}

TEST(TenancyTest, ReasonsNameTheNamespaceAndItsIsolation) {
  const std::map<std::string, Isolation> restricted = {{"secure", Isolation::kExclusiveGpu},
                                                       {"solo", Isolation::kExclusiveNode}};
  plugins::PodRequest share = Pod("team/p").Cpu(1000);
  share.gpu_milli = 250;
  TenancyVerdict v = CheckTenancy(restricted, "team", share, {{"secure", ShareOn(2, 500)}});
  EXPECT_EQ(v.blocked, 0b100u);
  EXPECT_EQ(v.reason,
            "tenancy: the GPUs with room are used by namespace secure, which is exclusive-gpu");
  v = CheckTenancy(restricted, "secure", share, {{"team", ShareOn(1, 500)}});
  EXPECT_EQ(v.reason,
            "tenancy: namespace secure is exclusive-gpu; the GPUs with room are used by other "
            "namespaces");
  v = CheckTenancy(restricted, "solo", share, {{"team", WholeOn(1)}});
  EXPECT_EQ(v.reason,
            "tenancy: namespace solo is exclusive-node and the node runs pods of namespace team");
}

// ---- Through the extender on a static cluster ----------------------------------------------

Json Node1Gpu(const std::string& name) {
  return {
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}, {"nvidia.com/gpu.count", "1"}}}}},
      {"status", {{"allocatable", {{"cpu", "32"}, {"memory", "256Gi"}, {"nvidia.com/gpu", "1"}}}}}};
}

Json Namespace(const std::string& name, const std::string& isolation) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  if (!isolation.empty()) ns["metadata"]["labels"] = {{"accelsched.io/isolation", isolation}};
  return ns;
}

Json SharePod(const std::string& ns, const std::string& name, int milli) {
  return {
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}, {"uid", ns + "-" + name}}},
      {"spec",
       {{"containers",
         Json::array(
             {{{"name", "c"},
               {"resources",
                {{"limits",
                  {{"cpu", "1"}, {"memory", "1Gi"}, {"accelsched.io/gpu-milli", milli}}}}}}})}}}};
}

class TenancyExtenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // s1's GPU holds a 500-milli share of team-a (shared); s2 is empty.
    Json busy = SharePod("team-a", "busy", 500);
    busy["spec"]["nodeName"] = "s1";
    busy["status"] = {{"phase", "Running"}};
    busy["metadata"]["annotations"] = {{"accelsched.io/gpu-share", "0@500"}};
    const Json list = {
        {"kind", "List"},
        {"items",
         {Node1Gpu("s1"), Node1Gpu("s2"), Namespace("team-a", ""),
          Namespace("secure", "exclusive-gpu"), Namespace("solo", "exclusive-node"), busy}}};
    absl::StatusOr<StaticCluster> c =
        LoadStaticCluster(list.dump(), "cluster.json", ExtenderConfig{}, &binder_, &metrics_);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
  }
  // The nodes that pass the filter, and the reason given for s1 if it fails.
  std::vector<std::string> Survivors(const Json& pod, std::string* s1_reason = nullptr) {
    codec::ExtenderArgs args;
    args.pod = *codec::DecodePod(pod, "Pod");
    args.node_names = {"s1", "s2"};
    absl::StatusOr<codec::FilterResult> f = cluster_.extender->Filter(args);
    EXPECT_TRUE(f.ok()) << f.status();
    std::vector<std::string> out;
    if (!f.ok()) return out;
    for (int i : f->survivors) out.push_back(args.node_names[static_cast<size_t>(i)]);
    for (const auto& [node, why] : f->Named(args, /*unresolvable=*/true)) {
      if (node == "s1" && s1_reason != nullptr) *s1_reason = why;
    }
    return out;
  }
  absl::Status Bind(const Json& pod, const std::string& node) {
    codec::ExtenderArgs args;
    args.pod = *codec::DecodePod(pod, "Pod");
    args.node_names = {node};
    (void)cluster_.extender->Filter(args);  // Remembers the pod for its bind.
    return cluster_.extender->Bind(
        codec::BindingArgs{args.pod.name, args.pod.namespace_name, args.pod.uid, node});
  }

  Metrics metrics_;
  InMemoryBinder binder_;
  StaticCluster cluster_;
};

TEST_F(TenancyExtenderTest, ExclusiveGpuTenantsNeitherJoinNorAreJoined) {
  using V = std::vector<std::string>;
  // A shared tenant may join team-a's GPU.
  EXPECT_EQ(Survivors(SharePod("team-b", "p", 250)), (V{"s1", "s2"}));
  // The exclusive-gpu tenant may not: only the empty node.
  std::string why;
  EXPECT_EQ(Survivors(SharePod("secure", "p", 250), &why), (V{"s2"}));
  EXPECT_EQ(why,
            "tenancy: namespace secure is exclusive-gpu; the GPUs with room are used by other "
            "namespaces");
  // Bind it there; then a shared tenant may no longer join that GPU.
  ASSERT_TRUE(Bind(SharePod("secure", "p", 250), "s2").ok());
  EXPECT_EQ(Survivors(SharePod("team-b", "q", 250)), (V{"s1"}));
  // ...and a bind against the filter's answer is refused by device choice.
  absl::Status s = Bind(SharePod("team-b", "q", 250), "s2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("namespace secure, which is exclusive-gpu"), std::string::npos) << s;
  // The secure tenant itself may add to its own GPU.
  EXPECT_EQ(Survivors(SharePod("secure", "r", 250)), (V{"s2"}));
}

TEST_F(TenancyExtenderTest, ExclusiveNodeTenantsGetNodesOfTheirOwn) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Survivors(SharePod("solo", "p", 250)), (V{"s2"}));
  ASSERT_TRUE(Bind(SharePod("solo", "p", 250), "s2").ok());
  // Nobody else may now use s2, not even a shared tenant with room left on its GPU.
  EXPECT_EQ(Survivors(SharePod("team-b", "q", 250)), (V{"s1"}));
  absl::Status s = Bind(SharePod("team-b", "q", 250), "s2");
  EXPECT_NE(s.message().find("which is exclusive-node"), std::string::npos) << s;
}

TEST_F(TenancyExtenderTest, GpuUseIsAttributedToNamespaces) {
  ASSERT_TRUE(Bind(SharePod("secure", "p", 250), "s2").ok());
  const std::map<std::string, int64_t> want = {{"secure", 250}, {"team-a", 500}};
  EXPECT_EQ(cluster_.extender->TenantGpuMilli(), want);
  // 10 s at those figures: 2.5 and 5 GPU-seconds.
  metrics_.AddTenantGpuSeconds(want, 10);
  const std::string text = metrics_.Render(*cluster_.extender->ledger().Snapshot(), 2, {}, want);
  EXPECT_NE(text.find("accelsched_tenant_gpu_seconds_total{namespace=\"secure\"} 2.500"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("accelsched_tenant_gpu_seconds_total{namespace=\"team-a\"} 5.000"),
            std::string::npos);
  EXPECT_NE(text.find("accelsched_tenant_gpu_allocated_milli{namespace=\"team-a\"} 500"),
            std::string::npos);
}

TEST(TenancyClusterFileTest, BadIsolationLabelNamesTheItem) {
  const Json list = {{"kind", "List"}, {"items", {Node1Gpu("s1"), Namespace("x", "private")}}};
  Metrics metrics;
  InMemoryBinder binder;
  absl::StatusOr<StaticCluster> c =
      LoadStaticCluster(list.dump(), "cluster.json", ExtenderConfig{}, &binder, &metrics);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(
                "cluster.json: items[1]: label accelsched.io/isolation: 'private' is not shared"),
            std::string::npos)
      << c.status();
}

}  // namespace
}  // namespace accelsched::scheduler
