// Nvml against the fake library (tests/node/fake_nvml.cc): what it reads, how it fails, XIDs.
#include "scheduler/node/nvml.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "gtest/gtest.h"

#include "scheduler/node/assigner.h"
#include "scheduler/node/health.h"
#include "scheduler/node/inventory.h"
#include "tests/node/fake_nvml_config.h"
#include "topology/annotation.h"

namespace accelsched::scheduler::node {
namespace {

using testing::A100WithMig;
using testing::HgxH100;
using testing::UseFakeNvml;
using topology::PathKind;

TEST(NvmlTest, ReadsAnHgxBoardWithItsNvSwitchFabric) {
  UseFakeNvml(HgxH100());
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<NvmlInventory> inv = (*nvml)->Read();
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->driver_version, "550.54.15");
  ASSERT_EQ(inv->gpus.size(), 8u);
  EXPECT_EQ(inv->gpus[5].uuid, "GPU-h100-5");
  EXPECT_EQ(inv->gpus[5].product, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(inv->gpus[5].memory_mib, 81559);
  EXPECT_EQ(inv->gpus[5].pci_bus_id, "00000000:68:00.0");
  EXPECT_EQ(inv->gpus[5].numa_node, 1);
  EXPECT_EQ(inv->gpus[5].minor, 5);
  EXPECT_FALSE(inv->gpus[5].mig_enabled);  // Not MIG-capable in the fake: NOT_SUPPORTED.
  EXPECT_TRUE(inv->migs.empty());
  // 18 links each into the switches: every pair NV18, as `nvidia-smi topo -m` prints an HGX.
  ASSERT_EQ(inv->matrix.num_gpus, 8);
  EXPECT_EQ(inv->matrix.cells[0][7]->kind, PathKind::kNvlink);
  EXPECT_EQ(inv->matrix.cells[0][7]->nvlinks, 18);
  EXPECT_EQ(inv->matrix.cells[3][3]->kind, PathKind::kSelf);
  EXPECT_EQ(inv->matrix.numa, (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1}));

  absl::StatusOr<std::string> annotation = TopologyAnnotationFromNvml(*inv, "gpu-node-1");
  ASSERT_TRUE(annotation.ok()) << annotation.status();
  absl::StatusOr<topology::Topology> t = topology::DecodeTopologyAnnotation(*annotation);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_gpus(), 8);
  EXPECT_EQ(t->NvlinkCount(0, 7), 18);
  EXPECT_EQ(t->gpu(6).numa, 1);
}

TEST(NvmlTest, ReadsDirectNvlinksAndPcieLevels) {
  testing::NvmlJson config = HgxH100(4);
  for (auto& g : config["gpus"]) g.erase("switch_links");
  // GPU 0 - GPU 1 two links, GPU 2 - GPU 3 one link (each side lists them, as NVML does).
  config["gpus"][0]["nvlinks"] = {{{"peer", 1}, {"links", 2}}};
  config["gpus"][1]["nvlinks"] = {{{"peer", 0}, {"links", 2}}};
  config["gpus"][2]["nvlinks"] = {{{"peer", 3}, {"links", 1}}};
  config["gpus"][3]["nvlinks"] = {{{"peer", 2}, {"links", 1}}};
  config["ancestor"] = 30;  // NVML_TOPOLOGY_HOSTBRIDGE.
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<NvmlInventory> inv = (*nvml)->Read();
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->matrix.cells[0][1]->nvlinks, 2);
  EXPECT_EQ(inv->matrix.cells[1][0]->nvlinks, 2);
  EXPECT_EQ(inv->matrix.cells[3][2]->nvlinks, 1);
  EXPECT_EQ(inv->matrix.cells[0][2]->kind, PathKind::kPhb);
  EXPECT_EQ(inv->matrix.cells[1][3]->kind, PathKind::kPhb);
}

TEST(NvmlTest, ReadsMigInstancesWithTheirPlacement) {
  UseFakeNvml(A100WithMig());
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<NvmlInventory> inv = (*nvml)->Read();
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->gpus[0].mig_enabled);
  EXPECT_FALSE(inv->gpus[1].mig_enabled);
  ASSERT_EQ(inv->migs.size(), 2u);
  EXPECT_EQ(inv->migs[1].parent, 0);
  EXPECT_EQ(inv->migs[1].uuid, "MIG-a100-0-gi2");
  EXPECT_EQ(inv->migs[1].gpu_instance_id, 2);
  EXPECT_EQ(inv->migs[1].profile_id, 9);
  EXPECT_EQ(inv->migs[1].start, 4);
  EXPECT_EQ(inv->migs[1].size, 4);
  EXPECT_EQ(inv->matrix.cells[1][2]->kind, PathKind::kPxb);
}

// The placements of the fake's instances on GPU 0: "profile@start" in the order they exist.
std::vector<std::string> FakeInstances() {
  std::vector<std::string> out;
  const testing::NvmlJson state = testing::ReadFakeNvml();
  for (const auto& m : state["migs"]) {
    if (m["parent"] == 0) {
      out.push_back(std::to_string(m["profile"].get<int>()) + "@" +
                    std::to_string(m["start"].get<int>()));
    }
  }
  return out;
}

TEST(NvmlTest, CreatesAMigInstanceAtItsPlacementAndDestroysIt) {
  testing::NvmlJson config = A100WithMig();
  config["migs"].erase(1);  // Slots 4-7 of GPU 0 are free.
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  // 2g.20gb (profile 14, 2 compute slices) on memory slots 4-5.
  absl::StatusOr<NvmlMigDevice> made = (*nvml)->CreateMig(0, 14, 4, 2, 2);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->uuid, "MIG-GPU-a100-0-1");
  EXPECT_EQ(made->gpu_instance_id, 2);
  EXPECT_EQ(made->profile_id, 14);
  EXPECT_EQ(made->start, 4);
  EXPECT_EQ(made->size, 2);
  EXPECT_EQ(FakeInstances(), (std::vector<std::string>{"9@0", "14@4"}));
  absl::StatusOr<std::vector<NvmlMigDevice>> migs = (*nvml)->ReadMigs(0);
  ASSERT_TRUE(migs.ok()) << migs.status();
  ASSERT_EQ(migs->size(), 2u);
  EXPECT_EQ((*migs)[1].uuid, made->uuid);

  // Slot 5 is taken now: the driver refuses, and the error names the call and the placement.
  absl::StatusOr<NvmlMigDevice> overlap = (*nvml)->CreateMig(0, 19, 5, 1, 1);
  ASSERT_FALSE(overlap.ok());
  EXPECT_EQ(overlap.status().message(),
            "nvmlDeviceCreateGpuInstanceWithPlacement(GPU 0, profile 19 at memory slot 5): "
            "Insufficient resources (NVML return code 23)");

  ASSERT_TRUE((*nvml)->DestroyMig(0, made->gpu_instance_id).ok());
  EXPECT_EQ(FakeInstances(), (std::vector<std::string>{"9@0"}));
  absl::Status gone = (*nvml)->DestroyMig(0, made->gpu_instance_id);
  EXPECT_EQ(gone.message(),
            "nvmlDeviceGetGpuInstanceById(GPU 0, GPU instance 2): Not Found (NVML return code 6)");
}

TEST(NvmlTest, AFailedComputeInstanceLeavesNoGpuInstanceAndABusyOneIsNotDestroyed) {
  testing::NvmlJson config = A100WithMig();
  config["migs"].erase(1);
  config["migs"][0]["busy"] = true;
  config["fail"] = {{"nvmlGpuInstanceCreateComputeInstance", 23}};
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<NvmlMigDevice> made = (*nvml)->CreateMig(0, 9, 4, 4, 3);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().message(),
            "nvmlGpuInstanceCreateComputeInstance(GPU 0, profile 9 at memory slot 4): "
            "Insufficient resources (NVML return code 23)");
  EXPECT_EQ(FakeInstances(), (std::vector<std::string>{"9@0"}));  // Rolled back.

  absl::Status busy = (*nvml)->DestroyMig(0, 1);
  EXPECT_EQ(busy.message(),
            "nvmlComputeInstanceDestroy(GPU 0, GPU instance 1): In use by another client (NVML "
            "return code 19)");
  EXPECT_EQ(FakeInstances(), (std::vector<std::string>{"9@0"}));
  // A GPU not in MIG mode has no instances to make.
  made = (*nvml)->CreateMig(1, 19, 0, 1, 1);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("Not Supported"), absl::string_view::npos);
}

TEST(NvmlTest, AFailingCallIsAnErrorNamingTheCallAndTheGpu) {
  testing::NvmlJson config = HgxH100(2);
  config["fail"] = {{"nvmlDeviceGetUUID", 15}};
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<NvmlInventory> inv = (*nvml)->Read();
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.status().message(), "nvmlDeviceGetUUID(GPU 0): GPU is lost (NVML return code 15)");
}

TEST(NvmlTest, NoDriverOrNoLibraryIsAnErrorThatSaysSo) {
  // The fake then answers as a node without the driver.
  unsetenv("ACCELSCHED_FAKE_NVML");  // NOLINT(concurrency-mt-unsafe): one test thread.
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_FALSE(nvml.ok());
  EXPECT_EQ(nvml.status().message(), "nvmlInit_v2: Driver Not Loaded (NVML return code 9)");

  nvml = Nvml::Load("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(nvml.ok());
  EXPECT_TRUE(absl::IsUnavailable(nvml.status()));
  EXPECT_NE(nvml.status().message().find("cannot load NVML (/nonexistent/libnvidia-ml.so.1)"),
            absl::string_view::npos)
      << nvml.status();

  // A library that is not NVML: the first missing entry point is named.
  nvml = Nvml::Load("libz.so.1");
  ASSERT_FALSE(nvml.ok());
  EXPECT_EQ(nvml.status().message(), "libz.so.1 has no nvmlInit_v2 (NVML older than 11.0?)");
}

TEST(NvmlTest, XidEventsArriveInOrderAndTimeOutWhenThereAreNone) {
  testing::NvmlJson config = HgxH100(4);
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  ASSERT_TRUE((*nvml)->WatchXid().ok());
  absl::StatusOr<std::optional<XidEvent>> none = (*nvml)->WaitXid(20);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  config["events"] = {{{"gpu", 2}, {"xid", 79}}, {{"gpu", 1}, {"xid", 13}}};
  UseFakeNvml(config);
  absl::StatusOr<std::optional<XidEvent>> first = (*nvml)->WaitXid(1000);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->gpu, 2);
  EXPECT_EQ((*first)->uuid, "GPU-h100-2");
  EXPECT_EQ((*first)->xid, 79u);
  absl::StatusOr<std::optional<XidEvent>> second = (*nvml)->WaitXid(1000);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->gpu, 1);
  EXPECT_EQ((*second)->xid, 13u);
  EXPECT_TRUE(IsCriticalXid(79));   // GPU has fallen off the bus.
  EXPECT_TRUE(IsCriticalXid(48));   // Double-bit ECC error.
  EXPECT_FALSE(IsCriticalXid(13));  // Graphics engine exception: the application's fault.
  EXPECT_FALSE(IsCriticalXid(43));
}

// GPU health as the watcher sees it after the fake's events of `config` (4 GPUs).
std::map<int, std::string> HealthAfter(testing::NvmlJson config, size_t want) {
  UseFakeNvml(HgxH100(4));
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  EXPECT_TRUE(nvml.ok()) << nvml.status();
  if (!nvml.ok()) return {};
  absl::StatusOr<Inventory> inv = Inventory::Build(*(*nvml)->Read(), false);
  Assigner assigner(std::make_shared<const Inventory>(*inv), AssignerOptions{});
  std::atomic<bool> stop{false};
  std::vector<std::map<int, std::string>> published;
  std::thread watcher([&] {
    WatchGpuHealth(**nvml, assigner, stop,
                   [&](const std::map<int, std::string>& b) { published.push_back(b); });
  });
  UseFakeNvml(config);
  for (int i = 0; i < 500 && assigner.UnhealthyGpus().size() < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  watcher.join();
  EXPECT_EQ(published.size(), 1u);  // Once, with every lost GPU.
  return assigner.UnhealthyGpus();
}

TEST(NvmlTest, ALostGpuIsTakenOutOfServiceAndEveryGpuIfNvmlCannotSayWhich) {
  testing::NvmlJson config = HgxH100(4);
  config["gpus"][2]["lost"] = true;
  config["events"] = {{{"lost", true}}, {{"lost", true}}};  // Said again: marked once.
  EXPECT_EQ(HealthAfter(config, 1), (std::map<int, std::string>{{2, "GPU is lost"}}));

  config["gpus"][2].erase("lost");  // Every GPU still answers: which one is unknown.
  config["events"] = {{{"lost", true}}};
  EXPECT_EQ(HealthAfter(config, 4),
            (std::map<int, std::string>{
                {0, "GPU is lost"}, {1, "GPU is lost"}, {2, "GPU is lost"}, {3, "GPU is lost"}}));
}

}  // namespace
}  // namespace accelsched::scheduler::node
