#include "scheduler/state/pod_cache.h"

#include <utility>

namespace accelsched::scheduler {

size_t PodCache::PodBytes(const codec::PodObject& pod) {
  size_t bytes = sizeof(codec::PodObject) + 64;  // The entry, its list node and index slot.
  for (const std::string* s :
       {&pod.uid, &pod.name, &pod.namespace_name, &pod.node_name, &pod.scheduler_name, &pod.phase,
        &pod.mig_profile_name, &pod.request.name, &pod.request.tenant}) {
    bytes += s->size();
  }
  for (const auto* m : {&pod.labels, &pod.annotations}) {
    for (const auto& [k, v] : *m) bytes += k.size() + v.size() + 64;
  }
  for (const std::string& m : pod.request.allowed_models) bytes += m.size() + 32;
  return bytes;
}

void PodCache::Put(const codec::PodObject& pod) {
  if (pod.uid.empty() || capacity_ == 0) return;
  absl::MutexLock lock(&mu_);
  if (auto it = by_uid_.find(pod.uid); it != by_uid_.end()) {
    bytes_ -= PodBytes(*it->second);
    lru_.erase(it->second);
    by_uid_.erase(it);
  }
  lru_.push_front(pod);
  by_uid_[pod.uid] = lru_.begin();
  bytes_ += PodBytes(pod);
  while (lru_.size() > capacity_ || (bytes_ > max_bytes_ && lru_.size() > 1)) {
    bytes_ -= PodBytes(lru_.back());
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
