// The FGD fragmentation measure (Weng et al., "Beware of Fragmentation", USENIX ATC'23; the
// artifact's pkg/utils/frag.go; written out in DESIGN section 11).
//
// Target workload M: task shapes m = (cpu_m, g_m GPUs, u_m milli-GPU per GPU, allowed models)
// with popularity p_m. Built from a pod list by counting identical shapes (memory is not part of
// a shape), keeping the most popular until they cover >= 95% of the pods (CPU-only shapes
// included), and renormalising.
//
// Per node n with free CPU C, per-GPU free milli f_i and total free R = sum f_i, the fragment of
// shape m is
//   R                       if m needs no GPU, cannot use n's model, or n cannot host m
//                           (fewer than g_m GPUs with f_i >= u_m, or C < cpu_m);
//   sum of f_i with f_i < u_m  otherwise (the GPUs too small for m).
// F_n(M) = sum_m p_m F_n(m). Since sum_m p_m = 1 this is
//   F_n(M) = R - sum over shapes m that n can host of p_m * (sum of f_i with f_i >= u_m),
// which is how it is computed: for each distinct u, count the GPUs with f_i >= u and sum them
// (a branch-free G x U scan), then add the hosted shapes. Cost O(G |distinct u| + |M|) per node
// (|M| = 35 on the default trace): tens of nanoseconds.
//
// Thread-safety: immutable after construction; safe for concurrent use.
#ifndef ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FRAGMENTATION_H_
#define ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FRAGMENTATION_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"

namespace accelsched::plugins {

// One task shape of the target workload.
struct TaskShape {
  int64_t cpu_milli = 0;
  int gpu_count = 0;                        // GPUs; 0 for CPU-only shapes.
  int gpu_milli = 0;                        // Per GPU (1000 for whole GPUs, 1..999 for a share).
  std::vector<std::string> allowed_models;  // Empty = any.
  double popularity = 0;                    // p_m; the shapes of a workload sum to 1.

  friend bool operator==(const TaskShape&, const TaskShape&) = default;
};

// The shape of a pod request (popularity 0): CPU as kube-scheduler's non-zero request (0 counts
// as 100m, as in the artifact). MIG pods have no FGD shape and map to CPU-only.
TaskShape ShapeOf(const PodRequest& pod);

// The typical shapes of `pods`: identical shapes counted, sorted by count (descending; ties by
// (cpu, gpu milli, gpu count, models) descending, as the artifact), kept until they cover
// `coverage` (0..1] of the pods, then renormalised. InvalidArgument if `pods` is empty or coverage
// is outside (0, 1].
absl::StatusOr<std::vector<TaskShape>> TypicalShapes(absl::Span<const PodRequest> pods,
                                                     double coverage = 0.95);

// The measure bound to one cluster's GPU model table (shape model names -> model indices).
class FragmentationModel {
 public:
  // InvalidArgument if `shapes` is empty, a popularity is negative, or they do not sum to 1
  // (within 1e-6).
  static absl::StatusOr<FragmentationModel> Create(std::vector<TaskShape> shapes,
                                                   absl::Span<const std::string> models);

  // F_n(M) of a node with the given free CPU and per-GPU free milli (MIG GPUs are passed as 0
  // by the callers: a MIG GPU cannot take a share or a whole-GPU task). Milli-GPU.
  double NodeFragment(int16_t model, int64_t cpu_free_milli,
                      absl::Span<const int16_t> gpu_free_milli) const;
  // F_n(M) of the node as it is.
  double NodeFragment(const NodeInfo& node) const;

  // For trying many one-GPU changes on one node (FGD tries every GPU for a share): the per-
  // distinct-u counts and sums of the GPUs' free milli, computed once; then F after one GPU with
  // `free` milli loses `take` milli in O(|M|), without rescanning the GPUs. Results are bitwise
  // equal to NodeFragment on the changed array.
  // count and sum are left uninitialised on purpose: Profile() writes the entries that are read,
  // and zeroing them (512 bytes per node scored) slows an FGD trace replay by about 15%.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
  struct GpuProfile {
    int total = 0;
    std::array<int, 64> count;  // Only the first |distinct u| entries are meaningful.
    std::array<int, 64> sum;
  };
  GpuProfile Profile(absl::Span<const int16_t> gpu_free_milli) const;
  double Fragment(const GpuProfile& profile, int16_t model, int64_t cpu_free_milli) const;
  double FragmentAfterTake(const GpuProfile& profile, int16_t model, int64_t cpu_free_milli,
                           int free, int take) const;
  absl::Span<const TaskShape> shapes() const { return shapes_; }

 private:
  struct Compiled {
    int64_t cpu_milli;
    int gpu_count;
    int u_index;  // Into distinct_u_ (descending).
    uint64_t model_mask;
    double popularity;
  };
  std::vector<TaskShape> shapes_;
  std::vector<Compiled> compiled_;  // GPU shapes only, sorted by u_index.
  std::vector<int> distinct_u_;     // Distinct u_m of GPU shapes, descending.
  std::vector<int> compiled_u_;     // distinct_u_[compiled_[i].u_index], for FragmentAfterTake.
};

// F_n(M) with one node's GPUs free milli passed as an array, MIG-enabled GPUs zeroed.
std::array<int16_t, kMaxGpus> ShareableFree(const NodeInfo& node);

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_SHARE_FRAGMENTATION_FRAGMENTATION_H_
