#include "scheduler/gang/gang_book.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::scheduler {

std::string GangBook::SlotUid(const std::string& gang, uint64_t generation, size_t slot) {
  return absl::StrCat("gang:", gang, "@", generation, "#", slot);
}

absl::Status GangBook::Reserve(const std::string& gang,
                               const std::vector<plugins::PodRequest>& members,
                               const plugins::GangPlan& plan,
                               const plugins::ClusterSnapshot& planned_on, double now,
                               const std::vector<std::string>& claimers, const SlotCheck& check) {
  if (members.size() != plan.slots.size() ||
      (!claimers.empty() && claimers.size() != members.size())) {
    return absl::InvalidArgumentError(absl::StrCat("gang ", gang, ": ", members.size(),
                                                   " members, ", plan.slots.size(), " slots, ",
                                                   claimers.size(), " claimers"));
  }
  Reservation r;
  {
    absl::MutexLock lock(&mu_);
    if (reservations_.count(gang) > 0) {
      return absl::AlreadyExistsError(absl::StrCat("gang ", gang, " is already reserved"));
    }
    r.generation = next_generation_++;
    r.deadline = now + ttl_;
    // Claim the name now (without slots) so that a concurrent Reserve of the same gang fails
    // fast; ClaimSlot treats it as no reservation yet.
    reservations_[gang] = Reservation{{}, r.deadline, r.generation};
  }
  auto give_up = [&](absl::Status s) {
    ReleaseUnbound(gang, r);
    absl::MutexLock lock(&mu_);
    reservations_.erase(gang);
    return s;
  };
  for (size_t k = 0; k < plan.slots.size(); ++k) {
    const plugins::Assignment want = plan.slots[k];
    if (want.node < 0 || want.node >= planned_on.num_nodes()) {
      return give_up(absl::InvalidArgumentError(absl::StrCat(
          "gang ", gang, ": slot ", k, " names node index ", want.node, ", not in the snapshot")));
    }
    const std::string node = planned_on.node(want.node).name;
    auto choose = [&](const plugins::ClusterSnapshot& live,
                      plugins::NodeIndex index) -> absl::StatusOr<plugins::Assignment> {
      if (check) ACCELSCHED_RETURN_IF_ERROR(check(k, live, index));
      plugins::Assignment a = want;
      a.node = index;
      return a;
    };
    absl::StatusOr<PlacedPod> held =
        ledger_->Place(SlotUid(gang, r.generation, k), absl::StrCat(gang, "#", k), members[k], node,
                       choose, /*existed=*/nullptr, Holder::kGangSlot);
    if (!held.ok()) {
      return give_up(absl::Status(held.status().code(),
                                  absl::StrCat("gang ", gang, ": slot ", k, " on ", node,
                                               " cannot be held: ", held.status().message())));
    }
    r.slots.push_back(Slot{members[k], absl::StrCat(gang, "#", k), node,
                           claimers.empty() ? "" : claimers[k], false, false});
  }
  absl::MutexLock lock(&mu_);
  reservations_[gang] = std::move(r);
  return absl::OkStatus();
}

GangBook::ClaimOutcome GangBook::ClaimSlot(const std::string& gang, const std::string& pod_uid,
                                           const plugins::PodRequest& request, double now) {
  using Kind = ClaimOutcome::Kind;
  absl::MutexLock lock(&mu_);
  auto it = reservations_.find(gang);
  if (it == reservations_.end() || it->second.slots.empty()) return {Kind::kNoReservation, {}};
  Reservation& r = it->second;
  r.deadline = now + ttl_;
  std::optional<size_t> free_slot;
  for (size_t k = 0; k < r.slots.size(); ++k) {
    if (r.slots[k].claimed_by == pod_uid) {
      return {Kind::kClaimed,
              {k, r.slots[k].node, SlotUid(gang, r.generation, k), r.slots[k].bound, r.generation}};
    }
    if (!free_slot.has_value() && r.slots[k].claimed_by.empty() &&
        r.slots[k].request.SameGpuRequest(request)) {
      free_slot = k;
    }
  }
  if (!free_slot.has_value()) return {Kind::kNoSlotForShape, {}};
  r.slots[*free_slot].claimed_by = pod_uid;
  return {Kind::kClaimed,
          {*free_slot, r.slots[*free_slot].node, SlotUid(gang, r.generation, *free_slot), false,
           r.generation}};
}

absl::StatusOr<PlacedPod> GangBook::BindMember(const std::string& gang, const std::string& pod_uid,
                                               const std::string& key,
                                               const plugins::PodRequest& request,
                                               const std::string& node, bool* existed) {
  size_t slot = 0;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    if (it == reservations_.end()) {
      return absl::NotFoundError(absl::StrCat("gang ", gang, " has no reservation"));
    }
    bool found = false;
    for (size_t k = 0; k < it->second.slots.size(); ++k) {
      if (it->second.slots[k].claimed_by == pod_uid) {
        slot = k;
        found = true;
      }
    }
    if (!found) {
      return absl::FailedPreconditionError(
          absl::StrCat("pod ", key, " has no slot of gang ", gang, " (filter claims one)"));
    }
    generation = it->second.generation;
    it->second.slots[slot].binding = true;
  }
  absl::StatusOr<PlacedPod> placed =
      ledger_->Transfer(SlotUid(gang, generation, slot), pod_uid, key, request, node, existed);
  absl::MutexLock lock(&mu_);
  // The same reservation (not one planned after it was dropped) and the same slot.
  auto it = reservations_.find(gang);
  const bool same = it != reservations_.end() && it->second.generation == generation &&
                    slot < it->second.slots.size();
  if (same) it->second.slots[slot].binding = false;
  if (!placed.ok()) return placed.status();
  if (same) {
    it->second.slots[slot].bound = true;
    bool all = true;
    for (const Slot& s : it->second.slots) all = all && s.bound;
    if (all) reservations_.erase(it);  // Complete: every member holds its own placement.
  }
  return placed;
}

std::optional<GangBook::Claim> GangBook::ClaimOf(const std::string& gang,
                                                 const std::string& pod_uid) const {
  absl::MutexLock lock(&mu_);
  auto it = reservations_.find(gang);
  if (it == reservations_.end()) return std::nullopt;
  const Reservation& r = it->second;
  for (size_t k = 0; k < r.slots.size(); ++k) {
    if (r.slots[k].claimed_by == pod_uid) {
      return Claim{k, r.slots[k].node, SlotUid(gang, r.generation, k), r.slots[k].bound,
                   r.generation};
    }
  }
  return std::nullopt;
}

absl::StatusOr<GangBook::UnbindOutcome> GangBook::UnbindMember(const std::string& gang,
                                                               const std::string& pod_uid) {
  Slot slot;
  size_t index = 0;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    bool found = false;
    if (it != reservations_.end()) {
      for (size_t k = 0; k < it->second.slots.size(); ++k) {
        if (it->second.slots[k].claimed_by == pod_uid && it->second.slots[k].bound) {
          slot = it->second.slots[k];
          index = k;
          generation = it->second.generation;
          found = true;
        }
      }
    }
    if (!found) return UnbindOutcome::kNoBoundSlot;
  }
  const std::string slot_uid = SlotUid(gang, generation, index);
  ACCELSCHED_ASSIGN_OR_RETURN(
      PlacedPod held, ledger_->Transfer(pod_uid, slot_uid, slot.key, slot.request, slot.node));
  (void)held;
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    if (it != reservations_.end() && it->second.generation == generation &&
        index < it->second.slots.size()) {
      it->second.slots[index].bound = false;
    } else {
      release = true;  // The reservation ended meanwhile: nobody owns the slot any more.
    }
  }
  if (release) ACCELSCHED_RETURN_IF_ERROR(ledger_->Release(slot_uid));
  return UnbindOutcome::kBackInSlot;
}

std::map<std::string, std::vector<std::string>> GangBook::UnboundSlots() const {
  std::map<std::string, std::vector<std::string>> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [gang, r] : reservations_) {
    std::vector<std::string>& uids = out[gang];
    for (size_t k = 0; k < r.slots.size(); ++k) {
      if (!r.slots[k].bound && !r.slots[k].binding) uids.push_back(SlotUid(gang, r.generation, k));
    }
  }
  return out;
}

void GangBook::ReleaseUnbound(const std::string& gang, const Reservation& r) {
  for (size_t k = 0; k < r.slots.size(); ++k) {
    if (!r.slots[k].bound) (void)ledger_->Release(SlotUid(gang, r.generation, k));
  }
}

std::vector<std::string> GangBook::ReleaseWhere(
    const std::function<bool(const std::string&, const Reservation&)>& doomed) {
  std::vector<std::pair<std::string, Reservation>> taken;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = reservations_.begin(); it != reservations_.end();) {
      if (!it->second.slots.empty() && doomed(it->first, it->second)) {
        taken.emplace_back(it->first, std::move(it->second));
        it = reservations_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& [gang, r] : taken) {
    ReleaseUnbound(gang, r);
    names.push_back(gang);
  }
  return names;
}

std::vector<std::string> GangBook::Expire(double now) {
  return ReleaseWhere([now](const std::string&, const Reservation& r) { return r.deadline < now; });
}

bool GangBook::Drop(const std::string& gang, std::optional<uint64_t> generation) {
  Reservation r;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    if (it == reservations_.end() || it->second.slots.empty() ||
        (generation.has_value() && it->second.generation != *generation)) {
      return false;
    }
    r = std::move(it->second);
    reservations_.erase(it);
  }
  ReleaseUnbound(gang, r);
  return true;
}

std::vector<std::string> GangBook::DropLost() {
  return ReleaseWhere([this](const std::string& gang, const Reservation& r) {
    for (size_t k = 0; k < r.slots.size(); ++k) {
      // Neither bound nor being bound: the ledger must hold it. (Lock order: book, then ledger;
      // the ledger never calls the book.)
      if (r.slots[k].bound || r.slots[k].binding) continue;
      if (!ledger_->Find(SlotUid(gang, r.generation, k)).has_value()) return true;
    }
    return false;
  });
}

bool GangBook::Has(const std::string& gang) const {
  absl::MutexLock lock(&mu_);
  return reservations_.count(gang) > 0;
}

size_t GangBook::active() const {
  absl::MutexLock lock(&mu_);
  return reservations_.size();
}

}  // namespace accelsched::scheduler
