// TentativeHolds on a real ledger with a fake clock: a hold takes devices, its pod's bind on that
// node takes them over, a bind elsewhere, a new cycle or the deadline gives them back.
#include "scheduler/service/tentative_holds.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::Node;
using plugins::Assignment;
using plugins::ClusterSnapshot;
using plugins::NodeIndex;

struct Fixture {
  double now = 100;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<TentativeHolds> holds;

  explicit Fixture(double seconds = 15) {
    absl::StatusOr<std::unique_ptr<Ledger>> l =
        Ledger::Create({Node("a").Cpu(16000).Mem(64000).Gpus(8, "H100", 81920),
                        Node("b").Cpu(16000).Mem(64000).Gpus(8, "H100", 81920)});
    EXPECT_TRUE(l.ok()) << l.status();
    ledger = std::move(*l);
    holds = std::make_unique<TentativeHolds>(
        ledger.get(), [this] { return now; }, seconds);
  }
  int64_t Used() const { return ledger->Snapshot()->gpu_used_milli(); }
};

codec::PodObject PodOf(const std::string& name, int gpus) {
  codec::PodObject p;
  p.name = name;
  p.namespace_name = "ml";
  p.uid = "uid-" + name;
  p.request.gpu_count = gpus;
  p.request.cpu_milli = 1000;
  p.request.memory_mib = 1024;
  return p;
}

// Takes the lowest free `gpus` of the node, as the bind's chooser would.
Ledger::Chooser Lowest(int gpus) {
  return [gpus](const ClusterSnapshot& view, NodeIndex node) -> absl::StatusOr<Assignment> {
    Assignment a;
    a.node = node;
    const plugins::GpuMask free = view.node(node).WholeFreeGpus();
    int k = 0;
    for (int g = 0; g < 8 && k < gpus; ++g) {
      if ((free >> g) & 1u) {
        a.gpus |= plugins::GpuMask{1} << g;
        ++k;
      }
    }
    if (k < gpus) return absl::FailedPreconditionError("no longer fits");
    a.cpu_milli = 1000;
    a.memory_mib = 1024;
    return a;
  };
}

TEST(TentativeHoldsTest, TheBindOnTheHeldNodeTakesOverTheSameDevices) {
  Fixture f;
  const codec::PodObject p = PodOf("p", 4);
  f.holds->Hold(p, "a", Lowest(4));
  EXPECT_EQ(f.Used(), 4000);
  ASSERT_TRUE(f.ledger->Find(TentativeHolds::HoldUid(p.uid)).has_value());
  EXPECT_EQ(f.ledger->Find(TentativeHolds::HoldUid(p.uid))->holder, Holder::kTentative);
  std::optional<PlacedPod> placed = f.holds->Convert(p, "a");
  ASSERT_TRUE(placed.has_value());
  EXPECT_EQ(placed->assignment.gpus, 0x0Fu);
  EXPECT_EQ(placed->holder, Holder::kPod);
  EXPECT_EQ(f.Used(), 4000);  // Counted once.
  EXPECT_FALSE(f.ledger->Find(TentativeHolds::HoldUid(p.uid)).has_value());
  EXPECT_EQ(f.holds->size(), 0u);
  EXPECT_EQ(f.holds->counts().bound, 1);
}

TEST(TentativeHoldsTest, ABindElsewhereANewCycleAndTheDeadlineGiveTheDevicesBack) {
  Fixture f;
  const codec::PodObject p = PodOf("p", 8);
  f.holds->Hold(p, "a", Lowest(8));
  EXPECT_FALSE(f.holds->Convert(p, "b").has_value());  // Bound elsewhere: the bind places it.
  EXPECT_EQ(f.Used(), 0);

  f.holds->Hold(p, "a", Lowest(8));
  f.holds->Hold(p, "b", Lowest(8));  // A new prioritize replaces the hold.
  EXPECT_EQ(f.Used(), 8000);
  EXPECT_EQ(f.ledger->Find(TentativeHolds::HoldUid(p.uid))->node, "b");
  f.holds->Drop(p.uid);  // A new filter of the pod.
  EXPECT_EQ(f.Used(), 0);

  f.holds->Hold(p, "a", Lowest(8));
  f.now += 14.9;
  f.holds->Expire();
  EXPECT_EQ(f.Used(), 8000);
  f.now += 0.2;
  f.holds->Expire();
  EXPECT_EQ(f.Used(), 0);
  EXPECT_EQ(f.holds->size(), 0u);
  EXPECT_FALSE(f.holds->Convert(p, "a").has_value());  // Expired: the bind decides anew.
  const TentativeHolds::Counts c = f.holds->counts();
  EXPECT_EQ(c.made, 4);
  EXPECT_EQ(c.expired, 1);
  EXPECT_EQ(c.dropped, 3);
}

TEST(TentativeHoldsTest, NothingIsHeldWithoutRoomForAPlacedPodOrWhenOff) {
  Fixture f;
  const codec::PodObject big = PodOf("big", 8);
  ASSERT_TRUE(f.ledger->Place(big.uid, big.Key(), big.request, "a", Lowest(8)).ok());
  f.holds->Hold(big, "b", Lowest(8));  // Already placed: no hold.
  EXPECT_EQ(f.holds->size(), 0u);
  f.holds->Hold(PodOf("q", 1), "a", Lowest(1));  // No room: no hold, no error.
  EXPECT_EQ(f.holds->size(), 0u);
  EXPECT_EQ(f.Used(), 8000);

  Fixture off(/*seconds=*/0);
  off.holds->Hold(PodOf("q", 1), "a", Lowest(1));
  EXPECT_FALSE(off.holds->enabled());
  EXPECT_EQ(off.Used(), 0);
}

}  // namespace
}  // namespace accelsched::scheduler
