// Scenario mode of accelsched-sim: an event-driven run on our own kind of cluster, so that
// topology and MIG policies can be compared where the Alibaba trace has neither (DESIGN 9).
//
// A scenario (JSON) names node groups (built-in topology profile, GPU model, capacities, GPUs in
// MIG mode) and a workload: a number of pods drawn from weighted classes (whole GPUs with an
// NVLink preference, a share, a MIG profile, CPU-only), with exponential inter-arrival times and
// durations, all from a seed. See bench/scenarios/mixed.json for every field.
//
// Events: arrivals and departures in time order (departures first at equal times). An arriving
// pod that fits nowhere waits in a FIFO queue; after every departure the queue is retried in
// order. Reported per policy: placed / never placed, mean wait, time-averaged GPU allocation,
// for multi-GPU pods the share placed on an NVLink ring and their mean ring bandwidth, and the
// number of MIG instances placed. Gangs (a class with "gang_sizes") arrive as one job of N
// identical members placed all or nothing (by the gang planner for policy accelsched, member by
// member with the policy's solver otherwise) and leave together; reported: the share placed
// within one rack and within one block, overall and for large gangs, and the large gangs' wait.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_BENCH_SIM_SCENARIO_H_
#define ACCELSCHED_BENCH_SIM_SCENARIO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "plugins/gang/planner.h"
#include "plugins/policy.h"

namespace accelsched::sim {

// One arrival: a pod, or a gang of `members` pods of the same request that is placed all or
// nothing and leaves together.
struct ScenarioPod {
  plugins::PodRequest request;
  double arrival = 0;   // Seconds.
  double duration = 0;  // Seconds.
  int members = 1;      // > 1: a gang.
  plugins::NetworkMode network = plugins::NetworkMode::kNone;
  int level = -1;  // Index into kNetworkLevelKeys with `network`.
};

// The node labels of the network levels (innermost first) that "network" in a scenario writes:
// every node gets kubernetes.io/hostname, topology.accelsched.io/rack and
// topology.accelsched.io/block in node order (nodes_per_rack nodes per rack, racks_per_block
// racks per block).
inline const std::vector<std::string> kNetworkLevelKeys = {
    "kubernetes.io/hostname", "topology.accelsched.io/rack", "topology.accelsched.io/block"};

struct Scenario {
  std::vector<plugins::NodeSpec> nodes;
  std::vector<ScenarioPod> pods;  // By arrival.
  plugins::WorkloadModel workload;
  bool network = false;  // The nodes carry the kNetworkLevelKeys labels.
};

// Parses and expands a scenario; `seed` overrides the file's seed when >= 0. InvalidArgument
// naming the JSON path of the offending field ("workload.classes[2].gpus: ...").
absl::StatusOr<Scenario> ParseScenario(absl::string_view json, int64_t seed);

// How gangs are placed: the gang planner over the network domains (accelsched), or member by
// member with the policy's own solver, all or nothing (a topology-blind gang scheduler).
enum class GangMethod { kPlanner, kPodByPod };

struct ScenarioResult {
  int pods = 0;
  int placed = 0;
  int never_placed = 0;
  int waited = 0;             // Placed after waiting.
  double mean_wait_s = 0;     // Over placed pods.
  double mean_alloc_pct = 0;  // Time-weighted GPU allocation, until the last departure.
  // The same until the last arrival (while the cluster is loaded; the drain after it is the same
  // work for every policy).
  double arrival_alloc_pct = 0;
  int multi_gpu_placed = 0;
  int multi_gpu_nvlink_ring = 0;
  double mean_ring_gbps = 0;  // Over multi-GPU pods on nodes with a topology.
  // Multi-GPU pods on nodes with a topology, and those of them given a best set (IsBestSet: the
  // best ring bottleneck the node model offers for that many GPUs).
  int multi_gpu_on_topology = 0;
  int multi_gpu_best_set = 0;
  // Those of them for which, when they were placed, some node where they fit had a best set
  // free: no node choice could have given a best set to the others.
  int multi_gpu_best_available = 0;
  int mig_placed = 0;
  // Gangs (arrivals with members > 1): placed, within one rack, within one block; the same for
  // large gangs (members >= the large threshold), with their mean wait.
  int gangs = 0, gangs_placed = 0, gangs_in_rack = 0, gangs_in_block = 0;
  int large = 0, large_placed = 0, large_in_rack = 0, large_in_block = 0;
  double large_mean_wait_s = 0;
  // Large gangs that fit within one rack of the empty cluster (planned with the rack required):
  // no policy can place more of them within one rack, so large_fit_rack / large bounds the share.
  int large_fit_rack = 0;
};

struct ScenarioOptions {
  GangMethod gangs = GangMethod::kPodByPod;
  int large_gang = 16;  // Members from which a gang counts as large.
};

absl::StatusOr<ScenarioResult> RunScenario(const plugins::Solver& solver, const Scenario& s,
                                           uint64_t seed, const ScenarioOptions& options = {});

// `accelsched-sim scenario ...`; returns the process exit code.
int RunScenarioCommand(int argc, char** argv);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_SCENARIO_H_
