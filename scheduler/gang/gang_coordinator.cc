#include "scheduler/gang/gang_coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/annotations.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler {

GangCoordinator::GangCoordinator(const plugins::Solver* solver, Ledger* ledger, GangOptions options)
    : solver_(solver),
      ledger_(ledger),
      options_(std::move(options)),
      book_(ledger, options_.ttl_seconds) {
  if (!options_.clock) options_.clock = SteadySeconds;
}

void GangCoordinator::Register(const codec::PodObject& pod, bool bound) {
  if (!pod.gang.has_value() || pod.uid.empty()) return;
  const double now = Now();
  absl::MutexLock lock(&mu_);
  Gang& g = gangs_[pod.gang->name];
  auto [it, inserted] = g.members.try_emplace(pod.uid);
  if (inserted) {
    it->second.order = next_order_++;
    it->second.uid = pod.uid;
  }
  it->second.request = pod.request;
  it->second.key = pod.Key();
  it->second.seen = now;
  it->second.bound = it->second.bound || bound;
}

void GangCoordinator::Observe(const codec::PodObject& pod) {
  Register(pod, /*bound=*/!pod.node_name.empty());
}

void GangCoordinator::SetMinMember(const std::string& gang, int min_member) {
  absl::MutexLock lock(&mu_);
  if (min_member > 0) {
    gangs_[gang].min_member = min_member;
    return;
  }
  auto g = gangs_.find(gang);
  if (g == gangs_.end()) return;
  g->second.min_member = 0;
  if (g->second.members.empty()) gangs_.erase(g);
}

void GangCoordinator::KeepMinMembersOf(const absl::flat_hash_set<std::string>& groups) {
  absl::MutexLock lock(&mu_);
  for (auto g = gangs_.begin(); g != gangs_.end();) {
    if (g->second.min_member > 0 && groups.count(g->first) == 0) {
      g->second.min_member = 0;
      if (g->second.members.empty()) {
        g = gangs_.erase(g);
        continue;
      }
    }
    ++g;
  }
}

absl::StatusOr<int> GangCoordinator::LevelOf(const codec::GangMembership& gang) const {
  if (gang.network_level.empty()) return -1;
  std::vector<std::string> names;
  for (size_t i = 0; i < options_.levels.size(); ++i) {
    if (options_.levels[i].name == gang.network_level) return static_cast<int>(i);
    names.push_back(options_.levels[i].name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(gang.network_required ? kAnnotationNetworkRequired : kAnnotationNetworkPreferred,
                   ": '", gang.network_level, "' is not a configured network level (",
                   names.empty() ? "none configured" : absl::StrJoin(names, ", "), ")"));
}

const plugins::NetworkDomains& GangCoordinator::DomainsFor(
    const plugins::ClusterSnapshot& snapshot) {
  if (!domains_.has_value() || domains_->layout() != snapshot.layout()) {
    std::vector<std::string> keys;
    for (const NetworkLevel& l : options_.levels) keys.push_back(l.label);
    domains_ = plugins::NetworkDomains::Build(snapshot, std::move(keys));
  }
  return *domains_;
}

absl::StatusOr<GangCoordinator::Admission> GangCoordinator::Admit(const codec::PodObject& pod) {
  if (!pod.gang.has_value()) return Admission{};
  const std::string& gang = pod.gang->name;
  ACCELSCHED_ASSIGN_OR_RETURN(const int level, LevelOf(*pod.gang));
  (void)level;  // Checked before anything is registered: a bad annotation changes nothing.
  // Only the cheap part of Reconcile on this path (the housekeeping runs the rest every 5 s).
  (void)ExpireDue();
  Register(pod, /*bound=*/false);
  const double now = Now();
  auto answer = [&](const GangBook::ClaimOutcome& claim) -> std::optional<Admission> {
    switch (claim.kind) {
      case GangBook::ClaimOutcome::Kind::kClaimed:
        return Admission{Admission::Kind::kNode, claim.claim.node, ""};
      case GangBook::ClaimOutcome::Kind::kNoSlotForShape:
        return Admission{};  // A member beyond minMember: any pod.
      case GangBook::ClaimOutcome::Kind::kNoReservation:
        break;
    }
    return std::nullopt;  // Plan it.
  };
  if (std::optional<Admission> a = answer(book_.ClaimSlot(gang, pod.uid, pod.request, now))) {
    return *a;
  }
  absl::MutexLock plan_lock(&plan_mu_);
  // Another member's filter may have planned the gang meanwhile.
  if (std::optional<Admission> a = answer(book_.ClaimSlot(gang, pod.uid, pod.request, now))) {
    return *a;
  }
  return Plan(pod, now);
}

std::optional<GangCoordinator::Admission> GangCoordinator::MembersToPlan(
    const codec::PodObject& pod, plugins::GangSpec* spec, std::vector<std::string>* uids,
    std::vector<std::string>* bound_uids) {
  const std::string& gang = pod.gang->name;
  absl::MutexLock lock(&mu_);
  Gang& g = gangs_[gang];
  const int size = pod.gang->size > 0 ? pod.gang->size : g.min_member;
  if (size <= 0) {
    ++counters_.waiting;
    return Admission{Admission::Kind::kWait, "",
                     absl::StrCat("gang ", gang, ": its size is unknown: set the ",
                                  kAnnotationGangSize, " annotation or create PodGroup ",
                                  gang.substr(gang.find('/') + 1), " with minMember")};
  }
  std::vector<const Member*> pending;
  int bound = 0;
  for (const auto& [uid, m] : g.members) {
    if (m.bound) {
      ++bound;
      bound_uids->push_back(uid);
    } else if (uid != pod.uid) {
      pending.push_back(&m);
    }
  }
  const int need = size - bound;
  if (need <= 0) return Admission{};  // A replacement or extra pod: schedule it as any pod.
  std::sort(pending.begin(), pending.end(),
            [](const Member* a, const Member* b) { return a->order < b->order; });
  const int known = 1 + static_cast<int>(pending.size());
  if (known < need) {
    ++counters_.waiting;
    return Admission{
        Admission::Kind::kWait, "",
        absl::StrCat("gang ", gang, " is waiting for ", need - known, " more member(s): ", known,
                     " of ", need, " unbound pods seen (minMember ", size,
                     "); it is planned when all have been seen")};
  }
  spec->members.push_back(pod.request);
  uids->push_back(pod.uid);
  for (int k = 0; k + 1 < need; ++k) {
    spec->members.push_back(pending[static_cast<size_t>(k)]->request);
    uids->push_back(pending[static_cast<size_t>(k)]->uid);
  }
  return std::nullopt;
}

std::vector<plugins::NodeIndex> GangCoordinator::Anchors(
    const std::vector<std::string>& bound_uids, const plugins::ClusterSnapshot& snapshot) const {
  std::vector<plugins::NodeIndex> anchors;
  for (const std::string& uid : bound_uids) {
    std::optional<PlacedPod> placed = ledger_->Find(uid);
    if (!placed.has_value()) continue;
    if (std::optional<plugins::NodeIndex> n = snapshot.Find(placed->node); n.has_value()) {
      anchors.push_back(*n);
    }
  }
  return anchors;
}

GangBook::SlotCheck GangCoordinator::FiltersStillPass(const plugins::GangSpec& spec,
                                                      const plugins::GangPlan& plan) const {
  return [this, &spec, &plan](size_t k, const plugins::ClusterSnapshot& live,
                              plugins::NodeIndex node) -> absl::Status {
    const plugins::PodRequest& member = spec.members[k];
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::CycleState state,
                                solver_->PreFilter(member, live, /*explain=*/true));
    const plugins::NodeInfo& info = live.node(node);
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::FilterVerdict v, solver_->FilterNode(state, member, info));
    if (v.feasibility != plugins::Feasibility::kFeasible) {
      return absl::FailedPreconditionError(std::string(v.reason));
    }
    if ((solver_->BlockedGpus(state, member, info) & plan.slots[k].gpus) != 0) {
      return absl::FailedPreconditionError(
          "tenancy: the slot's GPUs are now shared with a namespace it may not share with");
    }
    return absl::OkStatus();
  };
}

absl::StatusOr<GangCoordinator::Admission> GangCoordinator::Plan(const codec::PodObject& pod,
                                                                 double now) {
  const std::string& gang = pod.gang->name;
  ACCELSCHED_ASSIGN_OR_RETURN(const int level, LevelOf(*pod.gang));
  // The members to plan: minMember less those bound; this pod first, then by arrival.
  plugins::GangSpec spec;
  spec.name = gang;
  spec.level = level;
  spec.mode = level < 0                    ? plugins::NetworkMode::kNone
              : pod.gang->network_required ? plugins::NetworkMode::kRequired
                                           : plugins::NetworkMode::kPreferred;
  spec.rail_aligned = pod.gang->rail_aligned;
  std::vector<std::string> uids;  // Of spec.members.
  std::vector<std::string> bound_uids;
  if (std::optional<Admission> early = MembersToPlan(pod, &spec, &uids, &bound_uids)) {
    return *early;
  }
  // Plan on the current state; if holding the plan fails (a bind came between), plan once more.
  std::string reason;
  for (int attempt = 0; attempt < kPlanAttempts; ++attempt) {
    std::shared_ptr<const plugins::ClusterSnapshot> snapshot = ledger_->Snapshot();
    spec.anchors = Anchors(bound_uids, *snapshot);  // Bound members anchor the plan's domain.
    // The solver's filters (tenancy among them) keep each member off the nodes and GPUs it may
    // not use.
    ACCELSCHED_ASSIGN_OR_RETURN(
        plugins::GangPlanOutcome outcome,
        plugins::PlanGang(*solver_, *snapshot, DomainsFor(*snapshot), spec, options_.planner));
    if (!outcome.plan.has_value()) {
      absl::MutexLock lock(&mu_);
      ++counters_.unplaceable;
      return Admission{Admission::Kind::kWait, "", std::move(outcome.reason)};
    }
    // The filters once more under the ledger's lock, slot by slot: a pod of another tenant may
    // have been bound next to a slot since the plan was made. The planned members claim their
    // slots at once (so a planned member's deletion releases the plan, and no other pod of the
    // same shape can take its slot).
    absl::Status held = book_.Reserve(gang, spec.members, *outcome.plan, *snapshot, now, uids,
                                      FiltersStillPass(spec, *outcome.plan));
    if (held.ok()) return Reserved(gang, spec, *outcome.plan, *snapshot);
    reason = std::string(held.message());
  }
  return Admission{Admission::Kind::kWait, "",
                   absl::StrCat(reason, " (the cluster changed while planning; retried later)")};
}

GangCoordinator::Admission GangCoordinator::Reserved(const std::string& gang,
                                                     const plugins::GangSpec& spec,
                                                     const plugins::GangPlan& plan,
                                                     const plugins::ClusterSnapshot& snapshot) {
  {
    absl::MutexLock lock(&mu_);
    ++counters_.planned;
  }
  const int top = static_cast<int>(options_.levels.size());
  spdlog::info(
      "gang {}: reserved {} slot(s) within {} {}", gang, spec.members.size(),
      plan.level < top ? options_.levels[static_cast<size_t>(plan.level)].name : "the cluster",
      plan.domain);
  // The first slot is the planning pod's.
  return Admission{Admission::Kind::kNode,
                   plan.slots.empty() ? "" : snapshot.node(plan.slots.front().node).name, ""};
}

std::optional<std::string> GangCoordinator::SlotNode(const codec::PodObject& pod) {
  if (!pod.gang.has_value()) return std::nullopt;
  std::optional<GangBook::Claim> claim = book_.ClaimOf(pod.gang->name, pod.uid);
  if (!claim.has_value()) return std::nullopt;
  return claim->node;
}

absl::StatusOr<std::optional<PlacedPod>> GangCoordinator::BindMember(const codec::PodObject& pod,
                                                                     const std::string& node,
                                                                     bool* existed) {
  if (!pod.gang.has_value()) return std::nullopt;
  std::optional<GangBook::Claim> claim = book_.ClaimOf(pod.gang->name, pod.uid);
  if (!claim.has_value()) return std::nullopt;
  if (claim->node != node) {
    return absl::FailedPreconditionError(absl::StrCat("pod ", pod.Key(), " of gang ",
                                                      pod.gang->name, " has its slot on node ",
                                                      claim->node, ", not ", node));
  }
  // Counted as bound before the bind can complete (and end) the reservation, so that a plan made
  // in between does not take this member for pending.
  Register(pod, /*bound=*/true);
  absl::StatusOr<PlacedPod> placed =
      book_.BindMember(pod.gang->name, pod.uid, pod.Key(), pod.request, node, existed);
  if (!placed.ok()) {
    SetBound(pod, false);
    return placed.status();
  }
  return std::optional<PlacedPod>(*std::move(placed));
}

void GangCoordinator::SetBound(const codec::PodObject& pod, bool bound) {
  absl::MutexLock lock(&mu_);
  auto g = gangs_.find(pod.gang->name);
  if (g == gangs_.end()) return;
  auto m = g->second.members.find(pod.uid);
  if (m != g->second.members.end()) m->second.bound = bound;
}

absl::Status GangCoordinator::UnbindMember(const codec::PodObject& pod) {
  if (!pod.gang.has_value()) return ledger_->Release(pod.uid);
  SetBound(pod, false);
  ACCELSCHED_ASSIGN_OR_RETURN(GangBook::UnbindOutcome outcome,
                              book_.UnbindMember(pod.gang->name, pod.uid));
  if (outcome == GangBook::UnbindOutcome::kNoBoundSlot) return ledger_->Release(pod.uid);
  return absl::OkStatus();
}

void GangCoordinator::Forget(const codec::PodObject& pod) {
  if (pod.gang.has_value()) ForgetMember(pod.gang->name, pod.uid, pod.Key());
}

void GangCoordinator::ForgetMember(const std::string& gang, const std::string& uid,
                                   const std::string& key) {
  std::optional<GangBook::Claim> claim = book_.ClaimOf(gang, uid);
  {
    absl::MutexLock lock(&mu_);
    auto g = gangs_.find(gang);
    if (g != gangs_.end()) {
      g->second.members.erase(uid);
      if (g->second.members.empty() && g->second.min_member == 0) gangs_.erase(g);
    }
  }
  // A member with a slot that is not bound yet: the plan no longer holds.
  if (claim.has_value() && !claim->bound && book_.Drop(gang, claim->generation)) {
    absl::MutexLock lock(&mu_);
    ++counters_.dropped;
    spdlog::info("gang {}: member {} deleted before binding; reservation released", gang, key);
  }
}

void GangCoordinator::ForgetAbsent(const absl::flat_hash_set<std::string>& listed,
                                   double listed_at) {
  struct Gone {
    std::string gang, uid, key;
  };
  std::vector<Gone> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [gang, g] : gangs_) {
      for (const auto& [uid, m] : g.members) {
        // Seen after the list was taken: created since, not gone.
        if (listed.count(uid) == 0 && m.seen < listed_at) gone.push_back({gang, uid, m.key});
      }
    }
  }
  for (const Gone& x : gone) ForgetMember(x.gang, x.uid, x.key);
}

std::vector<std::string> GangCoordinator::ExpireDue() {
  std::vector<std::string> released = book_.Expire(Now());
  for (const std::string& gang : released) {
    spdlog::info("gang {}: reservation expired with members missing; released", gang);
  }
  absl::MutexLock lock(&mu_);
  counters_.expired += released.size();
  return released;
}

std::vector<std::string> GangCoordinator::Reconcile() {
  const double now = Now();
  std::vector<std::string> released = ExpireDue();
  // Slots the ledger lost (their node was removed or shrank): the plan no longer holds.
  std::vector<std::string> lost = book_.DropLost();
  for (const std::string& gang : lost) {
    spdlog::warn("gang {}: a slot is no longer held (node removed or changed); released", gang);
    released.push_back(gang);
  }
  absl::MutexLock lock(&mu_);
  counters_.dropped += lost.size();
  // Forget unbound members not seen for a deadline's length (deleted in static mode, or gone).
  for (auto g = gangs_.begin(); g != gangs_.end();) {
    for (auto m = g->second.members.begin(); m != g->second.members.end();) {
      if (!m->second.bound && now - m->second.seen > options_.ttl_seconds) {
        m = g->second.members.erase(m);
      } else {
        ++m;
      }
    }
    if (g->second.members.empty() && g->second.min_member == 0) {
      g = gangs_.erase(g);
    } else {
      ++g;
    }
  }
  return released;
}

GangCoordinator::Stats GangCoordinator::stats() const {
  Stats s;
  {
    absl::MutexLock lock(&mu_);
    s = counters_;
  }
  for (const auto& [gang, uids] : book_.UnboundSlots()) {
    ++s.reservations;
    s.slots_held += uids.size();
  }
  return s;
}

}  // namespace accelsched::scheduler
