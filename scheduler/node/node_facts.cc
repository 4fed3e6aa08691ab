#include "scheduler/node/node_facts.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"
#include "scheduler/kube/publish.h"

namespace accelsched::scheduler::node {

void PublishNodeFacts(const kube::KubeClient& client, const std::string& node,
                      const Inventory& inv) {
  absl::StatusOr<std::string> annotation = TopologyAnnotationFromNvml(inv.nvml(), node);
  absl::Status s =
      annotation.ok() ? kube::PublishTopology(client, node, *annotation) : annotation.status();
  if (s.ok()) {
    spdlog::info("node {}: published accelsched.io/topology from NVML", node);
  } else {
    spdlog::warn("node {}: topology not published: {}", node, std::string(s.message()));
  }
  std::string mig_gpus;
  for (const NvmlGpu& g : inv.nvml().gpus) {
    if (g.mig_enabled) absl::StrAppend(&mig_gpus, mig_gpus.empty() ? "" : ",", g.index);
  }
  if (absl::StatusOr<std::string> r =
          client.MergePatch(absl::StrCat("/api/v1/nodes/", node),
                            codec::EncodeAnnotationPatch(kAnnotationMigGpus, mig_gpus));
      !r.ok()) {
    spdlog::warn("node {}: {} not published: {}", node, kAnnotationMigGpus,
                 std::string(r.status().message()));
  }
  const std::optional<std::string> migs = MigInstancesAnnotation(inv);
  if (migs.has_value() || inv.mig_mode() == MigMode::kDynamic) {
    // Dynamic MIG: no list (the extender partitions freely), and none left from static days.
    absl::StatusOr<std::string> r = client.MergePatch(
        absl::StrCat("/api/v1/nodes/", node),
        migs.has_value() ? codec::EncodeAnnotationPatch(kAnnotationMigInstances, *migs)
                         : codec::EncodeAnnotationRemovalPatch(kAnnotationMigInstances));
    if (r.ok()) {
      spdlog::info("node {}: {} {}: {}", node,
                   migs.has_value() ? "published" : "removed (dynamic MIG)",
                   kAnnotationMigInstances, migs.value_or(""));
    } else {
      spdlog::warn("node {}: {} not published: {}", node, kAnnotationMigInstances,
                   std::string(r.status().message()));
    }
  }
}

}  // namespace accelsched::scheduler::node
