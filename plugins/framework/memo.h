// SolverMemo: a Solver's filter verdicts and raw scores, kept per pod shape and node across
// cycles, for a caller that asks about the same shapes against successive snapshots of one
// cluster. The extender is such a caller: kube-scheduler sends each pod to filter and then to
// prioritize, retries pods that did not fit, and the pods of one Job or Deployment share a shape,
// while between two requests a bind changes one node.
//
// A node's memoised verdict and raw scores are reused while its NodeInfo::version is unchanged.
// Versions are unique in the process (a change or a rebuild draws a fresh one), so an unchanged
// version means unchanged content. A shape's CycleState (PreFilter) is rebuilt, and what it
// remembered forgotten, when the snapshot's layout changes (ClusterSnapshot::layout(): another
// node list or model table) or its tenant table does (a new namespace, another isolation). The
// shape is the PodRequest without its name, so pods of two namespaces are two shapes.
//
// Results equal Solver::Filter's and Solver::Score's exactly, reasons included:
//   - filters see only (CycleState, pod, node), so a verdict depends on nothing else; verdicts
//     are memoised only if every filter says so (FilterPlugin::VerdictIsMemoisable), otherwise
//     every filter runs on every call;
//   - raw scores are memoised only for plugins that say a node's raw score depends on that node
//     alone (ScorePlugin::ScoresEachNodeAlone); the others are asked every time;
//   - normalisation, range checks and weights run over the whole candidate set every time, as in
//     Solver::Score (min-max normalisation depends on the set, the raw scores do not).
// The CycleState is built with explain on and without a random source (Rng), as the extender
// asks; a solver whose plugins need an Rng gets their deterministic fallback.
//
// Cost of a call: O(candidates) to compare versions, plus the solver's work on changed nodes.
// Memory: about (40 + 8 x memoisable scorers) bytes per node per remembered shape, allocated
// when the shape is first seen.
//
// Thread-safety: every method may be called concurrently. Callers asking about one shape are
// served one at a time (a per-shape lock); different shapes proceed in parallel.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_MEMO_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_MEMO_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

#include "plugins/framework/solver.h"

namespace accelsched::plugins {

class SolverMemo {
 public:
  // `solver` is not owned and must outlive the memo. Up to `max_shapes` pod shapes are
  // remembered (the least recently used is forgotten first); 0 turns memoisation off, and every
  // call then runs the solver.
  SolverMemo(const Solver* solver, int max_shapes);

  struct FilterOutcome {
    std::shared_ptr<const CycleState> state;  // Keeps the reasons in `verdicts` valid.
    CandidateVerdicts verdicts;
  };
  // Solver::PreFilter (explain on, no Rng) and Solver::Filter over `candidates`.
  absl::StatusOr<FilterOutcome> Filter(const PodRequest& pod, const ClusterSnapshot& snapshot,
                                       absl::Span<const NodeIndex> candidates);

  // Solver::Score over `feasible` (nodes that passed Filter on this snapshot), using the state
  // from `filtered` (a Filter call for the same pod on the same snapshot).
  absl::StatusOr<std::vector<int64_t>> Score(const FilterOutcome& filtered, const PodRequest& pod,
                                             const ClusterSnapshot& snapshot,
                                             absl::Span<const NodeIndex> feasible);

  // Per node asked about: answered from the memo, or computed (filters and scores counted
  // apart). Shapes built: PreFilter runs (first sight, layout change, or after eviction).
  struct Stats {
    uint64_t filter_hits = 0;
    uint64_t filter_misses = 0;
    uint64_t score_hits = 0;
    uint64_t score_misses = 0;
    uint64_t shapes_built = 0;
  };
  Stats stats() const;

 private:
  struct Entry;
  // The entry for `pod`'s shape, created (and the least recently used evicted) if needed.
  std::shared_ptr<Entry> EntryFor(const PodRequest& pod) ABSL_LOCKS_EXCLUDED(mu_);

  const Solver* solver_;
  const int max_shapes_;
  const bool filters_memoisable_;  // Solver::FiltersMemoisable().
  std::vector<size_t> alone_;      // Indices into solver_->scorers_ memoised per node.
  std::vector<int> alone_index_;   // Per scorer: its slot among alone_, or -1.
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t tick_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> filter_hits_{0}, filter_misses_{0}, score_hits_{0}, score_misses_{0},
      shapes_built_{0};
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_MEMO_H_
