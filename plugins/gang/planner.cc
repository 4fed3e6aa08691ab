#include "plugins/gang/planner.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <numeric>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

#include "plugins/framework/fit.h"
#include "topology/status_macros.h"

namespace accelsched::plugins {
namespace {

int FreeWholeGpus(const NodeInfo& n) { return std::popcount(n.WholeFreeGpus()); }

PodRequest Nameless(const PodRequest& p) {
  PodRequest q = p;
  q.name.clear();
  return q;
}

// Places the members (in `order`) on the nodes of one domain, starting from `base`.
class DomainPacker {
 public:
  // `rank`: per node, its sub-domain's place in the packing order (lower first), or empty.
  DomainPacker(const Solver& solver, const ClusterSnapshot& base, const GangSpec& gang,
               const std::vector<CycleState>& states, const std::vector<size_t>& order,
               const std::vector<NodeIndex>& nodes, const std::vector<int>& rank, int64_t budget)
      : solver_(solver),
        gang_(gang),
        states_(states),
        order_(order),
        nodes_(nodes),
        rank_(rank),
        budget_(budget),
        work_(base) {
    same_as_previous_.assign(order_.size(), false);
    for (size_t k = 1; k < order_.size(); ++k) {
      same_as_previous_[k] =
          Nameless(gang_.members[order_[k]]) == Nameless(gang_.members[order_[k - 1]]);
    }
  }

  // Slots per member (GangSpec order), or nullopt.
  absl::StatusOr<std::optional<std::vector<Assignment>>> Pack() {
    std::vector<Assignment> slots(gang_.members.size());
    ACCELSCHED_ASSIGN_OR_RETURN(bool greedy, Greedy(slots));
    if (greedy) {
      return std::optional<std::vector<Assignment>>(std::move(slots));
    }
    if (budget_ <= 0 || GreedyIsExact()) {
      return std::optional<std::vector<Assignment>>();
    }
    ClusterState fresh(base_copy_);
    std::swap(work_, fresh);
    std::vector<NodeIndex> chosen(order_.size(), -1);
    ACCELSCHED_ASSIGN_OR_RETURN(bool found, Search(0, chosen, slots));
    if (found) {
      return std::optional<std::vector<Assignment>>(std::move(slots));
    }
    return std::optional<std::vector<Assignment>>();
  }

  bool BudgetExhausted() const { return exhausted_; }

 private:
  // One shape and no device-set constraint: each placement uses one of a node's independent
  // member slots, so best fit places as many as any order would.
  bool GreedyIsExact() const {
    for (size_t k = 1; k < order_.size(); ++k) {
      if (!same_as_previous_[k]) {
        return false;
      }
    }
    const PodRequest& p = gang_.members[order_.front()];
    return p.nvlink == TopologyPreference::kNone && !p.require_close_nic && !p.require_same_numa;
  }

  absl::StatusOr<bool> Fits(size_t m, NodeIndex n) const {
    ACCELSCHED_ASSIGN_OR_RETURN(
        FilterVerdict v, solver_.FilterNode(states_[m], gang_.members[m], work_.view().node(n)));
    return v.feasibility == Feasibility::kFeasible;
  }

  absl::StatusOr<bool> Place(size_t m, NodeIndex n, std::vector<Assignment>& slots) {
    ACCELSCHED_ASSIGN_OR_RETURN(std::optional<Assignment> a,
                                solver_.Reserve(states_[m], gang_.members[m], work_.view(), n));
    if (!a.has_value() || !work_.Apply(*a).ok()) {
      return false;
    }
    slots[m] = *a;
    return true;
  }

  int Rank(NodeIndex n) const { return rank_.empty() ? 0 : rank_[static_cast<size_t>(n)]; }

  // Largest first, each on the fitting node of the first sub-domain in rank order with the fewest
  // free whole GPUs. Within a run of one shape, nodes are filtered once and then only the node
  // that took a member is filtered again.
  absl::StatusOr<bool> Greedy(std::vector<Assignment>& slots) {
    base_copy_ = work_.view();
    // (sub-domain rank, free whole GPUs, node) of the nodes that fit the current run.
    std::set<std::tuple<int, int, NodeIndex>> fitting;
    for (size_t k = 0; k < order_.size(); ++k) {
      const size_t m = order_[k];
      if (k == 0 || !same_as_previous_[k]) {
        fitting.clear();
        for (NodeIndex n : nodes_) {
          ACCELSCHED_ASSIGN_OR_RETURN(bool fits, Fits(m, n));
          if (fits) {
            fitting.emplace(Rank(n), FreeWholeGpus(work_.view().node(n)), n);
          }
        }
      }
      if (fitting.empty()) {
        return false;
      }
      const NodeIndex best = std::get<2>(*fitting.begin());
      fitting.erase(fitting.begin());
      ACCELSCHED_ASSIGN_OR_RETURN(bool placed, Place(m, best, slots));
      if (!placed) {
        return false;
      }
      ACCELSCHED_ASSIGN_OR_RETURN(bool still, Fits(m, best));
      if (still) {
        fitting.emplace(Rank(best), FreeWholeGpus(work_.view().node(best)), best);
      }
    }
    return true;
  }

  absl::StatusOr<bool> Search(size_t k, std::vector<NodeIndex>& chosen,
                              std::vector<Assignment>& slots) {
    if (k == order_.size()) {
      return true;
    }
    const size_t m = order_[k];
    for (size_t j = 0; j < nodes_.size(); ++j) {
      const NodeIndex n = nodes_[j];
      // Members of one shape are interchangeable: keep their nodes in non-decreasing order.
      if (same_as_previous_[k] && n < chosen[k - 1]) {
        continue;
      }
      if (--budget_ < 0) {
        exhausted_ = true;
        return false;
      }
      ACCELSCHED_ASSIGN_OR_RETURN(bool fits, Fits(m, n));
      if (!fits) {
        continue;
      }
      ACCELSCHED_ASSIGN_OR_RETURN(bool placed, Place(m, n, slots));
      if (!placed) {
        continue;
      }
      chosen[k] = n;
      ACCELSCHED_ASSIGN_OR_RETURN(bool done, Search(k + 1, chosen, slots));
      if (done) {
        return true;
      }
      if (!work_.Release(slots[m]).ok()) {
        return absl::InternalError("gang search: release failed");
      }
      if (exhausted_) {
        return false;
      }
    }
    return false;
  }

  const Solver& solver_;
  const GangSpec& gang_;
  const std::vector<CycleState>& states_;
  const std::vector<size_t>& order_;
  const std::vector<NodeIndex>& nodes_;
  const std::vector<int>& rank_;
  int64_t budget_;
  bool exhausted_ = false;
  ClusterState work_;
  ClusterSnapshot base_copy_;
  std::vector<bool> same_as_previous_;
};

// Rail alignment: the first GPU set S (lowest mask) such that enough domain nodes can give every
// member exactly S; members go to those nodes, fewest free GPUs first.
absl::StatusOr<std::optional<std::vector<Assignment>>> PackRailAligned(
    const Solver& solver, const ClusterSnapshot& base, const GangSpec& gang,
    const std::vector<CycleState>& states, const std::vector<NodeIndex>& nodes) {
  const int k = gang.members.front().gpu_count;
  int max_gpus = 0;
  for (NodeIndex n : nodes) {
    max_gpus = std::max<int>(max_gpus, base.node(n).gpu_count);
  }
  for (GpuMask s = 1; s < (GpuMask{1} << max_gpus); ++s) {
    if (std::popcount(s) != k) {
      continue;
    }
    std::vector<std::pair<int, NodeIndex>> hosts;  // (free whole GPUs, node)
    for (NodeIndex n : nodes) {
      const NodeInfo& info = base.node(n);
      if ((info.WholeFreeGpus() & s) != s) {
        continue;
      }
      if (gang.members.front().nvlink == TopologyPreference::kRequired &&
          info.topology != nullptr && info.topology->nvlink_ring[s] == 0) {
        continue;
      }
      ACCELSCHED_ASSIGN_OR_RETURN(FilterVerdict v,
                                  solver.FilterNode(states.front(), gang.members.front(), info));
      if (v.feasibility == Feasibility::kFeasible) {
        hosts.emplace_back(FreeWholeGpus(info), n);
      }
    }
    if (hosts.size() < gang.members.size()) {
      continue;
    }
    std::stable_sort(hosts.begin(), hosts.end());
    std::vector<Assignment> slots;
    for (size_t m = 0; m < gang.members.size(); ++m) {
      Assignment a = BaseAssignment(gang.members[m], hosts[m].second);
      a.gpus = s;
      slots.push_back(a);
    }
    return std::optional<std::vector<Assignment>>(std::move(slots));
  }
  return std::optional<std::vector<Assignment>>();
}

// The packing order of the nodes of a domain at `level` >= 2 by their sub-domains. Nodes are
// grouped by their domains at levels level-1 .. 1 (e.g. block and rack; a missing label is a
// domain of its own); each node gets the rank of its group when the groups are sorted by (free
// whole GPUs of the level-1 domain, its index, ..., free whole GPUs of the level-1 domain, its
// index), fullest first, unlabelled last. Empty below level 2 (a domain at level 1 has no
// sub-domains to order).
std::vector<int> SubDomainRanks(const NetworkDomains& domains, const ClusterSnapshot& snapshot,
                                int level, const std::vector<NodeIndex>& nodes) {
  std::vector<int> rank;
  if (level < 2) {
    return rank;
  }
  // Free whole GPUs per domain at each sub-level 1..level-1.
  std::vector<std::vector<int64_t>> free(static_cast<size_t>(level));
  for (int lv = 1; lv < level; ++lv) {
    free[static_cast<size_t>(lv)].assign(domains.at(lv).size(), 0);
  }
  // The group of each node (its domains at every sub-level), and one node of each group.
  absl::flat_hash_map<uint64_t, int> group_of_pair;
  std::vector<int> group(static_cast<size_t>(snapshot.num_nodes()), 0);
  std::vector<NodeIndex> member;
  for (NodeIndex n : nodes) {
    const int gpus = FreeWholeGpus(snapshot.node(n));
    uint64_t g = 0;
    for (int lv = level - 1; lv >= 1; --lv) {
      const int d = domains.domain_of(lv, n);
      if (d >= 0) {
        free[static_cast<size_t>(lv)][static_cast<size_t>(d)] += gpus;
      }
      const uint64_t pair = (g << 32) | static_cast<uint32_t>(d + 1);
      auto [it, inserted] = group_of_pair.try_emplace(pair, static_cast<int>(group_of_pair.size()));
      g = static_cast<uint64_t>(it->second);
    }
    if (g >= member.size()) {
      member.resize(g + 1, -1);
    }
    if (member[g] < 0) {
      member[g] = n;
    }
    group[static_cast<size_t>(n)] = static_cast<int>(g);
  }
  struct Group {
    std::vector<int64_t> key;
    size_t id;
  };
  std::vector<Group> groups;
  for (size_t g = 0; g < member.size(); ++g) {
    if (member[g] < 0) {
      continue;  // An intermediate pair, not a node's full group.
    }
    Group entry{{}, g};
    for (int lv = level - 1; lv >= 1; --lv) {
      const int d = domains.domain_of(lv, member[g]);
      entry.key.push_back(d < 0 ? std::numeric_limits<int64_t>::max()
                                : free[static_cast<size_t>(lv)][static_cast<size_t>(d)]);
      entry.key.push_back(d);
    }
    groups.push_back(std::move(entry));
  }
  std::sort(groups.begin(), groups.end(),
            [](const Group& a, const Group& b) { return a.key < b.key; });
  std::vector<int> group_rank(member.size(), 0);
  for (size_t i = 0; i < groups.size(); ++i) {
    group_rank[groups[i].id] = static_cast<int>(i);
  }
  rank.assign(static_cast<size_t>(snapshot.num_nodes()), 0);
  for (NodeIndex n : nodes) {
    rank[static_cast<size_t>(n)] = group_rank[static_cast<size_t>(group[static_cast<size_t>(n)])];
  }
  return rank;
}

// Why the request cannot be planned at all (InvalidArgument), or OK.
absl::Status ValidateGang(const ClusterSnapshot& snapshot, const NetworkDomains& domains,
                          const GangSpec& gang) {
  if (domains.layout() != snapshot.layout()) {
    return absl::InvalidArgumentError(
        "network domains were built for another cluster layout (rebuild them)");
  }
  if (gang.members.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("gang ", gang.name, ": no members"));
  }
  for (NodeIndex a : gang.anchors) {
    if (a < 0 || a >= snapshot.num_nodes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gang ", gang.name, ": anchor node index ", a, " is not in the snapshot"));
    }
  }
  const int levels = static_cast<int>(domains.keys().size());
  if (gang.mode != NetworkMode::kNone && (gang.level < 0 || gang.level >= levels)) {
    return absl::InvalidArgumentError(absl::StrCat("gang ", gang.name, ": network level ",
                                                   gang.level, " is outside 0..", levels - 1));
  }
  if (gang.rail_aligned) {
    for (const PodRequest& m : gang.members) {
      if (!m.WantsWholeGpus() || m.gpu_count != gang.members.front().gpu_count) {
        return absl::InvalidArgumentError(
            absl::StrCat("gang ", gang.name,
                         ": rail alignment needs every member to ask for the same number of "
                         "whole GPUs"));
      }
    }
  }
  return absl::OkStatus();
}

// Member indices, largest first: whole GPUs, then share, then CPU (stable).
std::vector<size_t> LargestFirst(const std::vector<PodRequest>& members) {
  std::vector<size_t> order(members.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const PodRequest& x = members[a];
    const PodRequest& y = members[b];
    if (x.gpu_count != y.gpu_count) {
      return x.gpu_count > y.gpu_count;
    }
    if (x.gpu_milli != y.gpu_milli) {
      return x.gpu_milli > y.gpu_milli;
    }
    return x.cpu_milli > y.cpu_milli;
  });
  return order;
}

// What PlanGang's search over the domains shares: its inputs (borrowed), the members' cycle
// states and packing order, and what the no-plan reason reports.
struct GangSearch {
  const Solver& solver;
  const ClusterSnapshot& snapshot;
  const NetworkDomains& domains;
  const GangSpec& gang;
  const GangPlannerOptions& options;
  std::vector<CycleState> states;   // Per member.
  std::vector<size_t> order;        // LargestFirst.
  int64_t gang_gpus = 0;            // Whole GPUs of all members.
  bool exhausted = false;           // Some DomainPacker ran out of its step budget.
  int64_t best_free_anywhere = -1;  // Most free whole GPUs in one domain of the widest level.
};

// True if domain `index` of `level` holds every member already bound (the whole cluster,
// level == number of keys, holds them all).
bool HoldsAnchors(const GangSearch& search, int level, size_t index) {
  const int levels = static_cast<int>(search.domains.keys().size());
  bool holds_anchors = true;
  for (NodeIndex a : search.gang.anchors) {
    holds_anchors = holds_anchors && (level == levels || search.domains.domain_of(level, a) ==
                                                             static_cast<int>(index));
  }
  return holds_anchors;
}

// Every member's slot on `nodes` (one domain at `level`), or nullopt if they do not all fit.
absl::StatusOr<std::optional<std::vector<Assignment>>> PackDomain(
    GangSearch& search, int level, const std::vector<NodeIndex>& nodes) {
  if (search.gang.rail_aligned) {
    return PackRailAligned(search.solver, search.snapshot, search.gang, search.states, nodes);
  }
  const std::vector<int> rank = SubDomainRanks(search.domains, search.snapshot, level, nodes);
  DomainPacker packer(search.solver, search.snapshot, search.gang, search.states, search.order,
                      nodes, rank, search.options.search_budget);
  ACCELSCHED_ASSIGN_OR_RETURN(std::optional<std::vector<Assignment>> slots, packer.Pack());
  search.exhausted = search.exhausted || packer.BudgetExhausted();
  return slots;
}

// The best fit among the domains of `level` that can host the gang: the fewest whole GPUs left
// free (ties: the first domain); nullopt if none can.
absl::StatusOr<std::optional<GangPlan>> BestPlanAtLevel(GangSearch& search, int level, int widest) {
  std::optional<GangPlan> best;
  int64_t best_left = 0;
  const std::vector<NetworkDomains::Domain>& at_level = search.domains.at(level);
  for (size_t index = 0; index < at_level.size(); ++index) {
    // With members already bound, only a domain that holds all of them.
    if (!HoldsAnchors(search, level, index)) {
      continue;
    }
    const NetworkDomains::Domain& d = at_level[index];
    int64_t free = 0;
    for (NodeIndex n : d.nodes) {
      free += FreeWholeGpus(search.snapshot.node(n));
    }
    if (level == widest) {
      search.best_free_anywhere = std::max(search.best_free_anywhere, free);
    }
    if (free < search.gang_gpus) {
      continue;
    }
    ACCELSCHED_ASSIGN_OR_RETURN(std::optional<std::vector<Assignment>> slots,
                                PackDomain(search, level, d.nodes));
    if (!slots.has_value()) {
      continue;
    }
    const int64_t left = free - search.gang_gpus;
    if (!best.has_value() || left < best_left) {
      best = GangPlan{level, d.name, std::move(*slots)};
      best_left = left;
    }
  }
  return best;
}

// Why no domain up to `widest` could host the gang, for every member's FailedNodes entry.
std::string NoPlanReason(const GangSearch& search, int widest) {
  const GangSpec& gang = search.gang;
  const std::vector<std::string>& level_keys = search.domains.keys();
  const PodRequest& big = gang.members[search.order.front()];
  std::string where = "in the cluster";
  if (widest < static_cast<int>(level_keys.size())) {
    const std::string& key = level_keys[static_cast<size_t>(widest)];
    where = absl::StrCat("within one ", key.substr(key.rfind('/') + 1));  // "rack"
  }
  std::string reason =
      absl::StrCat("gang ", gang.name, " needs ", gang.members.size(), " pods (largest ",
                   big.gpu_count, " GPUs, ", search.gang_gpus, " GPUs in all",
                   gang.rail_aligned ? ", rail-aligned" : "", ") ", where, "; the best has ",
                   std::max<int64_t>(search.best_free_anywhere, 0), " whole GPUs free");
  if (search.exhausted) {
    absl::StrAppend(&reason, " (search stopped at its step budget)");
  }
  return reason;
}

}  // namespace

NetworkDomains NetworkDomains::Build(const ClusterSnapshot& snapshot,
                                     std::vector<std::string> level_keys) {
  NetworkDomains d;
  d.layout_ = snapshot.layout();
  d.keys_ = std::move(level_keys);
  for (const std::string& key : d.keys_) {
    absl::flat_hash_map<std::string, size_t> index;
    std::vector<Domain> domains;
    for (NodeIndex i = 0; i < snapshot.num_nodes(); ++i) {
      std::optional<absl::string_view> v = snapshot.node(i).Label(key);
      if (!v.has_value()) {
        continue;
      }
      auto [it, inserted] = index.try_emplace(std::string{*v}, domains.size());
      if (inserted) {
        domains.push_back({std::string{*v}, {}});
      }
      domains[it->second].nodes.push_back(i);
    }
    std::sort(domains.begin(), domains.end(),
              [](const Domain& a, const Domain& b) { return a.name < b.name; });
    std::vector<int> of(static_cast<size_t>(snapshot.num_nodes()), -1);
    for (size_t k = 0; k < domains.size(); ++k) {
      for (NodeIndex n : domains[k].nodes) {
        of[static_cast<size_t>(n)] = static_cast<int>(k);
      }
    }
    d.domain_of_.push_back(std::move(of));
    d.levels_.push_back(std::move(domains));
  }
  Domain all;
  for (NodeIndex i = 0; i < snapshot.num_nodes(); ++i) {
    all.nodes.push_back(i);
  }
  d.levels_.push_back({std::move(all)});
  return d;
}

absl::StatusOr<GangPlanOutcome> PlanGang(const Solver& solver, const ClusterSnapshot& snapshot,
                                         const NetworkDomains& domains, const GangSpec& gang,
                                         const GangPlannerOptions& options) {
  ACCELSCHED_RETURN_IF_ERROR(ValidateGang(snapshot, domains, gang));
  std::vector<CycleState> states;
  for (const PodRequest& m : gang.members) {
    ACCELSCHED_ASSIGN_OR_RETURN(CycleState s, solver.PreFilter(m, snapshot, /*explain=*/false));
    states.push_back(std::move(s));
  }
  int64_t gang_gpus = 0;
  for (const PodRequest& m : gang.members) {
    gang_gpus += m.gpu_count;
  }
  GangSearch search{.solver = solver,
                    .snapshot = snapshot,
                    .domains = domains,
                    .gang = gang,
                    .options = options,
                    .states = std::move(states),
                    .order = LargestFirst(gang.members),
                    .gang_gpus = gang_gpus};

  const int levels = static_cast<int>(domains.keys().size());
  const int widest = gang.mode == NetworkMode::kRequired ? gang.level : levels;
  for (int level = 0; level <= widest; ++level) {
    ACCELSCHED_ASSIGN_OR_RETURN(std::optional<GangPlan> best,
                                BestPlanAtLevel(search, level, widest));
    if (best.has_value()) {
      return GangPlanOutcome{std::move(best), ""};
    }
  }
  GangPlanOutcome out;
  out.reason = NoPlanReason(search, widest);
  return out;
}

}  // namespace accelsched::plugins
