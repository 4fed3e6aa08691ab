// The plugin interfaces and the per-cycle scratchpad (STYLE snippet (a), after the Kubernetes
// scheduler framework): one small interface per extension point.
//
//   PreFilter  once per pod and cycle: parse constraints, precompute into CycleState.
//   Filter     per candidate node: Feasible | Unschedulable(reason) | Unresolvable(reason).
//   Score      per cycle over the feasible nodes (batched: one virtual call per plugin, so a
//              plugin reads its cycle state once), then Normalize onto [kMinScore, kMaxScore].
//   Reserve    on the chosen node: the exact devices (GPU indices, share, MIG start). It decides
//              only; ClusterState / the ledger commits.
//
// A non-OK Status from any method is an internal error (the call failed), never "does not fit".
//
// Thread-safety: plugins are immutable after construction and every method is const, so one
// plugin instance serves concurrent cycles. A CycleState belongs to one cycle on one thread.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_PLUGIN_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_PLUGIN_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "plugins/framework/verdict.h"

namespace accelsched::plugins {

// The solver's random source: seeded by the caller, reproducible across platforms.
using Rng = std::mt19937_64;

class Plugin;

// Base of a plugin's private per-cycle data.
class StateData {
 public:
  virtual ~StateData() = default;

 protected:
  // Copyable and movable only as part of a derived class (no slicing).
  StateData() = default;
  StateData(const StateData&) = default;
  StateData& operator=(const StateData&) = default;
  StateData(StateData&&) = default;
  StateData& operator=(StateData&&) = default;
};

// Per-cycle scratchpad. The framework fills the public fields before PreFilter plugins run;
// each plugin may keep one typed slot, keyed by the plugin itself.
class CycleState {
 public:
  // Bit m set: GPU model index m (ClusterSnapshot::models()) is acceptable to the pod.
  uint64_t allowed_models = ~uint64_t{0};
  // Build human-readable reasons for infeasible nodes. The simulator turns it off: a verdict's
  // reason may then be empty.
  bool explain = true;
  // Random source for plugins that need one (the random baseline); may be null, in which case
  // such plugins fall back to a deterministic choice.
  Rng* rng = nullptr;

  // Called by a PreFilter plugin that will not object to this pod anywhere: the Solver then does
  // not call its Filter or BlockedGpus this cycle (as a Kubernetes PreFilter returns Skip).
  void SkipFilter(const Plugin* owner) { skipped_.push_back(owner); }
  bool IsFilterSkipped(const Plugin* owner) const {
    return std::find(skipped_.begin(), skipped_.end(), owner) != skipped_.end();
  }
  // Set by the Solver after PreFilter: bit i set means its i-th filter is skipped.
  uint64_t skipped_filters = 0;

  void Write(const Plugin* owner, std::unique_ptr<StateData> data) {
    for (auto& [key, value] : slots_) {
      if (key == owner) {
        value = std::move(data);
        return;
      }
    }
    slots_.emplace_back(owner, std::move(data));
  }
  // The owner's data as T, or null if it wrote none (or data of another type).
  template <typename T>
  const T* Read(const Plugin* owner) const {
    for (const auto& [key, value] : slots_) {
      if (key == owner) {
        return dynamic_cast<const T*>(value.get());
      }
    }
    return nullptr;
  }

  // The reason text for `key` (a small code chosen by the caller, e.g. a FitCode), made by
  // `build()` the first time it is asked for in this cycle and shared by every later verdict:
  // thousands of failing nodes then point at a handful of strings. The view stays valid while
  // this CycleState lives, also across moves. Const because filters see a const CycleState; the
  // cache is safe because a CycleState belongs to one thread. Keys below kFitReasonKeys are
  // CheckFit's (fit.h), except kGpuHealthReasonKey (the GPU health filter's); the tenancy plugin
  // uses the keys from kFitReasonKeys up.
  static constexpr int kFitReasonKeys = 64;
  static constexpr int kGpuHealthReasonKey = kFitReasonKeys - 1;
  template <typename Build>
  std::string_view Reason(int key, Build&& build) const {
    const size_t k = static_cast<size_t>(key);
    if (k >= reasons_.size()) {
      reasons_.resize(k + 1);
    }
    if (reasons_[k] == nullptr) {
      reasons_[k] = std::make_unique<const std::string>(build());
    }
    return *reasons_[k];
  }

 private:
  std::vector<std::pair<const Plugin*, std::unique_ptr<StateData>>> slots_;
  std::vector<const Plugin*> skipped_;
  mutable std::vector<std::unique_ptr<const std::string>> reasons_;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  // The plugin's name from plugins/names.h.
  virtual std::string_view Name() const = 0;

 protected:
  // Copyable and movable only as part of a derived class (no slicing).
  Plugin() = default;
  Plugin(const Plugin&) = default;
  Plugin& operator=(const Plugin&) = default;
  Plugin(Plugin&&) = default;
  Plugin& operator=(Plugin&&) = default;
};

class PreFilterPlugin : public virtual Plugin {
 public:
  // Called once per cycle before any Filter/Score/Reserve of this plugin.
  virtual absl::Status PreFilter(CycleState& state, const PodRequest& pod,
                                 const ClusterSnapshot& snapshot) const = 0;
};

class FilterPlugin : public virtual Plugin {
 public:
  // Looks only at `node`.
  virtual absl::StatusOr<FilterVerdict> Filter(const CycleState& state, const PodRequest& pod,
                                               const NodeInfo& node) const = 0;
  // GPUs of feasible `node` that the pod may not take although they are free (tenancy: GPUs
  // another tenant shares). Solver::Reserve hides them from the Reserve plugin.
  virtual GpuMask BlockedGpus(const CycleState& /*state*/, const PodRequest& /*pod*/,
                              const NodeInfo& /*node*/) const {
    return 0;
  }
  // True if the verdict (and BlockedGpus) depend only on the pod request (PodRequest equality,
  // its `name` aside), on the node (NodeInfo) and on a CycleState that depends only on the pod
  // and on the snapshot's layout and tenant table: then SolverMemo may keep a node's verdict
  // while the node's version is unchanged (as Kubernetes lets a plugin sign a pod for its
  // scheduling-result cache). False, the default, makes the memo ask every filter every time,
  // so a new plugin cannot silently break memo correctness.
  virtual bool VerdictIsMemoisable() const { return false; }
};

class ScorePlugin : public virtual Plugin {
 public:
  // Raw scores of `nodes` (all feasible) into `scores` (same length).
  virtual absl::Status Score(const CycleState& state, const PodRequest& pod,
                             const ClusterSnapshot& snapshot, absl::Span<const NodeIndex> nodes,
                             absl::Span<int64_t> scores) const = 0;
  // True if the raw score of a node depends only on the CycleState, the pod and that node: not on
  // the other nodes scored with it nor on the random source. SolverMemo then keeps raw scores per
  // node across cycles (Normalize still sees the whole set). False (the default) means the plugin
  // is asked every time.
  virtual bool ScoresEachNodeAlone() const { return false; }
  // Maps raw scores onto [kMinScore, kMaxScore] in place; the Solver checks the range.
  virtual absl::Status Normalize(const CycleState& /*state*/,
                                 absl::Span<int64_t> /*scores*/) const {
    return absl::OkStatus();
  }
};

// Integer min-max scaling of raw scores onto [kMinScore, kMaxScore] (larger raw is better), as
// the FGD artifact's normalising plugins do; every score becomes `when_equal` if all are equal.
inline void MinMaxNormalize(absl::Span<int64_t> scores, int64_t when_equal) {
  if (scores.empty()) {
    return;
  }
  const auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
  const int64_t lowest = *lo;
  const int64_t highest = *hi;
  for (int64_t& s : scores) {
    s = highest == lowest ? when_equal
                          : kMinScore + (s - lowest) * (kMaxScore - kMinScore) / (highest - lowest);
  }
}

class ReservePlugin : public virtual Plugin {
 public:
  // The exact devices the pod gets on `node`, or nullopt if it cannot be hosted there.
  virtual absl::StatusOr<std::optional<Assignment>> Reserve(const CycleState& state,
                                                            const PodRequest& pod,
                                                            const ClusterSnapshot& snapshot,
                                                            NodeIndex node) const = 0;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_PLUGIN_H_
