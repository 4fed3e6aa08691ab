// Gang reservations with a fake clock: all-or-nothing holds, claims by shape, binds through the
// held slots, expiry and drop release exactly the unbound slots, and nothing leaks.
#include "scheduler/gang/gang_book.h"

#include <bit>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "plugins/policy.h"
#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

constexpr GangBook::ClaimOutcome::Kind kClaimed = GangBook::ClaimOutcome::Kind::kClaimed;

using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using plugins::GangPlan;
using plugins::PodRequest;

const std::vector<std::string> kLevels = {"kubernetes.io/hostname", "topology.accelsched.io/rack"};

struct Fixture {
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<plugins::Solver> solver;
};

// Four 8-GPU nodes n0..n3 in two racks, less `without`.
std::vector<plugins::NodeSpec> FourNodes(const std::string& without = "") {
  std::vector<plugins::NodeSpec> nodes;
  for (int i = 0; i < 4; ++i) {
    const std::string name = "n" + std::to_string(i);
    if (name == without) continue;
    nodes.push_back(Node(name)
                        .Cpu(64000)
                        .Mem(512000)
                        .Gpus(8, "H100", 81920)
                        .Label(kLevels[0], name)
                        .Label(kLevels[1], "r" + std::to_string(i / 2)));
  }
  return nodes;
}

Fixture Make() {
  Fixture f;
  f.ledger = *Ledger::Create(FourNodes());
  f.solver = ::accelsched::testing::FirstFitSolver();
  return f;
}

// A launcher without GPUs and two 8-GPU workers, planned on the ledger's current state.
std::vector<PodRequest> Members() {
  return {Pod("ml/launcher").Cpu(1000), Pod("ml/w").Cpu(8000).Gpus(8),
          Pod("ml/w").Cpu(8000).Gpus(8)};
}

GangPlan PlanOn(const Fixture& f, const std::vector<PodRequest>& members) {
  plugins::GangSpec g;
  g.name = "ml/train";
  g.members = members;
  const auto snapshot = f.ledger->Snapshot();
  absl::StatusOr<plugins::GangPlanOutcome> out = plugins::PlanGang(
      *f.solver, *snapshot, plugins::NetworkDomains::Build(*snapshot, kLevels), g);
  EXPECT_TRUE(out.ok() && out->plan.has_value());
  return *out->plan;
}

TEST(GangBookTest, ReserveClaimBindComplete) {
  Fixture f = Make();
  GangBook book(f.ledger.get(), /*ttl_seconds=*/300);
  const std::vector<PodRequest> members = Members();
  const GangPlan plan = PlanOn(f, members);
  EXPECT_EQ(plan.level, 1);  // Two full nodes: one rack.
  ASSERT_TRUE(book.Reserve("ml/train", members, plan, *f.ledger->Snapshot(), 0).ok());
  EXPECT_EQ(f.ledger->num_pods(), 3u);  // Three held slots.
  // Other pods cannot take the held GPUs: 16 of the 32 are held.
  int free = 0;
  for (const auto& n : f.ledger->Snapshot()->nodes()) free += std::popcount(n.WholeFreeGpus());
  EXPECT_EQ(free, 16);
  // Members claim by shape; a repeated claim returns the same slot.
  const GangBook::ClaimOutcome w1 = book.ClaimSlot("ml/train", "uid-w1", members[1], 10);
  const GangBook::ClaimOutcome w2 = book.ClaimSlot("ml/train", "uid-w2", members[2], 10);
  const GangBook::ClaimOutcome again = book.ClaimSlot("ml/train", "uid-w1", members[1], 11);
  for (const GangBook::ClaimOutcome* c : {&w1, &w2, &again}) ASSERT_EQ(c->kind, kClaimed);
  EXPECT_NE(w1.claim.slot, w2.claim.slot);
  EXPECT_EQ(again.claim.slot, w1.claim.slot);
  // A third 8-GPU pod finds no slot of its shape.
  EXPECT_EQ(book.ClaimSlot("ml/train", "uid-w3", members[1], 12).kind,
            GangBook::ClaimOutcome::Kind::kNoSlotForShape);
  const GangBook::ClaimOutcome l = book.ClaimSlot("ml/train", "uid-l", members[0], 12);
  ASSERT_EQ(l.kind, kClaimed);
  for (const auto& [uid, claim, req] :
       {std::tuple{"uid-w1", w1.claim, members[1]}, std::tuple{"uid-w2", w2.claim, members[2]},
        std::tuple{"uid-l", l.claim, members[0]}}) {
    absl::StatusOr<PlacedPod> p = book.BindMember("ml/train", uid, "ml/x", req, claim.node);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->node, claim.node);
  }
  EXPECT_FALSE(book.Has("ml/train"));   // Complete.
  EXPECT_EQ(f.ledger->num_pods(), 3u);  // The members themselves now.
  for (const char* uid : {"uid-w1", "uid-w2", "uid-l"}) EXPECT_TRUE(f.ledger->Find(uid));
}

TEST(GangBookTest, ExpiryReleasesOnlyTheUnboundSlotsAndRenewalDefersIt) {
  Fixture f = Make();
  GangBook book(f.ledger.get(), /*ttl_seconds=*/300);
  const std::vector<PodRequest> members = Members();
  ASSERT_TRUE(book.Reserve("ml/train", members, PlanOn(f, members), *f.ledger->Snapshot(), 0).ok());
  const GangBook::ClaimOutcome w1 = book.ClaimSlot("ml/train", "uid-w1", members[1], 100);
  ASSERT_EQ(w1.kind, kClaimed);
  ASSERT_TRUE(book.BindMember("ml/train", "uid-w1", "ml/w1", members[1], w1.claim.node).ok());
  EXPECT_TRUE(book.Expire(399).empty());  // Renewed at 100: lives until 400.
  EXPECT_EQ(book.Expire(401), std::vector<std::string>{"ml/train"});
  EXPECT_FALSE(book.Has("ml/train"));
  // The bound member stays; the two unbound slots are gone: no leak.
  EXPECT_EQ(f.ledger->num_pods(), 1u);
  EXPECT_TRUE(f.ledger->Find("uid-w1").has_value());
  EXPECT_EQ(book.active(), 0u);
}

TEST(GangBookTest, ReserveIsAllOrNothingAndDropReleases) {
  Fixture f = Make();
  GangBook book(f.ledger.get(), 300);
  const std::vector<PodRequest> members = Members();
  const GangPlan plan = PlanOn(f, members);
  const auto planned_on = f.ledger->Snapshot();
  // The cluster changes after planning: another pod takes GPUs on the second worker's node.
  const plugins::Assignment second = plan.slots[2];
  const PodRequest thief = Pod("ns/t").Gpus(1);
  ASSERT_TRUE(f.ledger
                  ->Place("thief", "ns/t", thief, planned_on->node(second.node).name,
                          [&](const plugins::ClusterSnapshot&, plugins::NodeIndex n) {
                            plugins::Assignment a;
                            a.node = n;
                            a.gpus = 1;
                            return absl::StatusOr<plugins::Assignment>(a);
                          })
                  .ok());
  absl::Status s = book.Reserve("ml/train", members, plan, *planned_on, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("slot 2"), std::string::npos) << s;
  EXPECT_FALSE(book.Has("ml/train"));
  EXPECT_EQ(f.ledger->num_pods(), 1u);  // Only the thief: the first two slots were released.
  // A fresh plan reserves; Drop releases everything unbound.
  const GangPlan fresh = PlanOn(f, members);
  ASSERT_TRUE(book.Reserve("ml/train", members, fresh, *f.ledger->Snapshot(), 0).ok());
  EXPECT_EQ(book.Reserve("ml/train", members, fresh, *f.ledger->Snapshot(), 0).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(f.ledger->num_pods(), 4u);  // The thief and three slots.
  ASSERT_TRUE(book.Drop("ml/train"));
  EXPECT_EQ(f.ledger->num_pods(), 1u);
  EXPECT_FALSE(book.Drop("ml/train"));
  EXPECT_EQ(book.ClaimSlot("ml/train", "u", members[1], 0).kind,
            GangBook::ClaimOutcome::Kind::kNoReservation);
}

TEST(GangBookTest, EachReservationHasSlotUidsOfItsOwn) {
  // A gang dropped and reserved again: the new slots have other UIDs, so nothing done to the old
  // reservation (a late release, a drop by generation) can touch the new one.
  Fixture f = Make();
  GangBook book(f.ledger.get(), 300);
  const std::vector<PodRequest> members = Members();
  ASSERT_TRUE(book.Reserve("ml/train", members, PlanOn(f, members), *f.ledger->Snapshot(), 0,
                           {"uid-l", "uid-w1", "uid-w2"})
                  .ok());
  const std::optional<GangBook::Claim> old = book.ClaimOf("ml/train", "uid-w1");
  ASSERT_TRUE(old.has_value());  // Claimed at reservation.
  ASSERT_TRUE(book.Drop("ml/train"));
  ASSERT_TRUE(book.Reserve("ml/train", members, PlanOn(f, members), *f.ledger->Snapshot(), 0,
                           {"uid-l", "uid-w1", "uid-w2"})
                  .ok());
  const std::optional<GangBook::Claim> now = book.ClaimOf("ml/train", "uid-w1");
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->slot_uid, old->slot_uid);
  EXPECT_NE(now->generation, old->generation);
  EXPECT_EQ(f.ledger->Release(old->slot_uid).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(book.Drop("ml/train", old->generation));
  EXPECT_TRUE(book.Has("ml/train"));
  // A pod of a planned member's shape that is not that member finds no slot.
  EXPECT_EQ(book.ClaimSlot("ml/train", "uid-w3", members[1], 0).kind,
            GangBook::ClaimOutcome::Kind::kNoSlotForShape);
}

TEST(GangBookTest, UnbindAfterTheReservationEndedReleasesTheDevices) {
  Fixture f = Make();
  GangBook book(f.ledger.get(), 300);
  const std::vector<PodRequest> members = {Pod("ml/w").Cpu(8000).Gpus(8),
                                           Pod("ml/w").Cpu(8000).Gpus(8)};
  ASSERT_TRUE(book.Reserve("ml/train", members, PlanOn(f, members), *f.ledger->Snapshot(), 0,
                           {"uid-w1", "uid-w2"})
                  .ok());
  const std::string n1 = book.ClaimOf("ml/train", "uid-w1")->node;
  const std::string n2 = book.ClaimOf("ml/train", "uid-w2")->node;
  ASSERT_TRUE(book.BindMember("ml/train", "uid-w1", "ml/w1", members[0], n1).ok());
  // w1's API bind fails; its devices go back to its slot, still held.
  absl::StatusOr<GangBook::UnbindOutcome> unbound = book.UnbindMember("ml/train", "uid-w1");
  ASSERT_TRUE(unbound.ok()) << unbound.status();
  EXPECT_EQ(*unbound, GangBook::UnbindOutcome::kBackInSlot);
  EXPECT_EQ(f.ledger->num_pods(), 2u);
  EXPECT_FALSE(f.ledger->Find("uid-w1").has_value());
  // The reservation is dropped: nothing of it stays in the ledger.
  ASSERT_TRUE(book.Drop("ml/train"));
  EXPECT_EQ(f.ledger->num_pods(), 0u);
  (void)n2;
}

TEST(GangBookTest, DropLostDropsOnlyReservationsWhoseSlotsAreGone) {
  Fixture f = Make();
  GangBook book(f.ledger.get(), 300);
  const std::vector<PodRequest> one = {Pod("ml/w").Cpu(8000).Gpus(8)};
  ASSERT_TRUE(book.Reserve("ml/a", one, PlanOn(f, one), *f.ledger->Snapshot(), 0).ok());
  const std::string node_a = f.ledger->Pods().front().node;
  ASSERT_TRUE(book.Reserve("ml/b", one, PlanOn(f, one), *f.ledger->Snapshot(), 0).ok());
  EXPECT_TRUE(book.DropLost().empty());
  // Gang a's node is removed.
  ASSERT_TRUE(f.ledger->ReplaceNodes(FourNodes(node_a)).ok());
  EXPECT_EQ(book.DropLost(), std::vector<std::string>{"ml/a"});
  EXPECT_TRUE(book.Has("ml/b"));
  EXPECT_FALSE(book.Has("ml/a"));
  EXPECT_EQ(f.ledger->num_pods(), 1u);
}

}  // namespace
}  // namespace accelsched::scheduler
