// Solver: runs a policy's plugins for one pod over a list of candidate nodes (DESIGN section 2).
//
//   PreFilter -> Filter (per candidate) -> Score (per plugin, batched) -> Normalize -> range
//   check -> weight -> sum -> select the best node -> Reserve (exact devices on that node).
//
// The extender calls the steps separately (filter and prioritize are separate HTTP verbs, each
// with its own CycleState); the simulator calls Place, which runs them all.
//
// Selection among equal totals is kube-scheduler's: with an Rng, a uniformly random one of the
// tied nodes (reservoir sampling, as selectHost does); without one, the first in candidate order.
//
// Thread-safety: immutable after Build; every method is const and may run concurrently.
// Ownership: the Solver owns its plugins.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_SOLVER_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_SOLVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

#include "plugins/framework/plugin.h"

namespace accelsched::plugins {

// Solver::Filter's answer, in candidate order: verdicts[k] is candidates[k]'s, and `feasible`
// lists the feasible candidates (the input of Score).
struct CandidateVerdicts {
  std::vector<FilterVerdict> verdicts;
  std::vector<NodeIndex> feasible;
};

struct Placement {
  std::optional<Assignment> assignment;  // Nullopt: no feasible node (see `reason`).
  int64_t score = 0;                     // The chosen node's weighted total.
  int feasible_nodes = 0;
  std::string reason;  // Why nothing fits (only with explain and no assignment).
};

class Solver {
 public:
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;
  Solver(Solver&&) = delete;
  Solver& operator=(Solver&&) = delete;
  ~Solver() = default;

  // Fills the framework fields of a fresh CycleState and runs the PreFilter plugins.
  // InvalidArgument if the pod request is inconsistent (PodRequest::Validate).
  absl::StatusOr<CycleState> PreFilter(const PodRequest& pod, const ClusterSnapshot& snapshot,
                                       bool explain = true, Rng* rng = nullptr) const;

  // Runs every filter on every candidate. InvalidArgument for a candidate index out of range.
  // Cost: O(|candidates| x filters).
  absl::StatusOr<CandidateVerdicts> Filter(const CycleState& state, const PodRequest& pod,
                                           const ClusterSnapshot& snapshot,
                                           absl::Span<const NodeIndex> candidates) const;

  // Every filter on one node, stopping at the first that rejects it.
  absl::StatusOr<FilterVerdict> FilterNode(const CycleState& state, const PodRequest& pod,
                                           const NodeInfo& node) const;

  // Weighted total per node of `feasible` (each in [0, MaxTotalScore()]). Internal if a plugin
  // normalizes outside [kMinScore, kMaxScore].
  absl::StatusOr<std::vector<int64_t>> Score(const CycleState& state, const PodRequest& pod,
                                             const ClusterSnapshot& snapshot,
                                             absl::Span<const NodeIndex> feasible) const;
  // kMaxScore times the sum of the weights.
  int64_t MaxTotalScore() const { return max_total_; }

  // OR of the filters' BlockedGpus for `pod` on `node`.
  GpuMask BlockedGpus(const CycleState& state, const PodRequest& pod, const NodeInfo& node) const;
  // True if every filter's verdict is memoisable (FilterPlugin::VerdictIsMemoisable).
  bool FiltersMemoisable() const;

  // The devices the pod gets on `node` (nullopt if it does not fit there), never among the GPUs
  // the filters block (BlockedGpus).
  absl::StatusOr<std::optional<Assignment>> Reserve(const CycleState& state, const PodRequest& pod,
                                                    const ClusterSnapshot& snapshot,
                                                    NodeIndex node) const;

  // Index into `nodes` of the best total (ties as described above); -1 if empty.
  static int SelectBest(absl::Span<const int64_t> totals, Rng* rng);

  // The whole cycle over `candidates` (every node if empty). `rng` feeds tie-breaking and random
  // plugins; `explain` builds the reason when nothing fits.
  absl::StatusOr<Placement> Place(const PodRequest& pod, const ClusterSnapshot& snapshot, Rng* rng,
                                  bool explain = false,
                                  absl::Span<const NodeIndex> candidates = {}) const;

  // Names of the plugins, in registration order, with their score weights (0 = not a scorer).
  std::vector<std::pair<std::string, int64_t>> Describe() const;

 private:
  friend class SolverBuilder;
  friend class SolverMemo;
  Solver() = default;

  // Normalizes `scores` (raw scores of `feasible` from `plugin`), checks the range and adds them
  // times `weight` to `totals`.
  absl::Status AddNormalized(const CycleState& state, const ClusterSnapshot& snapshot,
                             absl::Span<const NodeIndex> feasible, const ScorePlugin& plugin,
                             int64_t weight, absl::Span<int64_t> scores,
                             absl::Span<int64_t> totals) const;

  std::vector<std::unique_ptr<Plugin>> owned_;
  std::vector<const PreFilterPlugin*> pre_filters_;
  std::vector<const FilterPlugin*> filters_;
  std::vector<std::pair<const ScorePlugin*, int64_t>> scorers_;
  const ReservePlugin* reserve_ = nullptr;
  int64_t max_total_ = 0;
  bool random_ties_ = true;
};

class SolverBuilder {
 public:
  // Registers `plugin` at every extension point it implements. `score_weight` (>= 1) applies if
  // it is a ScorePlugin.
  SolverBuilder& Add(std::unique_ptr<Plugin> plugin, int64_t score_weight = 1);
  // Random tie-breaking (kube-scheduler's default) or the first candidate in order.
  SolverBuilder& RandomTies(bool random) {
    random_ties_ = random;
    return *this;
  }
  // InvalidArgument unless exactly one ReservePlugin was added, weights are in 1..1000 and no
  // plugin was added twice.
  absl::StatusOr<std::unique_ptr<Solver>> Build() &&;

 private:
  std::vector<std::pair<std::unique_ptr<Plugin>, int64_t>> plugins_;
  bool random_ties_ = true;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_SOLVER_H_
