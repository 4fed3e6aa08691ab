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
// number of MIG instances placed.
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
#include "plugins/policy.h"

namespace accelsched::sim {

struct ScenarioPod {
  plugins::PodRequest request;
  double arrival = 0;   // Seconds.
  double duration = 0;  // Seconds.
};

struct Scenario {
  std::vector<plugins::NodeSpec> nodes;
  std::vector<ScenarioPod> pods;  // By arrival.
  plugins::WorkloadModel workload;
};

// Parses and expands a scenario; `seed` overrides the file's seed when >= 0. InvalidArgument
// naming the JSON path of the offending field ("workload.classes[2].gpus: ...").
absl::StatusOr<Scenario> ParseScenario(absl::string_view json, int64_t seed);

struct ScenarioResult {
  int pods = 0;
  int placed = 0;
  int never_placed = 0;
  int waited = 0;             // Placed after waiting.
  double mean_wait_s = 0;     // Over placed pods.
  double mean_alloc_pct = 0;  // Time-weighted GPU allocation.
  int multi_gpu_placed = 0;
  int multi_gpu_nvlink_ring = 0;
  double mean_ring_gbps = 0;  // Over multi-GPU pods on nodes with a topology.
  int mig_placed = 0;
};

absl::StatusOr<ScenarioResult> RunScenario(const plugins::Solver& solver, const Scenario& s,
                                           uint64_t seed);

// `accelsched-sim scenario ...`; returns the process exit code.
int RunScenarioCommand(int argc, char** argv);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_SCENARIO_H_
