#include "plugins/framework/solver.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "topology/status_macros.h"

namespace accelsched::plugins {

absl::StatusOr<CycleState> Solver::PreFilter(const PodRequest& pod, const ClusterSnapshot& snapshot,
                                             bool explain, Rng* rng) const {
  ACCELSCHED_RETURN_IF_ERROR(pod.Validate());
  CycleState state;
  state.explain = explain;
  state.rng = rng;
  if (!pod.allowed_models.empty()) {
    state.allowed_models = 0;
    for (const std::string& m : pod.allowed_models) {
      int16_t index = snapshot.ModelIndex(m);
      if (index != kNoModel) {
        state.allowed_models |= uint64_t{1} << index;
      }
    }
  }
  for (const PreFilterPlugin* p : pre_filters_) {
    ACCELSCHED_RETURN_IF_ERROR(p->PreFilter(state, pod, snapshot));
  }
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (state.IsFilterSkipped(filters_[i])) {
      state.skipped_filters |= uint64_t{1} << i;
    }
  }
  return state;
}

absl::StatusOr<FilterVerdict> Solver::FilterNode(const CycleState& state, const PodRequest& pod,
                                                 const NodeInfo& node) const {
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (((state.skipped_filters >> i) & 1u) != 0) {
      continue;
    }
    ACCELSCHED_ASSIGN_OR_RETURN(FilterVerdict v, filters_[i]->Filter(state, pod, node));
    if (v.feasibility != Feasibility::kFeasible) {
      return v;
    }
  }
  return FilterVerdict::Feasible();
}

absl::StatusOr<CandidateVerdicts> Solver::Filter(const CycleState& state, const PodRequest& pod,
                                                 const ClusterSnapshot& snapshot,
                                                 absl::Span<const NodeIndex> candidates) const {
  CandidateVerdicts result;
  result.feasible.reserve(candidates.size());
  result.verdicts.reserve(candidates.size());
  for (NodeIndex i : candidates) {
    if (i < 0 || i >= snapshot.num_nodes()) {
      return absl::InvalidArgumentError(absl::StrCat("candidate node index ", i, " out of range"));
    }
    ACCELSCHED_ASSIGN_OR_RETURN(FilterVerdict v, FilterNode(state, pod, snapshot.node(i)));
    if (v.feasibility == Feasibility::kFeasible) {
      result.feasible.push_back(i);
    }
    result.verdicts.push_back(v);
  }
  return result;
}

absl::StatusOr<std::vector<int64_t>> Solver::Score(const CycleState& state, const PodRequest& pod,
                                                   const ClusterSnapshot& snapshot,
                                                   absl::Span<const NodeIndex> feasible) const {
  std::vector<int64_t> totals(feasible.size(), 0);
  std::vector<int64_t> scores(feasible.size());
  for (const auto& [plugin, weight] : scorers_) {
    std::fill(scores.begin(), scores.end(), 0);
    ACCELSCHED_RETURN_IF_ERROR(
        plugin->Score(state, pod, snapshot, feasible, absl::MakeSpan(scores)));
    ACCELSCHED_RETURN_IF_ERROR(AddNormalized(state, snapshot, feasible, *plugin, weight,
                                             absl::MakeSpan(scores), absl::MakeSpan(totals)));
  }
  return totals;
}

absl::Status Solver::AddNormalized(const CycleState& state, const ClusterSnapshot& snapshot,
                                   absl::Span<const NodeIndex> feasible, const ScorePlugin& plugin,
                                   int64_t weight, absl::Span<int64_t> scores,
                                   absl::Span<int64_t> totals) const {
  ACCELSCHED_RETURN_IF_ERROR(plugin.Normalize(state, scores));
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] < kMinScore || scores[i] > kMaxScore) {
      return absl::InternalError(absl::StrCat(
          "plugin ", std::string(plugin.Name()), " scored node ", snapshot.node(feasible[i]).name,
          " ", scores[i], ", outside [", kMinScore, ", ", kMaxScore, "]"));
    }
    totals[i] += scores[i] * weight;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Assignment>> Solver::Reserve(const CycleState& state,
                                                          const PodRequest& pod,
                                                          const ClusterSnapshot& snapshot,
                                                          NodeIndex node) const {
  if (node < 0 || node >= snapshot.num_nodes()) {
    return absl::InvalidArgumentError(absl::StrCat("node index ", node, " out of range"));
  }
  if (const GpuMask blocked = BlockedGpus(state, pod, snapshot.node(node)); blocked != 0) {
    ClusterState what_if(snapshot);
    ACCELSCHED_RETURN_IF_ERROR(what_if.BlockGpus(node, blocked));
    return reserve_->Reserve(state, pod, what_if.view(), node);
  }
  return reserve_->Reserve(state, pod, snapshot, node);
}

GpuMask Solver::BlockedGpus(const CycleState& state, const PodRequest& pod,
                            const NodeInfo& node) const {
  GpuMask blocked = 0;
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (((state.skipped_filters >> i) & 1u) == 0) {
      blocked |= filters_[i]->BlockedGpus(state, pod, node);
    }
  }
  return blocked;
}

bool Solver::FiltersMemoisable() const {
  return std::all_of(filters_.begin(), filters_.end(),
                     [](const FilterPlugin* f) { return f->VerdictIsMemoisable(); });
}

int Solver::SelectBest(absl::Span<const int64_t> totals, Rng* rng) {
  int best = -1;
  int64_t tied = 0;
  for (size_t i = 0; i < totals.size(); ++i) {
    if (best < 0 || totals[i] > totals[static_cast<size_t>(best)]) {
      best = static_cast<int>(i);
      tied = 1;
    } else if (totals[i] == totals[static_cast<size_t>(best)] && rng != nullptr) {
      // Reservoir sampling: the i-th tie replaces the choice with probability 1/tied.
      ++tied;
      if (std::uniform_int_distribution<int64_t>(0, tied - 1)(*rng) == 0) {
        best = static_cast<int>(i);
      }
    }
  }
  return best;
}

absl::StatusOr<Placement> Solver::Place(const PodRequest& pod, const ClusterSnapshot& snapshot,
                                        Rng* rng, bool explain,
                                        absl::Span<const NodeIndex> candidates) const {
  std::vector<NodeIndex> all;
  if (candidates.empty()) {
    all.resize(static_cast<size_t>(snapshot.num_nodes()));
    std::iota(all.begin(), all.end(), 0);
    candidates = all;
  }
  ACCELSCHED_ASSIGN_OR_RETURN(CycleState state, PreFilter(pod, snapshot, explain, rng));
  ACCELSCHED_ASSIGN_OR_RETURN(CandidateVerdicts filtered, Filter(state, pod, snapshot, candidates));
  Placement placement;
  placement.feasible_nodes = static_cast<int>(filtered.feasible.size());
  if (filtered.feasible.empty()) {
    if (explain) {
      // Group identical reasons: "3 nodes: insufficient GPU; 1 node: GPU model".
      absl::flat_hash_map<std::string, int> counts;
      std::vector<std::string> order;
      for (const FilterVerdict& verdict : filtered.verdicts) {
        if (verdict.feasibility == Feasibility::kFeasible) {
          continue;
        }
        std::string reason(verdict.reason);
        if (counts[reason]++ == 0) {
          order.push_back(std::move(reason));
        }
      }
      std::vector<std::string> parts;
      parts.reserve(order.size());
      for (const std::string& r : order) {
        parts.push_back(absl::StrCat(counts[r], counts[r] == 1 ? " node: " : " nodes: ", r));
      }
      placement.reason = parts.empty() ? "no candidate nodes" : absl::StrJoin(parts, "; ");
    }
    return placement;
  }
  ACCELSCHED_ASSIGN_OR_RETURN(std::vector<int64_t> totals,
                              Score(state, pod, snapshot, filtered.feasible));
  const int best = SelectBest(totals, random_ties_ ? rng : nullptr);
  const NodeIndex node = filtered.feasible[static_cast<size_t>(best)];
  ACCELSCHED_ASSIGN_OR_RETURN(placement.assignment, Reserve(state, pod, snapshot, node));
  if (!placement.assignment.has_value()) {
    return absl::InternalError(absl::StrCat("node ", snapshot.node(node).name,
                                            " passed every filter but reserve found no devices"));
  }
  placement.score = totals[static_cast<size_t>(best)];
  return placement;
}

std::vector<std::pair<std::string, int64_t>> Solver::Describe() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& p : owned_) {
    int64_t weight = 0;
    for (const auto& [s, w] : scorers_) {
      if (s == dynamic_cast<const ScorePlugin*>(p.get())) {
        weight = w;
      }
    }
    out.emplace_back(std::string(p->Name()), weight);
  }
  return out;
}

SolverBuilder& SolverBuilder::Add(std::unique_ptr<Plugin> plugin, int64_t score_weight) {
  plugins_.emplace_back(std::move(plugin), score_weight);
  return *this;
}

absl::StatusOr<std::unique_ptr<Solver>> SolverBuilder::Build() && {
  std::unique_ptr<Solver> solver(new Solver());
  solver->random_ties_ = random_ties_;
  for (auto& [plugin, weight] : plugins_) {
    if (plugin == nullptr) {
      return absl::InvalidArgumentError("null plugin");
    }
    for (const auto& owned : solver->owned_) {
      if (owned->Name() == plugin->Name()) {
        return absl::InvalidArgumentError(
            absl::StrCat("plugin ", std::string(plugin->Name()), " added twice"));
      }
    }
    if (auto* p = dynamic_cast<const PreFilterPlugin*>(plugin.get())) {
      solver->pre_filters_.push_back(p);
    }
    if (auto* p = dynamic_cast<const FilterPlugin*>(plugin.get())) {
      solver->filters_.push_back(p);
    }
    if (auto* p = dynamic_cast<const ScorePlugin*>(plugin.get())) {
      if (weight < 1 || weight > 1000) {
        return absl::InvalidArgumentError(absl::StrCat("plugin ", std::string(plugin->Name()),
                                                       ": score weight ", weight,
                                                       " is outside 1..1000"));
      }
      solver->scorers_.emplace_back(p, weight);
      solver->max_total_ += kMaxScore * weight;
    }
    if (auto* p = dynamic_cast<const ReservePlugin*>(plugin.get())) {
      if (solver->reserve_ != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("two reserve plugins: ", std::string(solver->reserve_->Name()), " and ",
                         std::string(plugin->Name())));
      }
      solver->reserve_ = p;
    }
    solver->owned_.push_back(std::move(plugin));
  }
  if (solver->reserve_ == nullptr) {
    return absl::InvalidArgumentError("no reserve plugin");
  }
  if (solver->filters_.size() > 64) {  // CycleState::skipped_filters has a bit per filter.
    return absl::InvalidArgumentError("more than 64 filter plugins");
  }
  plugins_.clear();
  return solver;
}

}  // namespace accelsched::plugins
