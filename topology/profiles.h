// Built-in hardware profiles: the topology of well-known GPU systems, for nodes that carry no
// `accelsched.io/topology` annotation, selected from NVIDIA GPU feature discovery labels
// (`nvidia.com/gpu.product`, `nvidia.com/gpu.count`).
//
// Sources: DESIGN.md section 11 (DGX-1 link table, DGX A100 NUMA/NIC layout, DGX H100 user guide
// port table, DGX BasePOD reference architecture). Where a detail is not documented (B200 NVSwitch
// chip count, B200 NIC naming, storage NIC placement, PCIe-box switch layout) the profile says so
// in profiles.cc and uses a common layout; the GPU-pair and GPU-NIC facts that placement depends on
// are the documented ones.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_TOPOLOGY_PROFILES_H_
#define ACCELSCHED_TOPOLOGY_PROFILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "topology/topology.h"

namespace accelsched::topology {

struct ProfileInfo {
  std::string name;         // "hgx-h100"
  std::string description;  // One line for humans.
  int gpus = 0;
};

// All built-in profiles, in a stable order.
const std::vector<ProfileInfo>& BuiltinProfiles();

// The named profile; NotFound (listing the known names) for an unknown one.
absl::StatusOr<Topology> BuiltinProfile(absl::string_view name);

// "All GPUs equal over PCIe": `gpus` GPUs under one host bridge of one socket (1..kMaxGpus;
// other values are clamped into that range).
Topology GenericPcieTopology(int gpus, std::string gpu_product = "");

struct ProfileSelection {
  Topology topology;
  bool fallback = false;  // True when no profile matched and GenericPcieTopology was used.
  std::string warning;    // Set iff fallback: what was not recognised and what was assumed.
};

// Picks the profile for a node from its GFD labels. `gpu_count` <= 0 means the label is absent.
// Never fails: an unknown product (or a known product with an unexpected GPU count) falls back to
// GenericPcieTopology with a warning for the caller to log.
ProfileSelection ProfileForNode(absl::string_view gpu_product, int gpu_count);

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_PROFILES_H_
