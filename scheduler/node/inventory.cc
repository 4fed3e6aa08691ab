#include "scheduler/node/inventory.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/k8s.h"
#include "topology/annotation.h"
#include "topology/smi_parser.h"
#include "topology/topology.h"

namespace accelsched::scheduler::node {

std::string SocketName(const std::string& resource) {
  if (resource == kResourceGpu) return "accelsched-gpu.sock";
  if (resource == kResourceGpuMilli) return "accelsched-gpu-milli.sock";
  if (absl::StartsWith(resource, kResourceMigPrefix)) {
    return absl::StrCat("accelsched-mig-", resource.substr(sizeof(kResourceMigPrefix) - 1),
                        ".sock");
  }
  return absl::StrCat("accelsched-", absl::StrReplaceAll(resource, {{"/", "-"}}), ".sock");
}

std::string MigResourceName(const std::string& profile) {
  return absl::StrCat(kResourceMigPrefix, absl::StrReplaceAll(profile, {{"+", "."}}));
}

std::string MigProfileOfResource(const std::string& resource) {
  if (!absl::StartsWith(resource, kResourceMigPrefix)) return "";
  std::string profile = resource.substr(sizeof(kResourceMigPrefix) - 1);
  if (absl::EndsWith(profile, ".me")) profile.replace(profile.size() - 3, 1, "+");
  return profile;
}

std::string MigSlotDeviceId(const std::string& gpu_uuid, const MigSlot& slot) {
  return absl::StrCat(gpu_uuid, "::", slot.profile, "@", slot.start);
}

namespace {

// NVML says "NVIDIA H100 80GB HBM3"; GPU feature discovery "NVIDIA-H100-80GB-HBM3".
std::string ProductLabel(const NvmlInventory& nvml) {
  return nvml.gpus.empty() ? "" : absl::StrReplaceAll(nvml.gpus[0].product, {{" ", "-"}});
}

}  // namespace

absl::StatusOr<std::string> TopologyAnnotationFromNvml(const NvmlInventory& nvml,
                                                       const std::string& node) {
  if (nvml.gpus.empty()) return absl::InvalidArgumentError("NVML lists no GPUs");
  absl::StatusOr<topology::Topology> t =
      topology::TopologyFromSmiMatrix(nvml.matrix, node, ProductLabel(nvml));
  if (!t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("NVML topology: ", t.status().message()));
  }
  return topology::EncodeTopologyAnnotation(*t);
}

namespace {

// Dynamic MIG: a device for every place each profile may start, per GPU in MIG mode.
void AddMigSlotDevices(const Inventory& inv, const topology::mig::MigGeometry& geometry,
                       std::map<std::string, Resource>& migs) {
  for (const NvmlGpu& gpu : inv.nvml().gpus) {
    if (!gpu.mig_enabled) continue;
    for (const topology::mig::MigProfile& p : geometry.profiles()) {
      const std::string name = MigResourceName(std::string(p.name));
      Resource& r = migs[name];
      r.name = name;
      r.socket = SocketName(name);
      for (int start = 0; start + p.memory_slots <= geometry.memory_slots(); ++start) {
        if (!p.IsLegalStart(start)) continue;
        r.devices.push_back({MigSlotDeviceId(gpu.uuid, {gpu.index, std::string(p.name), start}),
                             gpu.index, gpu.numa_node});
      }
    }
  }
}

}  // namespace

absl::StatusOr<Inventory> Inventory::Build(NvmlInventory nvml, bool with_shares, MigMode mig_mode) {
  if (nvml.gpus.size() > static_cast<size_t>(topology::kMaxGpus)) {
    return absl::InvalidArgumentError(absl::StrCat(
        nvml.gpus.size(), " GPUs: accelsched models at most ", topology::kMaxGpus, " per node"));
  }
  Inventory inv;
  inv.nvml_ = std::move(nvml);
  inv.mig_mode_ = mig_mode;
  if (!inv.nvml_.gpus.empty()) {
    const NvmlGpu& first = inv.nvml_.gpus[0];
    // NVML says "NVIDIA H100 80GB HBM3"; GPU feature discovery "NVIDIA-H100-80GB-HBM3".
    inv.model_ = codec::CanonicalGpuModel(ProductLabel(inv.nvml_), first.memory_mib);
    absl::StatusOr<const topology::mig::MigGeometry*> g =
        topology::mig::GeometryForModel(inv.model_);
    if (g.ok()) inv.geometry_ = *g;
  }
  if (!inv.nvml_.gpus.empty()) {
    absl::StatusOr<topology::Topology> t =
        topology::TopologyFromSmiMatrix(inv.nvml_.matrix, "nvml", ProductLabel(inv.nvml_));
    absl::StatusOr<topology::DeviceSetSearch> search =
        t.ok() ? topology::DeviceSetSearch::Create(*t)
               : absl::StatusOr<topology::DeviceSetSearch>(t.status());
    if (search.ok()) {
      inv.topology_ = *std::move(t);
      inv.search_ = *std::move(search);
    } else {
      inv.topology_error_ = std::string(search.status().message());
    }
  }
  Resource whole{kResourceGpu, SocketName(kResourceGpu), {}};
  Resource milli{kResourceGpuMilli, SocketName(kResourceGpuMilli), {}};
  for (const NvmlGpu& gpu : inv.nvml_.gpus) {
    if (gpu.mig_enabled) continue;
    whole.devices.push_back({gpu.uuid, gpu.index, gpu.numa_node});
    if (!with_shares) continue;
    for (int k = 0; k < kMilliPerGpu; ++k) {
      milli.devices.push_back({absl::StrCat(gpu.uuid, "::", k), gpu.index, gpu.numa_node});
    }
  }
  inv.resources_.push_back(std::move(whole));
  if (with_shares) inv.resources_.push_back(std::move(milli));
  std::map<std::string, Resource> migs;
  if (mig_mode == MigMode::kDynamic && inv.geometry_ != nullptr) {
    AddMigSlotDevices(inv, *inv.geometry_, migs);
  }
  for (const NvmlMigDevice& m : inv.nvml_.migs) {
    if (mig_mode == MigMode::kDynamic) break;  // Offered as slots above.
    const std::string profile = inv.MigProfileName(m);
    if (profile.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("MIG device ", m.uuid, " on GPU ", m.parent,
                                                     ": profile id ", m.profile_id,
                                                     " is not a profile of ", inv.model_));
    }
    const std::string name = MigResourceName(profile);
    Resource& r = migs[name];
    r.name = name;
    r.socket = SocketName(name);
    r.devices.push_back(
        {m.uuid, m.parent, inv.nvml_.gpus[static_cast<size_t>(m.parent)].numa_node});
  }
  for (auto& [name, r] : migs) inv.resources_.push_back(std::move(r));
  return inv;
}

std::optional<std::string> MigInstancesAnnotation(const Inventory& inventory) {
  if (inventory.mig_mode() == MigMode::kDynamic) return std::nullopt;
  bool any = false;
  for (const NvmlGpu& g : inventory.nvml().gpus) any = any || g.mig_enabled;
  if (!any) return std::nullopt;
  std::vector<std::tuple<int, int, std::string>> instances;
  for (const NvmlMigDevice& m : inventory.nvml().migs) {
    instances.emplace_back(m.parent, m.start, inventory.MigProfileName(m));
  }
  std::sort(instances.begin(), instances.end());
  std::string out;
  for (const auto& [gpu, start, profile] : instances) {
    absl::StrAppend(&out, out.empty() ? "" : ",", gpu, ":", profile, "@", start);
  }
  return out;
}

const Resource* Inventory::Find(const std::string& resource) const {
  for (const Resource& r : resources_) {
    if (r.name == resource) return &r;
  }
  return nullptr;
}

std::string Inventory::MigProfileName(const NvmlMigDevice& mig) const {
  if (geometry_ == nullptr) return "";
  absl::StatusOr<const topology::mig::MigProfile*> p = geometry_->ProfileById(mig.profile_id);
  return p.ok() ? std::string((*p)->name) : "";
}

const topology::mig::MigProfile* Inventory::MigProfileNamed(const std::string& name) const {
  if (geometry_ == nullptr) return nullptr;
  absl::StatusOr<const topology::mig::MigProfile*> p = geometry_->ProfileByName(name);
  return p.ok() ? *p : nullptr;
}

std::vector<int> Inventory::MigProfileIds() const {
  std::vector<int> ids;
  if (geometry_ == nullptr) return ids;
  for (const topology::mig::MigProfile& p : geometry_->profiles()) ids.push_back(p.id);
  return ids;
}

const NvmlMigDevice* Inventory::FindMig(int gpu, const std::string& profile, int start) const {
  for (const NvmlMigDevice& m : nvml_.migs) {
    if (m.parent == gpu && m.start == start && MigProfileName(m) == profile) return &m;
  }
  return nullptr;
}

}  // namespace accelsched::scheduler::node
