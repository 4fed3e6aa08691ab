// Tenancy: the filter that keeps tenants apart (DESIGN section 7). A tenant is a namespace; its
// isolation (framework/tenants.h) says with whom its pods may share hardware. The plugin reads
// only the snapshot: the tenant table and what each tenant holds on the node
// (NodeInfo::tenants), which ClusterState keeps as pods are placed.
//
// Every rule binds both ways: a shared tenant's share cannot go onto a GPU that holds an
// exclusive-gpu tenant's share either. Whole-GPU pods never share a GPU, so only exclusive-node
// concerns them.
//
//   - A node where the pod's tenant is exclusive-node and another tenant has pods, or where
//     another tenant that is exclusive-node has pods: Unresolvable.
//   - Otherwise, for a share or MIG pod, the GPUs another tenant partly uses (a share or a MIG
//     instance) when the two isolations forbid sharing them are blocked: the node passes if the
//     pod still fits without them (CheckFit), and BlockedGpus hides them from Reserve.
//     A share needs both tenants shared; a MIG instance needs both shared or mig.
//
// Cost: O(1) per node while no namespace is restricted or the pod takes whole GPUs (and none is
// exclusive-node); otherwise O(tenants on the node), plus one CheckFit when GPUs are blocked.
// Memoisable: the verdict depends on the pod's tenant, the tenant table (both in the CycleState,
// which SolverMemo rebuilds when the table changes) and the node.
//
// Thread-safety: stateless; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_TENANCY_TENANCY_H_
#define ACCELSCHED_PLUGINS_TENANCY_TENANCY_H_

#include "plugins/framework/plugin.h"
#include "plugins/names.h"

namespace accelsched::plugins {

class Tenancy final : public PreFilterPlugin, public FilterPlugin {
 public:
  std::string_view Name() const override { return names::kTenancy; }
  absl::Status PreFilter(CycleState& state, const PodRequest& pod,
                         const ClusterSnapshot& snapshot) const override;
  absl::StatusOr<FilterVerdict> Filter(const CycleState& state, const PodRequest& pod,
                                       const NodeInfo& node) const override;
  GpuMask BlockedGpus(const CycleState& state, const PodRequest& pod,
                      const NodeInfo& node) const override;
  bool VerdictIsMemoisable() const override { return true; }
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_TENANCY_TENANCY_H_
