// PodRequest: what one pod asks of a node, in typed form (DESIGN section 4). The codec
// (scheduler/) and the simulator's loaders build it; the solver only reads it.
//
// A pod asks for at most one kind of accelerator:
//   * whole GPUs: `gpu_count` >= 1 (nvidia.com/gpu), each GPU entirely free and not MIG-enabled;
//   * a fractional share of one GPU: `gpu_milli` in 1..999 (accelsched.io/gpu-milli, the Alibaba
//     trace's gpu_milli) plus optional `gpu_memory_mib`;
//   * one MIG instance: `mig` (nvidia.com/mig-<profile>), keyed by its shape, not its name,
//     because names differ per GPU model.
// CPU-only pods ask for none of them.
//
// Thread-safety: a plain value.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_POD_REQUEST_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_POD_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace accelsched::plugins {

// Milli-GPU of one whole GPU.
inline constexpr int32_t kMilliPerGpu = 1000;

// A MIG GPU-instance shape. Resolved per node against the node's MIG geometry
// (topology::mig::MigGeometry::ProfileByShape), so "3g" means 3g.40gb on an A100-80GB and
// 3g.20gb on an A100-40GB.
struct MigRequest {
  int compute_slices = 1;         // 1, 2, 3, 4 or 7 (A30: 1, 2, 4).
  bool double_memory = false;     // The 1g profile with two memory slots (1g.20gb on H100-80GB).
  bool media_extensions = false;  // The "+me" variant (at most one per GPU).

  friend bool operator==(const MigRequest&, const MigRequest&) = default;
};

// How strongly a multi-GPU pod wants a well-connected device set (DESIGN section 4).
enum class TopologyPreference {
  kNone,       // Any k free GPUs (the device-set search still picks the best set).
  kPreferred,  // Score nodes by the quality of the best set they can give.
  kRequired,   // Only nodes whose best set is NVLink-connected (ring bottleneck over NVLink).
};

struct PodRequest {
  // For messages only ("default/train-0"); the solver never keys on it.
  std::string name;
  // The pod's namespace, for tenancy (TenantTable); empty: none (the simulator).
  std::string tenant;

  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;

  int32_t gpu_count = 0;       // Whole GPUs.
  int32_t gpu_milli = 0;       // Fractional share of one GPU, 1..999; 0 = none.
  int64_t gpu_memory_mib = 0;  // GPU memory with a share; 0 = not limited by memory.
  std::optional<MigRequest> mig;

  // Acceptable GPU models (nvidia.com/gpu.product values or trace model names); empty = any.
  // For a MIG pod, the models that have its profile (intersected with the pod's own list).
  std::vector<std::string> allowed_models;
  // `allowed_models` is (also) the pod's own constraint (accelsched.io/gpu-models), not only
  // the models its MIG profile exists on: the reasons say which.
  bool models_from_pod = false;

  TopologyPreference nvlink = TopologyPreference::kNone;
  bool require_close_nic = false;  // Every GPU has a NIC at PIX/PXB (GPUDirect RDMA).
  bool require_same_numa = false;  // All GPUs on one NUMA node.

  friend bool operator==(const PodRequest&, const PodRequest&) = default;

  bool WantsWholeGpus() const { return gpu_count > 0; }
  bool WantsShare() const { return gpu_milli > 0; }
  bool WantsMig() const { return mig.has_value(); }
  bool WantsGpu() const { return WantsWholeGpus() || WantsShare() || WantsMig(); }

  // Milli-GPU this pod occupies for the allocation metric: 1000 per whole GPU, the share, or
  // 1000 * compute slices / 7 for a MIG instance (rounded down).
  int64_t GpuMilli() const;

  // OK iff the fields are consistent: non-negative amounts, at most one accelerator kind,
  // gpu_milli in 0..999, MIG compute slices in {1,2,3,4,7}, gpu_memory_mib only with a share,
  // topology constraints only with whole GPUs. InvalidArgument names the field otherwise.
  absl::Status Validate() const;

  // True if `other` asks for the same GPU resources (whole count, share and its memory, MIG
  // instance), whatever its CPU, memory and constraints: the two can take each other's devices.
  bool SameGpuRequest(const PodRequest& other) const {
    return gpu_count == other.gpu_count && gpu_milli == other.gpu_milli &&
           gpu_memory_mib == other.gpu_memory_mib && mig == other.mig;
  }
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_POD_REQUEST_H_
