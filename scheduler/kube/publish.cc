#include "scheduler/kube/publish.h"

#include "absl/strings/str_cat.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"
#include "topology/annotation.h"
#include "topology/smi_parser.h"

namespace accelsched::scheduler::kube {

absl::StatusOr<std::string> TopologyAnnotationFromSmi(absl::string_view smi_output,
                                                      const std::string& node,
                                                      const std::string& gpu_product) {
  absl::StatusOr<topology::Topology> t =
      topology::ParseNvidiaSmiTopo(smi_output, node, gpu_product);
  if (!t.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("nvidia-smi topo -m output: ", t.status().message()));
  }
  return topology::EncodeTopologyAnnotation(*t);
}

absl::Status PublishTopology(const KubeClient& client, const std::string& node,
                             const std::string& annotation) {
  absl::StatusOr<std::string> r =
      client.MergePatch(absl::StrCat("/api/v1/nodes/", node),
                        codec::EncodeAnnotationPatch(kAnnotationTopology, annotation));
  return r.ok() ? absl::OkStatus() : r.status();
}

}  // namespace accelsched::scheduler::kube
