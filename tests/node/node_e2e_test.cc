// End to end, every part real but the outside world: the extender in Kubernetes mode binds pods
// through the fake API server; accelsched-node's parts (NVML through the fake library, the pod
// watch, the Assigner, the gRPC plugin server) serve the fake kubelet, which admits containers
// as the device manager does. What each container receives must be what the extender chose.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "scheduler/codec/debug_state.h"
#include "scheduler/codec/extender.h"
#include "scheduler/kube/publish.h"
#include "scheduler/node/assigner.h"
#include "scheduler/node/health.h"
#include "scheduler/node/inventory.h"
#include "scheduler/node/node_facts.h"
#include "scheduler/node/nvml.h"
#include "scheduler/node/plugin_server.h"
#include "scheduler/node/pod_watch.h"
#include "tests/node/fake_kubelet.h"
#include "tests/node/fake_nvml_config.h"
#include "tests/node/node_process.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::scheduler::node {
namespace {

using kube::Eventually;
using kube::Instance;
using testing::FakeApiServer;
using testing::FakeKubelet;
using Json = nlohmann::json;

// accelsched-node's serve, wired as node_main.cc wires it, in this process.
struct NodeSide {
  NodeSide(const NodeSide&) = delete;
  NodeSide& operator=(const NodeSide&) = delete;
  std::unique_ptr<Nvml> nvml;
  std::shared_ptr<const Inventory> inventory;
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<Assigner> assigner;
  std::unique_ptr<PodWatch> pods;
  std::unique_ptr<PluginServer> server;

  NodeSide(int api_port, const std::string& node, const std::string& dir,
           AssignerOptions options = {}) {
    nvml = *Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
    inventory = std::make_shared<const Inventory>(*Inventory::Build(*nvml->Read(), true));
    client = *kube::KubeClient::Create(kube::PlainEndpoint(api_port));
    PublishNodeFacts(*client, node, *inventory);
    assigner = std::make_unique<Assigner>(
        inventory, options,
        [this](const std::string& uid, const std::string& key, const std::set<std::string>& c) {
          pods->RecordAllocated(uid, key, c);
        });
    pods = std::make_unique<PodWatch>(*client, node, *assigner);
    pods->Start();
    EXPECT_TRUE(pods->WaitSynced(absl::Seconds(10)));
    PluginServerOptions o;
    o.dir = dir;
    o.watch_interval = absl::Milliseconds(50);
    server = std::make_unique<PluginServer>(*assigner, o);
    EXPECT_TRUE(server->Start().ok());
  }
  ~NodeSide() {
    server->Stop();
    pods->Stop();
  }
};

// A GPU node as the API server holds it: GFD labels and allocatable for whole GPUs and shares.
Json GpuNode(const std::string& name, const std::string& product, int gpus) {
  Json n = kube::Node(name, gpus);
  n["metadata"]["labels"]["nvidia.com/gpu.product"] = product;
  n["status"]["allocatable"]["accelsched.io/gpu-milli"] = std::to_string(gpus * 1000);
  return n;
}

Json WholePod(const std::string& name, int gpus) { return kube::Pod(name, gpus); }

// What the kubelet does once device plugins registered: node `name`'s allocatable shows each of
// `resources` with its count of healthy devices (kube-scheduler and the extender read it there).
void PublishAllocatable(FakeApiServer& api, FakeKubelet& kubelet, const std::string& name,
                        const std::vector<std::string>& resources) {
  Json n = api.Node(name);
  for (const std::string& r : resources) {
    int healthy = 0;
    for (const auto& [id, health] : kubelet.WaitForDevices(r)) healthy += health == "Healthy";
    n["status"]["allocatable"][r] = std::to_string(healthy);
  }
  api.PutNode(n);
}

Json SharePod(const std::string& name, int milli) {
  Json p = kube::Pod(name, 0);
  p["spec"]["containers"][0]["resources"]["limits"] = {{"accelsched.io/gpu-milli", milli}};
  return p;
}

// "GPU-h100-<i>" for each index of the pod's accelsched.io/gpu-ids.
std::vector<std::string> AnnotatedUuids(FakeApiServer& api, const std::string& pod) {
  std::vector<std::string> out;
  const std::string ids =
      api.Pod("ml/" + pod)["metadata"]["annotations"].value("accelsched.io/gpu-ids", "");
  for (absl::string_view id : absl::StrSplit(ids, ',', absl::SkipEmpty())) {
    out.push_back(absl::StrCat("GPU-h100-", id));
  }
  return out;
}

std::vector<std::string> CdiUuids(const FakeKubelet::Admission& a) {
  std::vector<std::string> out;
  for (const auto& d : a.response.cdi_devices()) out.push_back(d.name().substr(15));
  return out;
}

std::string Allocated(FakeApiServer& api, const std::string& pod) {
  return api.Pod("ml/" + pod)["metadata"]["annotations"].value("accelsched.io/allocated", "");
}

class NodeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/accelsched-e2e-XXXXXX";
    dir_ = mkdtemp(path);
    testing::UseFakeNvml(testing::HgxH100(8));
    api_.PutNode(GpuNode("gpu-1", "NVIDIA-H100-80GB-HBM3", 8));
    kubelet_ = std::make_unique<FakeKubelet>(dir_);
    node_ = std::make_unique<NodeSide>(api_.port(), "gpu-1", dir_);
    extender_ = std::make_unique<Instance>(api_.port());
    ASSERT_TRUE(extender_->StartAndRun().ok());
  }
  void TearDown() override {
    extender_.reset();
    node_.reset();
    kubelet_.reset();
    rmdir(dir_.c_str());
  }
  // Creates and schedules `pod` onto gpu-1; waits until the node side has seen the binding.
  void Bind(const Json& pod) {
    api_.PutPod(pod);
    const std::string name = pod["metadata"]["name"];
    ASSERT_TRUE(Eventually([&] { return extender_->Schedule(pod, "gpu-1").ok(); })) << name;
  }
  // Waits until the node's pod watch has the pod's bind (its annotation) without matching.
  void WaitForWatch() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }

  std::string dir_;
  FakeApiServer api_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::unique_ptr<NodeSide> node_;
  std::unique_ptr<Instance> extender_;
};

TEST_F(NodeE2eTest, TheContainerGetsExactlyTheGpusTheExtenderChose) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  // The topology came from NVML through the node's annotation: NUMA 0 = GPUs 0-3, 1 = 4-7.
  Bind(WholePod("one", 1));
  Bind(WholePod("four", 4));
  WaitForWatch();
  FakeKubelet::Admission one = kubelet_->Admit("nvidia.com/gpu", 1);
  FakeKubelet::Admission four = kubelet_->Admit("nvidia.com/gpu", 4);
  ASSERT_TRUE(one.status.ok()) << one.status.error_message();
  ASSERT_TRUE(four.status.ok()) << four.status.error_message();
  EXPECT_EQ(CdiUuids(one), AnnotatedUuids(api_, "one"));
  EXPECT_EQ(CdiUuids(four), AnnotatedUuids(api_, "four"));
  // The 4-GPU set is one NUMA node's (the one the 1-GPU pod left whole), and the kubelet's own
  // accounting took the same devices.
  EXPECT_EQ(CdiUuids(four),
            (std::vector<std::string>{"GPU-h100-4", "GPU-h100-5", "GPU-h100-6", "GPU-h100-7"}));
  EXPECT_EQ(four.ids, CdiUuids(four));
  EXPECT_TRUE(Eventually([&] { return Allocated(api_, "four") == "c"; }));
}

TEST_F(NodeE2eTest, AShareRunsOnTheGpuTheExtenderPackedItOnto) {
  ASSERT_EQ(kubelet_->WaitForDevices("accelsched.io/gpu-milli").size(), 8000u);
  Bind(SharePod("s1", 400));
  Bind(SharePod("s2", 500));
  WaitForWatch();
  FakeKubelet::Admission s1 = kubelet_->Admit("accelsched.io/gpu-milli", 400);
  FakeKubelet::Admission s2 = kubelet_->Admit("accelsched.io/gpu-milli", 500);
  ASSERT_TRUE(s1.status.ok()) << s1.status.error_message();
  ASSERT_TRUE(s2.status.ok()) << s2.status.error_message();
  const std::string share1 =
      api_.Pod("ml/s1")["metadata"]["annotations"].value("accelsched.io/gpu-share", "");
  const std::string share2 =
      api_.Pod("ml/s2")["metadata"]["annotations"].value("accelsched.io/gpu-share", "");
  EXPECT_EQ(CdiUuids(s1), (std::vector<std::string>{"GPU-h100-" + share1.substr(0, 1)}));
  EXPECT_EQ(CdiUuids(s2), (std::vector<std::string>{"GPU-h100-" + share2.substr(0, 1)}));
  EXPECT_EQ(share1.substr(0, 1), share2.substr(0, 1));  // Packed together (FGD/best fit).
  // The kubelet's milli devices are on that GPU too.
  for (const std::string& id : s2.ids) {
    EXPECT_EQ(id.substr(0, id.find("::")), CdiUuids(s2)[0]) << id;
  }
}

TEST_F(NodeE2eTest, TwoPodsWaitingAtOnceEachGetTheirOwnDevices) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  Bind(WholePod("a", 2));
  Bind(WholePod("b", 2));
  WaitForWatch();
  FakeKubelet::Admission first = kubelet_->Admit("nvidia.com/gpu", 2);
  FakeKubelet::Admission second = kubelet_->Admit("nvidia.com/gpu", 2);
  ASSERT_TRUE(first.status.ok() && second.status.ok());
  // The older bind first.
  EXPECT_EQ(CdiUuids(first), AnnotatedUuids(api_, "a"));
  EXPECT_EQ(CdiUuids(second), AnnotatedUuids(api_, "b"));
  const std::vector<std::string> a = CdiUuids(first);
  std::set<std::string> all(a.begin(), a.end());
  for (const std::string& u : CdiUuids(second)) EXPECT_TRUE(all.insert(u).second) << u;
}

TEST_F(NodeE2eTest, APodFromAnotherSchedulerGetsTheTopologyBestSet) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  Json other = kube::Pod("other", 4, "gpu-1");  // Bound by someone else: no annotations.
  other["status"]["phase"] = "Pending";
  other["spec"]["schedulerName"] = "default-scheduler";
  api_.PutPod(other);
  WaitForWatch();
  FakeKubelet::Admission a = kubelet_->Admit("nvidia.com/gpu", 4);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  // Every pair is NV18; the best 4 keep to one NUMA node.
  EXPECT_EQ(a.preferred,
            (std::vector<std::string>{"GPU-h100-0", "GPU-h100-1", "GPU-h100-2", "GPU-h100-3"}));
  EXPECT_EQ(CdiUuids(a), a.preferred);
}

TEST_F(NodeE2eTest, AMalformedAnnotationFailsThatPodOnly) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  Json bad = kube::Pod("bad", 2, "gpu-1", "0,9");  // GPU 9 does not exist.
  bad["status"]["phase"] = "Pending";
  bad["metadata"]["annotations"]["accelsched.io/bound-at"] = "2026-01-01T00:00:00.000000Z";
  api_.PutPod(bad);
  Bind(WholePod("good", 2));
  WaitForWatch();
  // The kubelet admits both (in some order): the bad one fails naming itself, the good one gets
  // exactly its devices.
  FakeKubelet::Admission first = kubelet_->Admit("nvidia.com/gpu", 2);
  FakeKubelet::Admission second = kubelet_->Admit("nvidia.com/gpu", 2);
  ASSERT_NE(first.status.ok(), second.status.ok());
  const FakeKubelet::Admission& failed = first.status.ok() ? second : first;
  const FakeKubelet::Admission& served = first.status.ok() ? first : second;
  EXPECT_EQ(failed.status.error_message(),
            "pod ml/bad container c: annotation accelsched.io/gpu-ids '0,9': '9' is outside the "
            "node's GPUs 0..7");
  EXPECT_EQ(CdiUuids(served), AnnotatedUuids(api_, "good"));
}

TEST_F(NodeE2eTest, APluginRestartHandsNothingOutTwice) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  Bind(WholePod("a", 2));
  WaitForWatch();
  FakeKubelet::Admission a = kubelet_->Admit("nvidia.com/gpu", 2);
  ASSERT_TRUE(a.status.ok());
  ASSERT_TRUE(Eventually([&] { return Allocated(api_, "a") == "c"; }));
  node_.reset();  // accelsched-node restarts; the pod is still Pending in the API.
  node_ = std::make_unique<NodeSide>(api_.port(), "gpu-1", dir_);
  ASSERT_TRUE(Eventually([&] { return kubelet_->registrations().size() >= 2; }));
  FakeKubelet::Admission again = kubelet_->Admit("nvidia.com/gpu", 2);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  // Not pod a's devices again: a 2-GPU container nobody placed gets the kubelet's choice.
  const std::vector<std::string> before = CdiUuids(a);
  std::set<std::string> first(before.begin(), before.end());
  for (const std::string& u : CdiUuids(again)) EXPECT_EQ(first.count(u), 0u) << u;
}

TEST_F(NodeE2eTest, TheAllocatedRecordGoesOnlyToThePodItWasFor) {
  api_.PutPod(WholePod("r", 1));  // uid-r.
  // A record for an earlier pod of the same name (replaced meanwhile): the uid precondition
  // makes the API server refuse it, and it is dropped rather than retried forever.
  node_->pods->RecordAllocated("uid-r-before", "ml/r", {"c"});
  ASSERT_TRUE(Eventually([&] { return node_->pods->pending_patches() == 0; }));
  EXPECT_EQ(Allocated(api_, "r"), "");
  node_->pods->RecordAllocated("uid-r", "ml/r", {"c"});
  EXPECT_TRUE(Eventually([&] { return Allocated(api_, "r") == "c"; }));
}

TEST_F(NodeE2eTest, AKubeletRestartReRegistersAndAllocationGoesOn) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  kubelet_->Restart();
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  Bind(WholePod("after", 2));
  WaitForWatch();
  FakeKubelet::Admission a = kubelet_->Admit("nvidia.com/gpu", 2);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(CdiUuids(a), AnnotatedUuids(api_, "after"));
}

TEST_F(NodeE2eTest, AnXidTakesTheGpuOutOfServiceForTheKubeletAndTheExtender) {
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  std::atomic<bool> stop{false};
  std::vector<std::map<int, std::string>> published;
  std::thread watcher([&] {
    WatchGpuHealth(*node_->nvml, *node_->assigner, stop, [&](const std::map<int, std::string>& b) {
      published.push_back(b);
      EXPECT_TRUE(PublishUnhealthyGpus(*node_->client, "gpu-1", b).ok());
    });
  });
  Json config = testing::HgxH100(8);
  config["events"] = {{{"gpu", 3}, {"xid", 13}},   // The application's fault: ignored.
                      {{"gpu", 5}, {"xid", 79}}};  // Fell off the bus.
  testing::UseFakeNvml(config);
  EXPECT_TRUE(kubelet_->WaitForHealth("nvidia.com/gpu", "GPU-h100-5", "Unhealthy"));
  EXPECT_TRUE(kubelet_->WaitForHealth("accelsched.io/gpu-milli", "GPU-h100-5::0", "Unhealthy"));
  EXPECT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").at("GPU-h100-3"), "Healthy");
  stop = true;
  watcher.join();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(UnhealthyGpusAnnotation(published[0]), "5:XID 79");

  // The extender learns it from the node annotation: an 8-GPU pod no longer fits, the reason
  // says why, and /debug/state shows which GPU and why.
  ASSERT_TRUE(
      Eventually([&] { return extender_->ledger->Snapshot()->node(0).unhealthy == (1u << 5); }));
  Json eight = WholePod("eight", 8);
  api_.PutPod(eight);
  codec::ExtenderArgs args;
  args.pod = *codec::DecodePod(eight, "Pod");
  args.node_names = {"gpu-1"};
  absl::StatusOr<codec::FilterResult> f = extender_->extender->Filter(args);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->survivors.empty());
  EXPECT_NE(codec::EncodeFilterResultText(args, *f).find("GPU health: not enough healthy GPUs"),
            std::string::npos)
      << codec::EncodeFilterResultText(args, *f);
  EXPECT_NE(
      codec::EncodeDebugState(*extender_->ledger->Snapshot(), {}).find(R"("unhealthy":"XID 79")"),
      std::string::npos);
  // Seven GPUs still go, and never GPU 5: the kubelet is not asked for it either.
  Bind(WholePod("seven", 7));
  WaitForWatch();
  FakeKubelet::Admission seven = kubelet_->Admit("nvidia.com/gpu", 7);
  ASSERT_TRUE(seven.status.ok()) << seven.status.error_message();
  EXPECT_EQ(CdiUuids(seven), AnnotatedUuids(api_, "seven"));
  for (const std::string& u : CdiUuids(seven)) EXPECT_NE(u, "GPU-h100-5");
}

// Tenancy through the node side: a namespace whose isolation is exclusive-gpu never gets a GPU
// another namespace shares, so its share runs on a GPU of its own.
TEST_F(NodeE2eTest, AnExclusiveNamespacesShareGetsAGpuOfItsOwn) {
  ASSERT_EQ(kubelet_->WaitForDevices("accelsched.io/gpu-milli").size(), 8000u);
  api_.PutNamespace(
      {{"apiVersion", "v1"},
       {"kind", "Namespace"},
       {"metadata",
        {{"name", "secure"}, {"labels", {{"accelsched.io/isolation", "exclusive-gpu"}}}}}});
  ASSERT_TRUE(Eventually([&] {
    return extender_->ledger->IsolationOf("secure") == plugins::Isolation::kExclusiveGpu;
  }));
  Bind(SharePod("open", 300));
  Json secret = SharePod("secret", 300);
  secret["metadata"]["namespace"] = "secure";
  api_.PutPod(secret);
  codec::BindingArgs bind{"secret", "secure", "uid-secret", "gpu-1"};
  codec::ExtenderArgs args;
  args.pod = *codec::DecodePod(secret, "Pod");
  args.node_names = {"gpu-1"};
  ASSERT_TRUE(extender_->extender->Filter(args).ok());
  ASSERT_TRUE(extender_->extender->Bind(bind).ok());
  WaitForWatch();
  FakeKubelet::Admission open = kubelet_->Admit("accelsched.io/gpu-milli", 300);
  FakeKubelet::Admission closed = kubelet_->Admit("accelsched.io/gpu-milli", 300);
  ASSERT_TRUE(open.status.ok() && closed.status.ok());
  const std::string secret_share =
      api_.Pod("secure/secret")["metadata"]["annotations"].value("accelsched.io/gpu-share", "");
  EXPECT_EQ(CdiUuids(closed), (std::vector<std::string>{"GPU-h100-" + secret_share.substr(0, 1)}));
  EXPECT_NE(CdiUuids(open), CdiUuids(closed));  // Best fit alone would have packed them.
}

// Static MIG: the node has two 3g.40gb instances on GPU 0 (made ahead, as by mig-parted), and
// says so; the extender places MIG pods only onto them, and the container gets that instance.
TEST(NodeStaticMigTest, MigPodsGoOnlyOntoTheInstancesTheNodeHas) {
  char path[] = "/tmp/accelsched-e2e-XXXXXX";
  const std::string dir = mkdtemp(path);
  testing::UseFakeNvml(testing::A100WithMig());
  FakeApiServer api;
  api.PutNode(GpuNode("a100-1", "NVIDIA-A100-SXM4-80GB", 4));
  auto kubelet = std::make_unique<FakeKubelet>(dir);
  auto node = std::make_unique<NodeSide>(api.port(), "a100-1", dir);
  PublishAllocatable(api, *kubelet, "a100-1", {"nvidia.com/mig-3g.40gb"});
  auto extender = std::make_unique<Instance>(api.port());
  ASSERT_TRUE(extender->StartAndRun().ok());
  ASSERT_TRUE(Eventually([&] {
    const plugins::NodeInfo& n = extender->ledger->Snapshot()->node(0);
    return n.mig_enabled == 1u && n.mig_instances != nullptr && n.mig_instances->size() == 2;
  }));
  // A 1g.10gb pod would fit a freely partitioned GPU 0; here there is no such instance.
  Json small = kube::Pod("small", 0);
  small["spec"]["containers"][0]["resources"]["limits"] = {{"nvidia.com/mig-1g.10gb", 1}};
  api.PutPod(small);
  EXPECT_FALSE(extender->Schedule(small, "a100-1").ok());
  std::vector<std::string> uuids;
  for (const char* name : {"m1", "m2"}) {
    Json pod = kube::Pod(name, 0);
    pod["spec"]["containers"][0]["resources"]["limits"] = {{"nvidia.com/mig-3g.40gb", 1}};
    api.PutPod(pod);
    ASSERT_TRUE(extender->Schedule(pod, "a100-1").ok()) << name;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    FakeKubelet::Admission a = kubelet->Admit("nvidia.com/mig-3g.40gb", 1);
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    const std::string placement = api.Pod(
        std::string("ml/") + name)["metadata"]["annotations"]["accelsched.io/mig-placement"];
    EXPECT_EQ(CdiUuids(a), (std::vector<std::string>{
                               placement == "0:3g.40gb@0" ? "MIG-a100-0-gi1" : "MIG-a100-0-gi2"}))
        << placement;
    uuids.push_back(CdiUuids(a)[0]);
  }
  EXPECT_NE(uuids[0], uuids[1]);  // Both instances, one each.
  extender.reset();
  node.reset();
  kubelet.reset();
  rmdir(dir.c_str());
}

// "profile@start" of GPU 0's MIG instances in the fake NVML's state (19 = 1g.10gb, 9 = 3g.40gb),
// with each one's UUID after a space.
std::vector<std::string> Gpu0Instances() {
  std::vector<std::string> out;
  const testing::NvmlJson state = testing::ReadFakeNvml();
  for (const auto& m : state["migs"]) {
    if (m["parent"] == 0) {
      out.push_back(absl::StrCat(m["profile"].get<int>(), "@", m["start"].get<int>(), " ",
                                 m["uuid"].get<std::string>()));
    }
  }
  return out;
}

// The real accelsched-node binary on a node labelled for dynamic MIG and MPS shares.
TEST(NodeDynamicMigTest, TheExtendersPlacementIsMadeAtAllocateAndDestroyedWhenThePodGoes) {
  char path[] = "/tmp/accelsched-e2e-XXXXXX";
  const std::string dir = mkdtemp(path);
  testing::NvmlJson nvml = testing::A100WithMig();
  // A leftover 1g.10gb at slot 6 that no pod holds (its pod went while the plugin was down).
  nvml["migs"] = {
      {{"parent", 0}, {"uuid", "MIG-old"}, {"gi", 3}, {"profile", 19}, {"start", 6}, {"size", 1}}};
  testing::UseFakeNvml(nvml);
  FakeApiServer api;
  Json n = GpuNode("a100-1", "NVIDIA-A100-SXM4-80GB", 4);
  n["metadata"]["labels"]["accelsched.io/mig-mode"] = "dynamic";
  n["metadata"]["labels"]["accelsched.io/gpu-sharing"] = "mps";
  n["metadata"]["annotations"]["accelsched.io/mig-instances"] = "0:3g.40gb@0";  // Stale.
  api.PutNode(n);
  testing::WriteKubeconfig(api.port(), dir);
  auto kubelet = std::make_unique<FakeKubelet>(dir);
  const pid_t pid = testing::StartNodeProcess(ACCELSCHED_NODE_BINARY, ACCELSCHED_FAKE_NVML_LIBRARY,
                                              "a100-1", dir, {"--mig-reconcile-ms=50"});
  ASSERT_GT(pid, 0);
  kubelet->WaitForDevices("nvidia.com/gpu", std::chrono::seconds(30));
  // Every slot of every profile is offered; the stale list is gone; the leftover is destroyed.
  EXPECT_EQ(kubelet->WaitForDevices("nvidia.com/mig-1g.10gb").size(), 7u);
  EXPECT_TRUE(Eventually([&] {
    return !api.Node("a100-1")["metadata"]["annotations"].contains("accelsched.io/mig-instances");
  }));
  EXPECT_TRUE(Eventually([&] { return Gpu0Instances().empty(); }));
  PublishAllocatable(api, *kubelet, "a100-1", {"nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb"});
  auto extender = std::make_unique<Instance>(api.port());
  ASSERT_TRUE(extender->StartAndRun().ok());
  ASSERT_TRUE(Eventually([&] {
    const plugins::NodeInfo& info = extender->ledger->Snapshot()->node(0);
    return info.mig_enabled == 1u && info.mig_instances == nullptr;  // Freely partitioned.
  }));

  std::vector<std::string> want;  // The instances that should exist, as Gpu0Instances says.
  for (const auto& [name, profile, id] :
       {std::tuple{"small", "1g.10gb", 19}, std::tuple{"big", "3g.40gb", 9}}) {
    Json pod = kube::Pod(name, 0);
    const std::string resource = absl::StrCat("nvidia.com/mig-", profile);
    pod["spec"]["containers"][0]["resources"]["limits"] = {{resource, 1}};
    api.PutPod(pod);
    ASSERT_TRUE(extender->Schedule(pod, "a100-1").ok()) << name;
    const std::string placement = api.Pod(
        absl::StrCat("ml/", name))["metadata"]["annotations"]["accelsched.io/mig-placement"];
    const std::string start = placement.substr(placement.find('@') + 1);
    kubelet->WaitForDevices(resource);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // The node's pod watch.
    FakeKubelet::Admission a = kubelet->Admit(resource, 1);
    ASSERT_TRUE(a.status.ok()) << name << ": " << a.status.error_message();
    // The kubelet took the slot the extender chose, and the container gets the instance made.
    EXPECT_EQ(a.ids, (std::vector<std::string>{absl::StrCat("GPU-a100-0::", profile, "@", start)}));
    const std::string uuid = a.response.envs().at("NVIDIA_VISIBLE_DEVICES");
    want.push_back(absl::StrCat(id, "@", start, " ", uuid));
    EXPECT_EQ(Gpu0Instances(), want) << placement;
  }
  EXPECT_NE(want[0].substr(want[0].find(' ')), want[1].substr(want[1].find(' ')));

  // A share on a whole GPU: MPS limits, because of the node's label.
  Json share = SharePod("share", 500);
  api.PutPod(share);
  ASSERT_TRUE(extender->Schedule(share, "a100-1").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  FakeKubelet::Admission s = kubelet->Admit("accelsched.io/gpu-milli", 500);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.response.envs().at("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "50");

  // The small pod goes: its instance is destroyed, the big one's stays.
  api.DeletePod("ml/small");
  EXPECT_TRUE(Eventually([&] { return Gpu0Instances() == std::vector<std::string>{want[1]}; }))
      << absl::StrJoin(Gpu0Instances(), "; ");
  extender.reset();
  testing::StopNodeProcess(pid);
  kubelet.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace accelsched::scheduler::node
