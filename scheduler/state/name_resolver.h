// Resolves the node names of extender requests to snapshot node indices.
//
// kube-scheduler sends the same node list to filter cycle after cycle (and to prioritize, the
// survivors, which change little between cycles), so each name is first predicted from a
// previous list of the same kind and checked against the snapshot's name for that node; only a
// miss costs a hash lookup (ClusterSnapshot::Find). After a miss, predictions continue from
// where the found node stood in the previous list, so a node added to or dropped from the list
// costs one lookup, not one per following name. A wrong prediction is always caught by the
// name check: the result equals ClusterSnapshot::Find for every name.
//
// A list decoded from the same JSON text as a kept one (codec::NodeNames::identity(), the
// codec's list cache) on a snapshot of the same layout is not looked at again: its resolution is
// reused whole.
//
// The last few lists of each kind are kept, at most one per length band (lists whose lengths
// differ by less than 1/32 share a band), and a list is predicted from the kept one closest in
// length: the full-cluster lists of most pods then still predict each other when a pod with a
// node selector (a short list) comes in between.
//
// Thread-safety: thread-safe. Concurrent requests may race to publish their list; either one
// wins, and a stale prediction is only a miss.
#ifndef ACCELSCHED_SCHEDULER_STATE_NAME_RESOLVER_H_
#define ACCELSCHED_SCHEDULER_STATE_NAME_RESOLVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

#include "plugins/framework/snapshot.h"
#include "scheduler/codec/extender.h"

namespace accelsched::scheduler {

class NameResolver {
 public:
  // Lists are predicted from the previous list of the same kind.
  enum class Kind { kFilter, kPrioritize };
  static constexpr int kNumKinds = 2;

  // (*out)[i] is the index of names[i] in `snapshot`, or -1 if no node has that name.
  void Resolve(Kind kind, const plugins::ClusterSnapshot& snapshot, const codec::NodeNames& names,
               std::vector<plugins::NodeIndex>* out) ABSL_LOCKS_EXCLUDED(mu_);

  // Names resolved by prediction and by lookup since construction (tests, metrics).
  struct Counts {
    int64_t predicted = 0;
    int64_t looked_up = 0;
    int64_t reused = 0;  // Names of lists whose resolution was reused whole.
  };
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Previous {
    std::vector<plugins::NodeIndex> list;    // The resolved list, -1 for unknown names.
    std::vector<int32_t> position;           // Node index -> its position in `list`, or -1.
    const void* identity = nullptr;          // codec::NodeNames::identity() of the names.
    std::shared_ptr<const void> keep_alive;  // Keeps `identity` from being reused.
    uint64_t layout = 0;                     // ClusterSnapshot::layout() resolved against.
  };
  mutable absl::Mutex mu_;
  static constexpr size_t kKept = 4;  // Lists kept per kind.
  // Most recent first.
  std::vector<std::shared_ptr<const Previous>> previous_[kNumKinds] ABSL_GUARDED_BY(
      mu_);  // By Kind.
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_STATE_NAME_RESOLVER_H_
