// High availability (issue 16): extender replicas with leader election over one fake API server,
// driven over HTTP as kube-scheduler drives them (it reaches whichever replica is ready). Short
// durations (lease 2 s, renew deadline 1.5 s, retry 0.25 s) keep the tests quick; with
// ACCELSCHED_HA_DEFAULT_DURATIONS=1 they use kube-scheduler's (15 / 10 / 2 s) and print the
// failover time for bench/RESULTS.md.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "scheduler/cmd/app.h"
#include "tests/node/node_process.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"
#include "tests/testing/http_test_server.h"

namespace accelsched::scheduler::kube {
namespace {

using ::accelsched::testing::FakeApiServer;
using ::accelsched::testing::HttpTestServer;

LeaderElectionConfig Durations() {
  LeaderElectionConfig le;
  le.leader_elect = true;
  const char* defaults =
      std::getenv("ACCELSCHED_HA_DEFAULT_DURATIONS");  // NOLINT(concurrency-mt-unsafe)
  if (defaults == nullptr || std::string(defaults) != "1") {
    le.lease_duration_seconds = 2;
    le.renew_deadline_seconds = 1.5;
    le.retry_period_seconds = 0.25;
  }
  return le;
}

// One extender replica: Kubernetes mode, its HTTP server gated by its elector, as
// accelsched-extender runs it.
struct Replica {
  std::unique_ptr<App> app;
  std::unique_ptr<LeaderElector> elector;
  std::unique_ptr<HttpTestServer> server;
  std::thread syncer, campaign;

  Replica(int port, const std::string& identity, const LeaderElectionConfig& le) {
    ExtenderConfig config;
    config.leader_election = le;
    app = *App::Kubernetes(*KubeClient::Create(PlainEndpoint(port)), config);
    elector =
        std::make_unique<LeaderElector>(app->client(), LeaderElectionOptionsFrom(le, identity));
    server = std::make_unique<HttpTestServer>(&app->extender(), &app->metrics());
    server->SetGate([e = elector.get(), le] { return StandbyReason(*e, le); });
    EXPECT_TRUE(server->Start().ok());
    EXPECT_TRUE(app->sync()->Start().ok());
    server->SetReady(true);
    syncer = std::thread([this] { app->sync()->Run(); });
    campaign = std::thread([this] { elector->Run(); });
  }
  // Killed: nothing is released, the Lease expires on its own.
  void Kill() {
    if (!campaign.joinable()) return;
    elector->Stop(/*release=*/false);
    campaign.join();
    server.reset();
    app->sync()->Stop();
    syncer.join();
  }
  ~Replica() { Kill(); }
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;
  Replica(Replica&&) = delete;
  Replica& operator=(Replica&&) = delete;
  bool Ready() { return server != nullptr && server->client().Get("/readyz")->status == 200; }
  // The pod readiness when a label picks the leader: synced, leader or standby.
  bool ReadyAsReplica() {
    return server != nullptr && server->client().Get("/readyz?role=any")->status == 200;
  }

  // filter, prioritize and bind of `pod` over `nodes`, as kube-scheduler: the bind's HTTP
  // status and Error ("" = bound); 503 if this replica does not serve.
  std::pair<int, std::string> Schedule(const Json& pod, const std::vector<std::string>& nodes) {
    httplib::Client& c = server->client();
    const std::string args = Json{{"Pod", pod}, {"NodeNames", nodes}}.dump();
    httplib::Result f = c.Post("/v1/extender/filter", args, "application/json");
    if (!f || f->status != 200) return {f ? f->status : -1, f ? f->body : "filter failed"};
    const Json survivors = Json::parse(f->body)["NodeNames"];
    if (survivors.empty()) return {200, "no node fits"};
    httplib::Result p =
        c.Post("/v1/extender/prioritize", Json{{"Pod", pod}, {"NodeNames", survivors}}.dump(),
               "application/json");
    if (!p || p->status != 200) return {p ? p->status : -1, "prioritize failed"};
    std::string best;
    int64_t top = -1;
    for (const Json& h : Json::parse(p->body)) {
      if (h["Score"].get<int64_t>() > top) {
        top = h["Score"].get<int64_t>();
        best = h["Host"];
      }
    }
    httplib::Result b = c.Post("/v1/extender/bind",
                               Json{{"PodName", pod["metadata"]["name"]},
                                    {"PodNamespace", "ml"},
                                    {"PodUID", pod["metadata"]["uid"]},
                                    {"Node", best}}
                                   .dump(),
                               "application/json");
    if (!b) return {-1, "bind failed"};
    return {b->status, b->status == 200 ? Json::parse(b->body).value("Error", "") : b->body};
  }
};

const std::vector<std::string> kNodes = {"n1", "n2", "n3", "n4"};

// Every pod bound in the API, and no GPU of a node given to two pods.
void ExpectBoundOnceEach(FakeApiServer& api, int pods) {
  std::set<std::string> gpus_taken;
  for (int i = 0; i < pods; ++i) {
    const Json p = api.Pod(absl::StrCat("ml/p", i));
    ASSERT_TRUE(p["spec"].contains("nodeName")) << "p" << i << " is not bound";
    const std::string node = p["spec"]["nodeName"];
    const std::string ids = p["metadata"]["annotations"].value("accelsched.io/gpu-ids", "");
    for (absl::string_view g : absl::StrSplit(ids, ',')) {
      EXPECT_TRUE(gpus_taken.insert(absl::StrCat(node, "/", g)).second)
          << "GPU " << g << " of " << node << " given twice (p" << i << ")";
    }
  }
}

TEST(HaTest, TheStandbyTakesOverAKilledLeaderWithoutLosingOrDoublingABind) {
  FakeApiServer api;
  for (const std::string& n : kNodes) api.PutNode(Node(n, 8));
  constexpr int kPods = 20;  // 30 of the 32 GPUs.
  for (int i = 0; i < kPods; ++i) api.PutPod(Pod(absl::StrCat("p", i), 1 + i % 2));
  const LeaderElectionConfig le = Durations();
  Replica a(api.port(), "a", le);
  ASSERT_TRUE(Eventually([&] { return a.Ready(); }));
  Replica b(api.port(), "b", le);
  // b stands by: not ready, and its verbs say who leads.
  ASSERT_TRUE(Eventually([&] { return b.elector->Holder() == "a"; }));
  EXPECT_FALSE(b.Ready());
  EXPECT_TRUE(b.ReadyAsReplica());
  EXPECT_TRUE(a.ReadyAsReplica());
  auto [code, error] = b.Schedule(api.Pod("ml/p0"), kNodes);
  EXPECT_EQ(code, 503);
  EXPECT_NE(error.find("standby: the Lease accelsched-system/accelsched-extender is held by a"),
            std::string::npos)
      << error;
  for (int i = 0; i < kPods / 2; ++i) {
    EXPECT_EQ(a.Schedule(api.Pod(absl::StrCat("ml/p", i)), kNodes),
              std::make_pair(200, std::string()))
        << "p" << i;
  }
  a.Kill();
  const auto killed = std::chrono::steady_clock::now();
  // kube-scheduler retries the next pod until a ready replica binds it.
  const Json next = api.Pod(absl::StrCat("ml/p", kPods / 2));
  double failover = -1;
  for (int attempt = 0; attempt < 1000 && failover < 0; ++attempt) {
    if (b.Schedule(next, kNodes) == std::make_pair(200, std::string())) {
      failover = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(failover, 0) << "the standby never took over";
  std::printf(
      "failover: %.2f s from the leader's death to the first bind on the new leader "
      "(lease %.0f s)\n",
      failover, le.lease_duration_seconds);
  EXPECT_LE(failover, le.lease_duration_seconds + 2);
  for (int i = kPods / 2 + 1; i < kPods; ++i) {
    EXPECT_EQ(b.Schedule(api.Pod(absl::StrCat("ml/p", i)), kNodes),
              std::make_pair(200, std::string()))
        << "p" << i;
  }
  ExpectBoundOnceEach(api, kPods);
  EXPECT_EQ(b.app->ledger().num_pods(), static_cast<size_t>(kPods));  // Synced while standing by.
}

// The leader's Lease renewals fail: it stops serving (not ready, verbs 503) before the standby
// can take the Lease, so the two never serve at once; the standby then takes over.
TEST(HaTest, APartitionedLeaderStopsServingBeforeTheStandbyStarts) {
  FakeApiServer api;
  for (const std::string& n : kNodes) api.PutNode(Node(n, 8));
  const LeaderElectionConfig le = Durations();
  Replica a(api.port(), "a", le);
  ASSERT_TRUE(Eventually([&] { return a.Ready(); }));
  Replica b(api.port(), "b", le);
  api.PartitionLeaseHolder("a", true);
  const auto start = std::chrono::steady_clock::now();
  double a_stopped = -1, b_started = -1;
  bool both = false;
  while (b_started < 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(40)) {
    const bool ra = a.Ready(), rb = b.Ready();
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    both = both || (ra && rb);
    if (!ra && a_stopped < 0) a_stopped = t;
    if (rb) b_started = t;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(both);
  ASSERT_GE(a_stopped, 0);
  ASSERT_GE(b_started, 0);
  EXPECT_LT(a_stopped, b_started);
  EXPECT_LE(a_stopped, le.renew_deadline_seconds + 0.5);
  api.PartitionLeaseHolder("a", false);
}

// Both replicas go down; two new ones rebuild the ledger from the pods' annotations, one leads,
// and new binds take only free GPUs.
TEST(HaTest, AfterBothRestartTheNewLeaderKnowsEveryBind) {
  FakeApiServer api;
  for (const std::string& n : kNodes) api.PutNode(Node(n, 8));
  constexpr int kPods = 16;
  for (int i = 0; i < kPods; ++i) api.PutPod(Pod(absl::StrCat("p", i), 2));
  const LeaderElectionConfig le = Durations();
  {
    Replica a(api.port(), "a", le);
    Replica b(api.port(), "b", le);
    ASSERT_TRUE(Eventually([&] { return a.Ready() || b.Ready(); }));
    Replica& leader = a.Ready() ? a : b;
    for (int i = 0; i < kPods / 2; ++i) {
      EXPECT_EQ(leader.Schedule(api.Pod(absl::StrCat("ml/p", i)), kNodes).first, 200);
    }
  }  // Both killed (no release).
  Replica c(api.port(), "c", le);
  Replica d(api.port(), "d", le);
  ASSERT_TRUE(Eventually([&] { return c.Ready() || d.Ready(); }));
  Replica& leader = c.Ready() ? c : d;
  EXPECT_FALSE((c.Ready() && d.Ready()));
  for (int i = kPods / 2; i < kPods; ++i) {
    EXPECT_EQ(leader.Schedule(api.Pod(absl::StrCat("ml/p", i)), kNodes),
              std::make_pair(200, std::string()))
        << "p" << i;
  }
  ExpectBoundOnceEach(api, kPods);
}

// A directory with a kubeconfig for `api` and a config with short leader election durations.
std::string ProcessDir(const FakeApiServer& api) {
  char dir_template[] = "/tmp/accelsched-ha-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  ::accelsched::testing::WriteKubeconfig(api.port(), dir);
  std::ofstream(dir + "/config.yaml")
      << "leaderElection: {leaderElect: true, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, "
         "retryPeriodSeconds: 1}\n";
  return dir;
}

// accelsched-extender in Kubernetes mode on a free port, with the files of ProcessDir(`dir`);
// its log goes to `log`.
pid_t StartExtender(const std::string& dir, const std::string& log,
                    std::vector<std::string> env = {}) {
  return ::accelsched::testing::StartProcess(
      {ACCELSCHED_EXTENDER_BINARY, "--kubeconfig=" + dir + "/kubeconfig",
       "--config=" + dir + "/config.yaml", "--port=0", "--bind-address=127.0.0.1"},
      log, std::move(env));
}

// The accelsched-extender binary: it campaigns in Kubernetes mode, and on SIGTERM drains, gives
// the Lease back (holder "", 1 s) and exits 0, so a standby need not wait for expiry.
TEST(HaProcessTest, SigtermGivesTheLeaseBackAfterTheDrain) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  const std::string dir = ProcessDir(api);
  const pid_t pid = StartExtender(dir, dir + "/extender.log");
  ASSERT_GT(pid, 0);
  auto holder = [&] {
    const Json lease = api.Lease("accelsched-system", "accelsched-extender");
    return lease.is_null() ? std::string("<none>")
                           : lease["spec"].value("holderIdentity", std::string());
  };
  const bool led = Eventually([&] { return holder() != "<none>" && !holder().empty(); });
  kill(pid, SIGTERM);
  int status = -1;
  waitpid(pid, &status, 0);
  std::ifstream log(dir + "/extender.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(led) << text;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const Json lease = api.Lease("accelsched-system", "accelsched-extender");
  EXPECT_EQ(lease["spec"]["holderIdentity"], "") << text;
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 1);
  EXPECT_NE(text.find("released by"), std::string::npos) << text;
}

// The port a process serves on, from its log ("serving http://127.0.0.1:PORT/..."), or -1.
int ServingPort(const std::string& log_path) {
  std::ifstream log(log_path);
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  const std::string mark = "serving http://127.0.0.1:";
  const size_t at = text.find(mark);
  return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + mark.size());
}

int ReadyzStatus(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  httplib::Result r = c.Get(path);
  return r ? r->status : -1;
}

// With POD_NAMESPACE / POD_NAME, the leader labels its pod accelsched.io/leader=true and every
// other replica's pod carries no such label (a leftover from a restart is taken off); the label
// moves with the Lease on SIGTERM. The standby is ready as a replica (/readyz?role=any) but not
// as the server of the verbs (/readyz).
TEST(HaProcessTest, TheLeaderLabelsItsPodAndTheLabelFollowsTheLease) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutPod(ExtenderPod("ext-a", /*leader=*/false));
  api.PutPod(ExtenderPod("ext-b", /*leader=*/true));  // Left by a container that led before.
  const std::string dir = ProcessDir(api);
  auto start = [&](const std::string& pod) {
    return StartExtender(dir, dir + "/" + pod + ".log",
                         {"POD_NAMESPACE=accelsched-system", "POD_NAME=" + pod});
  };
  auto leader_label = [&](const std::string& pod) {
    return api.Pod("accelsched-system/" + pod)["metadata"]["labels"].value("accelsched.io/leader",
                                                                           std::string("<none>"));
  };
  auto stop = [](pid_t pid) {
    kill(pid, SIGTERM);
    int status = -1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  const pid_t a = start("ext-a");
  ASSERT_GT(a, 0);
  // a leads and labels its pod; b's leftover label is taken off as it stands by.
  ASSERT_TRUE(Eventually([&] { return ServingPort(dir + "/ext-a.log") > 0; }));
  const pid_t b = start("ext-b");
  ASSERT_GT(b, 0);
  ASSERT_TRUE(Eventually([&] { return leader_label("ext-b") == "<none>"; }));
  const int port_a = ServingPort(dir + "/ext-a.log"), port_b = ServingPort(dir + "/ext-b.log");
  ASSERT_TRUE(Eventually([&] { return ReadyzStatus(port_a, "/readyz") == 200; }));
  EXPECT_TRUE(Eventually([&] { return leader_label("ext-a") == "true"; }));
  ASSERT_TRUE(Eventually([&] { return ReadyzStatus(port_b, "/readyz?role=any") == 200; }));
  EXPECT_EQ(ReadyzStatus(port_b, "/readyz"), 503);
  EXPECT_EQ(ReadyzStatus(port_a, "/readyz?role=any"), 200);

  const auto sigterm = std::chrono::steady_clock::now();
  EXPECT_TRUE(stop(a));
  EXPECT_EQ(leader_label("ext-a"), "<none>");  // Taken off before the process exited.
  EXPECT_TRUE(Eventually([&] { return leader_label("ext-b") == "true"; }));
  std::printf("label moved %.2f s after the leader's SIGTERM (retry period 1 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - sigterm).count());
  EXPECT_EQ(ReadyzStatus(port_b, "/readyz"), 200);
  EXPECT_TRUE(stop(b));
  EXPECT_EQ(leader_label("ext-b"), "<none>");
}

}  // namespace
}  // namespace accelsched::scheduler::kube
