#include "scheduler/service/bind_tracker.h"

#include <optional>

namespace accelsched::scheduler {
namespace {

// The value of a bind that has not ended (clocks may start at 0, so 0 cannot mean "running").
constexpr std::optional<double> kRunning = std::nullopt;

}  // namespace

void BindTracker::Begin(const std::string& uid) {
  const double now = clock_();
  absl::MutexLock lock(&mu_);
  absl::erase_if(ended_, [&](const auto& entry) {
    return entry.second.has_value() && now - *entry.second > memory_;
  });
  ended_[uid] = kRunning;
}

void BindTracker::End(const std::string& uid) {
  const double now = clock_();
  absl::MutexLock lock(&mu_);
  ended_[uid] = now;
}

bool BindTracker::InFlight(const std::string& uid) const {
  const double now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = ended_.find(uid);
  if (it == ended_.end()) return false;
  return !it->second.has_value() || now - *it->second < memory_;
}

bool BindTracker::InFlightSince(const std::string& uid, double since) const {
  absl::MutexLock lock(&mu_);
  auto it = ended_.find(uid);
  if (it == ended_.end()) return false;
  return !it->second.has_value() || *it->second >= since;
}

}  // namespace accelsched::scheduler
