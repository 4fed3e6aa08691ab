// A fake libnvidia-ml.so.1 for tests: exports the NVML entry points accelsched-node calls, with
// NVML's C ABI, and answers from a JSON file named by $ACCELSCHED_FAKE_NVML:
//
//   {"driver": "550.54.15",
//    "gpus": [{"uuid": "GPU-...", "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559,
//              "pci": "00000000:18:00.0", "numa": 0, "minor": 0, "mig": false,
//              "switch_links": 18,                       // NVLink links to NVSwitches
//              "nvlinks": [{"peer": 1, "links": 2}]}],  // direct NVLink links to GPU `peer`
//    "ancestor": 50,            // NVML_TOPOLOGY_* level of every non-NVLink pair (default 50)
//    "migs": [{"parent": 0, "uuid": "MIG-...", "gi": 1, "profile": 9, "start": 4, "size": 4,
//              "ci": 0,         // compute instance id (default 0; -1: none yet, no MIG device)
//              "busy": true}],  // a process runs on it: destroying it is NVML_ERROR_IN_USE
//    "fail": {"nvmlDeviceGetUUID": 15},    // calls that return this NVML error
//    "events": [{"gpu": 2, "xid": 79},     // XID events, delivered once each, in order;
//               {"lost": true}]}           // the wait fails with NVML_ERROR_GPU_IS_LOST
//   (a GPU with "lost": true answers nvmlDeviceGetUUID with NVML_ERROR_GPU_IS_LOST)
//
// The file is read again on each nvmlEventSetWait_v2, so a test injects an event by rewriting
// it. Without the variable (or with an unreadable file) nvmlInit_v2 fails with
// NVML_ERROR_DRIVER_NOT_LOADED, as on a node without the driver.
//
// Dynamic MIG: creating and destroying GPU and compute instances changes "migs" and writes the
// file back, so a test sees the node's instances there. A new GPU instance gets the smallest
// free id from 1 and the UUID "MIG-<GPU UUID>-<n>" (the n-th made since nvmlInit_v2, so an
// instance made again at the same place has a new UUID, as on a GPU); a placement that overlaps an
// instance (or leaves the 8 memory slots) is NVML_ERROR_INSUFFICIENT_RESOURCES, as the driver
// answers.
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "nlohmann/json.hpp"

namespace {

using Json = nlohmann::json;

// What a handle stands for: a GPU, a MIG device, a GPU instance or a compute instance (the last
// three name their GPU instance by id: indices into "migs" change when one is destroyed).
enum class Kind { kGpu, kMig, kGpuInstance, kComputeInstance };

struct Handle {
  int gpu = -1;
  Kind kind = Kind::kGpu;
  int gi = -1;
};

std::mutex g_mu;
Json g_config;
std::deque<Handle> g_handles;  // Stable addresses: handles are pointers into this.
size_t g_events_delivered = 0;
int g_instances_made = 0;  // Since nvmlInit_v2: makes each new instance's UUID unique.

bool LoadConfig() {
  const char* path = std::getenv("ACCELSCHED_FAKE_NVML");  // NOLINT(concurrency-mt-unsafe)
  if (path == nullptr) return false;
  std::ifstream in(path);
  if (!in) return false;
  Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return false;
  g_config = std::move(j);
  return true;
}

int Fail(const char* call) {
  const Json& fail = g_config.value("fail", Json::object());
  auto it = fail.find(call);
  return it != fail.end() && it->is_number_integer() ? it->get<int>() : 0;
}

const Json& Gpus() {
  static const Json kEmpty = Json::array();
  auto it = g_config.find("gpus");
  return it != g_config.end() && it->is_array() ? *it : kEmpty;
}

const Json& Migs() {
  static const Json kEmpty = Json::array();
  auto it = g_config.find("migs");
  return it != g_config.end() && it->is_array() ? *it : kEmpty;
}

Handle* NewHandle(int gpu, Kind kind = Kind::kGpu, int gi = -1) {
  for (Handle& h : g_handles) {
    if (h.gpu == gpu && h.kind == kind && h.gi == gi) return &h;
  }
  g_handles.push_back({gpu, kind, gi});
  return &g_handles.back();
}

// The "migs" entry of GPU instance `gi` on GPU `gpu`, null if there is none.
Json* MigEntry(int gpu, int gi) {
  auto it = g_config.find("migs");
  if (it == g_config.end() || !it->is_array()) return nullptr;
  for (Json& m : *it) {
    if (m.value("parent", -1) == gpu && m.value("gi", -1) == gi) return &m;
  }
  return nullptr;
}

// Writes the state back where $ACCELSCHED_FAKE_NVML points.
void SaveConfig() {
  const char* path = std::getenv("ACCELSCHED_FAKE_NVML");  // NOLINT(concurrency-mt-unsafe)
  if (path == nullptr) return;
  const std::string tmp = std::string(path) + ".fake.tmp";
  {
    std::ofstream out(tmp);
    out << g_config.dump();
  }
  std::rename(tmp.c_str(), path);
}

const Handle* AsHandle(void* dev) { return static_cast<const Handle*>(dev); }

int CopyText(const std::string& text, char* out, unsigned size) {
  if (text.size() + 1 > size) return 7;  // NVML_ERROR_INSUFFICIENT_SIZE.
  std::memcpy(out, text.c_str(), text.size() + 1);
  return 0;
}

std::string Field(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int Int(const Json& object, const char* key, int fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

struct PciInfo {
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};

int FillPci(const std::string& bus_id, PciInfo* pci) {
  std::memset(pci, 0, sizeof(*pci));
  return CopyText(bus_id, pci->bus_id, sizeof(pci->bus_id));
}

// The NVLink links of GPU `gpu` as a flat list of remote ends: a GPU index, or -1 for a switch.
std::vector<int> LinkEnds(int gpu) {
  std::vector<int> ends;
  const Json& g = Gpus()[static_cast<size_t>(gpu)];
  for (int i = 0; i < Int(g, "switch_links", 0); ++i) ends.push_back(-1);
  for (const Json& l : g.value("nvlinks", Json::array())) {
    for (int i = 0; i < Int(l, "links", 0); ++i) ends.push_back(Int(l, "peer", -1));
  }
  return ends;
}

}  // namespace

// NOLINTBEGIN(readability-identifier-naming): NVML's names.
extern "C" {

int nvmlInit_v2() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!LoadConfig()) return 9;  // NVML_ERROR_DRIVER_NOT_LOADED.
  g_events_delivered = 0;
  g_instances_made = 0;
  return Fail("nvmlInit_v2");
}

int nvmlShutdown() { return 0; }

const char* nvmlErrorString(int ret) {
  switch (ret) {
    case 0:
      return "Success";
    case 3:
      return "Not Supported";
    case 6:
      return "Not Found";
    case 9:
      return "Driver Not Loaded";
    case 15:
      return "GPU is lost";
    case 19:
      return "In use by another client";
    case 23:
      return "Insufficient resources";
    default:
      return "Unknown Error";
  }
}

int nvmlSystemGetDriverVersion(char* out, unsigned size) {
  std::lock_guard<std::mutex> lock(g_mu);
  return CopyText(g_config.value("driver", "550.54.15"), out, size);
}

int nvmlDeviceGetCount_v2(unsigned* count) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlDeviceGetCount_v2")) return f;
  *count = static_cast<unsigned>(Gpus().size());
  return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** dev) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (index >= Gpus().size()) return 2;  // NVML_ERROR_INVALID_ARGUMENT.
  *dev = NewHandle(static_cast<int>(index));
  return 0;
}

int nvmlDeviceGetUUID(void* dev, char* out, unsigned size) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlDeviceGetUUID")) return f;
  const Handle* h = AsHandle(dev);
  if (h->kind == Kind::kGpu && Gpus()[static_cast<size_t>(h->gpu)].value("lost", false)) {
    return 15;  // NVML_ERROR_GPU_IS_LOST.
  }
  const Json* object =
      h->kind == Kind::kGpu ? &Gpus()[static_cast<size_t>(h->gpu)] : MigEntry(h->gpu, h->gi);
  return object != nullptr ? CopyText(Field(*object, "uuid"), out, size) : 6;
}

int nvmlDeviceGetName(void* dev, char* out, unsigned size) {
  std::lock_guard<std::mutex> lock(g_mu);
  return CopyText(Field(Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)], "name"), out, size);
}

int nvmlDeviceGetMemoryInfo(void* dev, void* out) {
  auto* memory = static_cast<unsigned long long*>(out);
  std::lock_guard<std::mutex> lock(g_mu);
  const auto mib = static_cast<unsigned long long>(
      Int(Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)], "memory_mib", 0));
  memory[0] = mib << 20;  // total, free, used
  memory[1] = mib << 20;
  memory[2] = 0;
  return 0;
}

int nvmlDeviceGetPciInfo_v3(void* dev, void* pci) {
  std::lock_guard<std::mutex> lock(g_mu);
  return FillPci(Field(Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)], "pci"),
                 static_cast<PciInfo*>(pci));
}

int nvmlDeviceGetMinorNumber(void* dev, unsigned* minor) {
  std::lock_guard<std::mutex> lock(g_mu);
  *minor = static_cast<unsigned>(
      Int(Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)], "minor", AsHandle(dev)->gpu));
  return 0;
}

int nvmlDeviceGetNumaNodeId(void* dev, unsigned* numa) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int n = Int(Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)], "numa", -1);
  if (n < 0) return 3;
  *numa = static_cast<unsigned>(n);
  return 0;
}

int nvmlDeviceGetMigMode(void* dev, unsigned* current, unsigned* pending) {
  std::lock_guard<std::mutex> lock(g_mu);
  const Json& g = Gpus()[static_cast<size_t>(AsHandle(dev)->gpu)];
  if (!g.contains("mig")) return 3;  // Not MIG-capable.
  *current = *pending = g.value("mig", false) ? 1 : 0;
  return 0;
}

int nvmlDeviceGetMaxMigDeviceCount(void*, unsigned* count) {
  *count = 7;
  return 0;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void* dev, unsigned index, void** mig) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int gpu = AsHandle(dev)->gpu;
  unsigned seen = 0;
  for (const Json& m : Migs()) {
    // A GPU instance is a MIG device once it has its compute instance.
    if (Int(m, "parent", -1) != gpu || Int(m, "ci", 0) < 0) continue;
    if (seen++ == index) {
      *mig = NewHandle(gpu, Kind::kMig, Int(m, "gi", -1));
      return 0;
    }
  }
  return 6;  // NVML_ERROR_NOT_FOUND.
}

int nvmlDeviceGetGpuInstanceId(void* mig, unsigned* id) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (AsHandle(mig)->kind != Kind::kMig) return 2;
  *id = static_cast<unsigned>(AsHandle(mig)->gi);
  return 0;
}

int nvmlDeviceGetComputeInstanceId(void* mig, unsigned* id) {
  std::lock_guard<std::mutex> lock(g_mu);
  const Handle* h = AsHandle(mig);
  const Json* m = h->kind == Kind::kMig ? MigEntry(h->gpu, h->gi) : nullptr;
  if (m == nullptr) return 2;
  *id = static_cast<unsigned>(Int(*m, "ci", 0));
  return 0;
}

int nvmlDeviceGetGpuInstanceById(void* dev, unsigned id, void** instance) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int gpu = AsHandle(dev)->gpu;
  if (MigEntry(gpu, static_cast<int>(id)) == nullptr) return 6;
  *instance = NewHandle(gpu, Kind::kGpuInstance, static_cast<int>(id));
  return 0;
}

struct GpuInstanceInfo {
  void* device;
  unsigned id, profile_id, start, size;
};

int nvmlGpuInstanceGetInfo(void* instance, void* out) {
  auto* info = static_cast<GpuInstanceInfo*>(out);
  std::lock_guard<std::mutex> lock(g_mu);
  const Handle* h = AsHandle(instance);
  const Json* entry = MigEntry(h->gpu, h->gi);
  if (entry == nullptr) return 6;
  const Json& m = *entry;
  info->device = NewHandle(h->gpu);
  info->id = static_cast<unsigned>(Int(m, "gi", 0));
  info->profile_id = static_cast<unsigned>(Int(m, "profile", 0));
  info->start = static_cast<unsigned>(Int(m, "start", 0));
  info->size = static_cast<unsigned>(Int(m, "size", 0));
  return 0;
}

struct Placement {
  unsigned start, size;
};

int nvmlDeviceCreateGpuInstanceWithPlacement(void* dev, unsigned profile, const void* where,
                                             void** instance) {
  const auto* placement = static_cast<const Placement*>(where);
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlDeviceCreateGpuInstanceWithPlacement")) return f;
  const int gpu = AsHandle(dev)->gpu;
  if (!Gpus()[static_cast<size_t>(gpu)].value("mig", false)) return 3;  // MIG mode is off.
  const unsigned end = placement->start + placement->size;
  if (placement->size == 0 || end > 8) return 23;
  int gi = 1;
  for (const Json& m : Migs()) {
    if (Int(m, "parent", -1) != gpu) continue;
    const auto start = static_cast<unsigned>(Int(m, "start", 0));
    if (placement->start < start + static_cast<unsigned>(Int(m, "size", 0)) && start < end) {
      return 23;  // NVML_ERROR_INSUFFICIENT_RESOURCES: the slots are taken.
    }
  }
  while (MigEntry(gpu, gi) != nullptr) ++gi;
  const std::string uuid = "MIG-" + Field(Gpus()[static_cast<size_t>(gpu)], "uuid") + "-" +
                           std::to_string(++g_instances_made);
  g_config["migs"].push_back({{"parent", gpu},
                              {"uuid", uuid},
                              {"gi", gi},
                              {"profile", profile},
                              {"start", placement->start},
                              {"size", placement->size},
                              {"ci", -1}});
  SaveConfig();
  *instance = NewHandle(gpu, Kind::kGpuInstance, gi);
  return 0;
}

int nvmlDeviceGetGpuInstances(void* dev, unsigned profile, void** out, unsigned* count) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int gpu = AsHandle(dev)->gpu;
  *count = 0;
  for (const Json& m : Migs()) {
    if (Int(m, "parent", -1) == gpu && Int(m, "profile", -1) == static_cast<int>(profile)) {
      out[(*count)++] = NewHandle(gpu, Kind::kGpuInstance, Int(m, "gi", -1));
    }
  }
  return 0;
}

struct ComputeProfileInfo {
  unsigned id, slice_count, instance_count, multiprocessor_count, copy_engines, decoders, encoders,
      jpegs, ofas;
};

int nvmlGpuInstanceGetComputeInstanceProfileInfo(void*, unsigned profile, unsigned engines,
                                                 void* out) {
  constexpr unsigned kSlices[] = {1, 2, 3, 4, 7, 8, 6};  // NVML_COMPUTE_INSTANCE_PROFILE_*.
  if (profile >= 7) return 2;
  if (engines != 0) return 3;  // Only NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED.
  *static_cast<ComputeProfileInfo*>(out) = {profile, kSlices[profile], 1, 0, 0, 0, 0, 0, 0};
  return 0;
}

int nvmlGpuInstanceCreateComputeInstance(void* instance, unsigned, void** compute) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlGpuInstanceCreateComputeInstance")) return f;
  const Handle* h = AsHandle(instance);
  Json* m = MigEntry(h->gpu, h->gi);
  if (m == nullptr) return 6;
  if (Int(*m, "ci", 0) >= 0) return 23;  // One compute instance per GPU instance here.
  (*m)["ci"] = 0;
  SaveConfig();
  *compute = NewHandle(h->gpu, Kind::kComputeInstance, h->gi);
  return 0;
}

int nvmlGpuInstanceGetComputeInstanceById(void* instance, unsigned id, void** compute) {
  std::lock_guard<std::mutex> lock(g_mu);
  const Handle* h = AsHandle(instance);
  const Json* m = MigEntry(h->gpu, h->gi);
  if (m == nullptr || Int(*m, "ci", 0) != static_cast<int>(id)) return 6;
  *compute = NewHandle(h->gpu, Kind::kComputeInstance, h->gi);
  return 0;
}

int nvmlComputeInstanceDestroy(void* compute) {
  std::lock_guard<std::mutex> lock(g_mu);
  const Handle* h = AsHandle(compute);
  Json* m = MigEntry(h->gpu, h->gi);
  if (m == nullptr || Int(*m, "ci", 0) < 0) return 6;
  if (m->value("busy", false)) return 19;  // NVML_ERROR_IN_USE.
  (*m)["ci"] = -1;
  SaveConfig();
  return 0;
}

int nvmlGpuInstanceDestroy(void* instance) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlGpuInstanceDestroy")) return f;
  const Handle* h = AsHandle(instance);
  Json& migs = g_config["migs"];
  for (size_t i = 0; i < migs.size(); ++i) {
    if (Int(migs[i], "parent", -1) != h->gpu || Int(migs[i], "gi", -1) != h->gi) continue;
    if (Int(migs[i], "ci", 0) >= 0) return 19;  // Its compute instance still exists.
    migs.erase(i);
    SaveConfig();
    return 0;
  }
  return 6;
}

int nvmlDeviceGetNvLinkState(void* dev, unsigned link, int* state) {
  std::lock_guard<std::mutex> lock(g_mu);
  const std::vector<int> ends = LinkEnds(AsHandle(dev)->gpu);
  if (ends.empty()) return 3;
  if (link >= ends.size()) return 2;
  *state = 1;
  return 0;
}

int nvmlDeviceGetNvLinkRemotePciInfo_v2(void* dev, unsigned link, void* out) {
  auto* pci = static_cast<PciInfo*>(out);
  std::lock_guard<std::mutex> lock(g_mu);
  const std::vector<int> ends = LinkEnds(AsHandle(dev)->gpu);
  if (link >= ends.size()) return 2;
  const int peer = ends[link];
  return FillPci(peer < 0 ? "00000000:ff:00.0" : Field(Gpus()[static_cast<size_t>(peer)], "pci"),
                 pci);
}

int nvmlDeviceGetTopologyCommonAncestor(void*, void*, int* level) {
  std::lock_guard<std::mutex> lock(g_mu);
  *level = Int(g_config, "ancestor", 50);
  return 0;
}

int nvmlEventSetCreate(void** set) {
  static int token = 0;
  *set = &token;
  return 0;
}

int nvmlDeviceRegisterEvents(void*, unsigned long long, void*) { return 0; }

int nvmlEventSetFree(void*) { return 0; }

struct EventData {
  void* device;
  unsigned long long event_type, event_data;
  unsigned gpu_instance_id, compute_instance_id;
};

int nvmlEventSetWait_v2(void*, void* out, unsigned timeout_ms) {
  auto* data = static_cast<EventData*>(out);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      LoadConfig();
      const Json events = g_config.value("events", Json::array());
      if (g_events_delivered < events.size()) {
        const Json& e = events[g_events_delivered++];
        if (e.value("lost", false)) return 15;  // A GPU fell off: no event data.
        *data = EventData{NewHandle(Int(e, "gpu", 0)), 0x8,
                          static_cast<unsigned long long>(Int(e, "xid", 0)), 0, 0};
        return 0;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return 10;  // NVML_ERROR_TIMEOUT.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // extern "C"
// NOLINTEND(readability-identifier-naming)
