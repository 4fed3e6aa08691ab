// GpuHealth: GPUs that the node side took out of service (critical XID events; the node
// annotation accelsched.io/unhealthy-gpus, NodeSpec::unhealthy_gpus) are never given to a pod.
// Pods already on them stay counted where they are (the ledger keeps the truth); the filter
// passes a node only if the pod fits without its unhealthy GPUs, and BlockedGpus hides them from
// Reserve, so the device choice at bind avoids them too.
//
// Cost: O(1) per node without unhealthy GPUs (the common case), else one CheckFit.
// Memoisable: the verdict depends on the pod and the node only.
//
// Thread-safety: stateless; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_GPU_HEALTH_GPU_HEALTH_H_
#define ACCELSCHED_PLUGINS_GPU_HEALTH_GPU_HEALTH_H_

#include "plugins/framework/plugin.h"
#include "plugins/names.h"

namespace accelsched::plugins {

class GpuHealth final : public FilterPlugin {
 public:
  std::string_view Name() const override { return names::kGpuHealth; }
  absl::StatusOr<FilterVerdict> Filter(const CycleState& state, const PodRequest& pod,
                                       const NodeInfo& node) const override;
  GpuMask BlockedGpus(const CycleState& /*state*/, const PodRequest& /*pod*/,
                      const NodeInfo& node) const override {
    return node.unhealthy;
  }
  bool VerdictIsMemoisable() const override { return true; }
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_GPU_HEALTH_GPU_HEALTH_H_
