// The gang logic of the verbs with a fake clock: members are planned together once all are
// known, every member gets its slot's node, binds hand the slots over, and reservations are
// released on expiry, on a member's deletion and when the ledger lost a slot. Expected nodes are
// worked out by hand from the small clusters below.
#include "scheduler/gang/gang_coordinator.h"

#include <bit>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/testing/builders.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::Node;
using ::accelsched::testing::Pod;
using Kind = GangCoordinator::Admission::Kind;

// Six 8-GPU nodes n0..n5: racks r0 = {n0, n1}, r1 = {n2, n3, n4}; n5 has no rack label.
std::vector<plugins::NodeSpec> Nodes(int count = 6) {
  std::vector<plugins::NodeSpec> nodes;
  for (int i = 0; i < count; ++i) {
    const std::string name = "n" + std::to_string(i);
    Node n = Node(name).Cpu(64000).Mem(512000).Gpus(8, "H100", 81920);
    n.Label("kubernetes.io/hostname", name);
    if (i < 5) n.Label("topology.accelsched.io/rack", i < 2 ? "r0" : "r1");
    nodes.push_back(n);
  }
  return nodes;
}

// The same with n3 and n4 in one NVLink clique (GFD's nvidia.com/gpu.clique).
std::vector<plugins::NodeSpec> NodesWithClique() {
  std::vector<plugins::NodeSpec> nodes = Nodes();
  for (plugins::NodeSpec& n : nodes) {
    if (n.name == "n3" || n.name == "n4") n.labels.emplace_back("nvidia.com/gpu.clique", "c1.0");
  }
  return nodes;
}

struct Fixture {
  std::unique_ptr<Ledger> ledger = *Ledger::Create(Nodes());
  std::unique_ptr<plugins::Solver> solver = ::accelsched::testing::FirstFitSolver();
  double now = 1000;
  std::unique_ptr<GangCoordinator> gangs;
  explicit Fixture(double ttl = 300) { Rebuild(ttl); }
  // A fresh coordinator over `nodes` (empty: the same ledger).
  void Rebuild(double ttl = 300, const std::vector<plugins::NodeSpec>& nodes = {}) {
    gangs.reset();
    if (!nodes.empty()) ledger = *Ledger::Create(nodes);
    GangOptions o;
    o.ttl_seconds = ttl;
    o.clock = [this] { return now; };
    gangs = std::make_unique<GangCoordinator>(solver.get(), ledger.get(), o);
  }
  // Holds pod `key` (uid `uid`) on `node` with GPUs `gpus` and `cpu` milli-CPU, as a pod bound
  // before the gang arrives.
  void Occupy(const std::string& uid, const std::string& key, const std::string& node,
              plugins::GpuMask gpus, int64_t cpu) {
    auto take = [&](const plugins::ClusterSnapshot&,
                    plugins::NodeIndex index) -> absl::StatusOr<plugins::Assignment> {
      plugins::Assignment a;
      a.node = index;
      a.gpus = gpus;
      a.cpu_milli = cpu;
      return a;
    };
    plugins::PodRequest request = Pod(key).Cpu(cpu).Gpus(std::popcount(gpus));
    ASSERT_TRUE(ledger->Place(uid, key, request, node, take).ok());
  }
  int FreeGpus() const {
    int free = 0;
    for (const auto& n : ledger->Snapshot()->nodes()) free += std::popcount(n.WholeFreeGpus());
    return free;
  }
};

// Member `name` of gang team/train (size `size`) asking for `gpus` whole GPUs.
codec::PodObject Member(const std::string& name, int gpus, int size = 3,
                        const std::string& level = "", bool required = false) {
  codec::PodObject p;
  p.uid = "uid-" + name;
  p.name = name;
  p.namespace_name = "team";
  p.request = Pod("team/" + name).Tenant("team").Cpu(1000).Mem(1000).Gpus(gpus);
  p.gang = codec::GangMembership{"team/train", size, level, required, false};
  return p;
}

std::string RackOf(const std::string& node) { return node == "n0" || node == "n1" ? "r0" : "r1"; }

TEST(GangCoordinatorTest, PlansOnceAllMembersAreKnownAndEachGetsItsSlot) {
  Fixture f;
  // A launcher without GPUs and two 8-GPU workers.
  const codec::PodObject launcher = Member("launcher", 0), w1 = Member("w1", 8),
                         w2 = Member("w2", 8);
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(w1);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Kind::kWait);
  EXPECT_NE(a->reason.find("waiting for 2 more member(s): 1 of 3"), std::string::npos) << a->reason;
  a = f.gangs->Admit(launcher);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kWait);
  EXPECT_EQ(f.ledger->num_pods(), 0u);  // Waiting holds nothing.
  // The last member: the whole gang is planned and held; the two workers fill two nodes of
  // rack r0 (the smallest rack that fits: best fit leaves no whole GPU free there).
  absl::StatusOr<GangCoordinator::Admission> b = f.gangs->Admit(w2);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->kind, Kind::kNode);
  EXPECT_EQ(f.ledger->num_pods(), 3u);
  EXPECT_EQ(f.FreeGpus(), 48 - 16);
  absl::StatusOr<GangCoordinator::Admission> c = f.gangs->Admit(w1);
  absl::StatusOr<GangCoordinator::Admission> l = f.gangs->Admit(launcher);
  ASSERT_TRUE(c.ok() && l.ok());
  ASSERT_EQ(c->kind, Kind::kNode);
  ASSERT_EQ(l->kind, Kind::kNode);
  EXPECT_NE(b->node, c->node);  // 8 GPUs each: two nodes.
  EXPECT_EQ(RackOf(b->node), "r0");
  EXPECT_EQ(RackOf(c->node), "r0");
  EXPECT_EQ(RackOf(l->node), "r0");
  // Filter again: the same node; prioritize sees it too.
  EXPECT_EQ(f.gangs->Admit(w1)->node, c->node);
  EXPECT_EQ(f.gangs->SlotNode(w1), c->node);
  EXPECT_EQ(f.gangs->SlotNode(Member("stranger", 8)), std::nullopt);
  GangCoordinator::Stats s = f.gangs->stats();
  EXPECT_EQ(s.reservations, 1u);
  EXPECT_EQ(s.slots_held, 3u);
  EXPECT_EQ(s.planned, 1u);
  EXPECT_EQ(s.waiting, 2u);
}

TEST(GangCoordinatorTest, AnNvlinkCliqueIsTriedBeforeARack) {
  // Two 8-GPU members: without cliques rack r0 (n0, n1) is the best-fitting rack; the clique
  // {n3, n4} is a smaller domain and comes first.
  Fixture f;
  f.Rebuild(300, NodesWithClique());
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  const std::string a = f.gangs->Admit(members[1])->node;
  const std::string b = f.gangs->Admit(members[0])->node;
  EXPECT_EQ(std::set<std::string>({a, b}), (std::set<std::string>{"n3", "n4"}));
}

TEST(GangCoordinatorTest, TenancyKeepsExclusiveNodeGangsApart) {
  // A CPU-only pod of namespace "other" on n0. Two 4-GPU members fit on one node: by hand, the
  // host level's best fit is a tie between six empty nodes, won by n0 (first by name) unless
  // tenancy forbids n0: namespace team exclusive-node, or other exclusive-node.
  for (const char* exclusive : {"", "team", "other"}) {
    SCOPED_TRACE(std::string("exclusive-node: ") + exclusive);
    Fixture f;
    if (*exclusive != 0) f.ledger->SetIsolation(exclusive, plugins::Isolation::kExclusiveNode);
    f.Occupy("o", "other/o", "n0", /*gpus=*/0, /*cpu=*/1000);
    const std::vector<codec::PodObject> members = {Member("w1", 4, 2), Member("w2", 4, 2)};
    (void)f.gangs->Admit(members[0]);
    absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(members[1]);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->kind, Kind::kNode) << a->reason;
    EXPECT_EQ(a->node, *exclusive == 0 ? "n0" : "n1");
    EXPECT_EQ(f.gangs->SlotNode(members[0]), a->node);
  }
}

TEST(GangCoordinatorTest, BindsHandTheSlotsOverAndCompleteTheReservation) {
  Fixture f;
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  const std::string n2 = f.gangs->Admit(members[1])->node;
  const std::string n1 = f.gangs->Admit(members[0])->node;
  // The wrong node is refused; the slot stays held.
  const std::string other = n1 == "n5" ? "n4" : "n5";
  bool existed = false;
  absl::StatusOr<std::optional<PlacedPod>> wrong = f.gangs->BindMember(members[0], other, &existed);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::optional<PlacedPod>> p1 = f.gangs->BindMember(members[0], n1, &existed);
  ASSERT_TRUE(p1.ok() && p1->has_value());
  EXPECT_FALSE(existed);
  EXPECT_EQ((*p1)->uid, "uid-w1");
  EXPECT_EQ(std::popcount((*p1)->assignment.gpus), 8);
  // A retry of that bind: the same placement, nothing allocated again.
  absl::StatusOr<std::optional<PlacedPod>> retry = f.gangs->BindMember(members[0], n1, &existed);
  ASSERT_TRUE(retry.ok() && retry->has_value());
  EXPECT_TRUE(existed);
  existed = false;
  absl::StatusOr<std::optional<PlacedPod>> p2 = f.gangs->BindMember(members[1], n2, &existed);
  ASSERT_TRUE(p2.ok() && p2->has_value());
  // Complete: the members hold their own placements, no slot is left.
  EXPECT_EQ(f.ledger->num_pods(), 2u);
  EXPECT_TRUE(f.ledger->Find("uid-w1").has_value());
  EXPECT_TRUE(f.ledger->Find("uid-w2").has_value());
  EXPECT_EQ(f.gangs->stats().reservations, 0u);
  EXPECT_EQ(f.FreeGpus(), 48 - 16);
  // A pod that is no member binds as any pod.
  absl::StatusOr<std::optional<PlacedPod>> stranger =
      f.gangs->BindMember(Member("w3", 8, 2), "n5", &existed);
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(stranger->has_value());
  // A third pod of the full gang (beyond minMember) is scheduled as any pod.
  absl::StatusOr<GangCoordinator::Admission> extra = f.gangs->Admit(Member("w3", 8, 2));
  ASSERT_TRUE(extra.ok());
  EXPECT_EQ(extra->kind, Kind::kOrdinary);
}

TEST(GangCoordinatorTest, UnbindGivesTheDevicesBackToTheSlot) {
  Fixture f;
  const std::vector<codec::PodObject> members = {Member("w1", 4, 2), Member("w2", 4, 2)};
  (void)f.gangs->Admit(members[0]);
  (void)f.gangs->Admit(members[1]);
  const std::string n1 = *f.gangs->SlotNode(members[0]);
  bool existed = false;
  ASSERT_TRUE(f.gangs->BindMember(members[0], n1, &existed).ok());
  ASSERT_TRUE(f.gangs->UnbindMember(members[0]).ok());
  EXPECT_FALSE(f.ledger->Find("uid-w1").has_value());
  EXPECT_EQ(f.gangs->stats().slots_held, 2u);  // Held for it again.
  EXPECT_EQ(f.FreeGpus(), 48 - 8);
  absl::StatusOr<std::optional<PlacedPod>> again = f.gangs->BindMember(members[0], n1, &existed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->has_value());
}

TEST(GangCoordinatorTest, AGangThatCannotFitHoldsNothingAndSaysWhy) {
  Fixture f;
  // Seven 8-GPU members; six nodes.
  std::vector<codec::PodObject> members;
  for (int i = 0; i < 7; ++i) members.push_back(Member("w" + std::to_string(i), 8, 7));
  absl::StatusOr<GangCoordinator::Admission> a;
  for (const codec::PodObject& m : members) a = f.gangs->Admit(m);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kWait);
  EXPECT_NE(a->reason.find("gang team/train needs 7 pods"), std::string::npos) << a->reason;
  EXPECT_EQ(f.ledger->num_pods(), 0u);
  EXPECT_EQ(f.gangs->stats().unplaceable, 1u);
  // Every member gets that reason at its next filter (the gang is planned again).
  absl::StatusOr<GangCoordinator::Admission> again = f.gangs->Admit(members[0]);
  EXPECT_EQ(again->reason, a->reason);
}

TEST(GangCoordinatorTest, RequiredLevelWaitsPreferredWidens) {
  // Three 8-GPU members: no rack has three nodes free once n2 is taken (r0 has 2, r1 has n3 and
  // n4 left).
  for (const bool required : {true, false}) {
    SCOPED_TRACE(required ? "required" : "preferred");
    Fixture f;
    f.Occupy("busy", "x/busy", "n2", /*gpus=*/0xff, /*cpu=*/0);
    std::vector<codec::PodObject> members;
    for (int i = 0; i < 3; ++i) {
      members.push_back(Member("w" + std::to_string(i), 8, 3, "rack", required));
    }
    absl::StatusOr<GangCoordinator::Admission> a;
    for (const codec::PodObject& m : members) a = f.gangs->Admit(m);
    ASSERT_TRUE(a.ok()) << a.status();
    if (required) {
      EXPECT_EQ(a->kind, Kind::kWait);
      EXPECT_NE(a->reason.find("within one rack"), std::string::npos) << a->reason;
      EXPECT_EQ(f.ledger->num_pods(), 1u);
    } else {
      EXPECT_EQ(a->kind, Kind::kNode);
      EXPECT_EQ(f.ledger->num_pods(), 4u);
    }
  }
}

TEST(GangCoordinatorTest, BadOrMissingGangSettings) {
  Fixture f;
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(Member("w1", 8, 2, "row"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find(
                "accelsched.io/network-preferred: 'row' is not a configured network level (host, "
                "clique, rack, block)"),
            std::string::npos)
      << a.status();
  a = f.gangs->Admit(Member("w1", 8, 2, "row", /*required=*/true));
  EXPECT_NE(a.status().message().find("accelsched.io/network-required"), std::string::npos);
  // No size (label without gang-size, PodGroup not seen): waits, naming both ways to set it.
  codec::PodObject p = Member("w1", 8, /*size=*/0);
  a = f.gangs->Admit(p);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kWait);
  EXPECT_NE(a->reason.find("accelsched.io/gang-size annotation or create PodGroup train"),
            std::string::npos)
      << a->reason;
  f.gangs->SetMinMember("team/train", 1);
  f.gangs->KeepMinMembersOf({"team/train"});  // Still listed: kept.
  a = f.gangs->Admit(p);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kNode);
  // The member is deleted and the PodGroup is gone from a later list: the size is unknown again.
  f.gangs->Forget(p);
  f.gangs->KeepMinMembersOf({});
  a = f.gangs->Admit(Member("w9", 8, /*size=*/0));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kWait) << a->reason;
}

TEST(GangCoordinatorTest, ExpiryReleasesTheUnboundSlotsAndTheGangIsPlannedAgain) {
  Fixture f(/*ttl=*/60);
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  ASSERT_EQ(f.gangs->Admit(members[1])->kind, Kind::kNode);
  bool existed = false;
  ASSERT_TRUE(f.gangs->BindMember(members[1], *f.gangs->SlotNode(members[1]), &existed).ok());
  // Members keep arriving: the deadline is renewed.
  f.now += 50;
  (void)f.gangs->Admit(members[0]);
  f.now += 50;
  EXPECT_TRUE(f.gangs->Reconcile().empty());
  EXPECT_EQ(f.gangs->stats().slots_held, 1u);
  // w1 stops coming: after the deadline its slot is released; w2 keeps its devices.
  f.now += 61;
  EXPECT_EQ(f.gangs->Reconcile(), std::vector<std::string>{"team/train"});
  EXPECT_EQ(f.ledger->num_pods(), 1u);
  EXPECT_TRUE(f.ledger->Find("uid-w2").has_value());
  EXPECT_EQ(f.FreeGpus(), 48 - 8);
  EXPECT_EQ(f.gangs->stats().expired, 1u);
  // w1 comes back: one member is missing (w2 is bound), so only w1 is planned.
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(members[0]);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, Kind::kNode);
  EXPECT_EQ(f.gangs->stats().slots_held, 1u);
}

TEST(GangCoordinatorTest, DeletingAnUnboundMemberReleasesTheReservation) {
  Fixture f;
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  (void)f.gangs->Admit(members[1]);
  ASSERT_EQ(f.ledger->num_pods(), 2u);
  f.gangs->Forget(members[0]);
  EXPECT_EQ(f.ledger->num_pods(), 0u);
  EXPECT_EQ(f.gangs->stats().dropped, 1u);
  // The survivor waits for a replacement.
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(members[1]);
  EXPECT_EQ(a->kind, Kind::kWait);
  EXPECT_NE(a->reason.find("waiting for 1 more member(s)"), std::string::npos) << a->reason;
}

TEST(GangCoordinatorTest, AMemberMissingFromAFullListIsForgotten) {
  // The watch missed w1's deletion; the next list of all pods no longer has it.
  Fixture f;
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  (void)f.gangs->Admit(members[1]);
  ASSERT_EQ(f.gangs->stats().slots_held, 2u);
  const double listed_at = f.now + 1;  // The list was requested after both were last seen.
  // Both listed: nothing changes.
  f.gangs->ForgetAbsent({"uid-w1", "uid-w2", "uid-unrelated"}, listed_at);
  EXPECT_EQ(f.gangs->stats().slots_held, 2u);
  // A member seen after the list was requested (created since) is spared.
  f.gangs->ForgetAbsent({"uid-w2"}, f.now - 1);
  EXPECT_EQ(f.gangs->stats().slots_held, 2u);
  f.gangs->ForgetAbsent({"uid-w2"}, listed_at);
  EXPECT_EQ(f.gangs->stats().slots_held, 0u);
  EXPECT_EQ(f.ledger->num_pods(), 0u);
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(members[1]);
  EXPECT_NE(a->reason.find("waiting for 1 more member(s)"), std::string::npos) << a->reason;
}

TEST(GangCoordinatorTest, ReconcileDropsAReservationWhoseNodeWentAway) {
  Fixture f;
  const std::vector<codec::PodObject> members = {Member("w1", 8, 2), Member("w2", 8, 2)};
  (void)f.gangs->Admit(members[0]);
  const std::string node = f.gangs->Admit(members[1])->node;
  // The node of one slot is removed (Kubernetes mode: a node watch event).
  std::vector<plugins::NodeSpec> kept;
  for (const plugins::NodeSpec& n : Nodes()) {
    if (n.name != node) kept.push_back(n);
  }
  ASSERT_TRUE(f.ledger->ReplaceNodes(kept).ok());
  EXPECT_EQ(f.gangs->Reconcile(), std::vector<std::string>{"team/train"});
  EXPECT_EQ(f.ledger->num_pods(), 0u);  // The other slot is released too.
  EXPECT_EQ(f.gangs->stats().reservations, 0u);
  // Planned again on the nodes that are left.
  absl::StatusOr<GangCoordinator::Admission> a = f.gangs->Admit(members[0]);
  ASSERT_EQ(a->kind, Kind::kNode);
  EXPECT_NE(a->node, node);
}

TEST(GangCoordinatorTest, ConcurrentMembersShareOneReservation) {
  Fixture f;
  constexpr int kMembers = 4;
  std::vector<codec::PodObject> members;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(Member("w" + std::to_string(i), 8, kMembers));
  }
  for (const codec::PodObject& m : members) (void)f.gangs->Admit(m);  // All known now.
  f.gangs->Reconcile();
  // Drop whatever the last admit reserved, then let every member race to plan.
  for (const codec::PodObject& m : members) f.gangs->Forget(m);
  for (const codec::PodObject& m : members) f.gangs->Observe(m);
  std::vector<std::string> nodes(kMembers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMembers; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<GangCoordinator::Admission> a =
          f.gangs->Admit(members[static_cast<size_t>(i)]);
      if (a.ok() && a->kind == Kind::kNode) nodes[static_cast<size_t>(i)] = a->node;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(f.gangs->stats().planned, 2u);  // The first planning and the race's one.
  EXPECT_EQ(f.ledger->num_pods(), static_cast<size_t>(kMembers));
  EXPECT_EQ(std::set<std::string>(nodes.begin(), nodes.end()).size(),
            static_cast<size_t>(kMembers));
}

}  // namespace
}  // namespace accelsched::scheduler
