// The Assigner's decisions, on hand-made inventories and pods decoded from API-server JSON. Every
// expected device is worked out by hand from the rules in scheduler/node/assigner.h.
#include "scheduler/node/assigner.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "scheduler/codec/k8s.h"

namespace accelsched::scheduler::node {
namespace {

using Json = nlohmann::json;
using topology::PathKind;
using topology::SmiCell;

// Four GPUs "GPU-t-<i>": 0-1 and 2-3 are NVLink pairs (NV2), everything else SYS; NUMA 0, 0, 1,
// 1. `mig_gpu0`: GPU 0 in MIG mode with 3g.40gb instances at slots 0 and 4 (A100-80GB).
std::shared_ptr<const Inventory> FourGpus(bool mig_gpu0 = false, bool shares = true,
                                          MigMode mig_mode = MigMode::kStatic) {
  NvmlInventory nvml;
  nvml.matrix.num_gpus = 4;
  nvml.matrix.cpu_affinity.assign(4, "");
  nvml.matrix.numa = {0, 0, 1, 1};
  nvml.matrix.cells.assign(4, std::vector<std::optional<SmiCell>>(4));
  for (int i = 0; i < 4; ++i) {
    NvmlGpu g;
    g.index = i;
    g.uuid = absl::StrCat("GPU-t-", i);
    g.product = "NVIDIA A100-SXM4-80GB";
    g.memory_mib = 81920;
    g.numa_node = nvml.matrix.numa[i];
    g.mig_enabled = mig_gpu0 && i == 0;
    nvml.gpus.push_back(g);
    for (int j = 0; j < 4; ++j) {
      SmiCell c;
      c.kind = i == j ? PathKind::kSelf : i / 2 == j / 2 ? PathKind::kNvlink : PathKind::kSys;
      c.nvlinks = c.kind == PathKind::kNvlink ? 2 : 0;
      nvml.matrix.cells[i][j] = c;
    }
  }
  if (mig_gpu0) {
    nvml.migs.push_back({0, "MIG-t-0-a", 1, 9, 0, 4});
    nvml.migs.push_back({0, "MIG-t-0-b", 2, 9, 4, 4});
  }
  absl::StatusOr<Inventory> inv = Inventory::Build(nvml, shares, mig_mode);
  EXPECT_TRUE(inv.ok()) << inv.status();
  return std::make_shared<const Inventory>(*std::move(inv));
}

struct Container {
  std::string name;
  std::map<std::string, std::string> limits;
  std::string kind = "app";  // app, init, sidecar
};

codec::PodObject MakePod(const std::string& name, const std::vector<Container>& containers,
                         const std::map<std::string, std::string>& annotations,
                         const std::string& phase = "Pending") {
  Json pod = {
      {"metadata",
       {{"name", name}, {"namespace", "ml"}, {"uid", "uid-" + name}, {"annotations", annotations}}},
      {"spec", {{"nodeName", "n1"}, {"containers", Json::array()}}},
      {"status", {{"phase", phase}}}};
  for (const Container& c : containers) {
    Json j = {{"name", c.name}, {"resources", {{"limits", c.limits}}}};
    if (c.kind == "sidecar") j["restartPolicy"] = "Always";
    pod["spec"][c.kind == "app" ? "containers" : "initContainers"].push_back(j);
  }
  absl::StatusOr<codec::PodObject> p = codec::DecodePodText(pod.dump(), "pod");
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

// A one-container pod asking `gpus` whole GPUs, placed on `ids`, bound at `at`.
codec::PodObject WholePod(const std::string& name, int gpus, const std::string& ids,
                          const std::string& at) {
  return MakePod(name, {{"c", {{"nvidia.com/gpu", std::to_string(gpus)}}}},
                 {{"accelsched.io/gpu-ids", ids}, {"accelsched.io/bound-at", at}});
}

struct Recorded {
  std::string uid;
  std::set<std::string> containers;
};

class AssignerTest : public ::testing::Test {
 protected:
  void Make(std::shared_ptr<const Inventory> inv, AssignerOptions options = {}) {
    assigner_ = std::make_unique<Assigner>(
        std::move(inv), options,
        [this](const std::string& uid, const std::string&, const std::set<std::string>& c) {
          recorded_.push_back({uid, c});
        },
        [this](const MigSlot& slot, const std::string&) -> absl::StatusOr<std::string> {
          made_.push_back(slot);
          if (!make_mig_error_.empty()) return absl::UnavailableError(make_mig_error_);
          return absl::StrCat("MIG-new-", slot.gpu, "-", slot.profile, "-", slot.start);
        });
  }
  std::unique_ptr<Assigner> assigner_;
  std::vector<Recorded> recorded_;
  std::vector<MigSlot> made_;  // Dynamic MIG instances asked for.
  std::string make_mig_error_;
};

TEST_F(AssignerTest, TheOldestBoundPodGetsItsOwnGpusWhateverTheKubeletPicked) {
  Make(FourGpus());
  assigner_->ReplacePods({WholePod("late", 2, "2,3", "2026-12-07T10:00:02.000000Z"),
                          WholePod("early", 2, "0,1", "2026-12-07T10:00:01.000000Z")});
  // GetPreferredAllocation offers the early pod's set, so the kubelet's accounting agrees.
  absl::StatusOr<std::vector<std::string>> preferred =
      assigner_->Preferred("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1", "GPU-t-2", "GPU-t-3"}, {}, 2);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(*preferred, (std::vector<std::string>{"GPU-t-0", "GPU-t-1"}));

  // The kubelet picked a set that is neither pod's: the oldest bind is served, with its devices.
  absl::StatusOr<ContainerAnswer> first =
      assigner_->Allocate("nvidia.com/gpu", {"GPU-t-1", "GPU-t-2"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->pod, "ml/early");
  EXPECT_EQ(first->uuids, (std::vector<std::string>{"GPU-t-0", "GPU-t-1"}));
  EXPECT_EQ(first->cdi_devices,
            (std::vector<std::string>{"nvidia.com/gpu=GPU-t-0", "nvidia.com/gpu=GPU-t-1"}));
  EXPECT_EQ(first->envs.at("NVIDIA_VISIBLE_DEVICES"), "void");
  absl::StatusOr<ContainerAnswer> second =
      assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->pod, "ml/late");
  EXPECT_EQ(second->uuids, (std::vector<std::string>{"GPU-t-2", "GPU-t-3"}));
  ASSERT_EQ(recorded_.size(), 2u);
  EXPECT_EQ(recorded_[0].uid, "uid-early");
  EXPECT_EQ(recorded_[0].containers, (std::set<std::string>{"c"}));
  // Nobody waits any more: a third Allocate is served as the kubelet asked (another scheduler's).
  absl::StatusOr<ContainerAnswer> third =
      assigner_->Allocate("nvidia.com/gpu", {"GPU-t-3", "GPU-t-1"});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->pod, "");
  EXPECT_EQ(third->uuids, (std::vector<std::string>{"GPU-t-3", "GPU-t-1"}));
}

TEST_F(AssignerTest, TheKubeletsIdsPickThePodTheyBelongToWhateverItsAge) {
  Make(FourGpus());
  // The late pod's set is what GetPreferredAllocation offered when the kubelet admitted it (the
  // watch brought the early pod later, or the early one waits for its image).
  assigner_->ReplacePods({WholePod("late", 2, "2,3", "2026-12-07T10:00:02.000000Z"),
                          WholePod("early", 2, "0,1", "2026-12-07T10:00:01.000000Z")});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-3", "GPU-t-2"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->pod, "ml/late");
  absl::StatusOr<ContainerAnswer> b = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->pod, "ml/early");
}

TEST_F(AssignerTest, AnInitContainerAfterASidecarTakesTheGpusAfterTheSidecars) {
  Make(FourGpus());
  // Sidecar (1), then a plain init container (1) that runs beside it, then the app (1): the pod
  // needs 2 GPUs at most at once, and gets "0,1".
  assigner_->ReplacePods({MakePod("mixed",
                                  {{"proxy", {{"nvidia.com/gpu", "1"}}, "sidecar"},
                                   {"prep", {{"nvidia.com/gpu", "1"}}, "init"},
                                   {"main", {{"nvidia.com/gpu", "1"}}}},
                                  {{"accelsched.io/gpu-ids", "0,1"}})});
  absl::StatusOr<ContainerAnswer> proxy = assigner_->Allocate("nvidia.com/gpu", {"x"});
  absl::StatusOr<ContainerAnswer> prep = assigner_->Allocate("nvidia.com/gpu", {"x"});
  absl::StatusOr<ContainerAnswer> main = assigner_->Allocate("nvidia.com/gpu", {"x"});
  ASSERT_TRUE(proxy.ok() && prep.ok() && main.ok());
  EXPECT_EQ(proxy->uuids, (std::vector<std::string>{"GPU-t-0"}));
  EXPECT_EQ(prep->uuids, (std::vector<std::string>{"GPU-t-1"}));  // Not the sidecar's GPU 0.
  EXPECT_EQ(main->uuids, (std::vector<std::string>{"GPU-t-1"}));
}

TEST_F(AssignerTest, ContainersSplitThePodsGpusInTheKubeletsOrder) {
  Make(FourGpus());
  // Init container (2 GPUs, runs alone: the first two), then app containers 1 and 3 GPUs in
  // order from the first GPU of gpu-ids "0-3".
  assigner_->ReplacePods({MakePod("multi",
                                  {{"prep", {{"nvidia.com/gpu", "2"}}, "init"},
                                   {"small", {{"nvidia.com/gpu", "1"}}},
                                   {"big", {{"nvidia.com/gpu", "3"}}}},
                                  {{"accelsched.io/gpu-ids", "0-3"}})});
  absl::StatusOr<ContainerAnswer> prep = assigner_->Allocate("nvidia.com/gpu", {"a", "b"});
  absl::StatusOr<ContainerAnswer> small = assigner_->Allocate("nvidia.com/gpu", {"a"});
  absl::StatusOr<ContainerAnswer> big = assigner_->Allocate("nvidia.com/gpu", {"a", "b", "c"});
  ASSERT_TRUE(prep.ok() && small.ok() && big.ok());
  EXPECT_EQ(prep->container, "prep");
  EXPECT_EQ(prep->uuids, (std::vector<std::string>{"GPU-t-0", "GPU-t-1"}));
  EXPECT_EQ(small->container, "small");
  EXPECT_EQ(small->uuids, (std::vector<std::string>{"GPU-t-0"}));
  EXPECT_EQ(big->container, "big");
  EXPECT_EQ(big->uuids, (std::vector<std::string>{"GPU-t-1", "GPU-t-2", "GPU-t-3"}));
  EXPECT_EQ(recorded_.back().containers, (std::set<std::string>{"big", "prep", "small"}));
}

TEST_F(AssignerTest, ASidecarKeepsItsGpusAndTheAppContainersTakeTheNext) {
  Make(FourGpus());
  assigner_->ReplacePods({MakePod(
      "side",
      {{"proxy", {{"nvidia.com/gpu", "1"}}, "sidecar"}, {"main", {{"nvidia.com/gpu", "2"}}}},
      {{"accelsched.io/gpu-ids", "1,2,3"}})});
  absl::StatusOr<ContainerAnswer> proxy = assigner_->Allocate("nvidia.com/gpu", {"x"});
  absl::StatusOr<ContainerAnswer> main = assigner_->Allocate("nvidia.com/gpu", {"x", "y"});
  ASSERT_TRUE(proxy.ok() && main.ok());
  EXPECT_EQ(proxy->uuids, (std::vector<std::string>{"GPU-t-1"}));
  EXPECT_EQ(main->uuids, (std::vector<std::string>{"GPU-t-2", "GPU-t-3"}));
}

codec::PodObject SharePod(const std::string& name, const std::string& milli,
                          const std::string& memory, const std::string& share,
                          const std::string& at) {
  std::map<std::string, std::string> limits = {{"accelsched.io/gpu-milli", milli}};
  if (!memory.empty()) limits["accelsched.io/gpu-memory-mib"] = memory;
  return MakePod(name, {{"c", limits}},
                 {{"accelsched.io/gpu-ids", share.substr(0, share.find('@'))},
                  {"accelsched.io/gpu-share", share},
                  {"accelsched.io/bound-at", at}});
}

// The milli devices of GPU `gpu` in the inventory's order.
std::vector<std::string> MilliIds(int gpu, int from, int to) {
  std::vector<std::string> out;
  for (int k = from; k < to; ++k) out.push_back(absl::StrCat("GPU-t-", gpu, "::", k));
  return out;
}

TEST_F(AssignerTest, ASharePacksOntoItsGpuWithMpsLimits) {
  AssignerOptions mps;
  mps.sharing = SharingMode::kMps;
  mps.mps_pipe_dir = "/run/nvidia/mps";
  Make(FourGpus(), mps);
  ASSERT_EQ(assigner_->Devices("accelsched.io/gpu-milli").size(), 4000u);
  assigner_->ReplacePods({SharePod("s", "300", "8000", "1@300", "t1")});
  // Available: GPU 0 entirely, GPU 1 from milli 500 on (the rest is taken).
  std::vector<std::string> available = MilliIds(0, 0, 1000);
  for (const std::string& id : MilliIds(1, 500, 1000)) available.push_back(id);
  absl::StatusOr<std::vector<std::string>> preferred =
      assigner_->Preferred("accelsched.io/gpu-milli", available, {}, 300);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(*preferred, MilliIds(1, 500, 800));
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("accelsched.io/gpu-milli", *preferred);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->uuids, (std::vector<std::string>{"GPU-t-1"}));
  EXPECT_EQ(a->cdi_devices, (std::vector<std::string>{"nvidia.com/gpu=GPU-t-1"}));
  EXPECT_EQ(a->envs.at("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "30");
  EXPECT_EQ(a->envs.at("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"), "0=8000M");
  EXPECT_EQ(a->envs.at("CUDA_MPS_PIPE_DIRECTORY"), "/run/nvidia/mps");
  ASSERT_EQ(a->mounts.size(), 1u);
  EXPECT_EQ(a->mounts[0].host_path, "/run/nvidia/mps");
}

TEST_F(AssignerTest, TimeSlicedSharesGetTheGpuWithoutLimits) {
  Make(FourGpus());
  assigner_->ReplacePods({SharePod("s", "250", "", "3@250", "t1")});
  absl::StatusOr<ContainerAnswer> a =
      assigner_->Allocate("accelsched.io/gpu-milli", MilliIds(0, 0, 250));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->uuids, (std::vector<std::string>{"GPU-t-3"}));
  EXPECT_EQ(a->envs.count("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), 0u);
  EXPECT_TRUE(a->mounts.empty());
}

TEST_F(AssignerTest, AMigPodGetsTheInstanceAtItsPlacement) {
  Make(FourGpus(/*mig_gpu0=*/true));
  EXPECT_EQ(assigner_->Devices("nvidia.com/gpu").size(), 3u);  // GPU 0 is in MIG mode.
  ASSERT_EQ(assigner_->Devices("nvidia.com/mig-3g.40gb").size(), 2u);
  assigner_->ReplacePods(
      {MakePod("m", {{"c", {{"nvidia.com/mig-3g.40gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:3g.40gb@4"}})});
  absl::StatusOr<std::vector<std::string>> preferred =
      assigner_->Preferred("nvidia.com/mig-3g.40gb", {"MIG-t-0-a", "MIG-t-0-b"}, {}, 1);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(*preferred, (std::vector<std::string>{"MIG-t-0-b"}));
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/mig-3g.40gb", {"MIG-t-0-a"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->cdi_devices, (std::vector<std::string>{"nvidia.com/gpu=MIG-t-0-b"}));
}

TEST_F(AssignerTest, AMigPlacementWithoutSuchAnInstanceFailsNamingIt) {
  Make(FourGpus(/*mig_gpu0=*/true));
  assigner_->ReplacePods(
      {MakePod("m", {{"c", {{"nvidia.com/mig-3g.40gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:3g.40gb@2"}})});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/mig-3g.40gb", {"MIG-t-0-a"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            "pod ml/m container c: GPU 0 has no MIG instance 3g.40gb at memory slot 2");
}

TEST_F(AssignerTest, DynamicMigOffersEverySlotAndMakesThePodsInstanceAtAllocate) {
  Make(FourGpus(/*mig_gpu0=*/true, /*shares=*/false, MigMode::kDynamic));
  // A100-80GB: 3g.40gb starts at slot 0 or 4, 1g.10gb at 0..6, 7g.80gb at 0; the instances that
  // exist are not offered by UUID (they are slots like any other).
  std::vector<std::string> ids;
  for (const DeviceState& d : assigner_->Devices("nvidia.com/mig-3g.40gb")) ids.push_back(d.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"GPU-t-0::3g.40gb@0", "GPU-t-0::3g.40gb@4"}));
  EXPECT_EQ(assigner_->Devices("nvidia.com/mig-1g.10gb").size(), 7u);
  EXPECT_EQ(assigner_->Devices("nvidia.com/mig-7g.80gb").size(), 1u);
  EXPECT_EQ(assigner_->HeldMigSlots(), std::nullopt);  // Pods not listed yet.

  assigner_->ReplacePods(
      {MakePod("m", {{"c", {{"nvidia.com/mig-1g.10gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:1g.10gb@5"}}),
       MakePod("done", {{"c", {{"nvidia.com/mig-3g.40gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:3g.40gb@0"}},
               "Succeeded")});
  EXPECT_EQ(assigner_->HeldMigSlots(), (std::set<MigSlot>{{0, "1g.10gb", 5}}));
  assigner_->ReplacePods({}, /*unreadable=*/1);  // A pod that could not be read may hold one.
  EXPECT_EQ(assigner_->HeldMigSlots(), std::nullopt);
  assigner_->ReplacePods(
      {MakePod("m", {{"c", {{"nvidia.com/mig-1g.10gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:1g.10gb@5"}})});
  absl::StatusOr<std::vector<std::string>> preferred = assigner_->Preferred(
      "nvidia.com/mig-1g.10gb", {"GPU-t-0::1g.10gb@0", "GPU-t-0::1g.10gb@5"}, {}, 1);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(*preferred, (std::vector<std::string>{"GPU-t-0::1g.10gb@5"}));
  EXPECT_TRUE(made_.empty());  // Nothing is made before Allocate.
  absl::StatusOr<ContainerAnswer> a =
      assigner_->Allocate("nvidia.com/mig-1g.10gb", {"GPU-t-0::1g.10gb@5"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(made_, (std::vector<MigSlot>{{0, "1g.10gb", 5}}));
  EXPECT_EQ(a->uuids, (std::vector<std::string>{"MIG-new-0-1g.10gb-5"}));
  // CDI specs do not know an instance made now: the runtime resolves the variable at start.
  EXPECT_TRUE(a->cdi_devices.empty());
  EXPECT_EQ(a->envs.at("NVIDIA_VISIBLE_DEVICES"), "MIG-new-0-1g.10gb-5");
  ASSERT_EQ(a->mounts.size(), 1u);  // The toolkit's volume-mounts list, for unprivileged pods.
  EXPECT_EQ(a->mounts[0].container_path, "/var/run/nvidia-container-devices/MIG-new-0-1g.10gb-5");
  EXPECT_EQ(a->mounts[0].host_path, "/dev/null");
  EXPECT_TRUE(a->mounts[0].read_only);
  ASSERT_EQ(recorded_.size(), 1u);
  EXPECT_EQ(recorded_[0].uid, "uid-m");
}

TEST_F(AssignerTest, DynamicMigMatchesAPodOnlyByItsOwnSlot) {
  Make(FourGpus(/*mig_gpu0=*/true, /*shares=*/false, MigMode::kDynamic));
  auto pod = [](const std::string& name, const std::string& placement, const std::string& at) {
    return MakePod(name, {{"c", {{"nvidia.com/mig-1g.10gb", "1"}}}},
                   {{"accelsched.io/gpu-ids", "0"},
                    {"accelsched.io/mig-placement", placement},
                    {"accelsched.io/bound-at", at}});
  };
  assigner_->ReplacePods({pod("a", "0:1g.10gb@0", "t1"), pod("b", "0:1g.10gb@3", "t2")});
  // The kubelet still counts slot 0 as in use: GetPreferredAllocation offers b's slot, not a
  // slot of a's that it cannot take.
  absl::StatusOr<std::vector<std::string>> preferred = assigner_->Preferred(
      "nvidia.com/mig-1g.10gb", {"GPU-t-0::1g.10gb@2", "GPU-t-0::1g.10gb@3"}, {}, 1);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(*preferred, (std::vector<std::string>{"GPU-t-0::1g.10gb@3"}));
  // A slot that is no pod's is refused, though a (older) waits: no guessing.
  absl::StatusOr<ContainerAnswer> x =
      assigner_->Allocate("nvidia.com/mig-1g.10gb", {"GPU-t-0::1g.10gb@2"});
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(made_.empty());
  // b is admitted first (the kubelet's order need not be the binds'): it gets its own slot.
  absl::StatusOr<ContainerAnswer> b =
      assigner_->Allocate("nvidia.com/mig-1g.10gb", {"GPU-t-0::1g.10gb@3"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->pod, "ml/b");
  EXPECT_EQ(made_, (std::vector<MigSlot>{{0, "1g.10gb", 3}}));
}

TEST_F(AssignerTest, AMediaExtensionProfileIsAdvertisedWithAValidResourceName) {
  Make(FourGpus(/*mig_gpu0=*/true, /*shares=*/false, MigMode::kDynamic));
  EXPECT_TRUE(assigner_->Devices("nvidia.com/mig-1g.10gb+me").empty());
  EXPECT_EQ(assigner_->Devices("nvidia.com/mig-1g.10gb.me").size(), 7u);
  EXPECT_EQ(MigProfileOfResource("nvidia.com/mig-1g.10gb.me"), "1g.10gb+me");
  assigner_->ReplacePods({MakePod(
      "me", {{"c", {{"nvidia.com/mig-1g.10gb.me", "1"}}}},
      {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:1g.10gb+me@6"}})});
  absl::StatusOr<ContainerAnswer> a =
      assigner_->Allocate("nvidia.com/mig-1g.10gb.me", {"GPU-t-0::1g.10gb+me@6"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(made_, (std::vector<MigSlot>{{0, "1g.10gb+me", 6}}));
}

TEST_F(AssignerTest, DynamicMigFailuresNameThePodAndOtherSchedulersPodsAreRefused) {
  Make(FourGpus(/*mig_gpu0=*/true, /*shares=*/false, MigMode::kDynamic));
  make_mig_error_ = "NVML says no";
  assigner_->ReplacePods(
      {MakePod("m", {{"c", {{"nvidia.com/mig-3g.40gb", "1"}}}},
               {{"accelsched.io/gpu-ids", "0"}, {"accelsched.io/mig-placement", "0:3g.40gb@4"}})});
  absl::StatusOr<ContainerAnswer> a =
      assigner_->Allocate("nvidia.com/mig-3g.40gb", {"GPU-t-0::3g.40gb@4"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            "pod ml/m container c: cannot make MIG instance 3g.40gb@4 on GPU 0: NVML says no");
  ASSERT_EQ(recorded_.size(), 1u);  // Served (failed): the next Allocate is another pod's.

  made_.clear();
  a = assigner_->Allocate("nvidia.com/mig-3g.40gb", {"GPU-t-0::3g.40gb@0"});
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(a.status()));
  EXPECT_NE(a.status().message().find("no pod placed by accelsched waits for this slot"),
            absl::string_view::npos)
      << a.status();
  EXPECT_TRUE(made_.empty());
}

TEST_F(AssignerTest, AnUnhealthyGpuFailsTheAllocationNamingPodAndDevice) {
  Make(FourGpus());
  const uint64_t before = assigner_->version();
  assigner_->SetGpuHealth(1, "XID 79");
  EXPECT_GT(assigner_->version(), before);
  std::vector<DeviceState> devices = assigner_->Devices("nvidia.com/gpu");
  EXPECT_TRUE(devices[0].healthy);
  EXPECT_FALSE(devices[1].healthy);
  EXPECT_FALSE(assigner_->Devices("accelsched.io/gpu-milli")[1000].healthy);  // GPU 1's first.
  assigner_->ReplacePods({WholePod("a", 2, "0,1", "t1")});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-2", "GPU-t-3"});
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(absl::IsUnavailable(a.status()));
  EXPECT_EQ(a.status().message(), "pod ml/a container c: GPU 1 (GPU-t-1) is unhealthy: XID 79");
}

TEST_F(AssignerTest, AMalformedAnnotationFailsThatPodAndNoOther) {
  Make(FourGpus());
  assigner_->ReplacePods({WholePod("bad", 2, "0,x", "t1"), WholePod("good", 2, "2,3", "t2")});
  absl::StatusOr<ContainerAnswer> bad =
      assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "pod ml/bad container c: annotation accelsched.io/gpu-ids '0,x': 'x' is not an index "
            "or a range A-B");
  absl::StatusOr<ContainerAnswer> good =
      assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1"});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->pod, "ml/good");
  EXPECT_EQ(good->uuids, (std::vector<std::string>{"GPU-t-2", "GPU-t-3"}));
}

TEST_F(AssignerTest, ServedRunningOrOtherPodsAreNeverMatched) {
  Make(FourGpus());
  codec::PodObject served_pod = MakePod("served", {{"c", {{"nvidia.com/gpu", "1"}}}},
                                        {{"accelsched.io/gpu-ids", "0"},
                                         {"accelsched.io/bound-at", "t1"},
                                         {"accelsched.io/allocated", "c"}});
  codec::PodObject running = MakePod("running", {{"c", {{"nvidia.com/gpu", "1"}}}},
                                     {{"accelsched.io/gpu-ids", "1"}}, "Running");
  codec::PodObject other = MakePod("other", {{"c", {{"nvidia.com/gpu", "1"}}}}, {});
  assigner_->ReplacePods({served_pod, running, other});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-3"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->pod, "");  // Served as the kubelet asked.
  EXPECT_EQ(a->uuids, (std::vector<std::string>{"GPU-t-3"}));
  EXPECT_TRUE(recorded_.empty());
}

TEST_F(AssignerTest, AnotherSchedulersPodIsOfferedTheTopologyBestSet) {
  Make(FourGpus());
  // Free: 0, 2, 3. Two GPUs: the NVLink pair 2-3, not 0 with either (SYS).
  absl::StatusOr<std::vector<std::string>> best =
      assigner_->Preferred("nvidia.com/gpu", {"GPU-t-0", "GPU-t-2", "GPU-t-3"}, {}, 2);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(*best, (std::vector<std::string>{"GPU-t-2", "GPU-t-3"}));
  // One GPU of 0, 1, 2: 0-1 is a whole free pair and 2's partner is taken, so the buddy rule
  // takes 2 and keeps the pair.
  best = assigner_->Preferred("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1", "GPU-t-2"}, {}, 1);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(*best, (std::vector<std::string>{"GPU-t-2"}));
  // A device the kubelet must include stays in.
  best = assigner_->Preferred("nvidia.com/gpu", {"GPU-t-0", "GPU-t-2", "GPU-t-3"}, {"GPU-t-0"}, 2);
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_EQ(best->size(), 2u);
  EXPECT_EQ((*best)[0], "GPU-t-0");
}

TEST_F(AssignerTest, EnvModeNamesTheGpusInNvidiaVisibleDevices) {
  AssignerOptions env;
  env.device_mode = DeviceMode::kEnvVar;
  Make(FourGpus(), env);
  assigner_->ReplacePods({WholePod("a", 2, "2,3", "t1")});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0", "GPU-t-1"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->cdi_devices.empty());
  EXPECT_EQ(a->envs.at("NVIDIA_VISIBLE_DEVICES"), "GPU-t-2,GPU-t-3");
}

TEST_F(AssignerTest, UnknownResourcesAndDevicesAreErrors) {
  Make(FourGpus(false, /*shares=*/false));
  EXPECT_TRUE(absl::IsNotFound(assigner_->Allocate("accelsched.io/gpu-milli", {"x"}).status()));
  // Before the pods are listed, no Allocate is guessed: any container could be a placed pod's.
  absl::StatusOr<ContainerAnswer> early = assigner_->Allocate("nvidia.com/gpu", {"GPU-t-0"});
  EXPECT_TRUE(absl::IsUnavailable(early.status())) << early.status();
  EXPECT_NE(early.status().message().find("the pods of this node are not listed yet"),
            absl::string_view::npos);
  assigner_->ReplacePods({});
  absl::StatusOr<ContainerAnswer> a = assigner_->Allocate("nvidia.com/gpu", {"GPU-nope"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            "Allocate of nvidia.com/gpu: none of the device IDs [GPU-nope] is a device of this "
            "node");
  EXPECT_TRUE(
      absl::IsInvalidArgument(assigner_->Preferred("nvidia.com/gpu", {"GPU-t-0"}, {}, 2).status()));
}

}  // namespace
}  // namespace accelsched::scheduler::node
