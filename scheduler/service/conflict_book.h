// Pods the API server shows bound whose recorded devices the ledger cannot give them, because
// another pod already holds them (Kubernetes mode; issue 14): for example a binding written by a
// process that was killed, applied by the API after the new process gave the same GPUs away.
// The API's record is the truth, so such a pod runs on devices that are also someone else's:
// an operator must see it. A conflict stays until the pod is adopted after all (the other pod
// left) or released (deleted, finished, gone from a list). The ledger keeps the older holder;
// the newer placement is never counted as healthy.
//
// Shown on /metrics (accelsched_placement_conflicts), in /debug/state ("conflicts"), in the log,
// and as a Kubernetes Event on the pod (KubeSync reports each once).
//
// Thread-safety: thread-safe.
#ifndef ACCELSCHED_SCHEDULER_SERVICE_CONFLICT_BOOK_H_
#define ACCELSCHED_SCHEDULER_SERVICE_CONFLICT_BOOK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace accelsched::scheduler {

struct Conflict {
  std::string uid;
  std::string pod;  // "namespace/name".
  std::string node;
  std::string devices;  // What the pod's annotations record ("gpu-ids=0,1").
  std::string reason;   // Why the ledger could not adopt it.
};

class ConflictBook {
 public:
  // Records the conflict of `c.uid`; true if it is new. The same pod seen again with the same
  // node and devices is not reported again.
  bool Record(const Conflict& c) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = conflicts_.find(c.uid);
    if (it == conflicts_.end()) {
      conflicts_.emplace(c.uid, Entry{c, false});
      return true;
    }
    if (it->second.conflict.node != c.node || it->second.conflict.devices != c.devices) {
      it->second = Entry{c, false};  // Another conflict: reported again.
    }
    return false;
  }
  void Clear(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    conflicts_.erase(uid);
  }
  // Keeps only the conflicts of `uids` (after a full list: the others are gone).
  void KeepOnly(const absl::flat_hash_set<std::string>& uids) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::erase_if(conflicts_, [&](const auto& kv) { return !uids.contains(kv.first); });
  }
  std::vector<Conflict> All() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::vector<Conflict> out;
    out.reserve(conflicts_.size());
    for (const auto& [uid, e] : conflicts_) out.push_back(e.conflict);
    return out;
  }
  // The conflicts recorded or changed since the last call (to report each once).
  std::vector<Conflict> TakeUnreported() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::vector<Conflict> out;
    for (auto& [uid, e] : conflicts_) {
      if (e.reported) continue;
      e.reported = true;
      out.push_back(e.conflict);
    }
    return out;
  }
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return conflicts_.size();
  }

 private:
  struct Entry {
    Conflict conflict;
    bool reported = false;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> conflicts_ ABSL_GUARDED_BY(mu_);  // By uid.
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_SERVICE_CONFLICT_BOOK_H_
