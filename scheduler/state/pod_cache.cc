#include "scheduler/state/pod_cache.h"

#include <utility>

namespace accelsched::scheduler {

void PodCache::Put(const codec::PodObject& pod) {
  if (pod.uid.empty() || capacity_ == 0) return;
  absl::MutexLock lock(&mu_);
  if (auto it = by_uid_.find(pod.uid); it != by_uid_.end()) {
    lru_.erase(it->second);
    by_uid_.erase(it);
  }
  lru_.push_front(pod);
  by_uid_[pod.uid] = lru_.begin();
  while (lru_.size() > capacity_) {
    by_uid_.erase(lru_.back().uid);
    lru_.pop_back();
  }
}

std::optional<codec::PodObject> PodCache::Get(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

}  // namespace accelsched::scheduler
