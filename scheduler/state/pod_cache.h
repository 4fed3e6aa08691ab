// PodCache: the pods seen at filter and prioritize, by UID, for the bind that follows
// (kube-scheduler's bind call carries only the pod's name, namespace and UID). Bounded by count
// and by bytes (an estimate of each pod's strings): the least recently used pods are evicted
// beyond either; the newest pod is always kept.
//
// Thread-safety: thread-safe (one mutex).
#ifndef ACCELSCHED_SCHEDULER_STATE_POD_CACHE_H_
#define ACCELSCHED_SCHEDULER_STATE_POD_CACHE_H_

#include <cstddef>
#include <list>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/k8s.h"

namespace accelsched::scheduler {

class PodCache {
 public:
  static constexpr size_t kDefaultMaxBytes = size_t{256} << 20;
  // `capacity` 0 remembers nothing.
  explicit PodCache(size_t capacity, size_t max_bytes = kDefaultMaxBytes)
      : capacity_(capacity), max_bytes_(max_bytes) {}
  // Remembers `pod` (a pod without a UID is not remembered).
  void Put(const codec::PodObject& pod) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<codec::PodObject> Get(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);
  // What the cache counts for `pod`: its strings and a fixed overhead per entry.
  static size_t PodBytes(const codec::PodObject& pod);

 private:
  const size_t capacity_;
  const size_t max_bytes_;
  absl::Mutex mu_;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;                 // Sum of PodBytes over lru_.
  std::list<codec::PodObject> lru_ ABSL_GUARDED_BY(mu_);  // Most recent first.
  absl::flat_hash_map<std::string, std::list<codec::PodObject>::iterator> by_uid_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_STATE_POD_CACHE_H_
