#include "plugins/framework/pod_request.h"

#include "absl/strings/str_cat.h"

namespace accelsched::plugins {

int64_t PodRequest::GpuMilli() const {
  if (gpu_count > 0) {
    return int64_t{gpu_count} * kMilliPerGpu;
  }
  if (gpu_milli > 0) {
    return gpu_milli;
  }
  if (mig.has_value()) {
    return int64_t{kMilliPerGpu} * mig->compute_slices / 7;
  }
  return 0;
}

absl::Status PodRequest::Validate() const {
  auto bad = [&](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", name, ": ", field, ": ", why));
  };
  if (cpu_milli < 0) {
    return bad("cpu_milli", "must not be negative");
  }
  if (memory_mib < 0) {
    return bad("memory_mib", "must not be negative");
  }
  if (gpu_count < 0 || gpu_count > 16) {
    return bad("gpu_count", "must be in 0..16");
  }
  if (gpu_milli < 0 || gpu_milli >= kMilliPerGpu) {
    return bad("gpu_milli", "must be in 0..999 (a whole GPU is gpu_count 1)");
  }
  if (gpu_memory_mib < 0) {
    return bad("gpu_memory_mib", "must not be negative");
  }
  int kinds = (gpu_count > 0) + (gpu_milli > 0) + mig.has_value();
  if (kinds > 1) {
    return bad("gpu", "asks for more than one of whole GPUs, a GPU share and a MIG instance");
  }
  if (gpu_memory_mib > 0 && gpu_milli == 0) {
    return bad("gpu_memory_mib", "is only meaningful with a GPU share (gpu_milli)");
  }
  if (mig.has_value()) {
    int c = mig->compute_slices;
    if (c != 1 && c != 2 && c != 3 && c != 4 && c != 7) {
      return bad("mig.compute_slices", "must be 1, 2, 3, 4 or 7");
    }
    if (mig->double_memory && c != 1) {
      return bad("mig.double_memory", "only the 1g profile has a double-memory variant");
    }
  }
  if (gpu_count == 0 &&
      (nvlink != TopologyPreference::kNone || require_close_nic || require_same_numa)) {
    return bad("topology", "NVLink/NIC/NUMA constraints need whole GPUs (gpu_count >= 1)");
  }
  for (const std::string& m : allowed_models) {
    if (m.empty()) {
      return bad("allowed_models", "contains an empty model name");
    }
  }
  return absl::OkStatus();
}

}  // namespace accelsched::plugins
