#include "scheduler/node/health.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"

namespace accelsched::scheduler::node {
namespace {

void SleepUnlessStopped(const std::atomic<bool>& stop, int milliseconds) {
  for (int waited = 0; waited < milliseconds && !stop; waited += 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string UnhealthyGpusAnnotation(const std::map<int, std::string>& unhealthy) {
  std::string out;
  for (const auto& [gpu, reason] : unhealthy) {
    absl::StrAppend(&out, out.empty() ? "" : ",", gpu, ":", reason);
  }
  return out;
}

absl::Status PublishUnhealthyGpus(const kube::KubeClient& client, const std::string& node,
                                  const std::map<int, std::string>& unhealthy) {
  absl::StatusOr<std::string> r = client.MergePatch(
      absl::StrCat("/api/v1/nodes/", node),
      codec::EncodeAnnotationPatch(kAnnotationUnhealthyGpus, UnhealthyGpusAnnotation(unhealthy)));
  return r.status();
}

namespace {

// NVML said a GPU is lost: that one (or, if NVML could not tell which, every GPU) is
// unhealthy, as the NVIDIA device plugin does.
void MarkLost(int gpu, int gpus, Assigner& assigner, const OnHealthChange& on_change) {
  const std::map<int, std::string> before = assigner.UnhealthyGpus();
  for (int g = gpu < 0 ? 0 : gpu; g < (gpu < 0 ? gpus : gpu + 1); ++g) {
    if (before.count(g) != 0) continue;
    spdlog::error("GPU {}: NVML says the GPU is lost: marked unhealthy", g);
    assigner.SetGpuHealth(g, "GPU is lost");
  }
  if (assigner.UnhealthyGpus() != before && on_change) on_change(assigner.UnhealthyGpus());
}

}  // namespace

void WatchGpuHealth(Nvml& nvml, Assigner& assigner, const std::atomic<bool>& stop,
                    const OnHealthChange& on_change) {
  const int nvml_gpus = assigner.inventory().gpu_count();
  if (absl::Status s = nvml.WatchXid(); !s.ok()) {
    spdlog::warn("GPU health is not watched: {}", std::string(s.message()));
    while (!stop) SleepUnlessStopped(stop, 1000);
    return;
  }
  while (!stop) {
    absl::StatusOr<std::optional<XidEvent>> e = nvml.WaitXid(200);
    if (!e.ok()) {
      spdlog::warn("{}", std::string(e.status().message()));
      SleepUnlessStopped(stop, 1000);
      continue;
    }
    if (!e->has_value()) continue;
    const XidEvent& x = **e;
    if (x.lost) {
      MarkLost(x.gpu, nvml_gpus, assigner, on_change);
      continue;
    }
    if (!IsCriticalXid(x.xid) || x.gpu < 0) {
      spdlog::info("GPU {} ({}): XID {} (not critical)", x.gpu, x.uuid, x.xid);
      continue;
    }
    if (assigner.UnhealthyGpus().count(x.gpu) != 0) continue;
    spdlog::error("GPU {} ({}): critical XID {}: marked unhealthy", x.gpu, x.uuid, x.xid);
    assigner.SetGpuHealth(x.gpu, absl::StrCat("XID ", x.xid));
    if (on_change) on_change(assigner.UnhealthyGpus());
  }
}

}  // namespace accelsched::scheduler::node
