// The FGD paper's experiment protocol on the Alibaba trace (DESIGN section 9; the artifact's
// pkg/simulator/core.go and experiments/analysis/merge_*.py, as read into /tmp notes and
// summarised in bench/RESULTS.md):
//
//   1. Sort the pods by name and shuffle them with the seed.
//   2. Tune to `ratio` (1.3) x cluster GPU capacity T. Tune up: clone uniformly random pods of the
//      original (name-sorted) list and append them, stopping at the first sampled pod for which
//      total + its per-GPU milli would exceed T (that pod is dropped). The check uses per-GPU
//      milli, not milli x GPUs, exactly as the artifact does, so a multi-GPU clone can overshoot T.
//      Tune down (total > T, the multigpu traces): remove random pods until total <= T.
//   3. Order the nodes by a seeded permutation (the artifact renames each node "%04d-<name>" from
//      rand.Perm and its scheduler takes the first of the best-scored nodes in name order).
//   4. Place the pods one at a time in that order: no departures, no retries; a pod that fits
//      nowhere fails and is gone.
//   5. After every pod (failed ones too) record arrived milli-GPU (every pod's demand so far),
//      allocated milli-GPU, and the fragmentation amount sum_n F_n(M) over the typical shapes of
//      the original list (share_fragmentation/fragmentation.h).
//   6. Bucket events by round-half-even(arrived / capacity * 100) into 0..130; each bucket's
//      value is the mean over its events of round(alloc %, 2) (fragmentation: of the amount);
//      an empty bucket takes the events of buckets k-1..k+1. NaN if still none.
//
// Randomness: one std::mt19937_64 seeded with the seed drives the shuffle, the tuning, the node
// order and, when the solver breaks ties at random, the tie-breaking. Go's math/rand cannot be
// replicated, so results match the authors' statistically (means over seeds), not per seed.
//
// Thread-safety: RunTrace is reentrant; concurrent runs share only immutable inputs.
#ifndef ACCELSCHED_BENCH_SIM_TRACE_SIM_H_
#define ACCELSCHED_BENCH_SIM_TRACE_SIM_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

#include "bench/sim/trace.h"
#include "plugins/framework/plugin.h"
#include "plugins/framework/solver.h"
#include "plugins/share_fragmentation/fragmentation.h"

namespace accelsched::sim {

inline constexpr int kBuckets = 131;  // Arrived demand 0..130 % of capacity.

// Steps 1-2. `capacity_milli` is the cluster's GPU capacity.
std::vector<TracePod> TuneWorkload(absl::Span<const TracePod> original, int64_t capacity_milli,
                                   double ratio, plugins::Rng& rng);

struct TraceRunResult {
  std::array<double, kBuckets> alloc_pct{};      // GPU allocation, % of capacity.
  std::array<double, kBuckets> frag_pct{};       // Fragmented GPU, % of capacity.
  std::array<double, kBuckets> frag_rate_pct{};  // Fragmented / unallocated GPU, %.
  int pods = 0;                                  // After tuning.
  int placed = 0;
  int failed = 0;
  double final_alloc_pct = 0;
  double wall_seconds = 0;
  // With TraceRunOptions::record_detail: one line per failed pod and per node at the end, as
  // the --detail-csv rows (without the trace,policy,seed prefix). Empty otherwise.
  std::vector<std::string> detail;
};

// The order of the nodes in the snapshot, which decides ties when the solver breaks them by
// candidate order (PolicyConfig::random_ties = false).
enum class NodeOrder {
  kShuffled,  // A seeded random permutation, as the artifact's "%04d-" node renaming.
  kByName,    // The node list sorted by name.
};

struct TraceRunOptions {
  double tune_ratio = 1.3;
  uint64_t seed = 42;
  NodeOrder node_order = NodeOrder::kShuffled;
  bool record_detail = false;  // Fill TraceRunResult::detail.
};

// Steps 1-6 with `solver` deciding every placement. `report_shapes`: the typical shapes of the
// original list (for the fragmentation report). Internal if the solver returns an assignment the
// cluster cannot apply.
absl::StatusOr<TraceRunResult> RunTrace(const plugins::Solver& solver,
                                        absl::Span<const TraceNode> nodes,
                                        absl::Span<const TracePod> original,
                                        const std::vector<plugins::TaskShape>& report_shapes,
                                        const TraceRunOptions& options);

// Python's round(x, digits) for the values we see (round half to even on the scaled value).
double RoundHalfEven(double x, int digits);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_TRACE_SIM_H_
