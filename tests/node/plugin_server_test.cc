// PluginServer against the fake kubelet, over real unix sockets and gRPC: registration, device
// lists and health, allocation, errors, kubelet restarts and our own shutdown.
#include "scheduler/node/plugin_server.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "scheduler/codec/k8s.h"
#include "tests/node/fake_kubelet.h"
#include "tests/node/fake_nvml_config.h"

namespace accelsched::scheduler::node {
namespace {

using testing::FakeKubelet;

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// A fresh device-plugin directory per test.
std::string TempDir() {
  char path[] = "/tmp/accelsched-plugins-XXXXXX";
  return mkdtemp(path);
}

std::shared_ptr<const Inventory> Hgx(int gpus, bool shares) {
  NvmlInventory nvml;
  const nlohmann::json config = testing::HgxH100(gpus);
  nvml.matrix.num_gpus = gpus;
  nvml.matrix.cpu_affinity.assign(static_cast<size_t>(gpus), "");
  nvml.matrix.cells.assign(static_cast<size_t>(gpus), std::vector<std::optional<topology::SmiCell>>(
                                                          static_cast<size_t>(gpus)));
  for (int i = 0; i < gpus; ++i) {
    const nlohmann::json& g = config["gpus"][static_cast<size_t>(i)];
    nvml.gpus.push_back({i, g["uuid"], g["name"], g["memory_mib"], g["pci"], i, g["numa"], false});
    nvml.matrix.numa.push_back(g["numa"]);
    for (int j = 0; j < gpus; ++j) {
      nvml.matrix.cells[i][j] = topology::SmiCell{
          i == j ? topology::PathKind::kSelf : topology::PathKind::kNvlink, i == j ? 0 : 18};
    }
  }
  return std::make_shared<const Inventory>(*Inventory::Build(nvml, shares));
}

codec::PodObject WholePod(const std::string& name, int gpus, const std::string& ids) {
  nlohmann::json pod = {
      {"metadata",
       {{"name", name},
        {"namespace", "ml"},
        {"uid", "uid-" + name},
        {"annotations", {{"accelsched.io/gpu-ids", ids}, {"accelsched.io/bound-at", name}}}}},
      {"spec",
       {{"nodeName", "n1"},
        {"containers",
         {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", gpus}}}}}}}}}},
      {"status", {{"phase", "Pending"}}}};
  return *codec::DecodePodText(pod.dump(), "pod");
}

class PluginServerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TempDir(); }
  void TearDown() override {
    server_.reset();
    kubelet_.reset();
    rmdir(dir_.c_str());
  }
  void Start(std::shared_ptr<const Inventory> inv) {
    kubelet_ = std::make_unique<FakeKubelet>(dir_);
    assigner_ = std::make_unique<Assigner>(std::move(inv), AssignerOptions{});
    PluginServerOptions o;
    o.dir = dir_;
    o.watch_interval = absl::Milliseconds(50);
    server_ = std::make_unique<PluginServer>(*assigner_, o);
    ASSERT_TRUE(server_->Start().ok());
  }
  std::string dir_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::unique_ptr<Assigner> assigner_;
  std::unique_ptr<PluginServer> server_;
};

TEST_F(PluginServerTest, RegistersEveryResourceAndListsItsDevices) {
  Start(Hgx(8, true));
  std::map<std::string, std::string> gpus = kubelet_->WaitForDevices("nvidia.com/gpu");
  ASSERT_EQ(gpus.size(), 8u);
  EXPECT_EQ(gpus.at("GPU-h100-3"), "Healthy");
  EXPECT_EQ(kubelet_->WaitForDevices("accelsched.io/gpu-milli").size(), 8000u);
  std::vector<v1beta1::RegisterRequest> r = kubelet_->registrations();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].version(), "v1beta1");
  EXPECT_EQ(r[0].resource_name(), "nvidia.com/gpu");
  EXPECT_EQ(r[0].endpoint(), "accelsched-gpu.sock");
  EXPECT_TRUE(r[0].options().get_preferred_allocation_available());
  EXPECT_EQ(r[1].resource_name(), "accelsched.io/gpu-milli");
  EXPECT_TRUE(Exists(dir_ + "/accelsched-gpu.sock"));
  // NUMA affinity for the kubelet's Topology Manager.
  const v1beta1::ListAndWatchResponse list = kubelet_->LastList("nvidia.com/gpu");
  ASSERT_EQ(list.devices_size(), 8);
  EXPECT_EQ(list.devices(6).topology().nodes(0).id(), 1);
}

TEST_F(PluginServerTest, AllocatesTheExtendersDevicesThroughTheKubelet) {
  Start(Hgx(8, false));
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 8u);
  assigner_->ReplacePods({WholePod("a", 4, "4-7")});
  FakeKubelet::Admission a = kubelet_->Admit("nvidia.com/gpu", 4);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.preferred,
            (std::vector<std::string>{"GPU-h100-4", "GPU-h100-5", "GPU-h100-6", "GPU-h100-7"}));
  EXPECT_EQ(a.ids, a.preferred);  // The kubelet's accounting equals the extender's choice.
  ASSERT_EQ(a.response.cdi_devices_size(), 4);
  EXPECT_EQ(a.response.cdi_devices(0).name(), "nvidia.com/gpu=GPU-h100-4");
}

TEST_F(PluginServerTest, AFailedAllocationReachesTheKubeletWithItsMessage) {
  Start(Hgx(4, false));
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 4u);
  assigner_->ReplacePods({WholePod("a", 1, "7")});  // GPU 7: not on this 4-GPU node.
  FakeKubelet::Admission a = kubelet_->Admit("nvidia.com/gpu", 1);
  ASSERT_FALSE(a.status.ok());
  EXPECT_EQ(a.status.error_message(),
            "pod ml/a container c: annotation accelsched.io/gpu-ids '7': '7' is outside the "
            "node's GPUs 0..3");
}

TEST_F(PluginServerTest, HealthChangesReachTheKubelet) {
  Start(Hgx(4, false));
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 4u);
  assigner_->SetGpuHealth(2, "XID 79");
  EXPECT_TRUE(kubelet_->WaitForHealth("nvidia.com/gpu", "GPU-h100-2", "Unhealthy"));
  EXPECT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").at("GPU-h100-1"), "Healthy");
}

TEST_F(PluginServerTest, AKubeletRestartIsFollowedByANewRegistration) {
  Start(Hgx(2, false));
  ASSERT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 2u);
  ASSERT_EQ(kubelet_->registrations().size(), 1u);
  kubelet_->Restart();  // Removes our socket and makes kubelet.sock anew.
  for (int i = 0; i < 500 && kubelet_->registrations().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(kubelet_->registrations().size(), 1u);  // The restarted kubelet's list.
  EXPECT_EQ(kubelet_->WaitForDevices("nvidia.com/gpu").size(), 2u);
  EXPECT_TRUE(Exists(dir_ + "/accelsched-gpu.sock"));
  // The server counts a registration once the kubelet's answer is back.
  for (int i = 0; i < 500 && server_->registrations() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->registrations(), 2);
}

TEST_F(PluginServerTest, StopRemovesOurSockets) {
  Start(Hgx(2, true));
  ASSERT_EQ(kubelet_->WaitForDevices("accelsched.io/gpu-milli").size(), 2000u);
  server_->Stop();
  EXPECT_FALSE(Exists(dir_ + "/accelsched-gpu.sock"));
  EXPECT_FALSE(Exists(dir_ + "/accelsched-gpu-milli.sock"));
  EXPECT_TRUE(Exists(dir_ + "/kubelet.sock"));  // Not ours.
}

TEST_F(PluginServerTest, AMissingDirectoryIsAnErrorNamingIt) {
  Assigner assigner(Hgx(1, false), AssignerOptions{});
  PluginServerOptions o;
  o.dir = "/nonexistent/device-plugins";
  PluginServer server(assigner, o);
  absl::Status s = server.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "cannot serve nvidia.com/gpu on /nonexistent/device-plugins/accelsched-gpu.sock "
            "(does the directory exist and is it writable?)");
}

}  // namespace
}  // namespace accelsched::scheduler::node
