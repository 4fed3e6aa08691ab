// Kubernetes objects in, typed values out: v1.Pod -> PodObject (with its PodRequest), v1.Node
// -> NodeObject (with its NodeSpec), and a List of both (what `kubectl get nodes,pods -A -o json`
// prints) -> ClusterObjects. Also the assignment annotations written at bind, both ways.
// scheduler/annotations.h lists every name read or written.
//
// Pod requests follow Kubernetes: each resource is summed over the containers (a container's
// request, else its limit), the init containers' maximum is taken when larger, and the pod
// overhead is added.
//
// Thread-safety: pure functions, except TopologyCache (not thread-safe; one per decoding thread).
#ifndef ACCELSCHED_SCHEDULER_CODEC_K8S_H_
#define ACCELSCHED_SCHEDULER_CODEC_K8S_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"

namespace accelsched::scheduler::codec {

// A pod's gang (DESIGN section 6), from the scheduler-plugins label
// scheduling.x-k8s.io/pod-group or the annotations accelsched.io/gang-name and gang-size, with
// the network constraint annotations.
struct GangMembership {
  std::string name;  // "namespace/group": gangs are namespaced.
  int size = 0;      // minMember from accelsched.io/gang-size; 0 = from the PodGroup object.
  // accelsched.io/network-required or network-preferred: a level name as configured ("rack"),
  // or empty for none.
  std::string network_level;
  bool network_required = false;
  bool rail_aligned = false;  // accelsched.io/rail-aligned: "true"
};

// One container's accelerator devices (DESIGN section 12): how many devices of each device-plugin
// resource (nvidia.com/gpu, nvidia.com/mig-<profile>, accelsched.io/gpu-milli) the kubelet's
// Allocate for this container asks, and the GPU memory that goes with a share.
struct ContainerDevices {
  // The kubelet's order: init containers (plain or sidecar, in spec order), then app containers.
  enum class Kind { kInit, kSidecar, kApp };
  std::string name;
  Kind kind = Kind::kApp;
  std::map<std::string, int64_t> counts;  // Resource -> devices (rounded up).
  int64_t gpu_memory_mib = 0;             // accelsched.io/gpu-memory-mib.

  friend bool operator==(const ContainerDevices&, const ContainerDevices&) = default;
};

struct PodObject {
  std::string uid;
  std::string name;
  std::string namespace_name;
  std::string node_name;  // spec.nodeName; empty while pending.
  std::string scheduler_name;
  std::string phase;  // status.phase; empty if absent.
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  plugins::PodRequest request;  // request.name is "namespace/name"; request.tenant the namespace.
  // The MIG resource's profile name ("3g.40gb") when the pod asks for one.
  std::string mig_profile_name;
  std::optional<GangMembership> gang;  // Nullopt: not part of a gang.
  // Containers that ask for accelerator devices, in the kubelet's order (ContainerDevices::Kind).
  std::vector<ContainerDevices> containers;

  std::string Key() const { return namespace_name + "/" + name; }
  // Bound and still holding resources (not Succeeded or Failed).
  bool HoldsResources() const {
    return !node_name.empty() && phase != "Succeeded" && phase != "Failed";
  }
};

// The JSON form of a Pod (a v1.Pod object's text); `path` prefixes error messages ("Pod",
// "items[3]"). InvalidArgument for text that is not JSON.
absl::StatusOr<PodObject> DecodePodText(absl::string_view text, absl::string_view path);

struct NodeObject {
  plugins::NodeSpec spec;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> warnings;  // E.g. unknown product, topology fallback.
};

// Shares one NodeTopology between nodes with the same topology (built-in profile or identical
// annotation), so 10,000 nodes do not hold 10,000 copies of the device-set tables.
class TopologyCache {
 public:
  // The topology for `key`, building it with `make` on first use.
  absl::StatusOr<std::shared_ptr<const plugins::NodeTopology>> Get(
      const std::string& key, const std::function<absl::StatusOr<topology::Topology>()>& make);

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<const plugins::NodeTopology>> cache_;
};

// A scheduler-plugins PodGroup (scheduling.x-k8s.io/v1alpha1): the gang's minMember.
struct PodGroupObject {
  std::string gang;  // "namespace/name", as GangMembership::name.
  int min_member = 0;
};

// spec.minMember must be 1..100000.

// A Namespace: its tenancy label accelsched.io/isolation (empty when unset).
struct NamespaceObject {
  std::string name;
  std::string isolation;
};

struct ClusterObjects {
  std::vector<NodeObject> nodes;
  std::vector<PodObject> pods;
  std::vector<PodGroupObject> pod_groups;
  std::vector<NamespaceObject> namespaces;
  std::vector<std::string> namespace_paths;  // "items[3]", per namespace, for errors.
  std::vector<std::string> pod_paths;        // "items[4]", per pod, for errors.
};

// A v1 List (or NodeList / PodList) whose items are Nodes, Pods, PodGroups and Namespaces; other
// kinds are skipped; as JSON or YAML text (`kubectl get ... -o json|yaml`), `file` naming it in
// errors. Items without "kind" are taken from the list's kind. Errors name the item
// ("items[3].spec...").
absl::StatusOr<ClusterObjects> DecodeClusterListText(absl::string_view text,
                                                     absl::string_view file);

// The canonical model name of a GFD product label: "NVIDIA-A100-SXM4-80GB" -> "A100-80GB",
// "NVIDIA-H100-80GB-HBM3" -> "H100-80GB", "NVIDIA-H100-NVL" -> "H100-94GB", "NVIDIA-H200" ->
// "H200-141GB", "NVIDIA-L40S" -> "L40S", "Tesla-V100-SXM2-32GB" -> "V100-32GB". MIG-capable
// models map onto the names of topology/mig (which is what makes MIG work on the node).
// `memory_mib` (nvidia.com/gpu.memory, 0 if unknown) decides the size when the product does not
// say it. Unknown products are returned with the vendor prefix removed.
std::string CanonicalGpuModel(absl::string_view product, int64_t memory_mib);

// MIG resource profile ("3g.40gb", "1g.10gb+me") -> the request shape, and the canonical models
// whose MIG geometry has a profile of exactly that name (the only GPUs that can serve it).
struct MigResource {
  plugins::MigRequest request;
  std::vector<std::string> models;
};
absl::StatusOr<MigResource> ParseMigResource(absl::string_view profile_name);

// The assignment annotations (scheduler/annotations.h) of `a` on `node`.
std::map<std::string, std::string> AssignmentAnnotations(const plugins::Assignment& a,
                                                         const plugins::NodeInfo& node);

// The assignment recorded in `annotations` for `pod` on node `index` of `snapshot`; nullopt if
// the pod asks for a GPU and carries no gpu-ids annotation (it was bound by someone else).
// InvalidArgument for malformed annotations.
absl::StatusOr<std::optional<plugins::Assignment>> AssignmentFromAnnotations(
    const std::map<std::string, std::string>& annotations, const plugins::PodRequest& pod,
    const plugins::ClusterSnapshot& snapshot, plugins::NodeIndex index);

// The devices accelsched chose for a pod, as the node side reads the bind annotations.
struct DeviceAssignment {
  std::vector<int> gpus;  // accelsched.io/gpu-ids, ascending.
  int share_gpu = -1;     // accelsched.io/gpu-share: GPU index and milli-GPU; -1 without.
  int share_milli = 0;
  int mig_gpu = -1;  // accelsched.io/mig-placement: GPU, profile name, start slot; -1 without.
  std::string mig_profile;
  int mig_start = -1;

  friend bool operator==(const DeviceAssignment&, const DeviceAssignment&) = default;
};

// Nullopt when there is no accelsched.io/gpu-ids (the pod was not placed on devices by
// accelsched). InvalidArgument naming the annotation and its value when one is malformed, names
// a GPU outside 0..gpu_count-1, or a share or MIG placement disagrees with gpu-ids.
absl::StatusOr<std::optional<DeviceAssignment>> DecodeDeviceAssignment(
    const std::map<std::string, std::string>& annotations, int gpu_count);

// The containers accelsched-node has handed devices (accelsched.io/allocated: "a,b").
std::set<std::string> DecodeAllocatedContainers(
    const std::map<std::string, std::string>& annotations);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_K8S_H_
