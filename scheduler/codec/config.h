// The extender's configuration file (YAML or JSON), validated at start-up (STYLE: config errors
// fail start-up, not the first request):
//
//   policy: accelsched        # random firstfit bestfit dotprod gpupacking gpuclustering fgd
//   accelsched weights:                  # score weights of the accelsched policy, 0..1000
//     fragmentation: 10
//     topology: 2
//     mig: 2
//   urlPrefix: /v1/extender   # where the verbs are served
//   maxBodyBytes: 16777216    # larger request bodies get 413
//   podCacheSize: 10000       # pods remembered between filter and bind
//   memoShapes: 16            # pod shapes whose verdicts and scores are remembered; 0 = off
//   threads: 8                # HTTP worker threads
//   gangReservationSeconds: 300  # how long a gang's reservation waits for its members
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

struct ExtenderConfig {
  plugins::PolicyConfig policy;
  std::string url_prefix = "/v1/extender";
  int64_t max_body_bytes = 16 << 20;
  int64_t pod_cache_size = 10000;
  int memo_shapes = 16;
  int threads = 8;
  std::vector<NetworkLevel> network_levels = DefaultNetworkLevels();
  double gang_reservation_seconds = 300;  // gangReservationSeconds
};

// Parses and validates `text` (YAML or JSON); `file` names it in errors.
absl::StatusOr<ExtenderConfig> ParseExtenderConfig(absl::string_view text, absl::string_view file);

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CODEC_CONFIG_H_
