// Tenancy through the extender's filter and bind on a static cluster whose file lists the
// namespaces (the rules themselves: tests/plugins/tenancy_test.cc).
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

using codec::Json;

// ---- Through the extender on a static cluster ----------------------------------------------

Json Node1Gpu(const std::string& name) {
  return {
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}, {"nvidia.com/gpu.count", "1"}}}}},
      {"status",
       {{"allocatable",
         {{"cpu", "32"},
          {"memory", "256Gi"},
          {"nvidia.com/gpu", "1"},
          {"accelsched.io/gpu-milli", "1000"}}}}}};
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
