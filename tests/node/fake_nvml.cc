// A fake libnvidia-ml.so.1 for tests: exports the NVML entry points accelsched-node calls, with
// NVML's C ABI, and answers from a JSON file named by $ACCELSCHED_FAKE_NVML:
//
//   {"driver": "550.54.15",
//    "gpus": [{"uuid": "GPU-...", "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559,
//              "pci": "00000000:18:00.0", "numa": 0, "minor": 0, "mig": false,
//              "switch_links": 18,                       // NVLink links to NVSwitches
//              "nvlinks": [{"peer": 1, "links": 2}]}],  // direct NVLink links to GPU `peer`
//    "ancestor": 50,            // NVML_TOPOLOGY_* level of every non-NVLink pair (default 50)
//    "migs": [{"parent": 0, "uuid": "MIG-...", "gi": 1, "profile": 9, "start": 4, "size": 4}],
//    "fail": {"nvmlDeviceGetUUID": 15},    // calls that return this NVML error
//    "events": [{"gpu": 2, "xid": 79}]}    // XID events, delivered once each, in order
//
// The file is read again on each nvmlEventSetWait_v2, so a test injects an event by rewriting
// it. Without the variable (or with an unreadable file) nvmlInit_v2 fails with
// NVML_ERROR_DRIVER_NOT_LOADED, as on a node without the driver.
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

struct Handle {
  int gpu = -1;
  int mig = -1;  // Index into "migs"; -1 for a GPU.
};

std::mutex g_mu;
Json g_config;
std::deque<Handle> g_handles;  // Stable addresses: handles are pointers into this.
size_t g_events_delivered = 0;

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

Handle* NewHandle(int gpu, int mig) {
  for (Handle& h : g_handles) {
    if (h.gpu == gpu && h.mig == mig) return &h;
  }
  g_handles.push_back({gpu, mig});
  return &g_handles.back();
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
  *dev = NewHandle(static_cast<int>(index), -1);
  return 0;
}

int nvmlDeviceGetUUID(void* dev, char* out, unsigned size) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int f = Fail("nvmlDeviceGetUUID")) return f;
  const Handle* h = AsHandle(dev);
  const Json& object =
      h->mig >= 0 ? Migs()[static_cast<size_t>(h->mig)] : Gpus()[static_cast<size_t>(h->gpu)];
  return CopyText(Field(object, "uuid"), out, size);
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
  for (size_t i = 0; i < Migs().size(); ++i) {
    if (Int(Migs()[i], "parent", -1) != gpu) continue;
    if (seen++ == index) {
      *mig = NewHandle(gpu, static_cast<int>(i));
      return 0;
    }
  }
  return 6;  // NVML_ERROR_NOT_FOUND.
}

int nvmlDeviceGetGpuInstanceId(void* mig, unsigned* id) {
  std::lock_guard<std::mutex> lock(g_mu);
  *id = static_cast<unsigned>(Int(Migs()[static_cast<size_t>(AsHandle(mig)->mig)], "gi", 0));
  return 0;
}

// GPU instance handles are the MIG device's handle: one compute instance per GPU instance.
int nvmlDeviceGetGpuInstanceById(void* dev, unsigned id, void** instance) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int gpu = AsHandle(dev)->gpu;
  for (size_t i = 0; i < Migs().size(); ++i) {
    if (Int(Migs()[i], "parent", -1) == gpu && Int(Migs()[i], "gi", -1) == static_cast<int>(id)) {
      *instance = NewHandle(gpu, static_cast<int>(i));
      return 0;
    }
  }
  return 6;
}

struct GpuInstanceInfo {
  void* device;
  unsigned id, profile_id, start, size;
};

int nvmlGpuInstanceGetInfo(void* instance, void* out) {
  auto* info = static_cast<GpuInstanceInfo*>(out);
  std::lock_guard<std::mutex> lock(g_mu);
  const Handle* h = AsHandle(instance);
  const Json& m = Migs()[static_cast<size_t>(h->mig)];
  info->device = NewHandle(h->gpu, -1);
  info->id = static_cast<unsigned>(Int(m, "gi", 0));
  info->profile_id = static_cast<unsigned>(Int(m, "profile", 0));
  info->start = static_cast<unsigned>(Int(m, "start", 0));
  info->size = static_cast<unsigned>(Int(m, "size", 0));
  return 0;
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
        *data = EventData{NewHandle(Int(e, "gpu", 0), -1), 0x8,
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
