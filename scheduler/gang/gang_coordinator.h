// GangCoordinator: the gang logic of the extender verbs (DESIGN section 6), between the planner
// (plugins/gang/planner.h) and the reservations (GangBook).
//
// - Members are known from the filter calls and, in Kubernetes mode, from the pod watch
//   (Observe). A gang is planned when all of its members are known: minMember pods (the
//   accelsched.io/gang-size annotation, or the PodGroup's minMember) that are pending, less
//   the members already bound. Until then every member's filter fails with "waiting for N more
//   members" (as the scheduler-plugins coscheduling PreFilter does), so members of different
//   shapes (a launcher without GPUs and workers with 8) are planned together.
// - At the first member's filter after that, the planner places the whole gang in the smallest
//   network domain that fits and GangBook holds every slot in the ledger. That member's filter,
//   and each later member's, names only the node of its slot; prioritize gives that node 10;
//   bind hands the slot's devices to the member. A member beyond minMember (no slot left for its
//   shape) is scheduled like any other pod.
// - A gang that cannot fit reserves nothing and every member's filter gives the planner's one
//   reason; it is planned again at the next member's filter (capacity may have freed).
// - Reconcile (called every 5 s by the extender's housekeeping) releases reservations past their
//   deadline, reservations whose held slots the ledger no longer has (node removed, relist), and
//   forgets members not seen for a deadline's length. Every gang filter releases expired
//   reservations too (ExpireDue), the cheap part.
// - Tenancy is the solver's filter plugin (plugins/tenancy/): the planner's filters keep each
//   member off the nodes it may not use and Reserve off the GPUs it may not share; the filters
//   run once more on the live state as each slot is held.
//
// Thread-safety: thread-safe. Planning is serialized (one gang at a time, about a millisecond);
// the member registry has its own mutex; GangBook and Ledger lock themselves.
#ifndef ACCELSCHED_SCHEDULER_GANG_GANG_COORDINATOR_H_
#define ACCELSCHED_SCHEDULER_GANG_GANG_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/solver.h"
#include "plugins/gang/planner.h"
#include "scheduler/codec/config.h"
#include "scheduler/codec/k8s.h"
#include "scheduler/gang/gang_book.h"
#include "scheduler/state/clock.h"
#include "scheduler/state/ledger.h"

namespace accelsched::scheduler {

struct GangOptions {
  // Innermost first (ExtenderConfig::network_levels).
  std::vector<NetworkLevel> levels = DefaultNetworkLevels();
  // Reservation deadline, renewed while members arrive.
  double ttl_seconds = kDefaultGangReservationSeconds;
  plugins::GangPlannerOptions planner;
  // The steady clock when empty (tests inject their own).
  Clock clock;
};

// The gang options of `config` (network levels, reservation deadline).
inline GangOptions GangOptionsFrom(const ExtenderConfig& config) {
  GangOptions o;
  o.levels = config.network_levels;
  o.ttl_seconds = config.gang_reservation_seconds;
  return o;
}

class GangCoordinator {
 public:
  // `solver` and `ledger` are not owned and must outlive the coordinator.
  GangCoordinator(const plugins::Solver* solver, Ledger* ledger, GangOptions options);

  // What a gang member's filter answers.
  struct Admission {
    enum class Kind {
      kNode,     // Only `node` (the member's slot).
      kWait,     // No node: `reason` (waiting for members, or the gang cannot fit).
      kOrdinary  // Not (or no longer) a planned member: filter as any pod.
    };
    Kind kind = Kind::kOrdinary;
    std::string node;
    std::string reason;
  };
  // Filter of `pod` (which has pod.gang): registers it, plans and reserves the gang if it can,
  // and answers. InvalidArgument for a bad gang annotation (naming it).
  absl::StatusOr<Admission> Admit(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_, plan_mu_);
  // The node of the slot `pod` claimed, if it has one (prioritize). Plans nothing.
  std::optional<std::string> SlotNode(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_);

  // Bind of `pod` to `node`: its slot's devices, now held under its own UID; nullopt if `pod`
  // holds no slot (bind it as any pod). FailedPrecondition if its slot is on another node.
  // `*existed` as Ledger::Place.
  absl::StatusOr<std::optional<PlacedPod>> BindMember(const codec::PodObject& pod,
                                                      const std::string& node, bool* existed)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Undoes BindMember after the API refused the binding: the devices go back to the slot (or are
  // released if the reservation is complete and gone).
  absl::Status UnbindMember(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_);

  // Kubernetes mode: a pending member (registered) or a bound one (counted as bound).
  void Observe(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_);
  // Pod `pod` was deleted: forgotten; if it was an unbound member of a reserved gang, the
  // reservation is dropped (its unbound slots released) and the gang is planned again.
  void Forget(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_);
  // Kubernetes mode, after a full list of the pods taken at `listed_at` (Now() before the
  // request): every known member whose UID is not in `listed`, and that was not seen since, was
  // deleted while the watch was down, and is forgotten as by Forget.
  void ForgetAbsent(const absl::flat_hash_set<std::string>& listed, double listed_at)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The coordinator's clock (seconds), e.g. for ForgetAbsent.
  double Now() const { return options_.clock(); }

  // Releases what must not be held any more (see the file comment). Returns the gangs whose
  // reservations it released.
  std::vector<std::string> Reconcile() ABSL_LOCKS_EXCLUDED(mu_);
  // The part of Reconcile that every gang filter runs: reservations past their deadline.
  std::vector<std::string> ExpireDue() ABSL_LOCKS_EXCLUDED(mu_);

  // Sets minMember of gang `gang` ("namespace/name") from its PodGroup object (0: deleted).
  void SetMinMember(const std::string& gang, int min_member) ABSL_LOCKS_EXCLUDED(mu_);
  // After a full list of the PodGroups: those not in `groups` were deleted (minMember unknown).
  void KeepMinMembersOf(const absl::flat_hash_set<std::string>& groups) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    size_t reservations = 0;  // Active (not complete, not expired).
    size_t slots_held = 0;    // Unbound slots held in the ledger.
    uint64_t planned = 0, unplaceable = 0, waiting = 0, expired = 0, dropped = 0;
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Member {
    std::string uid;
    plugins::PodRequest request;
    std::string key;
    double seen = 0;  // Last filter or watch event.
    bool bound = false;
    uint64_t order = 0;  // First seen; earlier members are planned first.
  };
  struct Gang {
    std::map<std::string, Member> members;  // By pod UID.
    int min_member = 0;                     // From its PodGroup; 0 = unknown.
  };
  void SetBound(const codec::PodObject& pod, bool bound) ABSL_LOCKS_EXCLUDED(mu_);
  void ForgetMember(const std::string& gang, const std::string& uid, const std::string& key)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Registers `pod` as a member seen now (bound or not).
  void Register(const codec::PodObject& pod, bool bound) ABSL_LOCKS_EXCLUDED(mu_);
  // Plans and reserves `pod`'s gang (under plan_mu_).
  absl::StatusOr<Admission> Plan(const codec::PodObject& pod, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(plan_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // How often Plan tries to hold a plan when the cluster changed between planning and holding.
  static constexpr int kPlanAttempts = 2;
  // The members `pod`'s gang plans now (into spec->members and their UIDs, `pod` first) and the
  // UIDs of those already bound; or the answer when it cannot plan yet (size unknown, members
  // missing) or need not (enough members bound).
  std::optional<Admission> MembersToPlan(const codec::PodObject& pod, plugins::GangSpec* spec,
                                         std::vector<std::string>* uids,
                                         std::vector<std::string>* bound_uids)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The nodes of the bound members `bound_uids` in `snapshot`.
  std::vector<plugins::NodeIndex> Anchors(const std::vector<std::string>& bound_uids,
                                          const plugins::ClusterSnapshot& snapshot) const;
  // GangBook::Reserve's check: the solver's filters (tenancy among them) once more on the live
  // state, slot by slot, and none of the slot's GPUs blocked. The arguments must outlive the
  // result.
  GangBook::SlotCheck FiltersStillPass(const plugins::GangSpec& spec,
                                       const plugins::GangPlan& plan) const;
  // Counts and logs a held plan; the planning pod's answer (its slot's node).
  Admission Reserved(const std::string& gang, const plugins::GangSpec& spec,
                     const plugins::GangPlan& plan, const plugins::ClusterSnapshot& snapshot)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The planner's level index of `pod`'s network annotation, or -1 for none.
  absl::StatusOr<int> LevelOf(const codec::GangMembership& gang) const;
  // The network domains of `snapshot`'s layout (rebuilt when the node set changed).
  const plugins::NetworkDomains& DomainsFor(const plugins::ClusterSnapshot& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(plan_mu_);

  const plugins::Solver* solver_;
  Ledger* ledger_;
  GangOptions options_;
  GangBook book_;
  absl::Mutex plan_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::optional<plugins::NetworkDomains> domains_ ABSL_GUARDED_BY(plan_mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, Gang> gangs_ ABSL_GUARDED_BY(mu_);
  uint64_t next_order_ ABSL_GUARDED_BY(mu_) = 0;
  Stats counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_GANG_GANG_COORDINATOR_H_
