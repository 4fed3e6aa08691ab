// Issue 14, item 11: the ledger and the API server must not drift apart in Kubernetes mode. Each
// case is a fault the API server fake injects; the API's record is the truth, and no GPU may be
// given twice.
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "scheduler/cmd/app.h"
#include "scheduler/service/metrics.h"
#include "scheduler/state/clock.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::scheduler::kube {
namespace {

using testing::FakeApiServer;

constexpr char kGpuIds[] = "accelsched.io/gpu-ids";

// The gpu-ids the ledger records for pod `uid` ("" if it holds none).
std::string LedgerGpuIds(const Instance& x, const std::string& uid) {
  std::optional<PlacedPod> p = x.ledger->Find(uid);
  if (!p.has_value()) return "";
  const std::map<std::string, std::string> a = AssignmentAnnotationsOf(*p, *x.ledger->Snapshot());
  auto it = a.find(kGpuIds);
  return it == a.end() ? "" : it->second;
}

// A binding answered 409 because the pod is already bound to this node, by another binder and
// on other GPUs: the ledger takes the API's GPUs. Before, it kept its own (0,1) and gave the
// API's (2,3) to the next pod.
TEST(KubeDriftTest, A409OnTheSameNodeConvergesToTheApisDevices) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  api.PutPod(Pod("p", 2));
  api.PutPod(Pod("q", 2));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  api.PauseWatches(true);  // The other binding's event is late: only the 409 tells.
  api.BindWithAnnotations("ml/p", "n1", {{kGpuIds, "2,3"}});
  ASSERT_TRUE(x.Schedule(Pod("p", 2), "n1").ok());
  EXPECT_EQ(LedgerGpuIds(x, "uid-p"), "2,3");
  ASSERT_TRUE(x.Schedule(Pod("q", 2), "n1").ok());
  EXPECT_EQ(api.Pod("ml/q")["metadata"]["annotations"][kGpuIds], "0,1");
  api.PauseWatches(false);
}

// A binding the API applied, answered 504 (the reply lost): settled by reading the pod back, it
// is a success, not a rollback that frees GPUs the pod runs on. Before, the rollback let a second
// 4-GPU pod onto the same GPUs.
TEST(KubeDriftTest, ABindingAppliedButNotAnsweredIsKept) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  api.PutNode(Node("n2", 4));
  api.PutPod(Pod("p", 4));
  api.PutPod(Pod("q", 4));
  api.PutPod(Pod("r", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  api.PauseWatches(true);  // Not rescued by the binding's own watch event.
  api.FailNextBind(504, /*apply=*/true);
  EXPECT_TRUE(x.Schedule(Pod("p", 4), "n1").ok());
  EXPECT_EQ(LedgerGpuIds(x, "uid-p"), "0,1,2,3");
  EXPECT_FALSE(x.Schedule(Pod("q", 4), "n1").ok());  // n1 is full.
  // Not applied (500 before the write): rolled back, the node stays free.
  api.FailNextBind(500, /*apply=*/false);
  EXPECT_FALSE(x.Schedule(Pod("r", 4), "n2").ok());
  EXPECT_EQ(LedgerGpuIds(x, "uid-r"), "");
  EXPECT_TRUE(api.Pod("ml/r")["spec"].value("nodeName", "").empty());
  EXPECT_TRUE(x.Schedule(Pod("r", 4), "n2").ok());
  api.PauseWatches(false);
}

// A binding from a process killed before it answered, applied by the API after the new process
// gave the same GPUs away: a conflict on /metrics, /debug/state and as an Event on the pod; the
// ledger keeps the older holder. Before, only a log line said so.
TEST(KubeDriftTest, ALateBindingOnGpusGivenAwayIsAConflict) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  api.PutPod(Pod("holder", 4));
  api.PutPod(Pod("late", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  ASSERT_TRUE(x.Schedule(Pod("holder", 4), "n1").ok());
  api.BindWithAnnotations("ml/late", "n1", {{kGpuIds, "0,1,2,3"}});
  ASSERT_TRUE(Eventually([&] { return x.extender->conflicts().size() == 1; }));
  const Conflict c = x.extender->conflicts()[0];
  EXPECT_EQ(c.pod, "ml/late");
  EXPECT_EQ(c.node, "n1");
  EXPECT_EQ(c.devices, "gpu-ids=0,1,2,3");
  EXPECT_EQ(LedgerGpuIds(x, "uid-holder"), "0,1,2,3");
  EXPECT_EQ(LedgerGpuIds(x, "uid-late"), "");
  EXPECT_NE(Metrics::RenderConflicts(x.extender->conflicts().size())
                .find("\naccelsched_placement_conflicts 1\n"),
            std::string::npos);
  ASSERT_TRUE(Eventually([&] { return api.events().size() == 1; }));
  const Json event = api.events()[0];
  EXPECT_EQ(event["reason"], "AccelschedDeviceConflict");
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["involvedObject"]["name"], "late");
  EXPECT_EQ(event["involvedObject"]["uid"], "uid-late");
  // The holder leaves; at the next relist the late pod is adopted and the conflict is over.
  api.DeletePod("ml/holder");
  ASSERT_TRUE(Eventually([&] { return LedgerGpuIds(x, "uid-holder").empty(); }));
  api.CompactAndDropWatches();
  ASSERT_TRUE(Eventually([&] { return x.extender->conflicts().empty(); }));
  EXPECT_EQ(LedgerGpuIds(x, "uid-late"), "0,1,2,3");
  EXPECT_EQ(api.events().size(), 1u);  // Reported once.
}

// Events and relists compare devices, not only nodes: the API's record moving a held pod to
// other GPUs on the same node moves it in the ledger. Before, a pod held on its node was skipped.
TEST(KubeDriftTest, EventsCompareDevicesNotOnlyNodes) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  api.PutPod(Pod("p", 2, "n1", "0,1"));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  ASSERT_EQ(LedgerGpuIds(x, "uid-p"), "0,1");
  api.PutPod(Pod("p", 2, "n1", "2,3"));
  EXPECT_TRUE(Eventually([&] { return LedgerGpuIds(x, "uid-p") == "2,3"; }));
  // And by a relist (the watch history gone while the record changed back).
  api.PauseWatches(true);
  api.PutPod(Pod("p", 2, "n1", "0,1"));
  api.CompactAndDropWatches();
  api.PauseWatches(false);
  EXPECT_TRUE(Eventually([&] { return LedgerGpuIds(x, "uid-p") == "0,1"; }));
}

// A pod deleted right after its bind, while the watch was down and its history lost: the relist
// releases it at once. Before, a pod bound less than a minute before any list was spared, so the
// soak's API restarts left deleted pods holding GPUs (and nodes looking full) until a later relist.
TEST(KubeDriftTest, ARelistReleasesAPodDeletedRightAfterItsBind) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  api.PutPod(Pod("p", 4));
  api.PutPod(Pod("q", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  ASSERT_TRUE(x.Schedule(Pod("p", 4), "n1").ok());
  api.PauseWatches(true);
  api.DeletePod("ml/p");
  api.CompactAndDropWatches();
  api.PauseWatches(false);
  EXPECT_TRUE(Eventually([&] { return LedgerGpuIds(x, "uid-p").empty(); }));
  EXPECT_TRUE(x.Schedule(Pod("q", 4), "n1").ok());
}

// After an outage the retry delay is back at its shortest once a relist succeeds. Before, it
// stayed at its ceiling (30 s) until a watch event arrived.
TEST(KubeDriftTest, RetryDelayResetsAfterASuccessfulRelist) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  api.SetOutage(true);
  ASSERT_TRUE(Eventually([&] { return x.sync->RetryDelay("pods") >= 2; }));  // 0.5, 1, 2
  api.CompactAndDropWatches();  // The history is gone: the watch must relist.
  const int relists = x.sync->relists();
  api.SetOutage(false);
  ASSERT_TRUE(Eventually([&] { return x.sync->relists() > relists; }));
  EXPECT_TRUE(Eventually([&] { return x.sync->RetryDelay("pods") == 0.5; }));
}

// Issue 16: /readyz stayed 200 forever once synced. The sync reports how long its watches have
// failed, and the service turns not ready past watchFailureSeconds (DegradedReason), ready again
// once they work.
TEST(KubeDriftTest, AWatchOutageIsReportedUntilTheWatchesWorkAgain) {
  FakeApiServer api;
  api.PutNode(Node("n1", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_FALSE(x.sync->LongestOutage().has_value());
  const double before = SteadySeconds();
  api.SetOutage(true);
  ASSERT_TRUE(Eventually([&] { return x.sync->LongestOutage().has_value(); }));
  const std::optional<KubeSync::Outage> o = x.sync->LongestOutage();
  ASSERT_TRUE(o.has_value());
  EXPECT_GE(o->since, before);
  EXPECT_FALSE(o->kind.empty());
  EXPECT_FALSE(o->error.empty());
  // The service's verdict: not yet at 60 s, degraded past it, never with 0.
  EXPECT_FALSE(DegradedReason(o, o->since + 59, 60).has_value());
  const std::optional<std::string> why = DegradedReason(o, o->since + 75, 60);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find(absl::StrCat("the watch of ", o->kind, " has failed for 75 s")),
            std::string::npos)
      << *why;
  EXPECT_NE(why->find(o->error), std::string::npos) << *why;
  EXPECT_FALSE(DegradedReason(o, o->since + 1e6, 0).has_value());
  api.SetOutage(false);
  EXPECT_TRUE(Eventually([&] { return !x.sync->LongestOutage().has_value(); }));
  EXPECT_FALSE(DegradedReason(x.sync->LongestOutage(), SteadySeconds() + 1e6, 60).has_value());
}

}  // namespace
}  // namespace accelsched::scheduler::kube
