// Issue 14's fault suite: a workload of binds through Kubernetes mode while the API server fake
// refuses, answers 500 or 504, drops watches mid-stream, sends a malformed object, or answers 409
// because another binder was first. Each run must end with the ledger equal to what a fresh
// extender builds from a clean list of the same API, and no GPU given to two pods.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::scheduler::kube {
namespace {

using testing::FakeApiServer;

constexpr char kGpuIds[] = "accelsched.io/gpu-ids";
constexpr int kPods = 6;  // 2 GPUs each, on two 4-GPU nodes: four fit.

struct Fault {
  std::string name;
  // Injected before the bind of pod number `at`; `heal` undoes it after.
  int at = 2;
  std::function<void(FakeApiServer&)> inject;
  std::function<void(FakeApiServer&)> heal = [](FakeApiServer&) {};
};

std::vector<Fault> Faults() {
  return {
      {"refuses (outage during a bind)", 2, [](FakeApiServer& a) { a.SetOutage(true); },
       [](FakeApiServer& a) { a.SetOutage(false); }},
      {"answers 500 without applying", 2, [](FakeApiServer& a) { a.FailNextBind(500, false); }},
      {"times out after applying (504)", 2, [](FakeApiServer& a) { a.FailNextBind(504, true); }},
      {"drops the watches mid-stream", 2, [](FakeApiServer& a) { a.DropWatches(); }},
      {"compacts and drops the watches (410, relist)", 2,
       [](FakeApiServer& a) { a.CompactAndDropWatches(); }},
      {"sends a malformed pod object", 2,
       [](FakeApiServer& a) { a.EmitRawEvent("pods", R"({"type":"MODIFIED","object":{"kind")"); }},
      {"answers 409: another binder was first, on other GPUs", 2,
       [](FakeApiServer& a) {
         a.PauseWatches(true);
         a.BindWithAnnotations("ml/p2", "n2", {{kGpuIds, "2,3"}});
       },
       [](FakeApiServer& a) { a.PauseWatches(false); }},
  };
}

// filter over both nodes, bind to the first survivor, as kube-scheduler would.
void Schedule(Instance& x, const Json& pod) {
  codec::ExtenderArgs args;
  args.pod = *codec::DecodePod(pod, "Pod");
  args.node_names = {"n1", "n2"};
  absl::StatusOr<codec::FilterResult> f = x.extender->Filter(args);
  if (!f.ok() || f->survivors.empty()) return;
  const std::string node = args.node_names[static_cast<size_t>(f->survivors[0])];
  (void)x.extender->Bind(codec::BindingArgs{args.pod.name, "ml", args.pod.uid, node});
}

// uid -> (node, gpu-ids) as the ledger holds it.
std::map<std::string, std::pair<std::string, std::string>> LedgerState(const Instance& x) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  auto snapshot = x.ledger->Snapshot();
  for (const PlacedPod& p : x.ledger->Pods()) {
    const std::map<std::string, std::string> a = AssignmentAnnotationsOf(p, *snapshot);
    out[p.uid] = {p.node, a.count(kGpuIds) > 0 ? a.at(kGpuIds) : ""};
  }
  return out;
}

// True if no GPU of a node is named by two bound pods' annotations in the API.
bool NoGpuTwiceInTheApi(FakeApiServer& api) {
  std::set<std::pair<std::string, std::string>> taken;
  for (int i = 0; i < kPods; ++i) {
    const Json pod = api.Pod("ml/p" + std::to_string(i));
    const std::string node = pod["spec"].value("nodeName", "");
    if (node.empty()) continue;
    std::string ids = pod["metadata"]["annotations"].value(kGpuIds, "");
    for (size_t start = 0; start < ids.size();) {
      const size_t comma = std::min(ids.find(',', start), ids.size());
      if (!taken.insert({node, ids.substr(start, comma - start)}).second) return false;
      start = comma + 1;
    }
  }
  return true;
}

TEST(KubeFaultSuiteTest, EveryFaultEndsAsACleanRelistWithoutDoubleAllocation) {
  for (const Fault& fault : Faults()) {
    SCOPED_TRACE(fault.name);
    FakeApiServer api;
    api.PutNode(Node("n1", 4));
    api.PutNode(Node("n2", 4));
    for (int i = 0; i < kPods; ++i) api.PutPod(Pod("p" + std::to_string(i), 2));
    Instance x(api.port());
    ASSERT_TRUE(x.StartAndRun().ok());
    for (int i = 0; i < kPods; ++i) {
      if (i == fault.at) fault.inject(api);
      Schedule(x, Pod("p" + std::to_string(i), 2));
      if (i == fault.at) fault.heal(api);
    }
    // Retry what failed, as kube-scheduler's queue would.
    for (int i = 0; i < kPods; ++i) {
      if (api.Pod("ml/p" + std::to_string(i))["spec"].value("nodeName", "").empty()) {
        Schedule(x, Pod("p" + std::to_string(i), 2));
      }
    }
    EXPECT_TRUE(NoGpuTwiceInTheApi(api));
    // Caught up with the API, then compared with an extender that lists it afresh.
    const int64_t last = api.resource_version();
    ASSERT_TRUE(Eventually([&] {
      const std::string seen = x.sync->Version("pods");
      return !seen.empty() && std::stoll(seen) >= last;
    }));
    Instance fresh(api.port());
    ASSERT_TRUE(fresh.StartAndRun().ok());
    EXPECT_TRUE(Eventually([&] { return LedgerState(x) == LedgerState(fresh); }));
    EXPECT_EQ(LedgerState(x).size(), 4u);  // Four 2-GPU pods fill the two nodes.
    EXPECT_TRUE(x.extender->conflicts().empty());
  }
}

}  // namespace
}  // namespace accelsched::scheduler::kube
