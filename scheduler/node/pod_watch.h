// The pods bound to this node, for the Assigner (DESIGN section 12): one list and then a watch of
// /api/v1/pods?fieldSelector=spec.nodeName=<node> (never a LIST per Allocate), relisting on 410
// and reconnecting with backoff. Also the writer of accelsched.io/allocated: each record is a
// merge patch, retried with backoff until it lands or the pod is gone.
//
// Thread-safety: thread-safe; two background threads (watch, patches) between Start and Stop.
// Nothing on them throws: every failure is logged and retried.
#ifndef ACCELSCHED_SCHEDULER_NODE_POD_WATCH_H_
#define ACCELSCHED_SCHEDULER_NODE_POD_WATCH_H_

#include <atomic>
#include <deque>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/kube/client.h"
#include "scheduler/node/assigner.h"

namespace accelsched::scheduler::node {

class PodWatch {
 public:
  PodWatch(const kube::KubeClient& client, std::string node, Assigner& assigner);
  ~PodWatch();  // Stop().
  PodWatch(const PodWatch&) = delete;
  PodWatch& operator=(const PodWatch&) = delete;

  void Start();
  // Gives queued accelsched.io/allocated records up to 2 s to land, then stops both threads.
  void Stop();
  // True once the first list has reached the Assigner.
  bool synced() const { return synced_; }
  // Blocks until synced() or `timeout`; returns synced().
  bool WaitSynced(absl::Duration timeout) const;

  // Queues the patch that records `containers` as served on pod `key` ("ns/name").
  void RecordAllocated(const std::string& uid, const std::string& key,
                       const std::set<std::string>& containers);
  // Patches queued and not yet written.
  size_t pending_patches() const;

 private:
  struct Patch {
    std::string uid;
    std::string key;
    std::string value;
  };
  void RunWatch();
  // One list and the watch from its version; returns when the watch ends.
  absl::Status ListAndWatchOnce();
  // One watch line: the Assigner updated, `version` advanced; an error ends the watch.
  absl::Status ApplyEvent(absl::string_view line, std::string& version);
  void RunPatches();

  const kube::KubeClient& client_;
  const std::string node_;
  Assigner& assigner_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::thread watch_thread_;
  std::thread patch_thread_;
  mutable absl::Mutex mu_;
  std::deque<Patch> patches_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_POD_WATCH_H_
