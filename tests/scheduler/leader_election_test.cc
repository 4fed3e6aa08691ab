// Leader election on a Lease of the fake API server (which keeps Leases with the API server's
// create/update conflict semantics), with injected clocks: who may take a Lease when, that a
// leader whose renewals fail stops before anyone else can take over, and release.
#include "scheduler/kube/leader_election.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

#include "scheduler/codec/kube.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::scheduler::kube {
namespace {

using ::accelsched::testing::FakeApiServer;

struct Candidate {
  double now = 1000;  // This process's clock (seconds).
  std::unique_ptr<KubeClient> client;
  std::unique_ptr<LeaderElector> elector;

  Candidate(int port, const std::string& identity) {
    client = *KubeClient::Create(PlainEndpoint(port));
    LeaderElectionOptions o;
    o.identity = identity;
    o.clock = [this] { return now; };
    elector = std::make_unique<LeaderElector>(client.get(), o);
  }
  bool Try() { return elector->TryAcquireOrRenew(); }
};

TEST(LeaderElectionTest, DefaultsAreKubeSchedulersAndBadDurationsAreRefused) {
  LeaderElectionOptions o;
  o.identity = "a";
  EXPECT_EQ(o.lease_seconds, 15);
  EXPECT_EQ(o.renew_deadline_seconds, 10);
  EXPECT_EQ(o.retry_seconds, 2);
  EXPECT_TRUE(ValidateLeaderElection(o).ok());
  o.renew_deadline_seconds = 15;
  EXPECT_NE(ValidateLeaderElection(o).message().find("renewDeadline (15) < leaseDuration (15)"),
            std::string::npos);
  o = LeaderElectionOptions{};
  EXPECT_NE(ValidateLeaderElection(o).message().find("identity"), std::string::npos);
}

TEST(LeaderElectionTest, TheFirstCreatesTheLeaseAndOthersWaitForItToExpireOnTheirOwnClock) {
  FakeApiServer api;
  Candidate a(api.port(), "a"), b(api.port(), "b");
  ASSERT_TRUE(a.Try());  // Creates it.
  EXPECT_TRUE(a.elector->IsLeader());
  const Json lease = api.Lease("accelsched-system", "accelsched-extender");
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_FALSE(b.Try());  // b first sees the record now.
  EXPECT_EQ(b.elector->Holder(), "a");
  b.now += 10;
  a.now += 2;
  ASSERT_TRUE(a.Try());  // A renewal changes the record: b's wait starts again.
  EXPECT_FALSE(b.Try());
  b.now += 14.9;
  EXPECT_FALSE(b.Try());
  EXPECT_FALSE(b.elector->IsLeader());
  // a is killed (no more renewals, no release): b takes over a full lease after it last saw a
  // change, with one more transition.
  b.now += 0.2;
  ASSERT_TRUE(b.Try());
  EXPECT_TRUE(b.elector->IsLeader());
  const Json taken = api.Lease("accelsched-system", "accelsched-extender");
  EXPECT_EQ(taken["spec"]["holderIdentity"], "b");
  EXPECT_EQ(taken["spec"]["leaseTransitions"], 1);
  // a, back, sees b's Lease and does not take it; its own view says it no longer leads.
  a.now += 30;
  EXPECT_FALSE(a.Try());
  EXPECT_FALSE(a.elector->IsLeader());
}

TEST(LeaderElectionTest, AnUpdateFromAStaleReadIsRefused) {
  FakeApiServer api;
  Candidate a(api.port(), "a");
  ASSERT_TRUE(a.Try());
  absl::StatusOr<codec::LeaseRecord> read = codec::DecodeLease(
      *a.client->Get("/apis/coordination.k8s.io/v1/namespaces/accelsched-system/leases/"
                     "accelsched-extender"));
  ASSERT_TRUE(read.ok()) << read.status();
  a.now += 2;
  ASSERT_TRUE(a.Try());  // The Lease changed since `read`.
  codec::LeaseRecord stale = *read;
  stale.holder = "intruder";
  absl::StatusOr<std::string> put = a.client->Put(
      "/apis/coordination.k8s.io/v1/namespaces/accelsched-system/leases/accelsched-extender",
      codec::EncodeLease("accelsched-system", "accelsched-extender", stale));
  EXPECT_TRUE(absl::IsAlreadyExists(put.status())) << put.status();
  EXPECT_EQ(api.Lease("accelsched-system", "accelsched-extender")["spec"]["holderIdentity"], "a");
  // Creating it again is a conflict too.
  codec::LeaseRecord fresh;
  fresh.holder = "intruder";
  absl::StatusOr<std::string> post =
      a.client->Post("/apis/coordination.k8s.io/v1/namespaces/accelsched-system/leases",
                     codec::EncodeLease("accelsched-system", "accelsched-extender", fresh));
  EXPECT_TRUE(absl::IsAlreadyExists(post.status())) << post.status();
}

// The leader's renewals fail (a network partition): it stops leading renew_deadline (10 s) after
// its last renewal, while the standby can take over only a lease (15 s) after it saw that
// renewal. The two never lead at once.
TEST(LeaderElectionTest, APartitionedLeaderStopsBeforeTheStandbyCanTakeOver) {
  FakeApiServer api;
  Candidate a(api.port(), "a"), b(api.port(), "b");
  ASSERT_TRUE(a.Try());
  EXPECT_FALSE(b.Try());  // b sees a's last renewal at the same moment (both clocks at 1000).
  api.PartitionLeaseHolder("a", true);
  bool overlap = false;
  double a_stopped = -1, b_started = -1;
  for (int step = 1; step <= 100; ++step) {  // 20 s in steps of 0.2 s, both clocks together.
    a.now += 0.2;
    b.now += 0.2;
    (void)a.Try();
    (void)b.Try();
    const bool a_leads = a.elector->IsLeader(), b_leads = b.elector->IsLeader();
    overlap = overlap || (a_leads && b_leads);
    if (!a_leads && a_stopped < 0) a_stopped = a.now - 1000;
    if (b_leads && b_started < 0) b_started = b.now - 1000;
  }
  EXPECT_FALSE(overlap);
  EXPECT_NEAR(a_stopped, 10, 0.21);
  EXPECT_NEAR(b_started, 15, 0.21);
  api.PartitionLeaseHolder("a", false);
  a.now += 1;
  EXPECT_FALSE(a.Try());  // b holds it now.
}

TEST(LeaderElectionTest, AReleasedLeaseIsTakenAtOnce) {
  FakeApiServer api;
  Candidate a(api.port(), "a"), b(api.port(), "b");
  ASSERT_TRUE(a.Try());
  EXPECT_FALSE(b.Try());
  a.elector->Release();
  EXPECT_FALSE(a.elector->IsLeader());
  const Json released = api.Lease("accelsched-system", "accelsched-extender");
  EXPECT_EQ(released["spec"]["holderIdentity"], "");
  EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
  b.now += 0.1;  // No expiry to wait for.
  EXPECT_TRUE(b.Try());
  // Releasing what one does not hold changes nothing.
  const int writes = api.lease_writes();
  a.elector->Release();
  EXPECT_EQ(api.lease_writes(), writes);
}

}  // namespace
}  // namespace accelsched::scheduler::kube
