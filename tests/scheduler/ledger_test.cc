// The ledger's placement bookkeeping, in particular Transfer (a held gang slot handed to its
// member in one step).
#include "scheduler/state/ledger.h"

#include <bit>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using plugins::Assignment;
using plugins::ClusterSnapshot;
using plugins::NodeIndex;

std::unique_ptr<Ledger> TwoNodes() {
  absl::StatusOr<std::unique_ptr<Ledger>> l =
      Ledger::Create({Node("a").Cpu(16000).Mem(64000).Gpus(8, "H100", 81920),
                      Node("b").Cpu(16000).Mem(64000).Gpus(8, "H100", 81920)});
  EXPECT_TRUE(l.ok()) << l.status();
  return std::move(*l);
}

// A chooser that takes exactly `gpus` on the node, with the request's CPU and memory.
Ledger::Chooser Take(plugins::GpuMask gpus, const plugins::PodRequest& r) {
  return [gpus, r](const ClusterSnapshot&, NodeIndex node) -> absl::StatusOr<Assignment> {
    Assignment a;
    a.node = node;
    a.gpus = gpus;
    a.cpu_milli = r.cpu_milli;
    a.memory_mib = r.memory_mib;
    return a;
  };
}

TEST(LedgerTransferTest, TheMemberGetsTheSlotsDevicesAndItsOwnCpu) {
  auto ledger = TwoNodes();
  const plugins::PodRequest slot = Pod("gang:ml/train#0").Cpu(4000).Gpus(4);
  ASSERT_TRUE(ledger->Place("gang:ml/train#0", "ml/train#0", slot, "a", Take(0xf0, slot)).ok());
  const plugins::PodRequest member = Pod("ml/w-0").Cpu(6000).Mem(1000).Gpus(4);
  bool existed = true;
  absl::StatusOr<PlacedPod> p =
      ledger->Transfer("gang:ml/train#0", "uid-w0", "ml/w-0", member, "a", &existed);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(existed);
  EXPECT_EQ(p->assignment.gpus, 0xf0u);  // The slot's devices.
  EXPECT_EQ(p->assignment.cpu_milli, 6000);
  EXPECT_EQ(p->node, "a");
  EXPECT_FALSE(ledger->Find("gang:ml/train#0").has_value());
  ASSERT_TRUE(ledger->Find("uid-w0").has_value());
  // The state holds the member's CPU, not the slot's: 16000 - 6000 free.
  EXPECT_EQ(ledger->Snapshot()->node(0).cpu_free_milli, 10000);
  EXPECT_EQ(ledger->Snapshot()->node(0).WholeFreeGpus(), 0x0fu);
  // A retry is idempotent.
  p = ledger->Transfer("gang:ml/train#0", "uid-w0", "ml/w-0", member, "a", &existed);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(existed);
  EXPECT_EQ(ledger->num_pods(), 1u);
}

TEST(LedgerTransferTest, RefusalsLeaveTheSlotHeld) {
  auto ledger = TwoNodes();
  const plugins::PodRequest slot = Pod("s").Cpu(4000).Gpus(4);
  ASSERT_TRUE(ledger->Place("slot", "g#0", slot, "a", Take(0x0f, slot)).ok());
  // Fill the rest of node a's CPU with another pod.
  const plugins::PodRequest other = Pod("o").Cpu(10000).Gpus(1);
  ASSERT_TRUE(ledger->Place("other", "ns/o", other, "a", Take(0x10, other)).ok());
  const struct {
    const char* name;
    std::string from;
    plugins::PodRequest request;
    std::string node;
    absl::StatusCode code;
  } cases[] = {
      {"nothing held", "nope", Pod("p").Cpu(1000).Gpus(4), "a", absl::StatusCode::kNotFound},
      {"another node", "slot", Pod("p").Cpu(1000).Gpus(4), "b",
       absl::StatusCode::kFailedPrecondition},
      {"other GPU count", "slot", Pod("p").Cpu(1000).Gpus(2), "a",
       absl::StatusCode::kFailedPrecondition},
      {"a share instead", "slot", Pod("p").Cpu(1000).Share(500), "a",
       absl::StatusCode::kFailedPrecondition},
      // 16000 - 10000 (other) = 6000 free besides the slot's 4000: 11000 does not fit.
      {"too much CPU", "slot", Pod("p").Cpu(11000).Gpus(4), "a",
       absl::StatusCode::kFailedPrecondition},
  };
  const plugins::ClusterSnapshot before = *ledger->Snapshot();
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<PlacedPod> p = ledger->Transfer(tc.from, "uid-p", "ns/p", tc.request, tc.node);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), tc.code) << p.status();
    ASSERT_TRUE(ledger->Find("slot").has_value());
    EXPECT_FALSE(ledger->Find("uid-p").has_value());
    const plugins::NodeInfo& now = ledger->Snapshot()->node(0);
    EXPECT_EQ(now.cpu_free_milli, before.node(0).cpu_free_milli);
    EXPECT_EQ(now.WholeFreeGpus(), before.node(0).WholeFreeGpus());
  }
}

// While members take over their slots, other pods keep trying to take GPUs on the same node:
// no device is ever held twice (Apply refuses double booking, so every success is consistent),
// and every member gets its slot.
TEST(LedgerTransferTest, ConcurrentPlacementsNeverTakeASlotBeingTransferred) {
  auto ledger = TwoNodes();
  for (int k = 0; k < 4; ++k) {
    const plugins::PodRequest slot = Pod("s").Cpu(1000).Gpus(1);
    ASSERT_TRUE(ledger
                    ->Place("slot" + std::to_string(k), "g#" + std::to_string(k), slot, "a",
                            Take(plugins::GpuMask{1} << k, slot))
                    .ok());
  }
  std::thread members([&] {
    for (int k = 0; k < 4; ++k) {
      absl::StatusOr<PlacedPod> p =
          ledger->Transfer("slot" + std::to_string(k), "m" + std::to_string(k), "ml/m",
                           Pod("m").Cpu(1000).Gpus(1), "a");
      EXPECT_TRUE(p.ok()) << p.status();
    }
  });
  int stolen = 0;
  for (int round = 0; round < 200; ++round) {
    for (int k = 0; k < 4; ++k) {
      const plugins::PodRequest thief = Pod("t").Gpus(1);
      const std::string uid = "thief" + std::to_string(round) + "-" + std::to_string(k);
      if (ledger->Place(uid, "ns/t", thief, "a", Take(plugins::GpuMask{1} << k, thief)).ok()) {
        ++stolen;
      }
    }
  }
  members.join();
  EXPECT_EQ(stolen, 0);
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(ledger->Find("m" + std::to_string(k)).has_value());
}

}  // namespace
}  // namespace accelsched::scheduler
