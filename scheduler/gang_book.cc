#include "scheduler/gang_book.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::scheduler {

std::string GangBook::SlotUid(const std::string& gang, size_t slot) {
  return absl::StrCat("gang:", gang, "#", slot);
}

absl::Status GangBook::Reserve(const std::string& gang,
                               const std::vector<plugins::PodRequest>& members,
                               const plugins::GangPlan& plan,
                               const plugins::ClusterSnapshot& planned_on, double now) {
  if (members.size() != plan.slots.size()) {
    return absl::InvalidArgumentError(absl::StrCat("gang ", gang, ": ", members.size(),
                                                   " members but ", plan.slots.size(), " slots"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (reservations_.count(gang) > 0) {
      return absl::AlreadyExistsError(absl::StrCat("gang ", gang, " is already reserved"));
    }
    // Claim the name now so that a concurrent Reserve of the same gang fails fast.
    reservations_[gang].deadline = now + ttl_;
  }
  Reservation r;
  r.deadline = now + ttl_;
  for (size_t k = 0; k < plan.slots.size(); ++k) {
    const plugins::Assignment want = plan.slots[k];
    if (want.node < 0 || want.node >= planned_on.num_nodes()) {
      ReleaseUnbound(gang, r);
      absl::MutexLock lock(&mu_);
      reservations_.erase(gang);
      return absl::InvalidArgumentError(absl::StrCat(
          "gang ", gang, ": slot ", k, " names node index ", want.node, ", not in the snapshot"));
    }
    const std::string node = planned_on.node(want.node).name;
    auto choose = [&](const plugins::ClusterSnapshot&,
                      plugins::NodeIndex index) -> absl::StatusOr<plugins::Assignment> {
      plugins::Assignment a = want;
      a.node = index;
      return a;
    };
    absl::StatusOr<PlacedPod> held =
        ledger_->Place(SlotUid(gang, k), absl::StrCat(gang, "#", k), members[k], node, choose);
    if (!held.ok()) {
      ReleaseUnbound(gang, r);
      absl::MutexLock lock(&mu_);
      reservations_.erase(gang);
      return absl::Status(held.status().code(),
                          absl::StrCat("gang ", gang, ": slot ", k, " on ", node,
                                       " cannot be held: ", held.status().message()));
    }
    r.slots.push_back(Slot{members[k], absl::StrCat(gang, "#", k), node, "", false});
  }
  absl::MutexLock lock(&mu_);
  reservations_[gang] = std::move(r);
  return absl::OkStatus();
}

absl::StatusOr<GangBook::Claim> GangBook::ClaimSlot(const std::string& gang,
                                                    const std::string& pod_uid,
                                                    const plugins::PodRequest& request,
                                                    double now) {
  absl::MutexLock lock(&mu_);
  auto it = reservations_.find(gang);
  if (it == reservations_.end() || it->second.slots.empty()) {
    return absl::NotFoundError(absl::StrCat("gang ", gang, " has no reservation"));
  }
  Reservation& r = it->second;
  r.deadline = now + ttl_;
  std::optional<size_t> free_slot;
  for (size_t k = 0; k < r.slots.size(); ++k) {
    if (r.slots[k].claimed_by == pod_uid) {
      return Claim{k, r.slots[k].node, SlotUid(gang, k), r.slots[k].bound};
    }
    if (!free_slot.has_value() && r.slots[k].claimed_by.empty() &&
        r.slots[k].request.SameGpuRequest(request)) {
      free_slot = k;
    }
  }
  if (!free_slot.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("gang ", gang, ": no unclaimed slot left for this pod's GPU request (",
                     r.slots.size(), " slots)"));
  }
  r.slots[*free_slot].claimed_by = pod_uid;
  return Claim{*free_slot, r.slots[*free_slot].node, SlotUid(gang, *free_slot)};
}

absl::StatusOr<PlacedPod> GangBook::BindMember(const std::string& gang, const std::string& pod_uid,
                                               const std::string& key,
                                               const plugins::PodRequest& request,
                                               const std::string& node, bool* existed) {
  size_t slot = 0;
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
    it->second.slots[slot].binding = true;
  }
  absl::StatusOr<PlacedPod> placed =
      ledger_->Transfer(SlotUid(gang, slot), pod_uid, key, request, node, existed);
  absl::MutexLock lock(&mu_);
  auto it = reservations_.find(gang);
  if (it != reservations_.end()) it->second.slots[slot].binding = false;
  if (!placed.ok()) return placed.status();
  if (it != reservations_.end()) {
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
  for (size_t k = 0; k < it->second.slots.size(); ++k) {
    if (it->second.slots[k].claimed_by == pod_uid) {
      return Claim{k, it->second.slots[k].node, SlotUid(gang, k), it->second.slots[k].bound};
    }
  }
  return std::nullopt;
}

absl::Status GangBook::UnbindMember(const std::string& gang, const std::string& pod_uid) {
  Slot slot;
  size_t index = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    bool found = false;
    if (it != reservations_.end()) {
      for (size_t k = 0; k < it->second.slots.size(); ++k) {
        if (it->second.slots[k].claimed_by == pod_uid && it->second.slots[k].bound) {
          slot = it->second.slots[k];
          index = k;
          found = true;
        }
      }
    }
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("gang ", gang, " holds no bound slot of pod uid ", pod_uid));
    }
  }
  ACCELSCHED_ASSIGN_OR_RETURN(PlacedPod held, ledger_->Transfer(pod_uid, SlotUid(gang, index),
                                                                slot.key, slot.request, slot.node));
  (void)held;
  absl::MutexLock lock(&mu_);
  auto it = reservations_.find(gang);
  if (it != reservations_.end()) it->second.slots[index].bound = false;
  return absl::OkStatus();
}

std::map<std::string, std::vector<std::string>> GangBook::UnboundSlots() const {
  std::map<std::string, std::vector<std::string>> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [gang, r] : reservations_) {
    std::vector<std::string>& uids = out[gang];
    for (size_t k = 0; k < r.slots.size(); ++k) {
      if (!r.slots[k].bound && !r.slots[k].binding) uids.push_back(SlotUid(gang, k));
    }
  }
  return out;
}

void GangBook::ReleaseUnbound(const std::string& gang, const Reservation& r) {
  for (size_t k = 0; k < r.slots.size(); ++k) {
    if (!r.slots[k].bound) (void)ledger_->Release(SlotUid(gang, k));
  }
}

std::vector<std::string> GangBook::Expire(double now) {
  std::vector<std::pair<std::string, Reservation>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = reservations_.begin(); it != reservations_.end();) {
      if (it->second.deadline < now && !it->second.slots.empty()) {
        expired.emplace_back(it->first, std::move(it->second));
        it = reservations_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& [gang, r] : expired) {
    ReleaseUnbound(gang, r);
    names.push_back(gang);
  }
  return names;
}

absl::Status GangBook::Drop(const std::string& gang) {
  Reservation r;
  {
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(gang);
    if (it == reservations_.end()) {
      return absl::NotFoundError(absl::StrCat("gang ", gang, " has no reservation"));
    }
    r = std::move(it->second);
    reservations_.erase(it);
  }
  ReleaseUnbound(gang, r);
  return absl::OkStatus();
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
