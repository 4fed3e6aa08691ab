#include "scheduler/service/extender.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/fit.h"
#include "scheduler/codec/annotations.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler {

using plugins::Assignment;
using plugins::ClusterSnapshot;
using plugins::NodeIndex;

namespace {

std::string KindOf(const plugins::PodRequest& r) {
  if (r.WantsWholeGpus()) return "whole";
  if (r.WantsShare()) return "share";
  if (r.WantsMig()) return "mig";
  return "cpu";
}

}  // namespace

std::map<std::string, std::string> AssignmentAnnotationsOf(const PlacedPod& placed,
                                                           const ClusterSnapshot& snapshot) {
  std::optional<NodeIndex> node = snapshot.Find(placed.node);
  if (!node.has_value()) return {};
  return codec::AssignmentAnnotations(placed.assignment, snapshot.node(*node));
}

namespace {

// `gangs` on the service's clock unless they have their own.
GangOptions OnClock(GangOptions gangs, const Clock& clock) {
  if (!gangs.clock) gangs.clock = clock;
  return gangs;
}

}  // namespace

ExtenderOptions ExtenderOptionsFrom(const ExtenderConfig& config) {
  ExtenderOptions o;
  o.pod_cache_size = static_cast<size_t>(config.pod_cache_size);
  o.memo_shapes = config.memo_shapes;
  o.gangs = GangOptionsFrom(config);
  o.unresolvable_as_failed_nodes = config.unresolvable_as_failed_nodes;
  o.tentative_hold_seconds = config.tentative_hold_seconds;
  return o;
}

Extender::Extender(std::unique_ptr<plugins::Solver> solver, Ledger* ledger, Binder* binder,
                   Metrics* metrics, ExtenderOptions options)
    : solver_(std::move(solver)),
      ledger_(ledger),
      binder_(binder),
      metrics_(metrics),
      clock_(options.clock ? options.clock : Clock(SteadySeconds)),
      unresolvable_as_failed_nodes_(options.unresolvable_as_failed_nodes),
      pods_(options.pod_cache_size),
      gangs_(solver_.get(), ledger, OnClock(std::move(options.gangs), clock_)),
      holds_(ledger, clock_, options.tentative_hold_seconds),
      memo_(solver_.get(), options.memo_shapes),
      binds_(clock_) {}

absl::StatusOr<Extender::Screened> Extender::RunFilter(const codec::ExtenderArgs& args,
                                                       const ClusterSnapshot& snapshot,
                                                       NameResolver::Kind kind) const {
  Screened out;
  std::vector<NodeIndex> resolved;
  names_.Resolve(kind, snapshot, args.node_names, &resolved);
  std::vector<NodeIndex> candidates;
  std::vector<int> position;  // Candidate -> index in args.node_names.
  candidates.reserve(args.node_names.size());
  position.reserve(args.node_names.size());
  int unknown_reason = -1;
  for (size_t i = 0; i < args.node_names.size(); ++i) {
    const NodeIndex n = resolved[i];
    if (n < 0) {
      if (unknown_reason < 0) {
        unknown_reason = out.answer.AddReason(
            "node is unknown to accelsched (no Node object with this name in its cluster state)");
      }
      out.answer.failed_unresolvable.emplace_back(static_cast<int>(i), unknown_reason);
      continue;
    }
    candidates.push_back(n);
    position.push_back(static_cast<int>(i));
  }
  // Also with no candidates: an invalid pod request is an error either way.
  ACCELSCHED_ASSIGN_OR_RETURN(out.solved, memo_.Filter(args.pod.request, snapshot, candidates));
  const plugins::CandidateVerdicts& f = out.solved.verdicts;
  // Interned reasons share their text, so the same pointer means the same reason; the map keeps
  // one copy per distinct text pointer.
  absl::flat_hash_map<const char*, int> reason_index;
  const char* last_text = nullptr;
  int last_index = -1;
  auto index_of = [&](std::string_view reason) {
    if (reason.data() == last_text && last_index >= 0) return last_index;
    auto [it, inserted] = reason_index.try_emplace(reason.data(), 0);
    if (inserted || out.answer.reasons[static_cast<size_t>(it->second)] != reason) {
      it->second = out.answer.AddReason(std::string(reason));
    }
    last_text = reason.data();
    last_index = it->second;
    return last_index;
  };
  // One verdict per candidate, in candidate order.
  out.answer.survivors.reserve(f.feasible.size());
  for (size_t c = 0; c < candidates.size(); ++c) {
    const plugins::FilterVerdict& verdict = f.verdicts[c];
    switch (verdict.feasibility) {
      case plugins::Feasibility::kFeasible:
        out.answer.survivors.push_back(position[c]);
        break;
      case plugins::Feasibility::kUnschedulable:
        out.answer.failed.emplace_back(position[c], index_of(verdict.reason));
        break;
      case plugins::Feasibility::kUnresolvable:
        out.answer.failed_unresolvable.emplace_back(position[c], index_of(verdict.reason));
        break;
    }
  }
  return out;
}

codec::FilterResult Extender::GangFilterResult(const codec::ExtenderArgs& args,
                                               const GangCoordinator::Admission& admission) {
  codec::FilterResult out;
  const std::string gang = args.pod.gang->name;
  if (admission.kind == GangCoordinator::Admission::Kind::kWait) {
    const int reason = out.AddReason(admission.reason);
    for (size_t i = 0; i < args.node_names.size(); ++i) {
      out.failed_unresolvable.emplace_back(static_cast<int>(i), reason);
    }
    return out;
  }
  int elsewhere = -1;
  for (size_t i = 0; i < args.node_names.size(); ++i) {
    if (args.node_names[i] == admission.node) {
      out.survivors.push_back(static_cast<int>(i));
      continue;
    }
    if (elsewhere < 0) {
      elsewhere = out.AddReason(
          absl::StrCat("gang ", gang, " has reserved this member's slot on node ", admission.node));
    }
    out.failed_unresolvable.emplace_back(static_cast<int>(i), elsewhere);
  }
  if (out.survivors.empty() && !args.node_names.empty()) {
    // kube-scheduler's own filters rejected the reserved node: say so on every node.
    out.reasons[static_cast<size_t>(elsewhere)] =
        absl::StrCat("gang ", gang, " has reserved this member's slot on node ", admission.node,
                     ", which kube-scheduler did not offer (its own filters rejected it)");
  }
  return out;
}

namespace {

// Older kube-scheduler releases read FailedNodes only: every refused node goes there, in
// candidate order.
void MoveUnresolvableToFailed(codec::FilterResult* r) {
  if (r->failed_unresolvable.empty()) return;
  r->failed.insert(r->failed.end(), r->failed_unresolvable.begin(), r->failed_unresolvable.end());
  r->failed_unresolvable.clear();
  std::sort(r->failed.begin(), r->failed.end());
}

}  // namespace

absl::StatusOr<codec::FilterResult> Extender::Filter(const codec::ExtenderArgs& args) {
  pods_.Put(args.pod);
  // A new cycle of this pod: what an earlier prioritize held for it is not its to see.
  holds_.Expire();
  holds_.Drop(args.pod.uid);
  codec::FilterResult answer;
  std::optional<GangCoordinator::Admission> admission;
  if (args.pod.gang.has_value()) {
    ACCELSCHED_ASSIGN_OR_RETURN(admission, gangs_.Admit(args.pod));
    if (admission->kind == GangCoordinator::Admission::Kind::kOrdinary) admission.reset();
  }
  if (admission.has_value()) {
    answer = GangFilterResult(args, *admission);
  } else {
    std::shared_ptr<const ClusterSnapshot> snapshot = ledger_->Snapshot();
    ACCELSCHED_ASSIGN_OR_RETURN(Screened s,
                                RunFilter(args, *snapshot, NameResolver::Kind::kFilter));
    answer = std::move(s.answer);
  }
  if (unresolvable_as_failed_nodes_) MoveUnresolvableToFailed(&answer);
  return answer;
}

absl::StatusOr<std::vector<int64_t>> Extender::Prioritize(const codec::ExtenderArgs& args) {
  pods_.Put(args.pod);
  holds_.Expire();
  holds_.Drop(args.pod.uid);
  if (std::optional<std::string> slot = gangs_.SlotNode(args.pod); slot.has_value()) {
    std::vector<int64_t> out(args.node_names.size(), 0);
    for (size_t i = 0; i < args.node_names.size(); ++i) {
      if (args.node_names[i] == *slot) out[i] = kMaxExtenderPriority;
    }
    return out;
  }
  std::shared_ptr<const ClusterSnapshot> snapshot = ledger_->Snapshot();
  ACCELSCHED_ASSIGN_OR_RETURN(Screened f,
                              RunFilter(args, *snapshot, NameResolver::Kind::kPrioritize));
  std::vector<int64_t> out(args.node_names.size(), 0);
  const std::vector<NodeIndex>& feasible = f.solved.verdicts.feasible;
  if (feasible.empty()) return out;
  ACCELSCHED_ASSIGN_OR_RETURN(std::vector<int64_t> totals,
                              memo_.Score(f.solved, args.pod.request, *snapshot, feasible));
  const int best = plugins::Solver::SelectBest(totals, /*rng=*/nullptr);
  const auto [lo, hi] = std::minmax_element(totals.begin(), totals.end());
  for (size_t k = 0; k < totals.size(); ++k) {
    // The others 0..kMaxExtenderPriority - 1 by min-max scaling (all equal: the top of that).
    constexpr int64_t kTop = kMaxExtenderPriority - 1;
    int64_t score = kTop;
    if (*hi != *lo) score = (totals[k] - *lo) * kTop / (*hi - *lo);
    if (static_cast<int>(k) == best) score = kMaxExtenderPriority;
    out[static_cast<size_t>(f.answer.survivors[k])] = score;
  }
  if (best >= 0 && holds_.enabled()) {
    // Hold the top node's devices until the bind: kube-scheduler binds in the background, and
    // the next pods' filters must not be offered the same capacity.
    const std::string& node = args.node_names[static_cast<size_t>(f.answer.survivors[best])];
    holds_.Hold(args.pod, node, BindChooser(args.pod, node));
  }
  return out;
}

absl::StatusOr<codec::PodObject> Extender::PodToBind(const codec::BindingArgs& args) {
  std::optional<codec::PodObject> pod = pods_.Get(args.pod_uid);
  if (!pod.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "pod ", args.pod_namespace, "/", args.pod_name, " (uid ", args.pod_uid,
        ") is unknown: accelsched binds only pods it filtered (the scheduling cycle will be "
        "retried)"));
  }
  if (pod->name != args.pod_name || pod->namespace_name != args.pod_namespace) {
    return absl::InvalidArgumentError(absl::StrCat("PodUID ", args.pod_uid, " belongs to pod ",
                                                   pod->Key(), ", not ", args.pod_namespace, "/",
                                                   args.pod_name));
  }
  return *std::move(pod);
}

Ledger::Chooser Extender::BindChooser(const codec::PodObject& pod,
                                      const std::string& node_name) const {
  return [this, &pod, &node_name](const ClusterSnapshot& live,
                                  NodeIndex node) -> absl::StatusOr<Assignment> {
    const plugins::PodRequest& request = pod.request;
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::CycleState state,
                                solver_->PreFilter(request, live, /*explain=*/true));
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::FilterVerdict verdict,
                                solver_->FilterNode(state, request, live.node(node)));
    if (verdict.feasibility != plugins::Feasibility::kFeasible) {
      return absl::FailedPreconditionError(absl::StrCat("pod ", pod.Key(),
                                                        " no longer fits on node ", node_name, ": ",
                                                        std::string(verdict.reason)));
    }
    ACCELSCHED_ASSIGN_OR_RETURN(std::optional<Assignment> a,
                                solver_->Reserve(state, request, live, node));
    if (!a.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("pod ", pod.Key(), ": no devices left on node ", node_name));
    }
    return *a;
  };
}

absl::StatusOr<PlacedPod> Extender::PlaceForBind(const codec::PodObject& pod,
                                                 const std::string& node, bool* existed,
                                                 bool* gang_slot) {
  ACCELSCHED_ASSIGN_OR_RETURN(std::optional<PlacedPod> member,
                              gangs_.BindMember(pod, node, existed));
  *gang_slot = member.has_value();
  if (*gang_slot) return *std::move(member);
  // What prioritize held for this pod on this node becomes its placement (a hold elsewhere is
  // given back).
  if (std::optional<PlacedPod> held = holds_.Convert(pod, node)) return *std::move(held);
  // The chooser filters again on the live state under the ledger's lock, so that two tenants
  // binding to one node at once cannot both pass tenancy.
  return ledger_->Place(pod.uid, pod.Key(), pod.request, node, BindChooser(pod, node), existed);
}

absl::Status Extender::WriteBinding(const codec::PodObject& pod, const std::string& node,
                                    const PlacedPod& placed, bool gang_slot) {
  // The annotations are derived from the node as the new snapshot has it; taking the snapshot
  // now also spares the next filter its copy (Ledger publishes lazily so that bulk adoption
  // costs one copy).
  const std::map<std::string, std::string> annotations =
      AssignmentAnnotationsOf(placed, *ledger_->Snapshot());
  const absl::Status s = binder_->Bind(pod, node, annotations);
  if (s.ok()) {
    metrics_->CountPlacement(KindOf(pod.request));
    return absl::OkStatus();
  }
  if (absl::IsAlreadyExists(s) || absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
    return Settle(pod, node, annotations, gang_slot, s);
  }
  return RollBack(pod, gang_slot, s);
}

absl::Status Extender::RollBack(const codec::PodObject& pod, bool gang_slot,
                                const absl::Status& error) {
  metrics_->CountBindError();
  if (absl::Status r = gang_slot ? gangs_.UnbindMember(pod) : ledger_->Release(pod.uid); !r.ok()) {
    return absl::InternalError(
        absl::StrCat("binding failed (", error.message(), ") and the rollback too: ", r.message()));
  }
  return error;
}

namespace {

constexpr const char* kDeviceAnnotations[] = {kAnnotationGpuIds, kAnnotationGpuShare,
                                              kAnnotationMigPlacement};

// The device annotations of `annotations` only.
std::map<std::string, std::string> DevicesOf(
    const std::map<std::string, std::string>& annotations) {
  std::map<std::string, std::string> out;
  for (const char* key : kDeviceAnnotations) {
    if (auto it = annotations.find(key); it != annotations.end()) out.insert(*it);
  }
  return out;
}

std::string DevicesText(const std::map<std::string, std::string>& devices) {
  std::string out;
  for (const auto& [k, v] : devices) {
    absl::StrAppend(&out, out.empty() ? "" : " ", k.substr(k.find('/') + 1), "=", v);
  }
  return out.empty() ? "(no device annotations)" : out;
}

}  // namespace

absl::Status Extender::Settle(const codec::PodObject& pod, const std::string& node,
                              const std::map<std::string, std::string>& ours, bool gang_slot,
                              const absl::Status& error) {
  absl::StatusOr<codec::PodObject> now = binder_->Read(pod);
  if (!now.ok() || now->node_name.empty()) return RollBack(pod, gang_slot, error);
  if (now->node_name == node && DevicesOf(now->annotations) == DevicesOf(ours)) {
    metrics_->CountPlacement(KindOf(pod.request));  // A retry whose reply was lost.
    return absl::OkStatus();
  }
  absl::Status rolled = RollBack(pod, gang_slot, error);
  if (absl::IsInternal(rolled)) return rolled;
  spdlog::warn("bind pod={} node={}: the API has it on {} with {}; taking the API's record",
               pod.Key(), node, now->node_name, DevicesText(DevicesOf(now->annotations)));
  AdoptOrRecordConflict(*now);
  if (now->node_name == node) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("pod ", pod.Key(), " is already bound to ", now->node_name));
}

void Extender::AdoptOrRecordConflict(const codec::PodObject& pod) {
  const absl::Status s = Adopt(pod);
  if (s.ok()) {
    conflicts_.Clear(pod.uid);
    return;
  }
  Conflict c{pod.uid, pod.Key(), pod.node_name, DevicesText(DevicesOf(pod.annotations)),
             std::string(s.message())};
  if (conflicts_.Record(c)) {
    spdlog::error("pod {} on {} ({}) conflicts: {}", c.pod, c.node, c.devices, c.reason);
  }
}

void Extender::ReconcileBound(const codec::PodObject& pod) {
  std::optional<PlacedPod> held = ledger_->Find(pod.uid);
  if (held.has_value() && held->node == pod.node_name) {
    const std::map<std::string, std::string> api = DevicesOf(pod.annotations);
    // Without device annotations (bound by another scheduler) the devices chosen here stand.
    if (api.empty() || api == DevicesOf(AssignmentAnnotationsOf(*held, *ledger_->Snapshot()))) {
      return;
    }
    spdlog::warn("pod {} on {}: the API records {}, the ledger other devices; taking the API's",
                 pod.Key(), pod.node_name, DevicesText(api));
  }
  if (held.has_value()) (void)ledger_->Release(pod.uid);
  AdoptOrRecordConflict(pod);
}

absl::Status Extender::Bind(const codec::BindingArgs& args) {
  absl::StatusOr<codec::PodObject> pod = PodToBind(args);
  if (!pod.ok()) {
    metrics_->CountBindError();
    return pod.status();
  }
  BindTracker::Scope tracking(&binds_, pod->uid);
  bool existed = false;
  bool gang_slot = false;
  absl::StatusOr<PlacedPod> placed = PlaceForBind(*pod, args.node, &existed, &gang_slot);
  if (!placed.ok()) {
    metrics_->CountBindError();
    return placed.status();
  }
  if (existed) return absl::OkStatus();  // A retry: already bound here, nothing allocated.
  return WriteBinding(*pod, args.node, *placed, gang_slot);
}

std::map<std::string, int64_t> Extender::TenantGpuMilli() const {
  std::map<std::string, int64_t> out;
  for (const PlacedPod& p : ledger_->Pods()) {
    if (p.holder != Holder::kPod) continue;
    if (const int64_t m = p.request.GpuMilli(); m > 0) out[NamespaceOfKey(p.key)] += m;
  }
  return out;
}

void Extender::Reconcile() {
  (void)gangs_.Reconcile();
  holds_.Expire();
  const double now = clock_();
  double since = 0;
  {
    absl::MutexLock lock(&accounting_mu_);
    if (last_accounting_.has_value()) since = now - *last_accounting_;
    last_accounting_ = now;
  }
  if (since > 0) metrics_->AddTenantGpuSeconds(TenantGpuMilli(), since);
}

bool Extender::BindInFlight(const std::string& uid, double listed_at) const {
  return binds_.InFlightSince(uid, listed_at);
}

absl::Status Extender::Adopt(const codec::PodObject& pod) {
  holds_.Drop(pod.uid);  // Bound (through the API): a hold of it is no longer needed.
  const plugins::Solver& solver = *solver_;
  auto choose = [&](const ClusterSnapshot& view, NodeIndex node) -> absl::StatusOr<Assignment> {
    ACCELSCHED_ASSIGN_OR_RETURN(
        std::optional<Assignment> recorded,
        codec::AssignmentFromAnnotations(pod.annotations, pod.request, view, node));
    if (recorded.has_value()) return *recorded;
    // A GPU pod bound without accelsched's annotations: choose its devices now.
    ACCELSCHED_ASSIGN_OR_RETURN(plugins::CycleState state,
                                solver.PreFilter(pod.request, view, /*explain=*/true));
    ACCELSCHED_ASSIGN_OR_RETURN(std::optional<Assignment> chosen,
                                solver.Reserve(state, pod.request, view, node));
    if (!chosen.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("has no assignment annotations and does not fit on ", pod.node_name));
    }
    return *chosen;
  };
  absl::StatusOr<PlacedPod> placed = ledger_->Place(pod.uid.empty() ? pod.Key() : pod.uid,
                                                    pod.Key(), pod.request, pod.node_name, choose);
  if (!placed.ok()) {
    return absl::Status(placed.status().code(),
                        absl::StrCat("pod ", pod.Key(), ": ", placed.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Extender::PreemptOutcome> Extender::Preempt(const codec::PreemptionArgs& args) {
  PreemptOutcome out;
  std::shared_ptr<const ClusterSnapshot> snapshot = ledger_->Snapshot();
  plugins::ClusterState what_if(*snapshot);
  ACCELSCHED_ASSIGN_OR_RETURN(
      plugins::CycleState state,
      solver_->PreFilter(args.pod.request, what_if.view(), /*explain=*/false));
  for (const auto& [node_name, uids] : args.victims) {
    std::optional<NodeIndex> node = what_if.view().Find(node_name);
    if (!node.has_value()) continue;  // Unknown to us: cannot help this pod.
    // Release every victim we hold on this node.
    std::vector<std::pair<std::string, Assignment>> released;
    for (const std::string& uid : uids) {
      std::optional<PlacedPod> p = ledger_->Find(uid);
      if (!p.has_value() || p->assignment.node != *node) continue;
      if (what_if.Release(p->assignment).ok()) released.emplace_back(uid, p->assignment);
    }
    const bool fits =
        !plugins::CheckFit(state, args.pod.request, what_if.view().node(*node)).has_value();
    std::vector<std::string> kept_victims;
    if (fits) {
      // Put back every victim that is not needed, in the order given.
      for (const auto& [uid, a] : released) {
        if (what_if.Apply(a).ok()) {
          if (!plugins::CheckFit(state, args.pod.request, what_if.view().node(*node)).has_value()) {
            continue;  // Still fits with this victim staying: spare it.
          }
          (void)what_if.Release(a);
        }
        kept_victims.push_back(uid);
      }
      // Victims the ledger does not hold take nothing we account for: never needed.
      out.victims[node_name] = kept_victims;
      auto v = args.pdb_violations.find(node_name);
      if (v != args.pdb_violations.end()) out.pdb_violations[node_name] = v->second;
    }
    // Restore the what-if state for the next node.
    for (const auto& [uid, a] : released) {
      if (std::find(kept_victims.begin(), kept_victims.end(), uid) != kept_victims.end() || !fits) {
        (void)what_if.Apply(a);
      }
    }
  }
  return out;
}

}  // namespace accelsched::scheduler
