// The leader's label on its own pod (scheduler/kube/leader_label.h) against the fake API server.
#include "scheduler/kube/leader_label.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

#include "scheduler/codec/kube.h"
#include "tests/scheduler/kube_test_util.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::scheduler::kube {
namespace {

using ::accelsched::testing::FakeApiServer;

Json Labels(FakeApiServer& api, const std::string& name) {
  return api.Pod("accelsched-system/" + name)["metadata"]["labels"];
}

// RFC 7386: a value sets the label, null removes it.
TEST(LeaderLabelTest, ThePatchesSetAndRemoveTheLabel) {
  EXPECT_EQ(codec::EncodeLabelPatch("accelsched.io/leader", "true"),
            R"({"metadata":{"labels":{"accelsched.io/leader":"true"}}})");
  EXPECT_EQ(codec::EncodeLabelPatch("accelsched.io/leader", std::nullopt),
            R"({"metadata":{"labels":{"accelsched.io/leader":null}}})");
}

TEST(LeaderLabelTest, OnWhileLeadingOffOtherwiseAndALeftoverIsTakenOff) {
  FakeApiServer api;
  api.PutPod(ExtenderPod("ext-a", /*leader=*/true));  // The container before a restart led.
  auto client = *KubeClient::Create(PlainEndpoint(api.port()));
  LeaderLabel label(client.get(), "accelsched-system", "ext-a");
  // A new process does not know what its pod carries: stale until it has looked.
  ASSERT_TRUE(label.StaleReason(false).has_value());
  EXPECT_EQ(*label.StaleReason(false),
            "not the leader, but pod accelsched-system/ext-a may still carry label "
            "accelsched.io/leader (taking it off has not succeeded yet)");
  EXPECT_FALSE(label.StaleReason(true).has_value());

  EXPECT_TRUE(label.Sync(false));
  EXPECT_FALSE(Labels(api, "ext-a").contains("accelsched.io/leader"));
  EXPECT_EQ(Labels(api, "ext-a")["app.kubernetes.io/name"], "accelsched-extender");
  EXPECT_FALSE(label.StaleReason(false).has_value());
  const int patches = api.pod_patches();
  EXPECT_TRUE(label.Sync(false));  // Known to be off: no request.
  EXPECT_EQ(api.pod_patches(), patches);

  EXPECT_TRUE(label.Sync(true));
  EXPECT_EQ(Labels(api, "ext-a")["accelsched.io/leader"], "true");
  EXPECT_EQ(api.pod_patches(), patches + 1);
  EXPECT_TRUE(label.Sync(true));
  EXPECT_EQ(api.pod_patches(), patches + 1);
  // Lost the Lease but not yet synced: stale.
  EXPECT_TRUE(label.StaleReason(false).has_value());
  EXPECT_TRUE(label.Sync(false));
  EXPECT_FALSE(Labels(api, "ext-a").contains("accelsched.io/leader"));
  EXPECT_FALSE(label.StaleReason(false).has_value());
}

TEST(LeaderLabelTest, AReplicaThatCannotTakeItsLabelOffStaysStaleUntilItCan) {
  FakeApiServer api;
  api.PutPod(ExtenderPod("ext-a", false));
  auto client = *KubeClient::Create(PlainEndpoint(api.port()));
  LeaderLabel label(client.get(), "accelsched-system", "ext-a");
  ASSERT_TRUE(label.Sync(true));
  const Json labelled = api.Pod("accelsched-system/ext-a");
  api.DeletePod("accelsched-system/ext-a");  // Every patch now fails (404).
  EXPECT_FALSE(label.Sync(false));
  EXPECT_TRUE(label.StaleReason(false).has_value());
  EXPECT_FALSE(label.Sync(false));
  EXPECT_TRUE(label.StaleReason(false).has_value());
  api.PutPod(labelled);
  EXPECT_TRUE(label.Sync(false));
  EXPECT_FALSE(Labels(api, "ext-a").contains("accelsched.io/leader"));
  EXPECT_FALSE(label.StaleReason(false).has_value());
}

}  // namespace
}  // namespace accelsched::scheduler::kube
