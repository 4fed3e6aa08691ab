// NVML, loaded at run time (dlopen), read into plain values: the node's GPUs, their MIG devices
// and NVLink links, and critical XID events. Nothing here needs CUDA or the driver to build; on
// a node without the driver, Load() says so and accelsched-node serves nothing.
//
// The C API is declared here by hand (nvml.cc), with the ABI of NVML 11/12: handles are opaque
// pointers, versioned entry points (nvmlInit_v2, nvmlDeviceGetPciInfo_v3, ...) are looked up by
// those names. Every failure is a Status naming the NVML call and its error string
// ("nvmlDeviceGetUUID(GPU 2): GPU is lost"), never a crash.
//
// Tests load tests/node/fake_nvml.cc, a shared library exporting the same symbols and driven by
// JSON.
//
// Thread-safety: NVML itself is thread-safe; Read() and WaitXid() may run concurrently (the
// event set is used by one thread at a time: the health watcher's). MIG changes (CreateMig,
// DestroyMig) are made by one thread at a time (DynamicMig's lock).
#ifndef ACCELSCHED_SCHEDULER_NODE_NVML_H_
#define ACCELSCHED_SCHEDULER_NODE_NVML_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "topology/smi_parser.h"

namespace accelsched::scheduler::node {

inline constexpr char kDefaultNvmlLibrary[] = "libnvidia-ml.so.1";

struct NvmlGpu {
  int index = 0;             // NVML index (= nvidia-smi's and CUDA_DEVICE_ORDER=PCI_BUS_ID's).
  std::string uuid;          // "GPU-5b8c...".
  std::string product;       // nvmlDeviceGetName: "NVIDIA H100 80GB HBM3".
  int64_t memory_mib = 0;    // Total.
  std::string pci_bus_id;    // "00000000:18:00.0".
  int minor = -1;            // /dev/nvidia<minor>; -1 if NVML does not say.
  int numa_node = -1;        // -1 if unknown.
  bool mig_enabled = false;  // Current MIG mode.
};

struct NvmlMigDevice {
  int parent = 0;            // Index of the parent GPU.
  std::string uuid;          // "MIG-..." (R470+ form).
  int gpu_instance_id = -1;  // The GPU instance's id on its parent.
  int profile_id = -1;       // GPU instance profile ID (`nvidia-smi mig -lgip`: 9 = 3g.40gb).
  int start = -1;            // Placement: first memory slice.
  int size = 0;              // Placement: memory slices.
};

struct NvmlInventory {
  std::string driver_version;
  std::vector<NvmlGpu> gpus;        // By index.
  std::vector<NvmlMigDevice> migs;  // By parent, then MIG device index.
  // The node's GPU matrix as `nvidia-smi topo -m` would print it (GPUs only: NVML knows no NICs):
  // NVLink counts between GPUs (links through NVSwitches count as min of both sides), else the
  // PCIe common ancestor level; NUMA node per GPU.
  topology::SmiMatrix matrix;
};

struct XidEvent {
  int gpu = -1;  // Index; -1 if the event names no known GPU.
  std::string uuid;
  uint64_t xid = 0;
  // The wait said NVML_ERROR_GPU_IS_LOST: GPU `gpu` answers "GPU is lost" (-1: none could be
  // told apart, so every GPU must be taken as lost).
  bool lost = false;
};

class Nvml {
 public:
  // dlopen(`library`) and nvmlInit_v2. Unavailable naming the library (not installed, no driver)
  // or the missing symbol.
  static absl::StatusOr<std::unique_ptr<Nvml>> Load(const std::string& library);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  absl::StatusOr<NvmlInventory> Read() const;
  // The MIG devices of GPU `gpu` (one per compute instance), by MIG device index.
  absl::StatusOr<std::vector<NvmlMigDevice>> ReadMigs(int gpu) const;
  // The GPU instances of GPU `gpu` of these profile IDs, compute instance or not (`uuid` empty,
  // `gpu_instance_id`, `profile_id` and the placement set).
  absl::StatusOr<std::vector<NvmlMigDevice>> ReadGpuInstances(
      int gpu, const std::vector<int>& profile_ids) const;

  // Dynamic MIG (needs root and the /dev/nvidia-caps devices). CreateMig makes a GPU instance
  // of profile `profile_id` on memory slots [start, start + size) of GPU `gpu` and one compute
  // instance spanning its `compute_slices`, and returns the MIG device; if the compute instance
  // cannot be made, the GPU instance is destroyed again. DestroyMig destroys the compute
  // instances of GPU instance `gpu_instance_id` and then the instance (NVML refuses with "In
  // use" while a process runs on it). Errors name the call, the GPU and the placement.
  absl::StatusOr<NvmlMigDevice> CreateMig(int gpu, int profile_id, int start, int size,
                                          int compute_slices);
  absl::Status DestroyMig(int gpu, int gpu_instance_id);

  // Registers every GPU for critical XID events (once; later calls are no-ops).
  absl::Status WatchXid();
  // The next critical XID event (or a lost GPU), or nullopt after `timeout_ms` without one.
  absl::StatusOr<std::optional<XidEvent>> WaitXid(int timeout_ms);

  struct Api;  // The resolved entry points (nvml.cc).

 private:
  Nvml(void* library, std::unique_ptr<Api> api);
  void* library_;
  std::unique_ptr<Api> api_;
  void* event_set_ = nullptr;
  std::vector<void*> watched_;  // Handles registered for events, by GPU index.
};

// XIDs that mean the GPU needs attention (the NVIDIA device plugin's rule: every XID except the
// application errors 13, 31, 43, 45, 68 and 109).
bool IsCriticalXid(uint64_t xid);

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_NVML_H_
