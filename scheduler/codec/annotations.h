// The names accelsched reads from and writes onto Kubernetes objects (DESIGN section 4). This
// is the user-facing contract; README.md ("Pods and nodes") documents each key.
//
// Pod resources (requests; limits are used for a resource without a request, as Kubernetes
// defaults extended resources):
//   nvidia.com/gpu: N                    N whole GPUs
//   nvidia.com/mig-<profile>: 1          one MIG instance, e.g. nvidia.com/mig-3g.40gb
//   accelsched.io/gpu-milli: 1..999      a share of one GPU
//   accelsched.io/gpu-memory-mib: M      GPU memory with the share (optional)
//
// Pod annotations the user may set:
//   accelsched.io/gpu-models: "H100-80GB,A100-80GB"   acceptable GPU models (canonical names,
//                                                      see CanonicalGpuModel); default any
//   accelsched.io/nvlink: required|preferred          multi-GPU pods: NVLink-connected set
//   accelsched.io/close-nic: "true"                   every GPU next to a NIC (GPUDirect RDMA)
//   accelsched.io/same-numa: "true"                   all GPUs on one NUMA node
//   accelsched.io/gang-name: NAME, accelsched.io/gang-size: N
//                                                     member of gang NAME of N pods (or the
//                                                     label scheduling.x-k8s.io/pod-group: NAME,
//                                                     with minMember from its PodGroup)
//   accelsched.io/network-required: LEVEL             the whole gang within one LEVEL domain
//   accelsched.io/network-preferred: LEVEL            try one LEVEL domain, widen if needed
//   accelsched.io/rail-aligned: "true"                every member on the same GPU indices
//
// Pod annotations accelsched writes at bind (on the Binding; the API server copies them onto the
// pod together with spec.nodeName). They are also the durable record the ledger is rebuilt from:
//   accelsched.io/gpu-ids: "0,1,2,3"            GPU indices on the node (every GPU pod)
//   accelsched.io/gpu-share: "2@500"            share: GPU index @ milli-GPU
//   accelsched.io/mig-placement: "1:3g.40gb@4"  MIG: GPU index : profile name @ start slot
//   accelsched.io/bound-at: "2026-12-07T14:16:06.123456Z"  when the extender bound it (UTC,
//                                               microseconds): accelsched-node serves the oldest
//                                               first, since the kubelet's Allocate names no pod
//
// Pod annotation accelsched-node writes when the kubelet allocates a container's devices (so
// that no restart hands the same assignment out twice):
//   accelsched.io/allocated: "init,main"        the containers whose devices were handed out
//
// Node labels (NVIDIA GPU feature discovery) and annotations:
//   nvidia.com/gpu.product, nvidia.com/gpu.count, nvidia.com/gpu.memory (MiB),
//   nvidia.com/mig.strategy (mixed: some GPUs are in MIG mode)
//   accelsched.io/topology       the node's topology (topology/annotation.h), else a built-in
//                                profile for the product, else "all GPUs equal over PCIe"
//   accelsched.io/unhealthy-gpus: "5:XID 79"  GPUs accelsched-node took out of service (index:
//                                reason, comma-separated), written by accelsched-node
//   accelsched.io/mig-instances: "0:3g.40gb@0,0:3g.40gb@4"  the node's MIG instances, made
//                                ahead (static MIG, e.g. by mig-parted), written by
//                                accelsched-node; MIG pods go only onto them. Without it MIG GPUs
//                                are partitioned freely.
//   accelsched.io/gpu-sharing: time-slicing|mps  (label) how accelsched-node runs GPU shares
//   accelsched.io/mig-mode: static|dynamic  (label) whether accelsched-node makes MIG instances
//                                where the extender places pods (dynamic) or hands out those
//                                that exist (static, the default)
//   accelsched.io/mig-gpus: "0-3"  GPUs in MIG mode (indices and ranges, comma-separated). Without
//                                it, a node with nvidia.com/mig.strategy=mixed has its first
//                                (gpu.count - allocatable nvidia.com/gpu) GPUs in MIG mode.
//
// Thread-safety: constants only.
#ifndef ACCELSCHED_SCHEDULER_CODEC_ANNOTATIONS_H_
#define ACCELSCHED_SCHEDULER_CODEC_ANNOTATIONS_H_

#include <string_view>

namespace accelsched::scheduler {

// Resources.
inline constexpr char kResourceGpu[] = "nvidia.com/gpu";
inline constexpr char kResourceMigPrefix[] = "nvidia.com/mig-";
inline constexpr char kResourceGpuMilli[] = "accelsched.io/gpu-milli";
inline constexpr char kResourceGpuMemoryMib[] = "accelsched.io/gpu-memory-mib";

// Pod annotations set by users.
inline constexpr char kAnnotationGpuModels[] = "accelsched.io/gpu-models";
inline constexpr char kAnnotationNvlink[] = "accelsched.io/nvlink";
inline constexpr char kAnnotationCloseNic[] = "accelsched.io/close-nic";
inline constexpr char kAnnotationSameNuma[] = "accelsched.io/same-numa";
inline constexpr char kLabelPodGroup[] = "scheduling.x-k8s.io/pod-group";
inline constexpr char kAnnotationGangName[] = "accelsched.io/gang-name";
inline constexpr char kAnnotationGangSize[] = "accelsched.io/gang-size";
inline constexpr char kAnnotationNetworkRequired[] = "accelsched.io/network-required";
inline constexpr char kAnnotationNetworkPreferred[] = "accelsched.io/network-preferred";
inline constexpr char kAnnotationRailAligned[] = "accelsched.io/rail-aligned";

// Pod annotations written at bind.
inline constexpr char kAnnotationGpuIds[] = "accelsched.io/gpu-ids";
inline constexpr char kAnnotationGpuShare[] = "accelsched.io/gpu-share";
inline constexpr char kAnnotationMigPlacement[] = "accelsched.io/mig-placement";
inline constexpr char kAnnotationBoundAt[] = "accelsched.io/bound-at";

// Pod annotation written by accelsched-node.
inline constexpr char kAnnotationAllocated[] = "accelsched.io/allocated";

// Namespace labels.
inline constexpr char kLabelIsolation[] = "accelsched.io/isolation";

// Node labels and annotations.
inline constexpr char kLabelGpuProduct[] = "nvidia.com/gpu.product";
inline constexpr char kLabelGpuCount[] = "nvidia.com/gpu.count";
inline constexpr char kLabelGpuMemory[] = "nvidia.com/gpu.memory";
inline constexpr char kLabelMigStrategy[] = "nvidia.com/mig.strategy";
inline constexpr char kAnnotationTopology[] = "accelsched.io/topology";
inline constexpr char kAnnotationMigGpus[] = "accelsched.io/mig-gpus";
inline constexpr char kAnnotationUnhealthyGpus[] = "accelsched.io/unhealthy-gpus";
inline constexpr char kAnnotationMigInstances[] = "accelsched.io/mig-instances";
inline constexpr char kLabelGpuSharing[] = "accelsched.io/gpu-sharing";
inline constexpr char kLabelMigMode[] = "accelsched.io/mig-mode";

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CODEC_ANNOTATIONS_H_
