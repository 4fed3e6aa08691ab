// The device plugin's decisions (DESIGN section 12), free of gRPC: which devices the kubelet is
// offered, which it should prefer, and what each container gets.
//
// The kubelet's Allocate names devices, not pods. The Assigner keeps the pods bound to this node
// (fed by a watch) and matches each Allocate to a pod that accelsched placed here, is still
// Pending, and has a container not yet served that asks exactly this many devices of this
// resource: the one whose own devices are the IDs the kubelet passed (it normally takes what
// GetPreferredAllocation offered), else the oldest bind (accelsched.io/bound-at). That container
// gets the devices of the pod's assignment, whatever IDs the kubelet picked (GetPreferredAllocation
// answers the same devices, so normally they agree); the match is recorded in memory at once and on
// the pod (accelsched.io/allocated, through `on_allocated`), so that neither a restart of the
// plugin nor a retry hands the same assignment out twice.
//
// How a pod's assignment is split between its containers, in the kubelet's order (init
// containers, then app containers; codec::ContainerDevices):
//   - whole GPUs (accelsched.io/gpu-ids, ascending): sidecars and app containers take
//     consecutive GPUs from the first on; a plain init container (it runs alone beside the
//     sidecars started before it) takes the n GPUs after those sidecars' and leaves them to the
//     containers after it;
//   - a share or a MIG instance: every container that asks for it gets that one device.
//
// Dynamic MIG (Inventory::mig_mode()): the kubelet hands out slot IDs
// ("<GPU UUID>::3g.40gb@4"); the pod's instance is made at Allocate (`make_mig`, DynamicMig) and
// reaches the container through the NVIDIA runtime, which resolves it when the container starts:
// NVIDIA_VISIBLE_DEVICES=<MIG UUID> and the volume-mount list
// (/var/run/nvidia-container-devices/<MIG UUID>), in either device mode: CDI specs are generated
// ahead of time and do not know an instance made later. Only pods accelsched placed get one, and
// only by their own slot (nothing would say when another scheduler's pod no longer needs one).
//
// A pod accelsched did not place (another scheduler's): the kubelet's own choice is served, and
// GetPreferredAllocation offers the topology-best set (NVLink, NUMA; topology/device_set.h).
//
// Until the pods have been listed once, Allocate fails (Unavailable): any container could be one
// of a pod accelsched placed, and guessing could hand it other devices.
//
// Failures name the pod, the container and the device: a device that is unhealthy or not on
// this node, a malformed annotation. Such a container is marked served, so the next Allocate
// goes to the next pod.
//
// Thread-safety: thread-safe (one mutex; ListAndWatch streams wait on it for changes).
#ifndef ACCELSCHED_SCHEDULER_NODE_ASSIGNER_H_
#define ACCELSCHED_SCHEDULER_NODE_ASSIGNER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/node/inventory.h"

namespace accelsched::scheduler::node {

// How a container reaches its GPUs.
enum class DeviceMode {
  kCdi,     // CDI device names "nvidia.com/gpu=<UUID>" (needs CDI in the runtime).
  kEnvVar,  // NVIDIA_VISIBLE_DEVICES=<UUID,...> (the NVIDIA container runtime's legacy mode).
};

// How shares of a GPU are run on this node (node label accelsched.io/gpu-sharing).
enum class SharingMode {
  kTimeSlicing,  // No limits: time slicing isolates neither memory nor compute.
  kMps,          // MPS: active thread percentage and pinned memory limit per container.
};

struct AssignerOptions {
  DeviceMode device_mode = DeviceMode::kCdi;
  SharingMode sharing = SharingMode::kTimeSlicing;
  std::string mps_pipe_dir = "/run/nvidia/mps";  // Host path, mounted at the same path.
};

// The kubelet's device-plugin answer for one container (ContainerAllocateResponse).
struct ContainerAnswer {
  struct Mount {
    std::string container_path;
    std::string host_path;
    bool read_only = false;
  };
  std::map<std::string, std::string> envs;
  std::vector<Mount> mounts;
  std::vector<std::string> cdi_devices;
  std::map<std::string, std::string> annotations;
  // What was handed out, for logs and tests: the pod ("ns/name", "" for a pod accelsched did
  // not place), the container and the device UUIDs (GPU or MIG).
  std::string pod;
  std::string container;
  std::vector<std::string> uuids;
  // Dynamic MIG: the instance the container gets (made at Allocate).
  std::optional<MigSlot> mig_slot;
};

struct DeviceState {
  std::string id;
  bool healthy = true;
  int numa = -1;
};

class Assigner {
 public:
  // Called after a container is served, outside the lock: the pod and its served containers, to
  // record on the pod (accelsched.io/allocated).
  using OnAllocated = std::function<void(const std::string& uid, const std::string& key,
                                         const std::set<std::string>& containers)>;
  // Dynamic MIG: the UUID of the instance at a slot for pod `uid`, made if need be (called
  // outside the lock).
  using MakeMig =
      std::function<absl::StatusOr<std::string>(const MigSlot& slot, const std::string& uid)>;

  Assigner(std::shared_ptr<const Inventory> inventory, AssignerOptions options,
           OnAllocated on_allocated = nullptr, MakeMig make_mig = nullptr);
  ~Assigner();
  Assigner(const Assigner&) = delete;
  Assigner& operator=(const Assigner&) = delete;

  // The pods bound to this node, from the watch: all at once (after a list) or one by one.
  // `unreadable`: pods of the list that could not be decoded (they may hold MIG instances).
  void ReplacePods(const std::vector<codec::PodObject>& pods, int unreadable = 0);
  void UpsertPod(const codec::PodObject& pod);
  void RemovePod(const std::string& uid);

  // The MIG slots that pods on this node hold (placed here by accelsched, not finished);
  // nullopt while that is not known: before the pods are listed, or while the last list had a
  // pod that could not be read.
  std::optional<std::set<MigSlot>> HeldMigSlots() const;

  // GPU `gpu` is unhealthy for `reason` (an XID event), or healthy again (empty reason).
  void SetGpuHealth(int gpu, const std::string& reason);
  // GPU index -> why it is unhealthy.
  std::map<int, std::string> UnhealthyGpus() const;

  // Devices of `resource` with their health; and a version that grows with every change of
  // health, for ListAndWatch. WaitForChange returns the version once it exceeds `seen` or after
  // `timeout`.
  std::vector<DeviceState> Devices(const std::string& resource) const;
  uint64_t version() const;
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const;

  // GetPreferredAllocation for one container: `size` of `available`, containing
  // `must_include`.
  absl::StatusOr<std::vector<std::string>> Preferred(const std::string& resource,
                                                     const std::vector<std::string>& available,
                                                     const std::vector<std::string>& must_include,
                                                     int size) const;
  // Allocate for one container that the kubelet gave `ids` of `resource`.
  absl::StatusOr<ContainerAnswer> Allocate(const std::string& resource,
                                           const std::vector<std::string>& ids);

  const Inventory& inventory() const { return *inventory_; }

  struct Pod;  // A pod of this node as the Assigner keeps it (assigner.cc).

 private:
  struct Match;
  // The container an Allocate (or GetPreferredAllocation) of `size` devices is for: among the
  // waiting candidates, the one whose devices are `ids` if given, else the oldest bind.
  // Dynamic MIG only matches a pod by its slot: the one in `ids` (Allocate) or in `available`
  // (GetPreferredAllocation).
  std::optional<Match> FindMatch(const std::string& resource, int size,
                                 const std::vector<std::string>* ids,
                                 const std::vector<std::string>& available = {}) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool IsDynamicMig(const std::string& resource) const;
  bool DevicesAgree(const std::string& resource, const Match& m,
                    const std::vector<std::string>& ids) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<int>> MatchedGpus(const Match& m) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<ContainerAnswer> Answer(const std::string& resource, const Match& m) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Dynamic MIG: makes the instance of `answer`'s slot and adds its UUID, or turns `answer`
  // into the error naming pod, container and slot.
  void MakeMigInstance(const std::string& uid, absl::StatusOr<ContainerAnswer>& answer) const;
  ContainerAnswer AnswerForeign(const std::string& resource,
                                const std::vector<std::string>& ids) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const Inventory> inventory_;
  const AssignerOptions options_;
  const OnAllocated on_allocated_;
  const MakeMig make_mig_;
  mutable absl::Mutex mu_;
  bool listed_ ABSL_GUARDED_BY(mu_) = false;  // ReplacePods was called.
  int unreadable_ ABSL_GUARDED_BY(mu_) = 0;   // Pods of the last list not decoded.
  std::map<std::string, std::unique_ptr<Pod>> pods_ ABSL_GUARDED_BY(mu_);  // By uid.
  // Containers served by this process, by pod uid (the annotation may lag behind).
  std::map<std::string, std::set<std::string>> served_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> unhealthy_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_ASSIGNER_H_
