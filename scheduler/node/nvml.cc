#include "scheduler/node/nvml.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace accelsched::scheduler::node {

// The NVML ABI (nvml.h of NVML 11/12), only what is called here. Structs are passed as void*:
// the entry points are C functions, and a typed pointer would make UBSan's function-type check
// compare our struct names with the library's.
namespace {

using Ret = int;    // nvmlReturn_t.
using Dev = void*;  // nvmlDevice_t.
constexpr Ret kSuccess = 0;
constexpr Ret kNotSupported = 3;
constexpr Ret kNotFound = 6;
constexpr Ret kTimeout = 10;
constexpr Ret kFunctionNotFound = 13;
constexpr Ret kGpuIsLost = 15;
constexpr unsigned kMaxNvlinks = 18;                   // NVML_NVLINK_MAX_LINKS.
constexpr unsigned long long kXidCriticalEvent = 0x8;  // nvmlEventTypeXidCriticalError.

struct Memory {
  unsigned long long total, free, used;
};
struct PciInfo {
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
struct GpuInstanceInfo {
  Dev device;
  unsigned id, profile_id;
  unsigned start, size;
};
struct Placement {
  unsigned start, size;
};
struct ComputeInstanceProfileInfo {
  unsigned id, slice_count, instance_count, multiprocessor_count, shared_copy_engine_count,
      shared_decoder_count, shared_encoder_count, shared_jpeg_count, shared_ofa_count;
};
struct EventData {
  Dev device;
  unsigned long long event_type, event_data;
  unsigned gpu_instance_id, compute_instance_id;
};

}  // namespace

struct Nvml::Api {
  Ret (*init)() = nullptr;
  Ret (*shutdown)() = nullptr;
  const char* (*error_string)(Ret) = nullptr;
  Ret (*driver_version)(char*, unsigned) = nullptr;
  Ret (*count)(unsigned*) = nullptr;
  Ret (*handle_by_index)(unsigned, Dev*) = nullptr;
  Ret (*uuid)(Dev, char*, unsigned) = nullptr;
  Ret (*name)(Dev, char*, unsigned) = nullptr;
  Ret (*memory)(Dev, void*) = nullptr;  // nvmlMemory_t*
  Ret (*pci)(Dev, void*) = nullptr;     // nvmlPciInfo_t*
  Ret (*minor)(Dev, unsigned*) = nullptr;
  Ret (*numa)(Dev, unsigned*) = nullptr;  // Optional (newer NVML): else sysfs.
  Ret (*mig_mode)(Dev, unsigned*, unsigned*) = nullptr;
  Ret (*max_mig)(Dev, unsigned*) = nullptr;
  Ret (*mig_by_index)(Dev, unsigned, Dev*) = nullptr;
  Ret (*gi_id)(Dev, unsigned*) = nullptr;
  Ret (*gi_by_id)(Dev, unsigned, void**) = nullptr;
  Ret (*gi_info)(void*, void*) = nullptr;  // nvmlGpuInstanceInfo_t*
  Ret (*nvlink_state)(Dev, unsigned, int*) = nullptr;
  Ret (*nvlink_remote_pci)(Dev, unsigned, void*) = nullptr;  // nvmlPciInfo_t*
  Ret (*common_ancestor)(Dev, Dev, int*) = nullptr;
  Ret (*event_set_create)(void**) = nullptr;
  Ret (*register_events)(Dev, unsigned long long, void*) = nullptr;
  Ret (*event_wait)(void*, void*, unsigned) = nullptr;  // nvmlEventData_t*
  Ret (*event_set_free)(void*) = nullptr;
  // Dynamic MIG only (looked up, not required).
  Ret (*create_gi)(Dev, unsigned, const void*, void**) = nullptr;  // nvmlGpuInstancePlacement_t*
  Ret (*ci_profile)(void*, unsigned, unsigned, void*) = nullptr;   // ...ProfileInfo_t*
  Ret (*create_ci)(void*, unsigned, void**) = nullptr;
  Ret (*ci_id)(Dev, unsigned*) = nullptr;
  Ret (*ci_by_id)(void*, unsigned, void**) = nullptr;
  Ret (*ci_destroy)(void*) = nullptr;
  Ret (*gi_destroy)(void*) = nullptr;
  Ret (*gi_list)(Dev, unsigned, void**, unsigned*) = nullptr;

  // "nvmlDeviceGetUUID(GPU 2): GPU is lost".
  absl::Status Error(absl::string_view call, Ret ret) const {
    const char* text = error_string != nullptr ? error_string(ret) : nullptr;
    return absl::UnavailableError(absl::StrCat(call, ": ", text != nullptr ? text : "error",
                                               " (NVML return code ", ret, ")"));
  }
};

namespace {

template <typename F>
bool Resolve(void* library, const char* symbol, F*& out) {
  out = reinterpret_cast<F*>(dlsym(library, symbol));
  return out != nullptr;
}

// Binds every entry point; the name of the first one missing, or "".
std::string ResolveAll(void* l, Nvml::Api& a) {
  const std::pair<const char*, bool> required[] = {
      {"nvmlInit_v2", Resolve(l, "nvmlInit_v2", a.init)},
      {"nvmlShutdown", Resolve(l, "nvmlShutdown", a.shutdown)},
      {"nvmlErrorString", Resolve(l, "nvmlErrorString", a.error_string)},
      {"nvmlSystemGetDriverVersion", Resolve(l, "nvmlSystemGetDriverVersion", a.driver_version)},
      {"nvmlDeviceGetCount_v2", Resolve(l, "nvmlDeviceGetCount_v2", a.count)},
      {"nvmlDeviceGetHandleByIndex_v2",
       Resolve(l, "nvmlDeviceGetHandleByIndex_v2", a.handle_by_index)},
      {"nvmlDeviceGetUUID", Resolve(l, "nvmlDeviceGetUUID", a.uuid)},
      {"nvmlDeviceGetName", Resolve(l, "nvmlDeviceGetName", a.name)},
      {"nvmlDeviceGetMemoryInfo", Resolve(l, "nvmlDeviceGetMemoryInfo", a.memory)},
      {"nvmlDeviceGetPciInfo_v3", Resolve(l, "nvmlDeviceGetPciInfo_v3", a.pci)},
      {"nvmlDeviceGetMinorNumber", Resolve(l, "nvmlDeviceGetMinorNumber", a.minor)},
      {"nvmlDeviceGetMigMode", Resolve(l, "nvmlDeviceGetMigMode", a.mig_mode)},
      {"nvmlDeviceGetMaxMigDeviceCount", Resolve(l, "nvmlDeviceGetMaxMigDeviceCount", a.max_mig)},
      {"nvmlDeviceGetMigDeviceHandleByIndex",
       Resolve(l, "nvmlDeviceGetMigDeviceHandleByIndex", a.mig_by_index)},
      {"nvmlDeviceGetGpuInstanceId", Resolve(l, "nvmlDeviceGetGpuInstanceId", a.gi_id)},
      {"nvmlDeviceGetGpuInstanceById", Resolve(l, "nvmlDeviceGetGpuInstanceById", a.gi_by_id)},
      {"nvmlGpuInstanceGetInfo", Resolve(l, "nvmlGpuInstanceGetInfo", a.gi_info)},
      {"nvmlDeviceGetNvLinkState", Resolve(l, "nvmlDeviceGetNvLinkState", a.nvlink_state)},
      {"nvmlDeviceGetNvLinkRemotePciInfo_v2",
       Resolve(l, "nvmlDeviceGetNvLinkRemotePciInfo_v2", a.nvlink_remote_pci)},
      {"nvmlDeviceGetTopologyCommonAncestor",
       Resolve(l, "nvmlDeviceGetTopologyCommonAncestor", a.common_ancestor)},
      {"nvmlEventSetCreate", Resolve(l, "nvmlEventSetCreate", a.event_set_create)},
      {"nvmlDeviceRegisterEvents", Resolve(l, "nvmlDeviceRegisterEvents", a.register_events)},
      {"nvmlEventSetWait_v2", Resolve(l, "nvmlEventSetWait_v2", a.event_wait)},
      {"nvmlEventSetFree", Resolve(l, "nvmlEventSetFree", a.event_set_free)},
  };
  Resolve(l, "nvmlDeviceGetNumaNodeId", a.numa);
  Resolve(l, "nvmlDeviceCreateGpuInstanceWithPlacement", a.create_gi);
  Resolve(l, "nvmlGpuInstanceGetComputeInstanceProfileInfo", a.ci_profile);
  Resolve(l, "nvmlGpuInstanceCreateComputeInstance", a.create_ci);
  Resolve(l, "nvmlDeviceGetComputeInstanceId", a.ci_id);
  Resolve(l, "nvmlGpuInstanceGetComputeInstanceById", a.ci_by_id);
  Resolve(l, "nvmlComputeInstanceDestroy", a.ci_destroy);
  Resolve(l, "nvmlGpuInstanceDestroy", a.gi_destroy);
  Resolve(l, "nvmlDeviceGetGpuInstances", a.gi_list);
  for (const auto& [symbol, found] : required) {
    if (!found) return symbol;
  }
  return "";
}

std::string Text(const char* buffer, size_t size) {
  return std::string(buffer, strnlen(buffer, size));
}

// "00000000:18:00.0" -> "0000:18:00.0", lower case, as sysfs names PCI devices.
std::string SysfsPciName(const std::string& bus_id) {
  std::string id = absl::AsciiStrToLower(bus_id);
  const size_t colon = id.find(':');
  if (colon != std::string::npos && colon > 4) id = id.substr(colon - 4);
  return id;
}

int NumaFromSysfs(const std::string& bus_id) {
  std::ifstream in("/sys/bus/pci/devices/" + SysfsPciName(bus_id) + "/numa_node");
  int numa = -1;
  if (!(in >> numa) || numa < 0) return -1;
  return numa;
}

// NVML_TOPOLOGY_* -> nvidia-smi's PCIe level.
topology::PathKind LevelFromAncestor(int level) {
  if (level <= 10) return topology::PathKind::kPix;  // INTERNAL, SINGLE.
  if (level <= 20) return topology::PathKind::kPxb;  // MULTIPLE.
  if (level <= 30) return topology::PathKind::kPhb;  // HOSTBRIDGE.
  if (level <= 40) return topology::PathKind::kNode;
  return topology::PathKind::kSys;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::Load(const std::string& library) {
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    // dlerror's buffer is per thread in glibc; Load runs once, at start.
    const char* why = dlerror();  // NOLINT(concurrency-mt-unsafe)
    return absl::UnavailableError(absl::StrCat(
        "cannot load NVML (", library, "): ", why != nullptr ? why : "unknown error",
        "; is the NVIDIA driver installed and the container run with the NVIDIA runtime?"));
  }
  auto api = std::make_unique<Api>();
  if (std::string missing = ResolveAll(handle, *api); !missing.empty()) {
    dlclose(handle);
    return absl::UnavailableError(
        absl::StrCat(library, " has no ", missing, " (NVML older than 11.0?)"));
  }
  if (Ret r = api->init(); r != kSuccess) {
    absl::Status s = api->Error("nvmlInit_v2", r);
    dlclose(handle);
    return s;
  }
  return std::unique_ptr<Nvml>(new Nvml(handle, std::move(api)));
}

Nvml::Nvml(void* library, std::unique_ptr<Api> api) : library_(library), api_(std::move(api)) {}

Nvml::~Nvml() {
  if (event_set_ != nullptr) api_->event_set_free(event_set_);
  api_->shutdown();
  dlclose(library_);
}

namespace {

absl::StatusOr<NvmlGpu> ReadGpu(const Nvml::Api& api, unsigned index, Dev dev) {
  NvmlGpu gpu;
  gpu.index = static_cast<int>(index);
  const std::string who = absl::StrCat("(GPU ", index, ")");
  char buffer[96] = {};
  if (Ret r = api.uuid(dev, buffer, sizeof(buffer)); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlDeviceGetUUID", who), r);
  }
  gpu.uuid = Text(buffer, sizeof(buffer));
  if (Ret r = api.name(dev, buffer, sizeof(buffer)); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlDeviceGetName", who), r);
  }
  gpu.product = Text(buffer, sizeof(buffer));
  Memory memory{};
  if (Ret r = api.memory(dev, &memory); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlDeviceGetMemoryInfo", who), r);
  }
  gpu.memory_mib = static_cast<int64_t>(memory.total >> 20);
  PciInfo pci{};
  if (Ret r = api.pci(dev, &pci); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlDeviceGetPciInfo_v3", who), r);
  }
  gpu.pci_bus_id = Text(pci.bus_id, sizeof(pci.bus_id));
  unsigned value = 0;
  if (api.minor(dev, &value) == kSuccess) gpu.minor = static_cast<int>(value);
  Ret numa = api.numa != nullptr ? api.numa(dev, &value) : kFunctionNotFound;
  gpu.numa_node = numa == kSuccess ? static_cast<int>(value) : NumaFromSysfs(gpu.pci_bus_id);
  unsigned current = 0;
  unsigned pending = 0;
  Ret mig = api.mig_mode(dev, &current, &pending);
  if (mig != kSuccess && mig != kNotSupported) {
    return api.Error(absl::StrCat("nvmlDeviceGetMigMode", who), mig);
  }
  gpu.mig_enabled = mig == kSuccess && current == 1;
  return gpu;
}

absl::Status ReadMigDevices(const Nvml::Api& api, const NvmlGpu& gpu, Dev dev,
                            std::vector<NvmlMigDevice>& out) {
  const std::string who = absl::StrCat("(GPU ", gpu.index);
  unsigned max = 0;
  if (Ret r = api.max_mig(dev, &max); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlDeviceGetMaxMigDeviceCount", who, ")"), r);
  }
  for (unsigned i = 0; i < max; ++i) {
    const std::string where = absl::StrCat(who, ", MIG device ", i, ")");
    Dev mig = nullptr;
    Ret r = api.mig_by_index(dev, i, &mig);
    if (r == kNotFound) continue;  // An empty slot.
    if (r != kSuccess) {
      return api.Error(absl::StrCat("nvmlDeviceGetMigDeviceHandleByIndex", where), r);
    }
    NvmlMigDevice m;
    m.parent = gpu.index;
    char buffer[96] = {};
    if (r = api.uuid(mig, buffer, sizeof(buffer)); r != kSuccess) {
      return api.Error(absl::StrCat("nvmlDeviceGetUUID", where), r);
    }
    m.uuid = Text(buffer, sizeof(buffer));
    unsigned gi = 0;
    if (r = api.gi_id(mig, &gi); r != kSuccess) {
      return api.Error(absl::StrCat("nvmlDeviceGetGpuInstanceId", where), r);
    }
    void* instance = nullptr;
    if (r = api.gi_by_id(dev, gi, &instance); r != kSuccess) {
      return api.Error(absl::StrCat("nvmlDeviceGetGpuInstanceById", where), r);
    }
    GpuInstanceInfo info{};
    if (r = api.gi_info(instance, &info); r != kSuccess) {
      return api.Error(absl::StrCat("nvmlGpuInstanceGetInfo", where), r);
    }
    m.gpu_instance_id = static_cast<int>(info.id);
    m.profile_id = static_cast<int>(info.profile_id);
    m.start = static_cast<int>(info.start);
    m.size = static_cast<int>(info.size);
    out.push_back(std::move(m));
  }
  return absl::OkStatus();
}

// NVLink links per GPU: to each other GPU directly, and to NVSwitches (a remote end that is not
// one of the GPUs). A GPU without NVLink answers NOT_SUPPORTED (or INVALID_ARGUMENT past its
// last link).
absl::Status CountNvlinks(const Nvml::Api& api, const std::vector<Dev>& devs,
                          const std::vector<NvmlGpu>& gpus, std::vector<std::vector<int>>& direct,
                          std::vector<int>& to_switch) {
  std::map<std::string, int> by_bus;
  for (const NvmlGpu& g : gpus) by_bus[absl::AsciiStrToLower(g.pci_bus_id)] = g.index;
  for (size_t i = 0; i < devs.size(); ++i) {
    for (unsigned link = 0; link < kMaxNvlinks; ++link) {
      int state = 0;
      if (api.nvlink_state(devs[i], link, &state) != kSuccess) break;
      if (state != 1) continue;
      PciInfo remote{};
      if (Ret r = api.nvlink_remote_pci(devs[i], link, &remote); r != kSuccess) {
        return api.Error(
            absl::StrCat("nvmlDeviceGetNvLinkRemotePciInfo_v2(GPU ", i, ", link ", link, ")"), r);
      }
      auto peer = by_bus.find(absl::AsciiStrToLower(Text(remote.bus_id, sizeof(remote.bus_id))));
      if (peer == by_bus.end()) {
        ++to_switch[i];
      } else if (peer->second != static_cast<int>(i)) {
        ++direct[i][static_cast<size_t>(peer->second)];
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<topology::SmiMatrix> ReadMatrix(const Nvml::Api& api, const std::vector<Dev>& devs,
                                               const std::vector<NvmlGpu>& gpus) {
  const size_t n = devs.size();
  std::vector<std::vector<int>> direct(n, std::vector<int>(n, 0));
  std::vector<int> to_switch(n, 0);
  if (absl::Status s = CountNvlinks(api, devs, gpus, direct, to_switch); !s.ok()) return s;
  topology::SmiMatrix m;
  m.num_gpus = static_cast<int>(n);
  m.cells.assign(n, std::vector<std::optional<topology::SmiCell>>(n));
  m.cpu_affinity.assign(n, "");
  for (size_t i = 0; i < n; ++i) {
    m.numa.push_back(gpus[i].numa_node);
    for (size_t j = 0; j < n; ++j) {
      topology::SmiCell cell;
      const int links = std::max(direct[i][j], direct[j][i]) + std::min(to_switch[i], to_switch[j]);
      if (i == j) {
        cell.kind = topology::PathKind::kSelf;
      } else if (links > 0) {
        cell.kind = topology::PathKind::kNvlink;
        cell.nvlinks = links;
      } else {
        int level = 0;
        if (Ret r = api.common_ancestor(devs[i], devs[j], &level); r != kSuccess) {
          return api.Error(
              absl::StrCat("nvmlDeviceGetTopologyCommonAncestor(GPU ", i, ", GPU ", j, ")"), r);
        }
        cell.kind = LevelFromAncestor(level);
      }
      m.cells[i][j] = cell;
    }
  }
  return m;
}

}  // namespace

absl::StatusOr<NvmlInventory> Nvml::Read() const {
  NvmlInventory inv;
  char version[96] = {};
  if (Ret r = api_->driver_version(version, sizeof(version)); r != kSuccess) {
    return api_->Error("nvmlSystemGetDriverVersion", r);
  }
  inv.driver_version = Text(version, sizeof(version));
  unsigned count = 0;
  if (Ret r = api_->count(&count); r != kSuccess) return api_->Error("nvmlDeviceGetCount_v2", r);
  std::vector<Dev> devs;
  for (unsigned i = 0; i < count; ++i) {
    Dev dev = nullptr;
    if (Ret r = api_->handle_by_index(i, &dev); r != kSuccess) {
      return api_->Error(absl::StrCat("nvmlDeviceGetHandleByIndex_v2(GPU ", i, ")"), r);
    }
    absl::StatusOr<NvmlGpu> gpu = ReadGpu(*api_, i, dev);
    if (!gpu.ok()) return gpu.status();
    if (gpu->mig_enabled) {
      if (absl::Status s = ReadMigDevices(*api_, *gpu, dev, inv.migs); !s.ok()) return s;
    }
    inv.gpus.push_back(*std::move(gpu));
    devs.push_back(dev);
  }
  absl::StatusOr<topology::SmiMatrix> matrix = ReadMatrix(*api_, devs, inv.gpus);
  if (!matrix.ok()) return matrix.status();
  inv.matrix = *std::move(matrix);
  return inv;
}

absl::Status Nvml::WatchXid() {
  if (event_set_ != nullptr) return absl::OkStatus();
  void* set = nullptr;
  if (Ret r = api_->event_set_create(&set); r != kSuccess) {
    return api_->Error("nvmlEventSetCreate", r);
  }
  unsigned count = 0;
  if (Ret r = api_->count(&count); r != kSuccess) {
    api_->event_set_free(set);
    return api_->Error("nvmlDeviceGetCount_v2", r);
  }
  for (unsigned i = 0; i < count; ++i) {
    Dev dev = nullptr;
    Ret r = api_->handle_by_index(i, &dev);
    if (r == kSuccess) r = api_->register_events(dev, kXidCriticalEvent, set);
    if (r != kSuccess && r != kNotSupported) {
      api_->event_set_free(set);
      return api_->Error(absl::StrCat("nvmlDeviceRegisterEvents(GPU ", i, ")"), r);
    }
    watched_.push_back(dev);
  }
  event_set_ = set;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<XidEvent>> Nvml::WaitXid(int timeout_ms) {
  if (event_set_ == nullptr) return absl::FailedPreconditionError("WatchXid() was not called");
  EventData data{};
  Ret r = api_->event_wait(event_set_, &data, static_cast<unsigned>(std::max(timeout_ms, 0)));
  if (r == kTimeout) return std::nullopt;
  if (r == kGpuIsLost) {  // Which one: the GPU that no longer answers.
    XidEvent event;
    event.lost = true;
    char buffer[96] = {};
    for (size_t i = 0; i < watched_.size() && event.gpu < 0; ++i) {
      if (api_->uuid(watched_[i], buffer, sizeof(buffer)) == kGpuIsLost) {
        event.gpu = static_cast<int>(i);
      }
    }
    return event;
  }
  if (r != kSuccess) return api_->Error("nvmlEventSetWait_v2", r);
  XidEvent event;
  event.xid = data.event_data;
  auto it = std::find(watched_.begin(), watched_.end(), data.device);
  if (it != watched_.end()) event.gpu = static_cast<int>(it - watched_.begin());
  char buffer[96] = {};
  if (data.device != nullptr && api_->uuid(data.device, buffer, sizeof(buffer)) == kSuccess) {
    event.uuid = Text(buffer, sizeof(buffer));
  }
  return event;
}

absl::StatusOr<std::vector<NvmlMigDevice>> Nvml::ReadMigs(int gpu) const {
  Dev dev = nullptr;
  if (Ret r = api_->handle_by_index(static_cast<unsigned>(gpu), &dev); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetHandleByIndex_v2(GPU ", gpu, ")"), r);
  }
  NvmlGpu g;
  g.index = gpu;
  std::vector<NvmlMigDevice> out;
  if (absl::Status s = ReadMigDevices(*api_, g, dev, out); !s.ok()) return s;
  return out;
}

namespace {

// NVML_COMPUTE_INSTANCE_PROFILE_* of a compute instance of `slices` compute slices, -1 if none.
int ComputeProfileForSlices(int slices) {
  constexpr int kSlicesByProfile[] = {1, 2, 3, 4, 7, 8, 6};
  for (int p = 0; p < static_cast<int>(std::size(kSlicesByProfile)); ++p) {
    if (kSlicesByProfile[p] == slices) return p;
  }
  return -1;
}

// The entry points dynamic MIG needs, or the first one missing.
absl::Status HasDynamicMig(const Nvml::Api& a) {
  const std::pair<const char*, bool> needed[] = {
      {"nvmlDeviceCreateGpuInstanceWithPlacement", a.create_gi != nullptr},
      {"nvmlGpuInstanceGetComputeInstanceProfileInfo", a.ci_profile != nullptr},
      {"nvmlGpuInstanceCreateComputeInstance", a.create_ci != nullptr},
      {"nvmlDeviceGetComputeInstanceId", a.ci_id != nullptr},
      {"nvmlGpuInstanceGetComputeInstanceById", a.ci_by_id != nullptr},
      {"nvmlComputeInstanceDestroy", a.ci_destroy != nullptr},
      {"nvmlGpuInstanceDestroy", a.gi_destroy != nullptr},
      {"nvmlDeviceGetGpuInstances", a.gi_list != nullptr},
  };
  for (const auto& [symbol, found] : needed) {
    if (!found) {
      return absl::UnavailableError(absl::StrCat("NVML has no ", symbol, ": no dynamic MIG"));
    }
  }
  return absl::OkStatus();
}

// One compute instance spanning GPU instance `gi` (`slices` compute slices).
absl::Status CreateComputeInstance(const Nvml::Api& api, void* gi, int slices,
                                   const std::string& where) {
  const int profile = ComputeProfileForSlices(slices);
  if (profile < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no compute instance profile of ", slices, " slices"));
  }
  ComputeInstanceProfileInfo info{};
  if (Ret r = api.ci_profile(gi, static_cast<unsigned>(profile), 0, &info); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlGpuInstanceGetComputeInstanceProfileInfo", where), r);
  }
  void* ci = nullptr;
  if (Ret r = api.create_ci(gi, info.id, &ci); r != kSuccess) {
    return api.Error(absl::StrCat("nvmlGpuInstanceCreateComputeInstance", where), r);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NvmlMigDevice> Nvml::CreateMig(int gpu, int profile_id, int start, int size,
                                              int compute_slices) {
  if (absl::Status s = HasDynamicMig(*api_); !s.ok()) return s;
  const std::string where =
      absl::StrCat("(GPU ", gpu, ", profile ", profile_id, " at memory slot ", start, ")");
  Dev dev = nullptr;
  if (Ret r = api_->handle_by_index(static_cast<unsigned>(gpu), &dev); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetHandleByIndex_v2", where), r);
  }
  const Placement placement{static_cast<unsigned>(start), static_cast<unsigned>(size)};
  void* gi = nullptr;
  if (Ret r = api_->create_gi(dev, static_cast<unsigned>(profile_id), &placement, &gi);
      r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceCreateGpuInstanceWithPlacement", where), r);
  }
  GpuInstanceInfo info{};
  absl::Status s = api_->gi_info(gi, &info) == kSuccess
                       ? CreateComputeInstance(*api_, gi, compute_slices, where)
                       : absl::InternalError(absl::StrCat("nvmlGpuInstanceGetInfo", where));
  if (!s.ok()) {  // No half-made instance is left behind (else Reconcile finds it).
    if (Ret r = api_->gi_destroy(gi); r != kSuccess) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), "; and then ",
                                       api_->Error("nvmlGpuInstanceDestroy", r).message()));
    }
    return s;
  }
  absl::StatusOr<std::vector<NvmlMigDevice>> migs = ReadMigs(gpu);
  if (!migs.ok()) return migs.status();
  for (NvmlMigDevice& m : *migs) {
    if (m.gpu_instance_id == static_cast<int>(info.id)) return std::move(m);
  }
  return absl::InternalError(
      absl::StrCat("GPU ", gpu, ": GPU instance ", info.id, " made but no MIG device lists it"));
}

absl::StatusOr<std::vector<NvmlMigDevice>> Nvml::ReadGpuInstances(
    int gpu, const std::vector<int>& profile_ids) const {
  if (absl::Status s = HasDynamicMig(*api_); !s.ok()) return s;
  Dev dev = nullptr;
  if (Ret r = api_->handle_by_index(static_cast<unsigned>(gpu), &dev); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetHandleByIndex_v2(GPU ", gpu, ")"), r);
  }
  std::vector<NvmlMigDevice> out;
  for (int profile : profile_ids) {
    void* instances[8] = {};  // At most 7 GPU instances exist on a GPU.
    unsigned count = 0;
    Ret r = api_->gi_list(dev, static_cast<unsigned>(profile), instances, &count);
    if (r == kNotSupported || r == kNotFound) continue;
    if (r != kSuccess) {
      return api_->Error(
          absl::StrCat("nvmlDeviceGetGpuInstances(GPU ", gpu, ", profile ", profile, ")"), r);
    }
    for (unsigned i = 0; i < count && i < std::size(instances); ++i) {
      GpuInstanceInfo info{};
      if (api_->gi_info(instances[i], &info) != kSuccess) continue;
      NvmlMigDevice m;
      m.parent = gpu;
      m.gpu_instance_id = static_cast<int>(info.id);
      m.profile_id = static_cast<int>(info.profile_id);
      m.start = static_cast<int>(info.start);
      m.size = static_cast<int>(info.size);
      out.push_back(std::move(m));
    }
  }
  return out;
}

absl::Status Nvml::DestroyMig(int gpu, int gpu_instance_id) {
  if (absl::Status s = HasDynamicMig(*api_); !s.ok()) return s;
  const std::string where = absl::StrCat("(GPU ", gpu, ", GPU instance ", gpu_instance_id, ")");
  Dev dev = nullptr;
  if (Ret r = api_->handle_by_index(static_cast<unsigned>(gpu), &dev); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetHandleByIndex_v2", where), r);
  }
  void* gi = nullptr;
  if (Ret r = api_->gi_by_id(dev, static_cast<unsigned>(gpu_instance_id), &gi); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetGpuInstanceById", where), r);
  }
  unsigned max = 0;
  if (Ret r = api_->max_mig(dev, &max); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlDeviceGetMaxMigDeviceCount", where), r);
  }
  for (unsigned i = 0; i < max; ++i) {  // Its compute instances: one MIG device each.
    Dev mig = nullptr;
    unsigned id = 0;
    if (api_->mig_by_index(dev, i, &mig) != kSuccess || api_->gi_id(mig, &id) != kSuccess ||
        id != static_cast<unsigned>(gpu_instance_id) || api_->ci_id(mig, &id) != kSuccess) {
      continue;
    }
    void* ci = nullptr;
    Ret r = api_->ci_by_id(gi, id, &ci);
    if (r == kSuccess) r = api_->ci_destroy(ci);
    if (r != kSuccess) return api_->Error(absl::StrCat("nvmlComputeInstanceDestroy", where), r);
  }
  if (Ret r = api_->gi_destroy(gi); r != kSuccess) {
    return api_->Error(absl::StrCat("nvmlGpuInstanceDestroy", where), r);
  }
  return absl::OkStatus();
}

bool IsCriticalXid(uint64_t xid) {
  constexpr uint64_t kApplicationXids[] = {13, 31, 43, 45, 68, 109};
  return std::find(std::begin(kApplicationXids), std::end(kApplicationXids), xid) ==
         std::end(kApplicationXids);
}

}  // namespace accelsched::scheduler::node
