// The extender's verbs on typed values (DESIGN section 2): filter, prioritize, bind, preempt.
// The HTTP layer (server.h) decodes, calls these, and encodes; nothing here sees HTTP.
//
// - Filter and Prioritize read one immutable snapshot and change no allocation. They remember
//   the pod (by UID) in a bounded cache, because kube-scheduler's bind call carries only the
//   pod's name, namespace and UID.
// - Prioritize maps the solver's weighted total onto 0..10: the node the solver would choose
//   (first best in candidate order) gets 10; the other feasible nodes 0..9 by min-max scaling;
//   infeasible and unknown nodes 0. With a high extender weight this makes kube-scheduler pick
//   the solver's node.
// - Bind chooses the devices on the live state under the ledger's lock, asks the Binder to
//   write the Binding with the assignment annotations, and rolls back if that fails. A retry of
//   a bind that succeeded returns success without allocating again.
// - Gang members (DESIGN section 6) go through the GangCoordinator: filter answers only the
//   node of the member's slot in its gang's reservation (planning the gang at the first member
//   that finds all members known), prioritize gives that node 10, bind hands the slot's devices
//   to the member.
// - Tenancy (namespace label accelsched.io/isolation) is a filter plugin (plugins/tenancy/) over
//   what each namespace holds per node, which the ledger publishes in its snapshots: filter drops
//   the nodes where the pod would share a node or GPU against its own or another namespace's
//   isolation; bind checks it again on the live state and chooses devices with the GPUs the pod
//   may not share blocked.
// - Preempt keeps only the nodes where evicting the proposed victims really frees a placement
//   for the pod, and drops victims that are not needed.
//
// Thread-safety: thread-safe (the solver is immutable; the ledger, cache and metrics lock).
#ifndef ACCELSCHED_SCHEDULER_SERVICE_EXTENDER_H_
#define ACCELSCHED_SCHEDULER_SERVICE_EXTENDER_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/memo.h"
#include "plugins/framework/solver.h"
#include "scheduler/codec/config.h"
#include "scheduler/codec/extender.h"
#include "scheduler/gang/gang_coordinator.h"
#include "scheduler/service/bind_tracker.h"
#include "scheduler/service/conflict_book.h"
#include "scheduler/service/metrics.h"
#include "scheduler/service/tentative_holds.h"
#include "scheduler/state/clock.h"
#include "scheduler/state/ledger.h"
#include "scheduler/state/name_resolver.h"
#include "scheduler/state/pod_cache.h"

namespace accelsched::scheduler {

// Writes a pod's binding to its node (Kubernetes: POST .../pods/{name}/binding).
class Binder {
 public:
  virtual ~Binder() = default;
  // OK; AlreadyExists if the pod is already bound (409); Unavailable when the outcome is unknown
  // (no answer, a 5xx); other errors when the binding was refused.
  virtual absl::Status Bind(const codec::PodObject& pod, const std::string& node,
                            const std::map<std::string, std::string>& annotations) = 0;
  // The pod as the API server holds it now, to settle a binding answered 409 or not answered at
  // all. Unimplemented where the binder keeps no record of its own (static mode).
  virtual absl::StatusOr<codec::PodObject> Read(const codec::PodObject& /*pod*/) {
    return absl::UnimplementedError("no record to read");
  }
};

// Static mode: binds live only in the ledger.
class InMemoryBinder final : public Binder {
 public:
  absl::Status Bind(const codec::PodObject&, const std::string&,
                    const std::map<std::string, std::string>&) override {
    return absl::OkStatus();
  }
};

// The assignment annotations (codec::AssignmentAnnotations) of `placed`, with its node as
// `snapshot` has it (by name); empty if the node is not in `snapshot`.
std::map<std::string, std::string> AssignmentAnnotationsOf(
    const PlacedPod& placed, const plugins::ClusterSnapshot& snapshot);

struct ExtenderOptions {
  // Pods remembered between filter and bind (PodCache).
  size_t pod_cache_size = kDefaultPodCacheSize;
  // Filter and prioritize remember verdicts and scores of up to this many pod shapes
  // (SolverMemo; 0 turns that off).
  int memo_shapes = kDefaultMemoShapes;
  // Network levels and reservation deadline of gangs (its clock defaults to `clock`).
  GangOptions gangs;
  // Filter answers unresolvable nodes in FailedNodes too (ExtenderConfig's
  // unresolvable_as_failed_nodes, for kube-scheduler before 1.20).
  bool unresolvable_as_failed_nodes = false;
  // Prioritize's choice is held for the pod's bind this long (TentativeHolds; 0 = off).
  double tentative_hold_seconds = kDefaultTentativeHoldSeconds;
  // The service's clock; the steady clock when empty (tests inject their own).
  Clock clock;
};

// The options of `config` (podCacheSize, memoShapes, the gangs').
ExtenderOptions ExtenderOptionsFrom(const ExtenderConfig& config);

// The highest score prioritize gives (kube-scheduler's MaxExtenderPriority): the node the solver
// would choose, or a gang member's slot.
inline constexpr int64_t kMaxExtenderPriority = 10;

class Extender {
 public:
  // `ledger`, `binder` and `metrics` are not owned and must outlive the extender.
  Extender(std::unique_ptr<plugins::Solver> solver, Ledger* ledger, Binder* binder,
           Metrics* metrics, ExtenderOptions options = {});

  absl::StatusOr<codec::FilterResult> Filter(const codec::ExtenderArgs& args);
  // The score (0..10) of each of args.node_names, in that order.
  absl::StatusOr<std::vector<int64_t>> Prioritize(const codec::ExtenderArgs& args);
  // OK, or the error for the ExtenderBindingResult (InvalidArgument / NotFound /
  // FailedPrecondition / Internal).
  absl::Status Bind(const codec::BindingArgs& args);

  struct PreemptOutcome {
    std::map<std::string, std::vector<std::string>> victims;
    std::map<std::string, int64_t> pdb_violations;
  };
  absl::StatusOr<PreemptOutcome> Preempt(const codec::PreemptionArgs& args);

  // Adopts a pod that is already bound (static cluster file, or a restart): its devices from
  // its assignment annotations, or, for a GPU pod without them, chosen by the solver on its
  // node. InvalidArgument/NotFound/FailedPrecondition if that is impossible.
  absl::Status Adopt(const codec::PodObject& pod);

  // Kubernetes mode: a bound pod from a watch event or a list, made to agree with the API,
  // whose record is the truth. Not held: adopted. Held on another node, or on this node with
  // other devices than the pod's assignment annotations record: released and adopted as the
  // API has it. A pod whose recorded devices another pod holds is a conflict (conflicts()).
  void ReconcileBound(const codec::PodObject& pod);
  // Conflicts (conflict_book.h): pods bound on devices another pod holds.
  std::vector<Conflict> conflicts() const { return conflicts_.All(); }
  std::vector<Conflict> TakeUnreportedConflicts() { return conflicts_.TakeUnreported(); }
  // Pod `uid` was released (deleted, finished): it is no longer in conflict.
  void ClearConflict(const std::string& uid) { conflicts_.Clear(uid); }
  // After a full list: pods not listed as running are in conflict no more.
  void KeepConflictsOf(const absl::flat_hash_set<std::string>& running) {
    conflicts_.KeepOnly(running);
  }

  const Ledger& ledger() const { return *ledger_; }
  plugins::SolverMemo::Stats memo_stats() const { return memo_.stats(); }

  // Remembers a pending pod for a later bind (Kubernetes mode feeds the watched pods in, so a
  // bind after an extender restart does not depend on a filter call reaching this process), and
  // a gang member as known to its gang.
  void Remember(const codec::PodObject& pod) {
    pods_.Put(pod);
    gangs_.Observe(pod);
  }
  // A bound pod (Kubernetes mode): a gang member counts as bound in its gang.
  void ObserveBound(const codec::PodObject& pod) { gangs_.Observe(pod); }
  // A pod was deleted (Kubernetes mode): an unbound gang member's reservation is released.
  void Forget(const codec::PodObject& pod) { gangs_.Forget(pod); }
  // After a full list of the pods (Kubernetes mode) requested at `listed_at` (GangClock()): gang
  // members not listed and not seen since were deleted.
  void ForgetAbsent(const absl::flat_hash_set<std::string>& listed, double listed_at) {
    gangs_.ForgetAbsent(listed, listed_at);
  }
  double GangClock() const { return gangs_.Now(); }

  // Periodic housekeeping: gang reservations past their deadline or no longer held are released;
  // the GPUs each namespace holds are added to its GPU-seconds (for the time since the last call).
  void Reconcile() ABSL_LOCKS_EXCLUDED(accounting_mu_);
  // GPU milli held per namespace (pods, not gang slots).
  std::map<std::string, int64_t> TenantGpuMilli() const;
  GangCoordinator::Stats gang_stats() const { return gangs_.stats(); }
  const TentativeHolds& holds() const { return holds_; }
  // Tenancy: the isolation of namespace `ns` (its accelsched.io/isolation label; shared when
  // unset or removed).
  void SetIsolation(const std::string& ns, plugins::Isolation isolation) {
    ledger_->SetIsolation(ns, isolation);
  }
  plugins::Isolation IsolationOf(const std::string& ns) const { return ledger_->IsolationOf(ns); }
  // Kubernetes mode: minMember of gang "namespace/name" from its PodGroup.
  void SetGangMinMember(const std::string& gang, int min_member) {
    gangs_.SetMinMember(gang, min_member);
  }
  // After a full list of PodGroups ("namespace/name"): the others were deleted.
  void KeepGangMinMembersOf(const absl::flat_hash_set<std::string>& groups) {
    gangs_.KeepMinMembersOf(groups);
  }
  // After a full list of Namespaces: the restricted ones not listed were deleted (shared).
  void KeepIsolationOf(const absl::flat_hash_set<std::string>& namespaces) {
    for (const auto& [ns, isolation] : ledger_->RestrictedNamespaces()) {
      if (namespaces.count(ns) == 0) ledger_->SetIsolation(ns, plugins::Isolation::kShared);
    }
  }

  // True while pod `uid` is being bound, or if its bind ended at or after `listed_at`
  // (GangClock() when a list of the API was requested): that list may not show it bound yet, and
  // must not release it (BindTracker::InFlightSince).
  bool BindInFlight(const std::string& uid, double listed_at) const;

 private:
  // The cached pod of a bind (NotFound if this process never saw it; InvalidArgument if the UID
  // belongs to another pod).
  absl::StatusOr<codec::PodObject> PodToBind(const codec::BindingArgs& args);
  // Places `pod` on `node` for its bind: a gang member takes its slot (`*gang_slot`), any other
  // pod gets devices chosen on the live state (every filter, tenancy included, checked again
  // under the ledger's lock).
  // `*existed` as Ledger::Place.
  absl::StatusOr<PlacedPod> PlaceForBind(const codec::PodObject& pod, const std::string& node,
                                         bool* existed, bool* gang_slot);
  // Ledger::Place's chooser: the solver's filters on the live node, then its devices for `pod`.
  // `pod` and `node` must outlive the result.
  Ledger::Chooser BindChooser(const codec::PodObject& pod, const std::string& node) const;
  // Asks the Binder to write the binding of `placed`; rolls the placement back if it fails, and
  // settles an uncertain or conflicting outcome by the API's record (Settle).
  absl::Status WriteBinding(const codec::PodObject& pod, const std::string& node,
                            const PlacedPod& placed, bool gang_slot);
  // After a binding answered 409 or not at all (`error`): reads the pod back. Bound here with
  // our devices: a retry whose reply was lost, success. Bound here with other devices: the
  // placement converges to the API's, success. Bound elsewhere: rolled back, the API's taken,
  // FailedPrecondition. Not bound, or unreadable: rolled back, `error` (a binding applied
  // meanwhile comes back through the watch).
  absl::Status Settle(const codec::PodObject& pod, const std::string& node,
                      const std::map<std::string, std::string>& ours, bool gang_slot,
                      const absl::Status& error);
  absl::Status RollBack(const codec::PodObject& pod, bool gang_slot, const absl::Status& error);
  // Adopts `pod`; a failure is recorded as a conflict (and logged), a success clears one.
  void AdoptOrRecordConflict(const codec::PodObject& pod);

  // Filter over `args` on `snapshot`: the wire answer (survivors as indices into
  // args.node_names), and the solver's (survivors as node indices in solved.verdicts.feasible,
  // same order; the cycle state that Score needs).
  struct Screened {
    codec::FilterResult answer;
    plugins::SolverMemo::FilterOutcome solved;
  };
  // `kind`: which verb's list this is (NameResolver predicts it from the previous one).
  absl::StatusOr<Screened> RunFilter(const codec::ExtenderArgs& args,
                                     const plugins::ClusterSnapshot& snapshot,
                                     NameResolver::Kind kind) const;
  // The filter answer for a gang member: only `node` if offered, or `reason` for every node
  // (FailedAndUnresolvable: preempting for one member cannot place a gang).
  static codec::FilterResult GangFilterResult(const codec::ExtenderArgs& args,
                                              const GangCoordinator::Admission& admission);

  std::unique_ptr<plugins::Solver> solver_;
  Ledger* ledger_;
  Binder* binder_;
  Metrics* metrics_;
  const Clock clock_;
  const bool unresolvable_as_failed_nodes_;
  PodCache pods_;
  GangCoordinator gangs_;             // Thread-safe.
  TentativeHolds holds_;              // Thread-safe.
  mutable NameResolver names_;        // Thread-safe.
  mutable plugins::SolverMemo memo_;  // Thread-safe.
  absl::Mutex accounting_mu_;
  std::optional<double> last_accounting_ ABSL_GUARDED_BY(accounting_mu_);  // clock_ seconds.
  BindTracker binds_;                                                      // Thread-safe.
  ConflictBook conflicts_;                                                 // Thread-safe.
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_SERVICE_EXTENDER_H_
