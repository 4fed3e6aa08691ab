// libFuzzer target: Kubernetes objects as the API server sends them: a Pod, lists of Pods,
// Nodes, PodGroups and Namespaces, and one watch line of each kind; and what accelsched-node reads
// of a pod (its device assignment, the containers already served).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/codec/kube.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace codec = accelsched::scheduler::codec;
  codec::TopologyCache topologies;
  if (absl::StatusOr<codec::PodObject> pod = codec::DecodePodText(text, "pod"); pod.ok()) {
    for (int gpus : {1, 8, 16}) (void)codec::DecodeDeviceAssignment(pod->annotations, gpus);
    (void)codec::DecodeAllocatedContainers(pod->annotations);
  }
  (void)codec::DecodePodNodeName(text);
  (void)codec::DecodePodList(text);
  (void)codec::DecodeNodeList(text, topologies);
  (void)codec::DecodePodGroupList(text);
  (void)codec::DecodeNamespaceList(text);
  (void)codec::DecodePodEvent(text);
  (void)codec::DecodeNodeEvent(text, topologies);
  (void)codec::DecodePodGroupEvent(text);
  (void)codec::DecodeNamespaceEvent(text);
  return 0;
}
