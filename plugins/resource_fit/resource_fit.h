// ResourceFit: the filter every policy runs first. CPU, memory, GPU model, whole GPUs (entirely
// free, not MIG), a share on one GPU (milli and GPU memory), a MIG instance at a legal start,
// and the pod's NVLink/NIC/NUMA constraints (plugins/framework/fit.h holds the rules).
//
// Thread-safety: stateless; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_RESOURCE_FIT_RESOURCE_FIT_H_
#define ACCELSCHED_PLUGINS_RESOURCE_FIT_RESOURCE_FIT_H_

#include "plugins/framework/plugin.h"
#include "plugins/names.h"

namespace accelsched::plugins {

class ResourceFit final : public FilterPlugin {
 public:
  std::string_view Name() const override { return names::kResourceFit; }
  absl::StatusOr<FilterVerdict> Filter(const CycleState& state, const PodRequest& pod,
                                       const NodeInfo& node) const override;
  bool VerdictIsMemoisable() const override { return true; }
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_RESOURCE_FIT_RESOURCE_FIT_H_
