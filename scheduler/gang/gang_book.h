// GangBook: the gang reservations (DESIGN section 6). A planned gang's member slots are held in
// the ledger as Holder::kGangSlot placements under synthetic UIDs (SlotUid), so other pods
// cannot take their devices; each arriving member claims the slot planned for its shape,
// and its bind turns the held slot into its own placement (Ledger::Transfer). A reservation has a
// deadline, renewed while members keep arriving; when it passes with slots unbound, or when the
// reservation is dropped, the unbound slots are released. Nothing else holds devices for a gang, so
// nothing can leak past Expire.
//
// Time is injected (`now` in seconds on any monotonic clock), so tests drive expiry directly.
//
// Thread-safety: thread-safe (one mutex); ledger calls are made outside it.
#ifndef ACCELSCHED_SCHEDULER_GANG_GANG_BOOK_H_
#define ACCELSCHED_SCHEDULER_GANG_GANG_BOOK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/pod_request.h"
#include "plugins/gang/planner.h"
#include "scheduler/state/ledger.h"

namespace accelsched::scheduler {

class GangBook {
 public:
  // `ledger` is not owned and must outlive the book. `ttl_seconds`: how long a reservation lives
  // after it is made or renewed.
  GangBook(Ledger* ledger, double ttl_seconds) : ledger_(ledger), ttl_(ttl_seconds) {}

  // The ledger UID of slot `slot` of reservation `generation` of gang `gang`
  // ("gang:<namespace>/<name>@<generation>#<slot>"). Each reservation has a generation of its
  // own, so a late release of an old reservation's slot can never free a newer one's.
  static std::string SlotUid(const std::string& gang, uint64_t generation, size_t slot);

  // Holds every slot of `plan` (for `members`, GangSpec order) in the ledger, all or nothing:
  // if one cannot be held (the cluster changed since planning), the others are released and the
  // error is returned. AlreadyExists if `gang` has a reservation.
  // `planned_on`: the snapshot the plan was made on (its node indices name the nodes).
  // `claimers`: empty, or per member the pod UID that claims its slot at once (so that no other
  // pod can take a planned member's slot in between).
  // `check`: if set, called for each slot under the ledger's lock with the live state and the
  // slot's node; an error refuses the slot (and so the whole reservation), e.g. tenancy.
  using SlotCheck = std::function<absl::Status(size_t slot, const plugins::ClusterSnapshot& live,
                                               plugins::NodeIndex node)>;
  absl::Status Reserve(const std::string& gang, const std::vector<plugins::PodRequest>& members,
                       const plugins::GangPlan& plan, const plugins::ClusterSnapshot& planned_on,
                       double now, const std::vector<std::string>& claimers = {},
                       const SlotCheck& check = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  struct Claim {
    size_t slot = 0;
    std::string node;         // Where the member must go.
    std::string slot_uid;     // What it binds from (Ledger::Transfer).
    bool bound = false;       // The member holds the slot's devices under its own UID.
    uint64_t generation = 0;  // Of the reservation.
  };
  // What ClaimSlot found: an outcome, not an error.
  struct ClaimOutcome {
    enum class Kind {
      kClaimed,         // `claim` is the member's slot.
      kNoReservation,   // The gang has no reservation (plan it).
      kNoSlotForShape,  // A reservation without a slot left for this GPU request (a member
                        // beyond minMember: schedule it as any pod).
    };
    Kind kind = Kind::kNoReservation;
    Claim claim;
  };
  // The slot of member `pod_uid`: the one it claimed before, else the first unclaimed slot
  // planned for the same GPU request. Renews the deadline.
  ClaimOutcome ClaimSlot(const std::string& gang, const std::string& pod_uid,
                         const plugins::PodRequest& request, double now) ABSL_LOCKS_EXCLUDED(mu_);

  // Binds member `pod_uid` (which claimed a slot) through Ledger::Transfer; marks the slot bound.
  // When every slot is bound the reservation is complete and forgotten. A retry of a bind that
  // succeeded returns the placement with `*existed` = true.
  absl::StatusOr<PlacedPod> BindMember(const std::string& gang, const std::string& pod_uid,
                                       const std::string& key, const plugins::PodRequest& request,
                                       const std::string& node, bool* existed = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The slot member `pod_uid` claimed, if any (claims nothing, renews nothing).
  std::optional<Claim> ClaimOf(const std::string& gang, const std::string& pod_uid) const
      ABSL_LOCKS_EXCLUDED(mu_);
  enum class UnbindOutcome {
    kBackInSlot,   // The devices are held by the member's slot again, still claimed by it.
    kNoBoundSlot,  // No reservation holds a bound slot of the member (complete, expired or
                   // dropped): its devices are its own, for the caller to release.
  };
  // Undoes BindMember (the API refused the binding). An error only if the ledger refuses.
  absl::StatusOr<UnbindOutcome> UnbindMember(const std::string& gang, const std::string& pod_uid)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The ledger UIDs of the unbound slots of every reservation, by gang (without slots being
  // bound right now: their devices move between UIDs).
  std::map<std::string, std::vector<std::string>> UnboundSlots() const ABSL_LOCKS_EXCLUDED(mu_);

  // Releases the unbound slots of every reservation whose deadline is before `now` and forgets
  // it. Returns the gangs released (to be planned again when their members come back).
  std::vector<std::string> Expire(double now) ABSL_LOCKS_EXCLUDED(mu_);
  // The same for one gang now (e.g. a member was deleted before binding). False if it has no
  // reservation, or (with `generation` set) not that one.
  bool Drop(const std::string& gang, std::optional<uint64_t> generation = std::nullopt)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every reservation with an unbound slot that the ledger no longer holds (its node was
  // removed or shrank), checked under the book's lock so that a slot being bound right now is
  // never taken for lost. Returns the gangs dropped.
  std::vector<std::string> DropLost() ABSL_LOCKS_EXCLUDED(mu_);

  bool Has(const std::string& gang) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t active() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Slot {
    plugins::PodRequest request;
    std::string key;  // "<gang>#<slot>", the ledger key of the held slot.
    std::string node;
    std::string claimed_by;  // Pod UID, or empty.
    bool bound = false;
    bool binding = false;  // Its Ledger::Transfer is running (neither held nor bound).
  };
  struct Reservation {
    std::vector<Slot> slots;
    double deadline = 0;
    uint64_t generation = 0;
  };
  // Releases the unbound slots of `r` in the ledger.
  void ReleaseUnbound(const std::string& gang, const Reservation& r);
  // Takes out (under the lock) every reservation with slots for which `doomed` is true, then
  // releases their unbound slots. Returns their gangs.
  std::vector<std::string> ReleaseWhere(
      const std::function<bool(const std::string&, const Reservation&)>& doomed)
      ABSL_LOCKS_EXCLUDED(mu_);

  Ledger* ledger_;
  const double ttl_;
  mutable absl::Mutex mu_;
  std::map<std::string, Reservation> reservations_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_GANG_GANG_BOOK_H_
