#include "scheduler/service/tentative_holds.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "spdlog/spdlog.h"

namespace accelsched::scheduler {

TentativeHolds::TentativeHolds(Ledger* ledger, Clock clock, double seconds)
    : ledger_(ledger), clock_(std::move(clock)), seconds_(seconds) {}

std::optional<TentativeHolds::Held> TentativeHolds::Take(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(uid);
  if (it == held_.end()) return std::nullopt;
  Held h = std::move(it->second);
  held_.erase(it);
  return h;
}

void TentativeHolds::Hold(const codec::PodObject& pod, const std::string& node,
                          const Ledger::Chooser& choose) {
  if (!enabled() || pod.uid.empty()) return;
  Drop(pod.uid);
  if (ledger_->Find(pod.uid).has_value()) return;  // Bound already: nothing to hold.
  absl::StatusOr<PlacedPod> placed = ledger_->Place(HoldUid(pod.uid), pod.Key(), pod.request, node,
                                                    choose, nullptr, Holder::kTentative);
  if (!placed.ok()) {
    spdlog::debug("no tentative hold for pod {} on {}: {}", pod.Key(), node,
                  std::string(placed.status().message()));
    return;
  }
  const double deadline = clock_() + seconds_;
  absl::MutexLock lock(&mu_);
  held_[pod.uid] = Held{node, deadline};
  if (next_deadline_ == 0 || deadline < next_deadline_) next_deadline_ = deadline;
  ++counts_.made;
}

void TentativeHolds::Drop(const std::string& uid) {
  if (!Take(uid).has_value()) return;
  (void)ledger_->Release(HoldUid(uid));
  absl::MutexLock lock(&mu_);
  ++counts_.dropped;
}

std::optional<PlacedPod> TentativeHolds::Convert(const codec::PodObject& pod,
                                                 const std::string& node) {
  std::optional<Held> h = Take(pod.uid);
  if (!h.has_value()) return std::nullopt;
  if (h->node == node) {
    absl::StatusOr<PlacedPod> placed =
        ledger_->Transfer(HoldUid(pod.uid), pod.uid, pod.Key(), pod.request, node);
    if (placed.ok()) {
      absl::MutexLock lock(&mu_);
      ++counts_.bound;
      return *std::move(placed);
    }
    spdlog::warn("pod {} could not take over its tentative hold on {}: {}", pod.Key(), node,
                 std::string(placed.status().message()));
  }
  (void)ledger_->Release(HoldUid(pod.uid));
  absl::MutexLock lock(&mu_);
  ++counts_.dropped;
  return std::nullopt;
}

void TentativeHolds::Expire() {
  std::vector<std::string> expired;
  const double now = clock_();
  {
    absl::MutexLock lock(&mu_);
    if (next_deadline_ == 0 || now < next_deadline_) return;
    next_deadline_ = 0;
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(it->first);
        held_.erase(it++);
        continue;
      }
      if (next_deadline_ == 0 || it->second.deadline < next_deadline_) {
        next_deadline_ = it->second.deadline;
      }
      ++it;
    }
    counts_.expired += static_cast<int64_t>(expired.size());
  }
  for (const std::string& uid : expired) {
    (void)ledger_->Release(HoldUid(uid));
    spdlog::info("tentative hold of pod uid {} expired (no bind within {} s)", uid, seconds_);
  }
}

size_t TentativeHolds::size() const {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

TentativeHolds::Counts TentativeHolds::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

}  // namespace accelsched::scheduler
