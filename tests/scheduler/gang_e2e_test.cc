// A gang end to end through the HTTP verbs in static mode, driven as kube-scheduler drives an
// extender: one pod per scheduling cycle (filter, prioritize, pick the best score, bind), pods
// that fail going back to the queue. The cluster is two racks of two 8-GPU nodes, with one node
// of rack r0 half busy, so by hand: a gang of a launcher and two 8-GPU workers fits only in rack
// r1 (rack r0 has 12 whole GPUs free, on two nodes, and one node can take only 4).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "httplib.h"

#include "scheduler/cmd/app.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/json_util.h"
#include "scheduler/http/server.h"
#include "tests/testing/http_test_server.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::HttpTestServer;
using codec::Json;

Json NodeJson(const std::string& name, const std::string& rack) {
  return {
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
          {"nvidia.com/gpu.count", "8"},
          {"kubernetes.io/hostname", name},
          {"topology.accelsched.io/rack", rack}}}}},
      {"status", {{"allocatable", {{"cpu", "64"}, {"memory", "512Gi"}, {"nvidia.com/gpu", "8"}}}}}};
}

Json PodJson(const std::string& name, int gpus, const std::map<std::string, std::string>& labels,
             const std::map<std::string, std::string>& annotations) {
  Json limits = {{"cpu", "1"}, {"memory", "1Gi"}};
  if (gpus > 0) limits["nvidia.com/gpu"] = gpus;
  return {{"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "ml"},
            {"uid", "uid-" + name},
            {"labels", labels},
            {"annotations", annotations}}},
          {"spec",
           {{"containers", Json::array({{{"name", "c"}, {"resources", {{"limits", limits}}}}})}}}};
}

class GangEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Json busy = PodJson("busy", 4, {}, {{"accelsched.io/gpu-ids", "0,1,2,3"}});
    busy["spec"]["nodeName"] = "a1";
    busy["status"] = {{"phase", "Running"}};
    const Json cluster = {{"kind", "List"},
                          {"items",
                           {NodeJson("a1", "r0"),
                            NodeJson("a2", "r0"),
                            NodeJson("b1", "r1"),
                            NodeJson("b2", "r1"),
                            busy,
                            {{"apiVersion", "scheduling.x-k8s.io/v1alpha1"},
                             {"kind", "PodGroup"},
                             {"metadata", {{"name", "train"}, {"namespace", "ml"}}},
                             {"spec", {{"minMember", 3}}}}}}};
    absl::StatusOr<StaticCluster> c =
        LoadStaticCluster(cluster.dump(), "cluster.json", ExtenderConfig{}, &binder_, &metrics_);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<HttpTestServer>(cluster_.extender.get(), &metrics_, options);
    const absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
    server_->SetReady(true);
    client_ = &server_->client();
  }

  Json Post(const std::string& verb, const Json& body) {
    httplib::Result r =
        client_->Post(("/v1/extender/" + verb).c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r) << verb;
    if (!r) return Json();
    EXPECT_EQ(r->status, 200) << verb << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // One scheduling cycle of `pod` as kube-scheduler runs it: the node it was bound to, or "" with
  // the filter's answer in `*filter`.
  std::string Cycle(const Json& pod, Json* filter) {
    const Json args = {{"Pod", pod}, {"NodeNames", {"a1", "a2", "b1", "b2"}}};
    *filter = Post("filter", args);
    if ((*filter)["NodeNames"].empty()) return "";
    const Json scores = Post("prioritize", {{"Pod", pod}, {"NodeNames", (*filter)["NodeNames"]}});
    std::string best;
    int64_t top = -1;
    for (const Json& s : scores) {
      if (s["Score"].get<int64_t>() > top) {
        top = s["Score"].get<int64_t>();
        best = s["Host"].get<std::string>();
      }
    }
    const Json bound = Post("bind", {{"PodName", pod["metadata"]["name"]},
                                     {"PodNamespace", "ml"},
                                     {"PodUID", pod["metadata"]["uid"]},
                                     {"Node", best}});
    EXPECT_EQ(bound["Error"], "") << bound.dump();
    return best;
  }

  Metrics metrics_;
  InMemoryBinder binder_;
  StaticCluster cluster_;
  std::unique_ptr<HttpTestServer> server_;  // After what it serves: destroyed (stopped) first.
  httplib::Client* client_ = nullptr;       // server_'s client.
};

TEST_F(GangEndToEndTest, MembersWaitThenAllBindWithinOneRack) {
  const std::map<std::string, std::string> group = {{"scheduling.x-k8s.io/pod-group", "train"}};
  const std::map<std::string, std::string> in_rack = {{"accelsched.io/network-required", "rack"}};
  const std::vector<Json> members = {PodJson("w0", 8, group, in_rack),
                                     PodJson("launcher", 0, group, in_rack),
                                     PodJson("w1", 8, group, in_rack)};
  // The queue: the first two members fail (waiting), the third plans the gang and binds; the two
  // come back and bind to their slots.
  std::map<std::string, std::string> placed;
  Json filter;
  EXPECT_EQ(Cycle(members[0], &filter), "");
  ASSERT_EQ(filter["FailedAndUnresolvableNodes"].size(), 4u) << filter.dump();
  EXPECT_NE(filter["FailedAndUnresolvableNodes"]["b2"].get<std::string>().find(
                "gang ml/train is waiting for 2 more member(s)"),
            std::string::npos)
      << filter.dump();
  EXPECT_EQ(Cycle(members[1], &filter), "");
  placed["w1"] = Cycle(members[2], &filter);
  // Only the slot's node passes; every other node names the reservation.
  ASSERT_EQ(filter["NodeNames"].size(), 1u) << filter.dump();
  EXPECT_EQ(filter["FailedAndUnresolvableNodes"].size(), 3u);
  const std::string elsewhere = filter["FailedAndUnresolvableNodes"].begin()->get<std::string>();
  EXPECT_NE(elsewhere.find("gang ml/train has reserved this member's slot on node " + placed["w1"]),
            std::string::npos)
      << elsewhere;
  placed["w0"] = Cycle(members[0], &filter);
  placed["launcher"] = Cycle(members[1], &filter);
  // By hand: rack r1 (b1, b2) is the only rack with two whole free nodes.
  EXPECT_TRUE((placed["w0"] == "b1" && placed["w1"] == "b2") ||
              (placed["w0"] == "b2" && placed["w1"] == "b1"))
      << placed["w0"] << " " << placed["w1"];
  EXPECT_TRUE(placed["launcher"] == "b1" || placed["launcher"] == "b2") << placed["launcher"];
  // The ledger holds the three members and the busy pod, no slot.
  const Json state = Json::parse(client_->Get("/debug/state")->body);
  std::vector<std::string> held;
  for (const Json& p : state["pods"]) held.push_back(p["pod"].get<std::string>());
  EXPECT_EQ(held, (std::vector<std::string>{"ml/busy", "ml/launcher", "ml/w0", "ml/w1"}))
      << state["pods"].dump();
  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("accelsched_gang_events_total{event=\"planned\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("accelsched_gang_events_total{event=\"waiting\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("accelsched_gang_reservations 0"), std::string::npos);
}

TEST_F(GangEndToEndTest, AGangThatCannotFitGetsOneReasonOnEveryNodeAndHoldsNothing) {
  // Three 8-GPU workers within one rack: no rack has three nodes.
  const std::map<std::string, std::string> labels;
  const std::map<std::string, std::string> annotations = {
      {"accelsched.io/gang-name", "big"},
      {"accelsched.io/gang-size", "3"},
      {"accelsched.io/network-required", "rack"}};
  Json filter;
  for (const char* name : {"x0", "x1", "x2"}) {
    EXPECT_EQ(Cycle(PodJson(name, 8, labels, annotations), &filter), "");
  }
  ASSERT_EQ(filter["FailedAndUnresolvableNodes"].size(), 4u) << filter.dump();
  std::string reason;
  for (const auto& [node, why] : filter["FailedAndUnresolvableNodes"].items()) {
    if (reason.empty()) reason = why.get<std::string>();
    EXPECT_EQ(why.get<std::string>(), reason) << node;
  }
  EXPECT_NE(reason.find("gang ml/big needs 3 pods"), std::string::npos) << reason;
  EXPECT_NE(reason.find("within one rack"), std::string::npos) << reason;
  const Json state = Json::parse(client_->Get("/debug/state")->body);
  EXPECT_EQ(state["pods"].size(), 1u);  // Only the busy pod.
  // A bad level is a 400 naming the annotation.
  Json bad = PodJson("y", 8, labels,
                     {{"accelsched.io/gang-name", "g"},
                      {"accelsched.io/gang-size", "2"},
                      {"accelsched.io/network-required", "row"}});
  httplib::Result r = client_->Post(
      "/v1/extender/filter", Json{{"Pod", bad}, {"NodeNames", {"a1"}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("accelsched.io/network-required: 'row' is not a configured network level"),
            std::string::npos)
      << r->body;
}

}  // namespace
}  // namespace accelsched::scheduler
