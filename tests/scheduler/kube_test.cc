// Kubernetes mode against the in-process fake API server (tests/testing/fake_apiserver.h):
// kubeconfig and in-cluster endpoints, list+watch sync, 410 -> relist, binding through the API,
// and a restart in the middle of a workload without double allocation.
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "scheduler/cmd/app.h"
#include "scheduler/codec/json.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/kube/publish.h"
#include "scheduler/sync/kube_binder.h"
#include "scheduler/sync/kube_sync.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/data_path.h"
#include "tests/testing/fake_apiserver.h"
#include "tests/testing/placed.h"
#include "tests/testing/test_certs.h"

namespace accelsched::scheduler::kube {
namespace {

using codec::Json;
using testing::FakeApiServer;

FileReader Files(const std::map<std::string, std::string>& files) {
  return [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError(path + ": cannot open");
    return it->second;
  };
}

TEST(KubeconfigTest, TokenClientCertificateAndFiles) {
  const std::string text = absl::StrCat(R"(
apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: prod
  context: {cluster: c1, user: u1}
- name: dev
  context: {cluster: c2, user: u2}
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: )",
                                        absl::Base64Escape("CA-PEM"), R"(
- name: c2
  cluster:
    server: https://[fd00::1]
    certificate-authority: certs/ca.crt
users:
- name: u1
  user: {token: "abc123"}
- name: u2
  user:
    client-certificate: /etc/u2.crt
    client-key-data: )",
                                        absl::Base64Escape("KEY-PEM"), "\n");
  FileReader read = Files({{"/home/me/.kube/certs/ca.crt", "CA2"}, {"/etc/u2.crt", "CERT"}});
  absl::StatusOr<Endpoint> prod = KubeconfigEndpoint(text, "/home/me/.kube/config", "", read);
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->host, "10.0.0.1");
  EXPECT_EQ(prod->port, 6443);
  EXPECT_TRUE(prod->https);
  EXPECT_EQ(prod->ca_pem, "CA-PEM");
  EXPECT_EQ(prod->token, "abc123");
  absl::StatusOr<Endpoint> dev = KubeconfigEndpoint(text, "/home/me/.kube/config", "dev", read);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->host, "fd00::1");
  EXPECT_EQ(dev->port, 443);
  EXPECT_EQ(dev->ca_pem, "CA2");  // Relative to the kubeconfig's folder.
  EXPECT_EQ(dev->client_cert_pem, "CERT");
  EXPECT_EQ(dev->client_key_pem, "KEY-PEM");
  EXPECT_TRUE(dev->token.empty());

  const struct {
    std::string name;
    std::string text;
    std::string context;
    std::string mention;
  } bad[] = {
      {"unknown context", text, "staging", "no context named 'staging'"},
      {"exec plugin",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
       "users: [{name: u, user: {exec: {command: aws}}}]\n",
       "", "exec"},
      {"no scheme",
       "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'h:6443'}}]\n",
       "", "https://"},
      {"no current context", "clusters: []\n", "", "current-context"},
  };
  for (const auto& tc : bad) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<Endpoint> e = KubeconfigEndpoint(tc.text, "/k/config", tc.context, read);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find(tc.mention), std::string::npos) << e.status();
  }
}

TEST(InClusterTest, ServiceAccountFiles) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") return "10.96.0.1";
    if (name == "KUBERNETES_SERVICE_PORT") return "443";
    return std::nullopt;
  };
  FileReader read = Files({{"/var/run/secrets/kubernetes.io/serviceaccount/token", "tok"},
                           {"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "CA"}});
  absl::StatusOr<Endpoint> e = InClusterEndpoint(env, read);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "10.96.0.1");
  EXPECT_EQ(e->token, "tok");
  EXPECT_EQ(e->ca_pem, "CA");
  auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_TRUE(absl::IsFailedPrecondition(InClusterEndpoint(none, read).status()));
}

TEST(KubeSyncTest, ListWatchAdoptReleaseAndRelistAfter410) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutNode(Node("n2", 8));
  api.PutPod(Pod("a", 2, "n1", "0,1"));  // Bound before we start: adopted from its annotation.
  api.PutPod(Pod("pending", 1));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_EQ(x.ledger->Snapshot()->num_nodes(), 2);
  ASSERT_TRUE(x.ledger->Find("uid-a").has_value());
  EXPECT_EQ(testing::GpuIds(*x.ledger->Find("uid-a")), "0,1");
  EXPECT_FALSE(x.ledger->Find("uid-pending").has_value());

  // A pod bound by someone else shows up through the watch.
  api.PutPod(Pod("b", 4, "n2", "4,5,6,7"));
  ASSERT_TRUE(Eventually([&] { return x.ledger->Find("uid-b").has_value(); }));
  EXPECT_EQ(x.ledger->Snapshot()->gpu_used_milli(), 6000);
  // Finished and deleted pods give their GPUs back.
  Json done = Pod("a", 2, "n1", "0,1");
  done["status"]["phase"] = "Succeeded";
  api.PutPod(done);
  ASSERT_TRUE(Eventually([&] { return !x.ledger->Find("uid-a").has_value(); }));
  api.DeletePod("ml/b");
  ASSERT_TRUE(Eventually([&] { return x.ledger->num_pods() == 0; }));
  // A new node joins; heartbeats (same spec) change nothing.
  api.PutNode(Node("n3", 4));
  ASSERT_TRUE(Eventually([&] { return x.ledger->Snapshot()->num_nodes() == 3; }));

  // The API server forgets history and drops the watches: the sync relists (410) and catches up,
  // including a change made while it was disconnected.
  const int lists = api.lists();
  api.CompactAndDropWatches();
  api.PutPod(Pod("c", 1, "n3", "2"));
  ASSERT_TRUE(Eventually([&] { return x.ledger->Find("uid-c").has_value(); }));
  ASSERT_TRUE(Eventually([&] { return x.sync->relists() >= 1; }));
  EXPECT_GT(api.lists(), lists);
  EXPECT_EQ(x.ledger->num_pods(), 1u);
}

// Issue 13 item 4: the API server's objects are untrusted. Before, `event.value("type", "")` on
// {"type":1} threw nlohmann::type_error on the watch thread, and nothing caught it: the process
// ended. Now a malformed event is logged and skipped, and the watch goes on.
TEST(KubeSyncTest, MalformedWatchEventsAreSkippedNotFatal) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  for (const char* line : {
           R"({"type":1})",                            // type not a string
           R"({"type":"RESIZED","object":{}})",        // unknown type
           R"({"object":{"metadata":{"name":"x"}}})",  // no type
           R"({"type":"ADDED","object":[]})",          // object not an object
           R"({"type":"ADDED","object":{"metadata":{"name":7,"resourceVersion":9}}})",
           R"({"type":"DELETED","object":{"metadata":"x","spec":{"nodeName":3}}})",
           R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":12}}})",
       }) {
    api.EmitRawEvent("pods", line);
    api.EmitRawEvent("nodes", line);
    api.EmitRawEvent("namespaces", line);
  }
  // The watches are still there: a pod bound afterwards is adopted, a node added is seen.
  api.PutPod(Pod("after", 2, "n1", "0,1"));
  api.PutNode(Node("n2", 8));
  ASSERT_TRUE(Eventually([&] { return x.ledger->Find("uid-after").has_value(); }));
  ASSERT_TRUE(Eventually([&] { return x.ledger->Snapshot()->num_nodes() == 2; }));
  EXPECT_EQ(x.sync->relists(), 0);
}

TEST(KubeSyncTest, BindWritesTheBindingWithAnnotationsOnce) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutPod(Pod("p", 4));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  ASSERT_TRUE(x.Schedule(Pod("p", 4), "n1").ok());
  Json stored = api.Pod("ml/p");
  EXPECT_EQ(stored["spec"]["nodeName"], "n1");
  EXPECT_EQ(stored["metadata"]["annotations"]["accelsched.io/gpu-ids"], "0,1,2,3");
  EXPECT_EQ(api.bind_calls(), 1);
  // A retry after a lost reply: success, no second binding, no second allocation.
  EXPECT_TRUE(x.extender->Bind(codec::BindingArgs{"p", "ml", "uid-p", "n1"}).ok());
  EXPECT_EQ(api.bind_calls(), 1);
  EXPECT_EQ(x.ledger->Snapshot()->gpu_used_milli(), 4000);
  // The watch event of our own binding does not allocate again either: wait until the sync has
  // applied it (its resourceVersion), then look.
  const int64_t bound_at = api.resource_version();
  ASSERT_TRUE(Eventually([&] {
    const std::string seen = x.sync->Version("pods");
    return !seen.empty() && std::stoll(seen) >= bound_at;
  }));
  EXPECT_EQ(x.ledger->Snapshot()->gpu_used_milli(), 4000);
}

TEST(KubeSyncTest, BindWithoutFilterUsesTheWatchedPod) {
  // After a restart, kube-scheduler may bind a pod whose filter call reached the old process:
  // the pending pod is known from the list/watch.
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutPod(Pod("listed", 2));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_TRUE(x.extender->Bind(codec::BindingArgs{"listed", "ml", "uid-listed", "n1"}).ok());
  api.PutPod(Pod("watched", 1));
  ASSERT_TRUE(Eventually([&] {
    return x.extender->Bind(codec::BindingArgs{"watched", "ml", "uid-watched", "n1"}).ok();
  }));
  EXPECT_EQ(api.Pod("ml/watched")["spec"]["nodeName"], "n1");
  EXPECT_EQ(x.ledger->Snapshot()->gpu_used_milli(), 3000);
}

TEST(KubeSyncTest, HttpsWithTheClusterCaAndABearerToken) {
  testing::TestCert cert;
  FakeApiServer api(cert.cert_file(), cert.key_file());
  api.PutNode(Node("n1", 8));
  Endpoint e;
  e.host = "127.0.0.1";
  e.port = api.port();
  e.ca_pem = cert.cert_pem();
  e.token = "sa-token";
  Instance x(e);
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_EQ(x.ledger->Snapshot()->num_nodes(), 1);
  EXPECT_EQ(api.last_authorization(), "Bearer sa-token");

  // A server whose certificate the CA does not vouch for is refused.
  testing::TestCert other;
  Endpoint wrong = e;
  wrong.ca_pem = other.cert_pem();
  std::unique_ptr<KubeClient> untrusting = *KubeClient::Create(wrong);
  absl::StatusOr<std::string> r = untrusting->Get("/api/v1/nodes");
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  // Garbage PEM is a configuration error.
  Endpoint garbage = e;
  garbage.ca_pem = "not a certificate";
  EXPECT_TRUE(absl::IsInvalidArgument(KubeClient::Create(garbage).status()));
}

TEST(KubeSyncTest, BindingConflictsRollBackUnlessBoundHere) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutNode(Node("n2", 8));
  api.PutPod(Pod("raced", 2));
  api.PutPod(Pod("retried", 2));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  // Someone else binds "raced" to n2 just before we bind it to n1: 409, we refuse and roll back.
  api.BindElsewhere("ml/raced", "n2");
  absl::Status s = x.extender->Bind(codec::BindingArgs{"raced", "ml", "uid-raced", "n1"});
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  // (The watch may since have adopted it on n2 with devices of its own; never on n1.)
  std::optional<PlacedPod> raced = x.ledger->Find("uid-raced");
  EXPECT_TRUE(!raced.has_value() || raced->node == "n2");
  // "retried" is already bound to n1 in the API (our earlier reply was lost) but the ledger
  // does not know: 409 on the same node counts as success.
  api.BindElsewhere("ml/retried", "n1");
  EXPECT_TRUE(x.extender->Bind(codec::BindingArgs{"retried", "ml", "uid-retried", "n1"}).ok());
}

TEST(PublishTopologyTest, AgentAnnotatesTheNodeAndTheExtenderUsesIt) {
  // A real 8-GPU HGX H100 matrix (nvidia-smi topo -m), published onto a node that claims 8 GPUs
  // of a product without a built-in profile: the extender then uses the published topology
  // instead of falling back to "all GPUs equal over PCIe".
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  std::ifstream in(std::string(ACCELSCHED_SHARED_DATA_DIR) +
                   "/nvidia-smi-topo/hgx-h100-8gpu-nv18-partial.txt");
  ASSERT_TRUE(in.good());
  const std::string smi((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<std::string> annotation = TopologyAnnotationFromSmi(smi, "n1", "");
  ASSERT_TRUE(annotation.ok()) << annotation.status();
  EXPECT_FALSE(TopologyAnnotationFromSmi("not a matrix", "n1", "").ok());

  FakeApiServer api;
  Json node = Node("n1", 8);
  node["metadata"]["labels"]["nvidia.com/gpu.product"] = "NVIDIA-Mystery-GPU";
  api.PutNode(node);
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_EQ(x.ledger->Snapshot()->node(0).topology->topology.name(), "generic-pcie-8");
  ASSERT_TRUE(PublishTopology(*x.client, "n1", *annotation).ok());
  EXPECT_EQ(api.Node("n1")["metadata"]["annotations"]["accelsched.io/topology"], *annotation);
  ASSERT_TRUE(
      Eventually([&] { return x.ledger->Snapshot()->node(0).topology->topology.name() == "n1"; }));
  EXPECT_TRUE(absl::IsNotFound(PublishTopology(*x.client, "ghost", *annotation)));
}

TEST(KubeSyncTest, RestartMidWorkloadNeverDoubleAllocates) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  for (int i = 0; i < 6; ++i) api.PutPod(Pod(absl::StrCat("w", i), 1));
  std::set<std::string> first_gpus;
  {
    Instance before(api.port());
    ASSERT_TRUE(before.StartAndRun().ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(before.Schedule(Pod(absl::StrCat("w", i), 1), "n1").ok());
    }
    for (const PlacedPod& p : before.ledger->Pods()) {
      first_gpus.insert(testing::GpuIds(p));
    }
  }  // The extender stops (a restart).
  ASSERT_EQ(first_gpus.size(), 3u);
  Instance after(api.port());
  ASSERT_TRUE(after.StartAndRun().ok());
  // Rebuilt from the pods' annotations: the same three GPUs are held.
  ASSERT_EQ(after.ledger->num_pods(), 3u);
  for (const PlacedPod& p : after.ledger->Pods()) {
    EXPECT_TRUE(first_gpus.count(testing::GpuIds(p)));
  }
  // The rest of the workload gets other GPUs.
  for (int i = 3; i < 6; ++i) {
    ASSERT_TRUE(after.Schedule(Pod(absl::StrCat("w", i), 1), "n1").ok());
  }
  std::set<std::string> all;
  for (const PlacedPod& p : after.ledger->Pods()) all.insert(testing::GpuIds(p));
  EXPECT_EQ(all.size(), 6u);
  EXPECT_EQ(after.ledger->Snapshot()->gpu_used_milli(), 6000);
  // And the API agrees with the ledger.
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(api.Pod(absl::StrCat("ml/w", i))["spec"]["nodeName"], "n1");
  }
}

// Member `name` of gang ml/train (3 members, 8 GPUs each), pending.
Json GangPod(const std::string& name) {
  Json p = Pod(name, 8);
  p["metadata"]["annotations"] = {{"accelsched.io/gang-name", "train"},
                                  {"accelsched.io/gang-size", "3"}};
  return p;
}

// filter over every node, then bind to the one survivor, as kube-scheduler would.
absl::StatusOr<std::string> ScheduleAnywhere(Instance& x, const Json& pod) {
  codec::ExtenderArgs args;
  args.pod = *codec::DecodePod(pod, "Pod");
  args.node_names = {"n1", "n2", "n3", "n4"};
  absl::StatusOr<codec::FilterResult> f = x.extender->Filter(args);
  if (!f.ok()) return f.status();
  if (f->survivors.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(f->survivors.size(), " survivors"));
  }
  const std::string node = args.node_names[static_cast<size_t>(f->survivors[0])];
  absl::Status b = x.extender->Bind(codec::BindingArgs{args.pod.name, "ml", args.pod.uid, node});
  if (!b.ok()) return b;
  return node;
}

TEST(KubeSyncTest, RestartInTheMiddleOfAGangReplansOnlyTheUnboundMembers) {
  FakeApiServer api;
  for (const char* n : {"n1", "n2", "n3", "n4"}) api.PutNode(Node(n, 8));
  for (const char* m : {"g0", "g1", "g2"}) api.PutPod(GangPod(m));
  std::string first;
  {
    Instance before(api.port());
    ASSERT_TRUE(before.StartAndRun().ok());
    // The watch knows all three members: the first filter plans and holds the whole gang.
    absl::StatusOr<std::string> node = ScheduleAnywhere(before, GangPod("g0"));
    ASSERT_TRUE(node.ok()) << node.status();
    first = *node;
    EXPECT_EQ(before.ledger->num_pods(), 3u);  // g0 bound, two slots held.
    EXPECT_EQ(before.extender->gang_stats().slots_held, 2u);
  }  // A restart: the held slots lived only in that process.
  Instance after(api.port());
  ASSERT_TRUE(after.StartAndRun().ok());
  // Rebuilt from the pods: g0 holds its 8 GPUs; the two others are planned again, together.
  ASSERT_EQ(after.ledger->num_pods(), 1u);
  ASSERT_TRUE(after.ledger->Find("uid-g0").has_value());
  EXPECT_EQ(after.ledger->Find("uid-g0")->node, first);
  absl::StatusOr<std::string> n1 = ScheduleAnywhere(after, GangPod("g1"));
  ASSERT_TRUE(n1.ok()) << n1.status();
  EXPECT_EQ(after.extender->gang_stats().planned, 1u);
  EXPECT_EQ(after.extender->gang_stats().slots_held, 1u);  // Only g2's: g0 is not re-planned.
  absl::StatusOr<std::string> n2 = ScheduleAnywhere(after, GangPod("g2"));
  ASSERT_TRUE(n2.ok()) << n2.status();
  // Three members on three different nodes, 24 GPUs: no double allocation.
  EXPECT_EQ(std::set<std::string>({first, *n1, *n2}).size(), 3u);
  EXPECT_EQ(after.ledger->num_pods(), 3u);
  EXPECT_EQ(after.ledger->Snapshot()->gpu_used_milli(), 24000);
  EXPECT_EQ(after.extender->gang_stats().reservations, 0u);
  for (const char* m : {"ml/g0", "ml/g1", "ml/g2"}) {
    EXPECT_FALSE(api.Pod(m)["spec"].value("nodeName", "").empty()) << m;
  }
}

TEST(KubeSyncTest, DeletingAPendingGangMemberReleasesItsGangsReservation) {
  FakeApiServer api;
  for (const char* n : {"n1", "n2", "n3", "n4"}) api.PutNode(Node(n, 8));
  for (const char* m : {"g0", "g1", "g2"}) api.PutPod(GangPod(m));
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  ASSERT_TRUE(ScheduleAnywhere(x, GangPod("g0")).ok());
  ASSERT_EQ(x.extender->gang_stats().slots_held, 2u);
  api.DeletePod("ml/g2");
  ASSERT_TRUE(Eventually([&] { return x.extender->gang_stats().slots_held == 0; }));
  EXPECT_EQ(x.ledger->num_pods(), 1u);  // g0 keeps its GPUs.
  EXPECT_EQ(x.extender->gang_stats().dropped, 1u);
}

TEST(KubeSyncTest, PodGroupsGiveGangsTheirMinMember) {
  for (const bool installed : {true, false}) {
    SCOPED_TRACE(installed ? "PodGroup CRD installed" : "no PodGroup CRD");
    FakeApiServer api;
    api.set_pod_groups_installed(installed);
    for (const char* n : {"n1", "n2", "n3", "n4"}) api.PutNode(Node(n, 8));
    // Members by the scheduler-plugins label, without a size annotation.
    auto member = [](const std::string& name) {
      Json p = Pod(name, 8);
      p["metadata"]["labels"] = {{"scheduling.x-k8s.io/pod-group", "train"}};
      return p;
    };
    api.PutPod(member("m0"));
    api.PutPod(member("m1"));
    Instance x(api.port());
    ASSERT_TRUE(x.StartAndRun().ok());  // A missing CRD is no error.
    // Size unknown: the member waits, saying how to set it.
    codec::ExtenderArgs args;
    args.pod = *codec::DecodePod(member("m0"), "Pod");
    args.node_names = {"n1", "n2", "n3", "n4"};
    absl::StatusOr<codec::FilterResult> f = x.extender->Filter(args);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(f->survivors.empty());
    EXPECT_NE(f->reasons.at(0).find("create PodGroup train with minMember"), std::string::npos);
    if (!installed) continue;
    // The PodGroup appears (watched): minMember 2, both members known, the gang is planned.
    api.PutPodGroup({{"apiVersion", "scheduling.x-k8s.io/v1alpha1"},
                     {"kind", "PodGroup"},
                     {"metadata", {{"name", "train"}, {"namespace", "ml"}}},
                     {"spec", {{"minMember", 2}}}});
    ASSERT_TRUE(Eventually([&] {
      absl::StatusOr<codec::FilterResult> g = x.extender->Filter(args);
      return g.ok() && g->survivors.size() == 1;
    }));
    EXPECT_EQ(x.extender->gang_stats().slots_held, 2u);
  }
}

TEST(KubeSyncTest, NamespacesGiveTenancy) {
  FakeApiServer api;
  api.PutNode(Node("n1", 8));
  api.PutNamespace(
      {{"apiVersion", "v1"},
       {"kind", "Namespace"},
       {"metadata",
        {{"name", "secure"}, {"labels", {{"accelsched.io/isolation", "exclusive-gpu"}}}}}});
  api.PutNamespace(
      {{"apiVersion", "v1"},
       {"kind", "Namespace"},
       {"metadata", {{"name", "odd"}, {"labels", {{"accelsched.io/isolation", "private"}}}}}});
  Instance x(api.port());
  ASSERT_TRUE(x.StartAndRun().ok());
  EXPECT_EQ(x.extender->IsolationOf("secure"), plugins::Isolation::kExclusiveGpu);
  EXPECT_EQ(x.extender->IsolationOf("odd"),
            plugins::Isolation::kShared);  // Invalid: logged, shared.
  // A label change arrives through the watch.
  api.PutNamespace(
      {{"apiVersion", "v1"},
       {"kind", "Namespace"},
       {"metadata",
        {{"name", "solo"}, {"labels", {{"accelsched.io/isolation", "exclusive-node"}}}}}});
  ASSERT_TRUE(Eventually(
      [&] { return x.extender->IsolationOf("solo") == plugins::Isolation::kExclusiveNode; }));
  api.PutNamespace(
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "secure"}}}});
  ASSERT_TRUE(
      Eventually([&] { return x.extender->IsolationOf("secure") == plugins::Isolation::kShared; }));
}

}  // namespace
}  // namespace accelsched::scheduler::kube
