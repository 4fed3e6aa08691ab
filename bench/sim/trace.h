// Loaders for the Alibaba GPU cluster trace v2023 ("openb") CSVs used by the FGD paper
// (../shared/data/alibaba-gpu-v2023/README.md describes every column).
//
//   node list: sn,cpu_milli,memory_mib,gpu,model
//   pod list:  name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
//              deletion_time,scheduled_time      (11 columns), or the first 5 (multigpu files)
//
// The header must be one of these; every row must have the header's column count, integer fields
// in range, num_gpu in 0..8 and gpu_milli in 0..1000 (below 1000 only with one GPU). Errors name
// the file and the 1-based line.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_BENCH_SIM_TRACE_H_
#define ACCELSCHED_BENCH_SIM_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"

namespace accelsched::sim {

struct TraceNode {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int gpus = 0;
  std::string model;  // Empty for CPU-only nodes.
};

struct TracePod {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;
  int gpu_milli = 0;                  // Per GPU, 0..1000.
  std::vector<std::string> gpu_spec;  // Allowed models; empty = any.

  // Milli-GPU this pod asks for: num_gpu * gpu_milli.
  int64_t GpuMilli() const { return int64_t{num_gpu} * gpu_milli; }
};

// `contents` is the whole CSV; `file` names it in errors.
absl::StatusOr<std::vector<TraceNode>> ParseTraceNodes(absl::string_view contents,
                                                       absl::string_view file);
absl::StatusOr<std::vector<TracePod>> ParseTracePods(absl::string_view contents,
                                                     absl::string_view file);
// Read the file, then parse. NotFound / InvalidArgument name the path.
absl::StatusOr<std::vector<TraceNode>> LoadTraceNodes(const std::string& path);
absl::StatusOr<std::vector<TracePod>> LoadTracePods(const std::string& path);

// The solver's view of a trace pod: num_gpu whole GPUs when gpu_milli is 1000, a share of one
// GPU otherwise, none when num_gpu is 0.
plugins::PodRequest ToPodRequest(const TracePod& pod);
// The node as the snapshot builder takes it (no topology: the trace has none).
plugins::NodeSpec ToNodeSpec(const TraceNode& node);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_TRACE_H_
