// DynamicMig against the fake NVML (tests/node/fake_nvml.cc), whose file shows the instances
// that exist after each step. Expected layouts are worked out by hand from the A100-80GB rules
// (3g.40gb: 4 memory slots at 0 or 4; 1g.10gb: 1 slot at 0..6; 2g.20gb: 2 slots at 0, 2, 4).
#include "scheduler/node/dynamic_mig.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/node/fake_nvml_config.h"

namespace accelsched::scheduler::node {
namespace {

using testing::A100WithMig;
using testing::UseFakeNvml;

// "profile@start" of GPU 0's instances, as the fake last wrote them (profile IDs: 9 = 3g.40gb,
// 19 = 1g.10gb, 14 = 2g.20gb).
std::vector<std::string> Gpu0() {
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

class DynamicMigTest : public ::testing::Test {
 protected:
  // GPU 0 in MIG mode with 3g.40gb instances at 0 (gi 1) and 4 (gi 2); `busy0`: a process runs
  // on the one at 0.
  void Start(bool busy0 = false) {
    testing::NvmlJson config = A100WithMig();
    if (busy0) config["migs"][0]["busy"] = true;
    UseFakeNvml(config);
    absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
    ASSERT_TRUE(nvml.ok()) << nvml.status();
    nvml_ = *std::move(nvml);
    absl::StatusOr<NvmlInventory> read = nvml_->Read();
    ASSERT_TRUE(read.ok()) << read.status();
    absl::StatusOr<Inventory> inv = Inventory::Build(*read, false, MigMode::kDynamic);
    ASSERT_TRUE(inv.ok()) << inv.status();
    mig_ = std::make_unique<DynamicMig>(*nvml_, std::make_shared<const Inventory>(*inv));
  }
  DynamicMig::HeldSlots Held(std::optional<std::set<MigSlot>> slots) {
    return [slots] { return slots; };
  }
  std::unique_ptr<Nvml> nvml_;
  std::unique_ptr<DynamicMig> mig_;
};

TEST_F(DynamicMigTest, AnExistingInstanceIsReusedAndAFreeSlotIsMade) {
  Start();
  const std::set<MigSlot> held = {{0, "3g.40gb", 0}, {0, "3g.40gb", 4}};
  absl::StatusOr<std::string> uuid = mig_->Ensure({0, "3g.40gb", 4}, "uid-a", Held(held));
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  EXPECT_EQ(*uuid, "MIG-a100-0-gi2");
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "9@4"}));  // Nothing made or destroyed.

  // Slots 4-7 are held by a pod: a 1g.10gb at 5 cannot be made, and nothing is destroyed.
  uuid = mig_->Ensure({0, "1g.10gb", 5}, "uid-a", Held(held));
  ASSERT_FALSE(uuid.ok());
  EXPECT_EQ(uuid.status().message(),
            "GPU 0: MIG instance 3g.40gb@4 on GPU 0 (MIG-a100-0-gi2) is in the way of "
            "1g.10gb@5 and a pod holds it");
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "9@4"}));
}

TEST_F(DynamicMigTest, AnUnheldInstanceInTheWayIsDestroyedFirst) {
  Start();
  // Only the instance at 0 is held: the one at 4 goes, then 2g.20gb@4 and 1g.10gb@6 are made.
  const std::set<MigSlot> held = {{0, "3g.40gb", 0}};
  absl::StatusOr<std::string> uuid = mig_->Ensure({0, "2g.20gb", 4}, "uid-a", Held(held));
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  EXPECT_EQ(*uuid, "MIG-GPU-a100-0-1");
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "14@4"}));
  uuid = mig_->Ensure({0, "1g.10gb", 6}, "uid-a", Held(held));
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "14@4", "19@6"}));

  // Not a profile of the model, a GPU not in MIG mode: errors, nothing touched.
  EXPECT_EQ(mig_->Ensure({0, "5g.50gb", 0}, "uid-a", Held(held)).status().message(),
            "A100-80GB has no MIG profile 5g.50gb");
  EXPECT_EQ(mig_->Ensure({1, "1g.10gb", 0}, "uid-a", Held(held)).status().message(),
            "GPU 1 is not in MIG mode");
  // 3g.40gb starts only at 0 or 4: nothing is destroyed for an illegal placement.
  EXPECT_EQ(mig_->Ensure({0, "3g.40gb", 2}, "uid-a", Held(std::set<MigSlot>{})).status().message(),
            "3g.40gb cannot start at memory slot 2 on A100-80GB");
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "14@4", "19@6"}));
}

TEST_F(DynamicMigTest, AnInstanceMadeForOnePodIsNeverHandedToAnother) {
  Start(/*busy0=*/true);
  const std::set<MigSlot> held = {{0, "3g.40gb", 4}};
  absl::StatusOr<std::string> a = mig_->Ensure({0, "3g.40gb", 4}, "uid-a", Held(held));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "MIG-a100-0-gi2");  // It existed: pod a's (unknown owner after a start).
  EXPECT_EQ(*mig_->Ensure({0, "3g.40gb", 4}, "uid-a", Held(held)), *a);  // Its 2nd container.
  // Pod a was force-deleted while its container ran; pod b is placed on the same slot: the
  // instance is made anew (a new UUID), not handed on.
  absl::StatusOr<std::string> b = mig_->Ensure({0, "3g.40gb", 4}, "uid-b", Held(held));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(*b, *a);
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "9@4"}));
  // The instance at 0 runs a process: it cannot be made anew for another pod.
  ASSERT_TRUE(mig_->Ensure({0, "3g.40gb", 0}, "uid-c", Held(held)).ok());
  absl::StatusOr<std::string> d = mig_->Ensure({0, "3g.40gb", 0}, "uid-d", Held(held));
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status())) << d.status();
  EXPECT_NE(d.status().message().find("In use"), absl::string_view::npos) << d.status();
}

TEST_F(DynamicMigTest, ReconcileDestroysWhatNoPodHoldsAndRetriesABusyInstance) {
  Start(/*busy0=*/true);
  // Pods not listed yet: nothing is destroyed.
  EXPECT_TRUE(mig_->Reconcile(Held(std::nullopt)).empty());
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "9@4"}));
  // No pod holds either: the one at 4 goes; the one at 0 runs a process, NVML refuses ("In
  // use"), and it stays for the next round.
  std::vector<MigSlot> destroyed = mig_->Reconcile(Held(std::set<MigSlot>{}));
  EXPECT_EQ(destroyed, (std::vector<MigSlot>{{0, "3g.40gb", 4}}));
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0"}));
  // A held instance stays.
  ASSERT_TRUE(mig_->Ensure({0, "3g.40gb", 4}, "uid-a", Held(std::set<MigSlot>{})).ok());
  destroyed = mig_->Reconcile(Held(std::set<MigSlot>{{0, "3g.40gb", 4}}));
  EXPECT_TRUE(destroyed.empty());
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0", "9@4"}));
}

TEST_F(DynamicMigTest, AGpuInstanceLeftWithoutItsComputeInstanceIsDestroyed) {
  testing::NvmlJson config = A100WithMig();
  config["migs"][1]["ci"] = -1;  // accelsched-node died between the two creates.
  UseFakeNvml(config);
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load(ACCELSCHED_FAKE_NVML_LIBRARY);
  ASSERT_TRUE(nvml.ok()) << nvml.status();
  absl::StatusOr<Inventory> inv = Inventory::Build(*(*nvml)->Read(), false, MigMode::kDynamic);
  ASSERT_TRUE(inv.ok()) << inv.status();
  DynamicMig mig(**nvml, std::make_shared<const Inventory>(*inv));
  // Held: 3g.40gb@0 (a MIG device) and even 3g.40gb@4; the one at 4 has no compute instance,
  // so it is no MIG device and no pod can be using it.
  const std::set<MigSlot> held = {{0, "3g.40gb", 0}, {0, "3g.40gb", 4}};
  EXPECT_EQ(mig.Reconcile([&] { return std::optional<std::set<MigSlot>>(held); }),
            (std::vector<MigSlot>{{0, "3g.40gb", 4}}));
  EXPECT_EQ(Gpu0(), (std::vector<std::string>{"9@0"}));
}

}  // namespace
}  // namespace accelsched::scheduler::node
