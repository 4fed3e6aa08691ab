// The extender's configuration file (YAML or JSON), validated at start-up (STYLE: config errors
// fail start-up, not the first request):
//
//   policy: accelsched        # random firstfit bestfit dotprod gpupacking gpuclustering fgd
//   weights:                  # score weights of the accelsched policy, 0..1000
//     fragmentation: 10
//     topology: 2
//     mig: 2
//   urlPrefix: /v1/extender   # where the verbs are served
//   maxBodyBytes: 16777216    # larger request bodies get 413
//   maxNodeNames: 100000      # more nodes in one request get 400
//   podCacheSize: 10000       # pods remembered between filter and bind
//   memoShapes: 16            # pod shapes whose verdicts and scores are remembered; 0 = off
//   threads: 8                # HTTP worker threads
//   gangReservationSeconds: 300  # how long a gang's reservation waits for its members
//   leaderElection:           # replicas: one leader serves, the others stand by
//     leaderElect: false
//     leaseDurationSeconds: 15
//     renewDeadlineSeconds: 10
//     retryPeriodSeconds: 2
//     resourceName: accelsched-extender      # the coordination.k8s.io/v1 Lease
//     resourceNamespace: accelsched-system
//   watchFailureSeconds: 60  # not ready after the API's watches failed this long; 0 = never
//   tentativeHoldSeconds: 15  # prioritize's choice held for the pod's bind; 0 = off
//   unresolvableAsFailedNodes: false  # true for kube-scheduler before 1.20, which has no
//                             # FailedAndUnresolvableNodes and drops those reasons
//   networkLevels:            # gangs: network domains, innermost first (names are what
//     - {name: host, label: kubernetes.io/hostname}       # accelsched.io/network-required and
//     - {name: clique, label: nvidia.com/gpu.clique}      # network-preferred take)
//     - {name: rack, label: topology.accelsched.io/rack}
//     - {name: block, label: topology.accelsched.io/block}
//
// Every key is optional; unknown keys are errors (a typo must not silently keep a default).
//
// Thread-safety: plain values and pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_CONFIG_H_
#define ACCELSCHED_SCHEDULER_CODEC_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/policy.h"

namespace accelsched::scheduler {

struct NetworkLevel {
  std::string name;   // "rack"
  std::string label;  // The node label whose value names the node's domain at this level.
  friend bool operator==(const NetworkLevel&, const NetworkLevel&) = default;
};

// host (kubernetes.io/hostname), clique (nvidia.com/gpu.clique: the NVLink domain of an NVL72
// system, set by GPU feature discovery; nodes without it skip that level), rack
// (topology.accelsched.io/rack), block (topology.accelsched.io/block).
inline std::vector<NetworkLevel> DefaultNetworkLevels() {
  return {{"host", "kubernetes.io/hostname"},
          {"clique", "nvidia.com/gpu.clique"},
          {"rack", "topology.accelsched.io/rack"},
          {"block", "topology.accelsched.io/block"}};
}

// The defaults, each defined here only (the flags, ServerOptions, ExtenderOptions and GangOptions
// take theirs from these).
inline constexpr int kDefaultPort = 8888;
inline constexpr char kDefaultUrlPrefix[] = "/v1/extender";
inline constexpr int64_t kDefaultMaxBodyBytes = 16 << 20;
inline constexpr int64_t kDefaultPodCacheSize = 10000;
// Nodes per filter/prioritize request: far above the largest real cluster (Kubernetes supports
// 5,000 nodes), far below what a 16 MiB body of one-letter names holds (4 million).
inline constexpr int64_t kDefaultMaxNodeNames = 100000;
inline constexpr int kDefaultMemoShapes = 16;
inline constexpr int kDefaultThreads = 8;
inline constexpr int kDefaultMaxConnections = 1024;
inline constexpr double kDefaultGangReservationSeconds = 300;
inline constexpr double kDefaultTentativeHoldSeconds = 15;
inline constexpr double kDefaultWatchFailureSeconds = 60;

// leaderElection: several replicas, one serving (Kubernetes mode; kube/leader_election.h).
// The durations are kube-scheduler's defaults.
struct LeaderElectionConfig {
  bool leader_elect = false;                             // leaderElect
  double lease_duration_seconds = 15;                    // leaseDurationSeconds
  double renew_deadline_seconds = 10;                    // renewDeadlineSeconds
  double retry_period_seconds = 2;                       // retryPeriodSeconds
  std::string resource_name = "accelsched-extender";     // resourceName (the Lease)
  std::string resource_namespace = "accelsched-system";  // resourceNamespace
};

struct ExtenderConfig {
  plugins::PolicyConfig policy;
  std::string url_prefix = kDefaultUrlPrefix;
  int64_t max_body_bytes = kDefaultMaxBodyBytes;
  int64_t pod_cache_size = kDefaultPodCacheSize;
  int64_t max_node_names = kDefaultMaxNodeNames;
  int memo_shapes = kDefaultMemoShapes;
  int threads = kDefaultThreads;
  int max_connections = kDefaultMaxConnections;  // maxConnections
  std::vector<NetworkLevel> network_levels = DefaultNetworkLevels();
  double gang_reservation_seconds = kDefaultGangReservationSeconds;  // gangReservationSeconds
  // unresolvableAsFailedNodes: filter answers every refused node in FailedNodes, for
  // kube-scheduler releases without FailedAndUnresolvableNodes (before 1.20), which drop the
  // reasons given there. Preemption then also visits those nodes; preempt answers them nothing.
  bool unresolvable_as_failed_nodes = false;
  // tentativeHoldSeconds: how long prioritize's choice is held for the pod's bind (0 = off).
  double tentative_hold_seconds = kDefaultTentativeHoldSeconds;
  // watchFailureSeconds: Kubernetes mode turns not ready (/readyz and the verbs 503) once a
  // watch of the API server has failed this long without a success (0 = never).
  double watch_failure_seconds = kDefaultWatchFailureSeconds;
  LeaderElectionConfig leader_election;
};

// Parses and validates `text` (YAML or JSON); `file` names it in errors.
absl::StatusOr<ExtenderConfig> ParseExtenderConfig(absl::string_view text, absl::string_view file);

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CODEC_CONFIG_H_
