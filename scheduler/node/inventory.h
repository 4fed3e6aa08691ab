// What accelsched-node advertises to the kubelet (DESIGN section 12): the node's devices, read
// from NVML, as device-plugin resources, each with its device IDs:
//
//   nvidia.com/gpu           one device per GPU not in MIG mode; ID = the GPU's UUID
//   nvidia.com/mig-<profile> static MIG: one device per MIG instance of that profile; ID =
//                            the MIG UUID. Dynamic MIG: one device per place an instance of
//                            the profile may start on each GPU in MIG mode; ID =
//                            "<GPU UUID>::<profile>@<start>" (the kubelet can only hand out IDs
//                            it was offered; the instance is made at Allocate, DynamicMig).
//   accelsched.io/gpu-milli  kMilliPerGpu virtual devices per GPU not in MIG mode; ID =
//                            "<GPU UUID>::<k>", k = 0..999. A pod asking
//                            `accelsched.io/gpu-milli: 250` gets 250 of them, all on the GPU the
//                            extender chose: 1 device = one thousandth of a GPU, the unit the
//                            extender already counts in.
//
// Every device carries its GPU's NUMA node (TopologyInfo for the kubelet's Topology Manager).
// Health is per GPU: a MIG or milli device is unhealthy when its GPU is.
//
// Thread-safety: immutable after Build.
#ifndef ACCELSCHED_SCHEDULER_NODE_INVENTORY_H_
#define ACCELSCHED_SCHEDULER_NODE_INVENTORY_H_

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"

#include "scheduler/node/nvml.h"
#include "topology/device_set.h"
#include "topology/mig/mig.h"
#include "topology/topology.h"

namespace accelsched::scheduler::node {

inline constexpr int kMilliPerGpu = 1000;

struct PluginDevice {
  std::string id;
  int gpu = -1;  // Index of the physical GPU it lives on.
  int numa = -1;
};

// How MIG instances come to be on this node (node label accelsched.io/mig-mode).
enum class MigMode {
  kStatic,   // Made ahead (mig-parted, by hand); pods get the existing ones.
  kDynamic,  // Made by accelsched-node at the placement the extender chose; destroyed unused.
};

// Where a MIG instance is (or is to be): GPU index, profile name, first memory slot.
struct MigSlot {
  int gpu = -1;
  std::string profile;
  int start = -1;
  friend bool operator==(const MigSlot&, const MigSlot&) = default;
  friend bool operator<(const MigSlot& a, const MigSlot& b) {
    return std::tie(a.gpu, a.profile, a.start) < std::tie(b.gpu, b.profile, b.start);
  }
};

// "nvidia.com/mig-1g.10gb" for profile "1g.10gb"; a media-extension profile "1g.10gb+me" is
// "nvidia.com/mig-1g.10gb.me" ('+' is not allowed in a resource name; the extender reads both).
std::string MigResourceName(const std::string& profile);
// The profile of a MIG resource name ("nvidia.com/mig-1g.10gb.me" -> "1g.10gb+me"), "" if it is
// not one.
std::string MigProfileOfResource(const std::string& resource);

// "<GPU UUID>::<profile>@<start>", the dynamic MIG device ID.
std::string MigSlotDeviceId(const std::string& gpu_uuid, const MigSlot& slot);

struct Resource {
  std::string name;    // "nvidia.com/gpu".
  std::string socket;  // The endpoint's socket file name: "accelsched-gpu.sock".
  std::vector<PluginDevice> devices;
};

class Inventory {
 public:
  // `with_shares`: advertise accelsched.io/gpu-milli. InvalidArgument for more GPUs than the
  // topology model holds (16) or a MIG instance whose profile the GPU model does not have.
  static absl::StatusOr<Inventory> Build(NvmlInventory nvml, bool with_shares,
                                         MigMode mig_mode = MigMode::kStatic);

  const NvmlInventory& nvml() const { return nvml_; }
  const std::vector<Resource>& resources() const { return resources_; }
  const Resource* Find(const std::string& resource) const;
  // The canonical model (codec::CanonicalGpuModel of the first GPU's product), "" without GPUs.
  const std::string& model() const { return model_; }
  int gpu_count() const { return static_cast<int>(nvml_.gpus.size()); }

  // The GPU topology from NVML's matrix (NVLink, PCIe, NUMA; no NICs), and the device-set
  // search over it; nullopt when the matrix does not make a topology (topology_error() says
  // why).
  const std::optional<topology::Topology>& topology() const { return topology_; }
  const std::optional<topology::DeviceSetSearch>& search() const { return search_; }
  const std::string& topology_error() const { return topology_error_; }

  // The MIG device of `profile` ("3g.40gb") starting at memory slot `start` on GPU `gpu`.
  const NvmlMigDevice* FindMig(int gpu, const std::string& profile, int start) const;
  // The profile name of a MIG device ("3g.40gb"), "" if the model has no such profile.
  std::string MigProfileName(const NvmlMigDevice& mig) const;
  // The model's MIG profile named `name`, null if it has none.
  const topology::mig::MigProfile* MigProfileNamed(const std::string& name) const;
  // The NVIDIA profile IDs of the model's MIG profiles (none without MIG).
  std::vector<int> MigProfileIds() const;
  MigMode mig_mode() const { return mig_mode_; }

 private:
  NvmlInventory nvml_;
  std::string model_;
  const topology::mig::MigGeometry* geometry_ = nullptr;  // Null: the model has no MIG.
  MigMode mig_mode_ = MigMode::kStatic;
  std::vector<Resource> resources_;
  std::optional<topology::Topology> topology_;
  std::optional<topology::DeviceSetSearch> search_;
  std::string topology_error_;
};

// The accelsched.io/topology annotation of node `node` from NVML's matrix (GPUs, NVLink, PCIe,
// NUMA; NVML knows no NICs). InvalidArgument naming the problem if it makes no topology.
absl::StatusOr<std::string> TopologyAnnotationFromNvml(const NvmlInventory& nvml,
                                                       const std::string& node);

// The node annotation accelsched.io/mig-instances of the node's MIG instances
// ("0:3g.40gb@0,0:3g.40gb@4", GPU:profile@start), which tells the extender to place MIG pods only
// onto them (static MIG); nullopt when no GPU is in MIG mode or MIG is dynamic (the extender then
// partitions freely).
std::optional<std::string> MigInstancesAnnotation(const Inventory& inventory);

// "nvidia.com/mig-3g.40gb" -> "accelsched-mig-3g.40gb.sock" and so on.
std::string SocketName(const std::string& resource);

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_INVENTORY_H_
