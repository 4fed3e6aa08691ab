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

// Makes GPUs `gpus` of `node` look fully used (ClusterState::BlockGpus, on one node).
void BlockGpus(NodeInfo& node, GpuMask gpus);

class ClusterState {
 public:
  explicit ClusterState(ClusterSnapshot initial) : snapshot_(std::move(initial)) {}

  // The current state, by reference: valid until the next Apply/Release.
  const ClusterSnapshot& view() const { return snapshot_; }
  // An immutable copy of the current state.
  std::shared_ptr<const ClusterSnapshot> Snapshot() const {
    return std::make_shared<const ClusterSnapshot>(snapshot_);
  }

  // Takes the resources of `a` on node a.node, for a pod of tenant `tenant` (TenantId from
  // Tenant(); kNoTenant: the pod is not counted in NodeInfo::tenants). FailedPrecondition (state
  // unchanged) if they are not free or the assignment is malformed (unknown node or tenant, GPU
  // out of range, MIG start illegal).
  absl::Status Apply(const Assignment& a, TenantId tenant = kNoTenant);
  // Gives back what Apply(a, tenant) took. FailedPrecondition (state unchanged) if it was not
  // taken (e.g. releasing twice would push a counter above capacity).
  absl::Status Release(const Assignment& a, TenantId tenant = kNoTenant);

  // The id of namespace `name` in the tenant table, added (shared) if the table lacks it.
  TenantId Tenant(absl::string_view name);
  // Sets namespace `name`'s isolation, adding it if new. A change gives the table a new version.
  void SetIsolation(absl::string_view name, Isolation isolation);
  // Takes over the tenant table of `other` (ids keep their meaning): for a state rebuilt on a new
  // node set, before the old pods are applied again.
  void AdoptTenants(const ClusterSnapshot& other) { snapshot_.tenants_ = other.tenants_; }

  // What-if only: makes GPUs `gpus` of `node` look fully used (no free milli, memory or MIG
  // slot), so that filters and device choices on this state avoid them (tenancy: GPUs another
  // tenant shares). Release cannot undo it; use it on a copy. InvalidArgument for an unknown node.
  absl::Status BlockGpus(NodeIndex node, GpuMask gpus);

 private:
  absl::Status Check(const Assignment& a, TenantId tenant, bool release) const;
  void Change(const Assignment& a, TenantId tenant, int sign);
  // A private copy of the tenant table to change (copy on write), with a new version.
  TenantTable& ChangeTenants();

  ClusterSnapshot snapshot_;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_CLUSTER_STATE_H_
