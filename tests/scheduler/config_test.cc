// The extender's config file: defaults, every key, and errors that name the file and the key.
#include "scheduler/codec/config.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace accelsched::scheduler {
namespace {

TEST(ConfigTest, EmptyFileGivesTheDefaults) {
  for (const char* text : {"", "{}", "# nothing\n"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<ExtenderConfig> c = ParseExtenderConfig(text, "c.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->policy.policy, "accelsched");
    EXPECT_EQ(c->url_prefix, "/v1/extender");
    EXPECT_EQ(c->max_body_bytes, 16 << 20);
    EXPECT_EQ(c->pod_cache_size, 10000);
    EXPECT_EQ(c->memo_shapes, 16);
    EXPECT_EQ(c->threads, 8);
    EXPECT_EQ(c->tentative_hold_seconds, 15);
    EXPECT_FALSE(c->unresolvable_as_failed_nodes);
    EXPECT_EQ(c->watch_failure_seconds, 60);
    EXPECT_FALSE(c->leader_election.leader_elect);
    EXPECT_EQ(c->leader_election.lease_duration_seconds, 15);
    ASSERT_EQ(c->network_levels.size(), 4u);
    EXPECT_EQ(c->network_levels[0], (NetworkLevel{"host", "kubernetes.io/hostname"}));
    EXPECT_EQ(c->network_levels[1], (NetworkLevel{"clique", "nvidia.com/gpu.clique"}));
    EXPECT_EQ(c->network_levels[2], (NetworkLevel{"rack", "topology.accelsched.io/rack"}));
    EXPECT_EQ(c->network_levels[3], (NetworkLevel{"block", "topology.accelsched.io/block"}));
  }
}

TEST(ConfigTest, EveryKeyIsRead) {
  absl::StatusOr<ExtenderConfig> c = ParseExtenderConfig(R"yaml(
policy: fgd
weights: {fragmentation: 7, topology: 0, mig: 3}
urlPrefix: /ext/
maxBodyBytes: 4096
podCacheSize: 12
memoShapes: 0
threads: 2
maxConnections: 64
gangReservationSeconds: 60
unresolvableAsFailedNodes: true
tentativeHoldSeconds: 0
leaderElection: {leaderElect: true, leaseDurationSeconds: 30, renewDeadlineSeconds: 20,
                 retryPeriodSeconds: 4, resourceName: ext, resourceNamespace: ns}
networkLevels:
  - {name: node, label: kubernetes.io/hostname}
  - {name: nvl72, label: nvidia.com/gpu.clique}
)yaml",
                                                         "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->policy.policy, "fgd");
  EXPECT_EQ(c->policy.fragmentation_weight, 7);
  EXPECT_EQ(c->policy.topology_weight, 0);
  EXPECT_EQ(c->policy.mig_weight, 3);
  EXPECT_EQ(c->url_prefix, "/ext");  // Trailing slash dropped.
  EXPECT_EQ(c->max_body_bytes, 4096);
  EXPECT_EQ(c->pod_cache_size, 12);
  EXPECT_EQ(c->memo_shapes, 0);
  EXPECT_EQ(c->threads, 2);
  EXPECT_EQ(c->max_connections, 64);
  EXPECT_EQ(c->gang_reservation_seconds, 60);
  EXPECT_TRUE(c->unresolvable_as_failed_nodes);
  EXPECT_EQ(c->tentative_hold_seconds, 0);
  EXPECT_TRUE(c->leader_election.leader_elect);
  EXPECT_EQ(c->leader_election.lease_duration_seconds, 30);
  EXPECT_EQ(c->leader_election.renew_deadline_seconds, 20);
  EXPECT_EQ(c->leader_election.retry_period_seconds, 4);
  EXPECT_EQ(c->leader_election.resource_name, "ext");
  EXPECT_EQ(c->leader_election.resource_namespace, "ns");
  const std::vector<NetworkLevel> want = {{"node", "kubernetes.io/hostname"},
                                          {"nvl72", "nvidia.com/gpu.clique"}};
  EXPECT_EQ(c->network_levels, want);
}

TEST(ConfigTest, ErrorsNameTheFileAndTheKey) {
  const struct {
    std::string text;
    std::string fragment;
  } cases[] = {
      {"polcy: fgd", "c.yaml: polcy: unknown key (known: policy, weights"},
      {"policy: best", "policy: unknown policy 'best'"},
      {"weights: {topology: 2000}", "weights.topology: 2000 is outside 0..1000"},
      {"weights: {speed: 1}", "weights.speed: unknown weight"},
      {"urlPrefix: ext", "urlPrefix: must start with '/'"},
      {"maxNodeNames: 0", "maxNodeNames: 0 is outside 1.."},
      {"urlPrefix: '/(a|b'",
       "urlPrefix: must be a plain path (letters, digits and / - _ . ~), "
       "got '/(a|b'"},
      {"urlPrefix: /x.*", "urlPrefix: must be a plain path"},
      {"maxBodyBytes: 10", "maxBodyBytes: 10 is outside 1024.."},
      {"memoShapes: -1", "memoShapes: -1 is outside 0..1024"},
      {"threads: many", "threads: must be an integer, got string"},
      {"maxConnections: 8", "maxConnections: 8 is outside 16..1000000"},
      {"networkLevels: []", "networkLevels: must be a list of 1 to 8"},
      {"networkLevels: [rack]", "networkLevels[0]: must be a mapping with name and label"},
      {"networkLevels: [{name: rack}]", "networkLevels[0].label: required"},
      {"networkLevels: [{name: rack, label: a, kind: x}]",
       "networkLevels[0].kind: unknown key (known: name, label)"},
      {"networkLevels: [{name: rack, label: a}, {name: rack, label: b}]",
       "networkLevels[1].name: 'rack' given twice"},
      {"networkLevels: [{name: r, label: a}, {name: b, label: a}]",
       "networkLevels[1].label: 'a' given twice"},
      {"gangReservationSeconds: 0", "gangReservationSeconds"},
      {"leaderElection: true", "leaderElection: must be a mapping"},
      {"leaderElection: {leaderElect: yes please}",
       "leaderElection.leaderElect: must be true or false"},
      {"leaderElection: {lease: 15}", "leaderElection.lease: unknown key (known: leaderElect"},
      {"leaderElection: {renewDeadlineSeconds: 15}",
       "leaderElection: need retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds"},
      {"leaderElection: {resourceName: ''}", "leaderElection.resourceName: must be a non-empty"},
      {"watchFailureSeconds: -1", "watchFailureSeconds: -1 is outside 0..86400"},
      {"tentativeHoldSeconds: 601", "tentativeHoldSeconds: 601 is outside 0..600"},
      {"unresolvableAsFailedNodes: 1", "unresolvableAsFailedNodes: must be true or false"},
      {"- just a list", "(top level): must be a mapping"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.text);
    absl::StatusOr<ExtenderConfig> c = ParseExtenderConfig(tc.text, "c.yaml");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(tc.fragment), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace accelsched::scheduler
