// Node-level fit rules shared by the resource-fit filter and the reserve plugins: which GPUs of a
// node can take a request, and the default device choices. Pure functions of (pod, node).
//
// Thread-safety: stateless functions.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_FIT_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_FIT_H_

#include <optional>

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/plugin.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "topology/mig/mig.h"

namespace accelsched::plugins {

// True if the node's GPU model is acceptable (always true for pods without GPUs).
inline bool ModelAllowed(const CycleState& state, const PodRequest& pod, const NodeInfo& node) {
  if (!pod.WantsGpu()) {
    return true;
  }
  return node.model != kNoModel && ((state.allowed_models >> node.model) & 1u) != 0;
}

// GPUs that can take the pod's share: not MIG-enabled, free milli >= gpu_milli, and enough free
// GPU memory when both the request and the node's GPU memory are known.
GpuMask ShareCandidates(const PodRequest& pod, const NodeInfo& node);

// The node's MIG profile for the request's shape, or null (no geometry or no such profile).
const topology::mig::MigProfile* MigProfileFor(const MigRequest& request, const NodeInfo& node);

// The start slots of GPU `gpu` where a new instance of `profile` can go: legal and free, and on
// a static-MIG node (NodeInfo::mig_instances) also the start of an existing instance of that
// profile.
uint8_t UsableMigStarts(const NodeInfo& node, int gpu, const topology::mig::MigProfile& profile);

// MIG-enabled GPUs with a usable start for `profile` (and no +me instance yet if `profile`
// is a +me one).
GpuMask MigCandidates(const topology::mig::MigProfile& profile, const NodeInfo& node);

// Subsets of the node's GPUs whose members can form a ring of NVLink hops (k = 1 counts).
// Only meaningful with a topology.
bool IsNvlinkRing(const NodeTopology& topo, GpuMask set);
// True if `set`'s ring bottleneck (SetQuality::ring_mbps) equals the best that any set of its
// size offers on this node when all its GPUs are free: a "best set" (issue 17).
bool IsBestSet(const NodeTopology& topo, GpuMask set);

// The best k-GPU set among the node's whole free GPUs that satisfies the pod's topology
// constraints (NVLink ring if required, close NIC, same NUMA), by the device-set objective
// (topology/device_set.h). Without a topology: the k lowest free GPUs, and constraints that need
// a topology (required NVLink, NIC, NUMA) cannot be met. Nullopt if no set qualifies.
std::optional<GpuMask> BestWholeGpuSet(const PodRequest& pod, const NodeInfo& node);

// Why the pod does not fit the node, or nullopt if it fits (CPU, memory, model, whole GPUs,
// share, MIG, topology constraints). `unresolvable` is set when freeing resources on the node
// cannot help (capacity too small, model excluded, no MIG). The reason names what the pod needs
// and the node lacks, without the node's own figures (see verdict.h), and is interned in `state`
// (valid while `state` lives). With `explain` false the reason is left empty.
struct FitProblem {
  bool unresolvable = false;
  std::string_view reason;
};
std::optional<FitProblem> CheckFit(const CycleState& state, const PodRequest& pod,
                                   const NodeInfo& node);

// An assignment skeleton for the pod on `node`: CPU, memory and node set, no devices.
Assignment BaseAssignment(const PodRequest& pod, NodeIndex node);

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_FIT_H_
