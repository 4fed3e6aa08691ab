#include "plugins/framework/memo.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::plugins {

struct SolverMemo::Entry {
  PodRequest shape;        // The pod request with its name cleared.
  uint64_t last_used = 0;  // Guarded by SolverMemo::mu_.

  absl::Mutex mu;
  uint64_t layout ABSL_GUARDED_BY(mu) = 0;   // 0: not prepared yet.
  uint64_t tenants ABSL_GUARDED_BY(mu) = 0;  // TenantTable::version it was prepared for.
  std::shared_ptr<const CycleState> state ABSL_GUARDED_BY(mu);
  // Per node index; a version of 0 (never handed out) means "not known".
  std::vector<uint64_t> filter_version ABSL_GUARDED_BY(mu);
  std::vector<FilterVerdict> verdict ABSL_GUARDED_BY(mu);
  std::vector<uint64_t> score_version ABSL_GUARDED_BY(mu);
  std::vector<int64_t> raw ABSL_GUARDED_BY(mu);  // [node * slots + slot].

  // Makes the entry describe `snapshot`'s layout and tenant table: PreFilter and empty per-node
  // arrays, unless it already does. True if it had to.
  absl::StatusOr<bool> Prepare(const Solver& solver, size_t slots, const PodRequest& pod,
                               const ClusterSnapshot& snapshot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (layout == snapshot.layout() && tenants == snapshot.tenants().version && state != nullptr) {
      return false;
    }
    ACCELSCHED_ASSIGN_OR_RETURN(CycleState s,
                                solver.PreFilter(pod, snapshot, /*explain=*/true, /*rng=*/nullptr));
    state = std::make_shared<const CycleState>(std::move(s));
    const size_t n = static_cast<size_t>(snapshot.num_nodes());
    filter_version.assign(n, 0);
    verdict.assign(n, FilterVerdict());
    score_version.assign(n, 0);
    raw.assign(n * slots, 0);
    layout = snapshot.layout();
    tenants = snapshot.tenants().version;
    return true;
  }
};

namespace {

PodRequest ShapeOf(const PodRequest& pod) {
  PodRequest shape = pod;
  shape.name.clear();
  return shape;
}

}  // namespace

SolverMemo::SolverMemo(const Solver* solver, int max_shapes)
    : solver_(solver),
      max_shapes_(std::max(0, max_shapes)),
      filters_memoisable_(solver->FiltersMemoisable()) {
  for (size_t j = 0; j < solver_->scorers_.size(); ++j) {
    if (solver_->scorers_[j].first->ScoresEachNodeAlone()) {
      alone_index_.push_back(static_cast<int>(alone_.size()));
      alone_.push_back(j);
    } else {
      alone_index_.push_back(-1);
    }
  }
}

std::shared_ptr<SolverMemo::Entry> SolverMemo::EntryFor(const PodRequest& pod) {
  PodRequest shape = ShapeOf(pod);
  absl::MutexLock lock(&mu_);
  ++tick_;
  for (const std::shared_ptr<Entry>& e : entries_) {
    if (e->shape == shape) {
      e->last_used = tick_;
      return e;
    }
  }
  if (static_cast<int>(entries_.size()) >= max_shapes_) {
    auto oldest =
        std::min_element(entries_.begin(), entries_.end(),
                         [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
    entries_.erase(oldest);  // A caller still using it keeps it alive until it is done.
  }
  auto e = std::make_shared<Entry>();
  e->shape = std::move(shape);
  e->last_used = tick_;
  entries_.push_back(e);
  return e;
}

absl::StatusOr<SolverMemo::FilterOutcome> SolverMemo::Filter(
    const PodRequest& pod, const ClusterSnapshot& snapshot,
    absl::Span<const NodeIndex> candidates) {
  FilterOutcome out;
  if (max_shapes_ == 0) {
    ACCELSCHED_ASSIGN_OR_RETURN(CycleState state,
                                solver_->PreFilter(pod, snapshot, /*explain=*/true, nullptr));
    out.state = std::make_shared<const CycleState>(std::move(state));
    ACCELSCHED_ASSIGN_OR_RETURN(out.verdicts,
                                solver_->Filter(*out.state, pod, snapshot, candidates));
    return out;
  }
  std::shared_ptr<Entry> entry = EntryFor(pod);
  Entry& e = *entry;
  absl::MutexLock lock(&e.mu);
  ACCELSCHED_ASSIGN_OR_RETURN(const bool built, e.Prepare(*solver_, alone_.size(), pod, snapshot));
  if (built) {
    shapes_built_.fetch_add(1, std::memory_order_relaxed);
  }
  out.state = e.state;
  out.verdicts.feasible.reserve(candidates.size());
  out.verdicts.verdicts.reserve(candidates.size());
  uint64_t misses = 0;
  for (NodeIndex i : candidates) {
    if (i < 0 || i >= snapshot.num_nodes()) {
      return absl::InvalidArgumentError(absl::StrCat("candidate node index ", i, " out of range"));
    }
    const size_t k = static_cast<size_t>(i);
    const NodeInfo& node = snapshot.node(i);
    const uint64_t version = snapshot.node_version(i);
    if (e.filter_version[k] != version || !filters_memoisable_) {
      ACCELSCHED_ASSIGN_OR_RETURN(e.verdict[k], solver_->FilterNode(*e.state, pod, node));
      e.filter_version[k] = version;
      ++misses;
    }
    const FilterVerdict& v = e.verdict[k];
    if (v.feasibility == Feasibility::kFeasible) {
      out.verdicts.feasible.push_back(i);
    }
    out.verdicts.verdicts.push_back(v);
  }
  filter_misses_.fetch_add(misses, std::memory_order_relaxed);
  filter_hits_.fetch_add(candidates.size() - misses, std::memory_order_relaxed);
  return out;
}

absl::StatusOr<std::vector<int64_t>> SolverMemo::Score(const FilterOutcome& filtered,
                                                       const PodRequest& pod,
                                                       const ClusterSnapshot& snapshot,
                                                       absl::Span<const NodeIndex> feasible) {
  if (max_shapes_ == 0 || alone_.empty()) {
    return solver_->Score(*filtered.state, pod, snapshot, feasible);
  }
  std::shared_ptr<Entry> entry = EntryFor(pod);
  Entry& e = *entry;
  absl::MutexLock lock(&e.mu);
  ACCELSCHED_ASSIGN_OR_RETURN(const bool built, e.Prepare(*solver_, alone_.size(), pod, snapshot));
  if (built) {
    shapes_built_.fetch_add(1, std::memory_order_relaxed);
  }
  const CycleState& state = *e.state;
  const size_t slots = alone_.size();
  // Raw scores of the nodes that changed since they were last scored, one batch per plugin.
  std::vector<NodeIndex> stale;
  for (NodeIndex i : feasible) {
    if (i < 0 || i >= snapshot.num_nodes()) {
      return absl::InvalidArgumentError(absl::StrCat("feasible node index ", i, " out of range"));
    }
    if (e.score_version[static_cast<size_t>(i)] != snapshot.node_version(i)) {
      stale.push_back(i);
    }
  }
  if (!stale.empty()) {
    std::vector<int64_t> raw(stale.size());
    for (size_t slot = 0; slot < slots; ++slot) {
      std::fill(raw.begin(), raw.end(), 0);
      ACCELSCHED_RETURN_IF_ERROR(solver_->scorers_[alone_[slot]].first->Score(
          state, pod, snapshot, stale, absl::MakeSpan(raw)));
      for (size_t s = 0; s < stale.size(); ++s) {
        e.raw[static_cast<size_t>(stale[s]) * slots + slot] = raw[s];
      }
    }
    for (NodeIndex i : stale) {
      e.score_version[static_cast<size_t>(i)] = snapshot.node_version(i);
    }
  }
  score_misses_.fetch_add(stale.size(), std::memory_order_relaxed);
  score_hits_.fetch_add(feasible.size() - stale.size(), std::memory_order_relaxed);

  std::vector<int64_t> totals(feasible.size(), 0);
  std::vector<int64_t> scores(feasible.size());
  for (size_t j = 0; j < solver_->scorers_.size(); ++j) {
    const auto& [plugin, weight] = solver_->scorers_[j];
    const int slot = alone_index_[j];
    if (slot >= 0) {
      for (size_t k = 0; k < feasible.size(); ++k) {
        scores[k] = e.raw[static_cast<size_t>(feasible[k]) * slots + static_cast<size_t>(slot)];
      }
    } else {
      std::fill(scores.begin(), scores.end(), 0);
      ACCELSCHED_RETURN_IF_ERROR(
          plugin->Score(state, pod, snapshot, feasible, absl::MakeSpan(scores)));
    }
    ACCELSCHED_RETURN_IF_ERROR(solver_->AddNormalized(state, snapshot, feasible, *plugin, weight,
                                                      absl::MakeSpan(scores),
                                                      absl::MakeSpan(totals)));
  }
  return totals;
}

SolverMemo::Stats SolverMemo::stats() const {
  Stats s;
  s.filter_hits = filter_hits_.load(std::memory_order_relaxed);
  s.filter_misses = filter_misses_.load(std::memory_order_relaxed);
  s.score_hits = score_hits_.load(std::memory_order_relaxed);
  s.score_misses = score_misses_.load(std::memory_order_relaxed);
  s.shapes_built = shapes_built_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace accelsched::plugins
