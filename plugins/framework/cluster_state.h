// Assignment (the exact devices a pod gets on a node) and ClusterState (the mutable cluster that
// applies and releases assignments and hands out immutable snapshots).
//
// The simulator drives a ClusterState directly; the extender's ledger (scheduler/) wraps one and
// publishes its snapshots. Apply validates that the assignment fits what is free, so a bug in a
// plugin or a stale decision cannot drive a counter negative or double-book a device: it returns
// FailedPrecondition and leaves the state unchanged.
//
// Thread-safety: ClusterState is not thread-safe (one writer; the ledger serialises access).
// Snapshots it returns are immutable and may be shared freely.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_CLUSTER_STATE_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_CLUSTER_STATE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"

namespace accelsched::plugins {

// The exact devices one pod gets on one node.
struct Assignment {
  NodeIndex node = -1;
  // Whole GPUs: the set. Share or MIG: exactly one GPU. CPU-only: 0.
  GpuMask gpus = 0;
  int32_t gpu_milli = 0;       // Share on the one GPU (1..999); 0 otherwise.
  int64_t gpu_memory_mib = 0;  // GPU memory taken with the share.
  int mig_profile_id = -1;     // NVIDIA profile ID on the node's geometry; -1 = no MIG.
  int mig_start = -1;          // Start memory slot of the MIG instance.
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;

  friend bool operator==(const Assignment&, const Assignment&) = default;
};

// "gpus=[0,1] share=0 mig=none cpu=... mem=..." for logs and test failures.
std::string DebugString(const Assignment& a);

class ClusterState {
 public:
  explicit ClusterState(ClusterSnapshot initial) : snapshot_(std::move(initial)) {}

  // The current state, by reference: valid until the next Apply/Release.
  // NOLINTNEXTLINE(readability-identifier-naming): Google-style accessor, snake_case.
  const ClusterSnapshot& view() const { return snapshot_; }
  // An immutable copy of the current state.
  std::shared_ptr<const ClusterSnapshot> Snapshot() const {
    return std::make_shared<const ClusterSnapshot>(snapshot_);
  }

  // Takes the resources of `a` on node a.node. FailedPrecondition (state unchanged) if they are
  // not free or the assignment is malformed (unknown node, GPU out of range, MIG start illegal).
  absl::Status Apply(const Assignment& a);
  // Gives back what Apply(a) took. FailedPrecondition (state unchanged) if it was not taken
  // (e.g. releasing twice would push a counter above capacity).
  absl::Status Release(const Assignment& a);

  // What-if only: makes GPUs `gpus` of `node` look fully used (no free milli, memory or MIG
  // slot), so that filters and device choices on this state avoid them (tenancy: GPUs another
  // tenant shares). Release cannot undo it; use it on a copy. InvalidArgument for an unknown node.
  absl::Status BlockGpus(NodeIndex node, GpuMask gpus);

 private:
  absl::Status Check(const Assignment& a, bool release) const;
  void Change(const Assignment& a, int sign);

  ClusterSnapshot snapshot_;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_CLUSTER_STATE_H_
