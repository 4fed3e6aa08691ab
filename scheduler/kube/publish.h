// The topology agent's work (accelsched-agent publish; deploy/base/topology-agent.yaml): turn
// the node's `nvidia-smi topo -m` matrix into the accelsched.io/topology annotation and write it
// onto the Node with a merge patch.
//
// It lives in scheduler/, not in accelsched-topo (topology/), because it needs the Kubernetes API
// client and DESIGN section 1 keeps topology/ free of HTTP.
//
// Thread-safety: pure functions (the client is thread-safe).
#ifndef ACCELSCHED_SCHEDULER_KUBE_PUBLISH_H_
#define ACCELSCHED_SCHEDULER_KUBE_PUBLISH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "scheduler/kube/client.h"

namespace accelsched::scheduler::kube {

// The annotation text for `smi_output` (the output of `nvidia-smi topo -m`). `gpu_product` (may
// be empty) selects the NVLink generation where the link count cannot. InvalidArgument naming
// the problem for output that does not parse.
absl::StatusOr<std::string> TopologyAnnotationFromSmi(absl::string_view smi_output,
                                                      const std::string& node,
                                                      const std::string& gpu_product);

// Sets the annotation on Node `node`. NotFound if there is no such node.
absl::Status PublishTopology(const KubeClient& client, const std::string& node,
                             const std::string& annotation);

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_PUBLISH_H_
