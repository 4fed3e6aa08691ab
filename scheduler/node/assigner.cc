#include "scheduler/node/assigner.h"

#include <algorithm>
#include <bit>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/annotations.h"

namespace accelsched::scheduler::node {

using codec::ContainerDevices;

struct Assigner::Pod {
  std::string uid;
  std::string key;
  std::string phase;
  std::string bound_at;
  std::vector<ContainerDevices> containers;
  // Nullopt: not placed by accelsched. An error: its annotations are malformed.
  absl::StatusOr<std::optional<codec::DeviceAssignment>> assignment = std::nullopt;
  std::set<std::string> allocated;  // accelsched.io/allocated.
};

struct Assigner::Match {
  const Pod* pod = nullptr;
  size_t container = 0;  // Index into pod->containers.
};

Assigner::Assigner(std::shared_ptr<const Inventory> inventory, AssignerOptions options,
                   OnAllocated on_allocated, MakeMig make_mig)
    : inventory_(std::move(inventory)),
      options_(std::move(options)),
      on_allocated_(std::move(on_allocated)),
      make_mig_(std::move(make_mig)) {}

Assigner::~Assigner() = default;

namespace {

std::unique_ptr<Assigner::Pod> MakePod(const codec::PodObject& p, int gpu_count) {
  auto pod = std::make_unique<Assigner::Pod>();
  pod->uid = p.uid;
  pod->key = p.Key();
  pod->phase = p.phase;
  if (auto it = p.annotations.find(kAnnotationBoundAt); it != p.annotations.end()) {
    pod->bound_at = it->second;
  }
  pod->containers = p.containers;
  pod->assignment = codec::DecodeDeviceAssignment(p.annotations, gpu_count);
  pod->allocated = codec::DecodeAllocatedContainers(p.annotations);
  return pod;
}

bool Waiting(const Assigner::Pod& pod) { return pod.phase.empty() || pod.phase == "Pending"; }

}  // namespace

void Assigner::ReplacePods(const std::vector<codec::PodObject>& pods, int unreadable) {
  absl::MutexLock lock(&mu_);
  listed_ = true;
  unreadable_ = unreadable;
  pods_.clear();
  for (const codec::PodObject& p : pods) pods_[p.uid] = MakePod(p, inventory_->gpu_count());
  // Served containers of pods that are gone are forgotten.
  for (auto it = served_.begin(); it != served_.end();) {
    it = pods_.count(it->first) != 0 ? std::next(it) : served_.erase(it);
  }
}

void Assigner::UpsertPod(const codec::PodObject& pod) {
  absl::MutexLock lock(&mu_);
  pods_[pod.uid] = MakePod(pod, inventory_->gpu_count());
}

void Assigner::RemovePod(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  pods_.erase(uid);
  served_.erase(uid);
}

std::optional<std::set<MigSlot>> Assigner::HeldMigSlots() const {
  absl::ReaderMutexLock lock(&mu_);
  if (!listed_ || unreadable_ > 0) return std::nullopt;
  std::set<MigSlot> held;
  for (const auto& [uid, pod] : pods_) {
    if (pod->phase == "Succeeded" || pod->phase == "Failed") continue;
    if (!pod->assignment.ok() || !pod->assignment->has_value()) continue;
    const codec::DeviceAssignment& a = **pod->assignment;
    if (a.mig_gpu >= 0) held.insert({a.mig_gpu, a.mig_profile, a.mig_start});
  }
  return held;
}

void Assigner::SetGpuHealth(int gpu, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  const bool was_unhealthy = unhealthy_.count(gpu) != 0;
  if (reason.empty() && was_unhealthy) {
    unhealthy_.erase(gpu);
  } else if (!reason.empty() && !was_unhealthy) {
    unhealthy_[gpu] = reason;
  } else {
    return;
  }
  ++version_;
}

std::map<int, std::string> Assigner::UnhealthyGpus() const {
  absl::ReaderMutexLock lock(&mu_);
  return unhealthy_;
}

std::vector<DeviceState> Assigner::Devices(const std::string& resource) const {
  std::vector<DeviceState> out;
  const Resource* r = inventory_->Find(resource);
  if (r == nullptr) return out;
  absl::ReaderMutexLock lock(&mu_);
  out.reserve(r->devices.size());
  for (const PluginDevice& d : r->devices) {
    out.push_back({d.id, unhealthy_.count(d.gpu) == 0, d.numa});
  }
  return out;
}

uint64_t Assigner::version() const {
  absl::ReaderMutexLock lock(&mu_);
  return version_;
}

uint64_t Assigner::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return version_ > seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return version_;
}

std::optional<Assigner::Match> Assigner::FindMatch(
    const std::string& resource, int size, const std::vector<std::string>* ids,
    const std::vector<std::string>& available) const {
  std::vector<Match> candidates;
  for (const auto& [uid, pod] : pods_) {
    if (!Waiting(*pod) || (pod->assignment.ok() && !pod->assignment->has_value())) continue;
    auto served = served_.find(uid);
    for (size_t c = 0; c < pod->containers.size(); ++c) {
      const ContainerDevices& cd = pod->containers[c];
      auto count = cd.counts.find(resource);
      if (count == cd.counts.end() || pod->allocated.count(cd.name) != 0 ||
          (served != served_.end() && served->second.count(cd.name) != 0)) {
        continue;
      }
      // The kubelet serves a pod's containers in order: only its first unserved container that
      // asks for this resource can be the one it is at.
      if (count->second == size) candidates.push_back(Match{pod.get(), c});
      break;
    }
  }
  if (candidates.empty()) return std::nullopt;
  std::sort(candidates.begin(), candidates.end(), [](const Match& x, const Match& y) {
    return std::tie(x.pod->bound_at, x.pod->key) < std::tie(y.pod->bound_at, y.pod->key);
  });
  // The kubelet normally takes what GetPreferredAllocation offered, i.e. one pod's own devices:
  // that pod is the one, whatever its age (a pod the watch brought late, another scheduler's
  // pod admitted in between).
  if (ids != nullptr) {
    for (const Match& m : candidates) {
      if (DevicesAgree(resource, m, *ids)) return m;
    }
  }
  // Dynamic MIG: a slot ID names the pod's instance, so only its own slot identifies a pod (a
  // wrong guess would hand one pod's instance to another, and destroy it under it later).
  if (IsDynamicMig(resource)) {
    if (ids != nullptr) return std::nullopt;
    for (const Match& m : candidates) {
      for (const std::string& id : available) {
        if (DevicesAgree(resource, m, {id})) return m;
      }
    }
    return std::nullopt;
  }
  return candidates.front();
}

bool Assigner::IsDynamicMig(const std::string& resource) const {
  return absl::StartsWith(resource, kResourceMigPrefix) &&
         inventory_->mig_mode() == MigMode::kDynamic;
}

bool Assigner::DevicesAgree(const std::string& resource, const Match& m,
                            const std::vector<std::string>& ids) const {
  absl::StatusOr<ContainerAnswer> a = Answer(resource, m);
  if (a.ok() && a->mig_slot.has_value()) {
    const NvmlGpu& gpu = inventory_->nvml().gpus[static_cast<size_t>(a->mig_slot->gpu)];
    return ids.size() == 1 && ids[0] == MigSlotDeviceId(gpu.uuid, *a->mig_slot);
  }
  if (!a.ok() || a->uuids.empty()) return false;
  if (resource == kResourceGpuMilli) {  // "<GPU UUID>::<k>", all on the pod's GPU.
    return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
      return id.substr(0, id.rfind("::")) == a->uuids[0];
    });
  }
  std::vector<std::string> want = a->uuids;
  std::vector<std::string> got = ids;
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  return want == got;
}

absl::StatusOr<std::vector<int>> Assigner::MatchedGpus(const Match& m) const {
  const Pod& pod = *m.pod;
  const ContainerDevices& container = pod.containers[m.container];
  if (!pod.assignment.ok()) return pod.assignment.status();
  const codec::DeviceAssignment& a = **pod.assignment;
  if (container.counts.count(kResourceGpu) == 0) {
    return std::vector<int>{a.share_gpu >= 0 ? a.share_gpu
                            : a.mig_gpu >= 0 ? a.mig_gpu
                                             : a.gpus[0]};
  }
  // Whole GPUs: plain init containers from the first GPU, the others one after another.
  size_t offset = 0;
  for (size_t c = 0; c <= m.container; ++c) {
    const ContainerDevices& cd = pod.containers[c];
    auto n = cd.counts.find(kResourceGpu);
    if (n == cd.counts.end()) continue;
    // A plain init container runs alone beside the sidecars started before it: it takes the GPUs
    // after theirs, and leaves them to the containers after it.
    const size_t first = offset;
    const size_t end = first + static_cast<size_t>(n->second);
    if (end > a.gpus.size()) {
      return absl::FailedPreconditionError(absl::StrCat("its containers ask for more GPUs than ",
                                                        kAnnotationGpuIds, " lists (",
                                                        a.gpus.size(), ")"));
    }
    if (c == m.container) {
      return std::vector<int>(a.gpus.begin() + static_cast<std::ptrdiff_t>(first),
                              a.gpus.begin() + static_cast<std::ptrdiff_t>(end));
    }
    if (cd.kind != ContainerDevices::Kind::kInit) offset = end;
  }
  return absl::InternalError("unreachable");
}

namespace {

// "GPU 2 (GPU-5b8c...)".
std::string GpuName(const NvmlGpu& gpu) {
  return absl::StrCat("GPU ", gpu.index, " (", gpu.uuid, ")");
}

}  // namespace

absl::StatusOr<ContainerAnswer> Assigner::Answer(const std::string& resource,
                                                 const Match& m) const {
  const Pod& pod = *m.pod;
  const ContainerDevices& container = pod.containers[m.container];
  const std::string who = absl::StrCat("pod ", pod.key, " container ", container.name, ": ");
  absl::StatusOr<std::vector<int>> gpus = MatchedGpus(m);
  if (!gpus.ok()) return absl::FailedPreconditionError(who + std::string(gpus.status().message()));
  const codec::DeviceAssignment& a = **pod.assignment;
  ContainerAnswer out;
  out.pod = pod.key;
  out.container = container.name;
  for (int g : *gpus) {
    if (g >= inventory_->gpu_count()) {
      return absl::FailedPreconditionError(absl::StrCat(who, "GPU ", g, " of ", kAnnotationGpuIds,
                                                        " is not on this node (",
                                                        inventory_->gpu_count(), " GPUs)"));
    }
    const NvmlGpu& gpu = inventory_->nvml().gpus[static_cast<size_t>(g)];
    if (auto bad = unhealthy_.find(g); bad != unhealthy_.end()) {
      return absl::UnavailableError(
          absl::StrCat(who, GpuName(gpu), " is unhealthy: ", bad->second));
    }
    const bool wants_mig = absl::StartsWith(resource, kResourceMigPrefix);
    if (gpu.mig_enabled != wants_mig) {
      return absl::FailedPreconditionError(absl::StrCat(
          who, GpuName(gpu), gpu.mig_enabled ? " is in MIG mode" : " is not in MIG mode"));
    }
    if (!wants_mig) out.uuids.push_back(gpu.uuid);
  }
  if (resource == kResourceGpuMilli && a.share_gpu < 0) {
    return absl::FailedPreconditionError(absl::StrCat(who, "asks for ", kResourceGpuMilli,
                                                      " but the pod has no ", kAnnotationGpuShare));
  }
  if (absl::StartsWith(resource, kResourceMigPrefix)) {
    const std::string profile = MigProfileOfResource(resource);
    if (a.mig_gpu < 0 || a.mig_profile != profile) {
      return absl::FailedPreconditionError(absl::StrCat(who, "asks for ", resource, " but ",
                                                        kAnnotationMigPlacement, " names ",
                                                        a.mig_gpu < 0 ? "none" : a.mig_profile));
    }
    if (inventory_->mig_mode() == MigMode::kDynamic) {  // Made at Allocate.
      out.mig_slot = MigSlot{a.mig_gpu, a.mig_profile, a.mig_start};
      return out;
    }
    const NvmlMigDevice* mig = inventory_->FindMig(a.mig_gpu, a.mig_profile, a.mig_start);
    if (mig == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(who, "GPU ", a.mig_gpu,
                                                        " has no MIG instance ", a.mig_profile,
                                                        " at memory slot ", a.mig_start));
    }
    out.uuids.push_back(mig->uuid);
  }
  return out;
}

namespace {

// How the container reaches `answer.uuids` (DeviceMode).
void AddDevices(DeviceMode mode, ContainerAnswer& answer) {
  if (mode == DeviceMode::kCdi && !answer.mig_slot.has_value()) {
    for (const std::string& uuid : answer.uuids) {
      answer.cdi_devices.push_back(absl::StrCat("nvidia.com/gpu=", uuid));
    }
    // An image's own NVIDIA_VISIBLE_DEVICES=all (every CUDA base image sets it) must not reach a
    // runtime that still honours the variable: "void" means none.
    answer.envs["NVIDIA_VISIBLE_DEVICES"] = "void";
  } else {
    answer.envs["NVIDIA_VISIBLE_DEVICES"] = absl::StrJoin(answer.uuids, ",");
  }
  if (answer.mig_slot.has_value()) {
    // The NVIDIA toolkit's volume-mounts device list: honoured for unprivileged pods where the
    // variable is not (accept-nvidia-visible-devices-as-volume-mounts = true).
    for (const std::string& uuid : answer.uuids) {
      answer.mounts.push_back(
          {absl::StrCat("/var/run/nvidia-container-devices/", uuid), "/dev/null", true});
    }
  }
}

// MPS limits for a container holding `milli` of its GPU and `memory_mib` of its memory.
void AddMpsLimits(const AssignerOptions& options, int64_t milli, int64_t memory_mib,
                  ContainerAnswer& answer) {
  answer.envs["CUDA_MPS_PIPE_DIRECTORY"] = options.mps_pipe_dir;
  answer.envs["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] =
      absl::StrCat(std::clamp<int64_t>((milli + 9) / 10, 1, 100));
  if (memory_mib > 0) {
    // The container sees its one GPU as device 0.
    answer.envs["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = absl::StrCat("0=", memory_mib, "M");
  }
  answer.mounts.push_back({options.mps_pipe_dir, options.mps_pipe_dir, false});
}

}  // namespace

ContainerAnswer Assigner::AnswerForeign(const std::string& resource,
                                        const std::vector<std::string>& ids) const {
  ContainerAnswer out;
  std::set<int> gpus;
  const Resource* r = inventory_->Find(resource);
  for (const std::string& id : ids) {
    if (r == nullptr) break;
    for (const PluginDevice& d : r->devices) {
      if (d.id != id) continue;
      if (absl::StartsWith(resource, kResourceMigPrefix)) {
        out.uuids.push_back(id);
      } else if (gpus.insert(d.gpu).second) {
        out.uuids.push_back(inventory_->nvml().gpus[static_cast<size_t>(d.gpu)].uuid);
      }
      break;
    }
  }
  return out;
}

absl::StatusOr<ContainerAnswer> Assigner::Allocate(const std::string& resource,
                                                   const std::vector<std::string>& ids) {
  if (inventory_->Find(resource) == nullptr) {
    return absl::NotFoundError(absl::StrCat("this node does not serve ", resource));
  }
  const bool dynamic_mig =
      absl::StartsWith(resource, kResourceMigPrefix) && inventory_->mig_mode() == MigMode::kDynamic;
  absl::StatusOr<ContainerAnswer> answer;
  std::string uid, key;
  std::set<std::string> served;
  {
    absl::MutexLock lock(&mu_);
    if (!listed_) {  // Any pod could be one accelsched placed: never guess.
      return absl::UnavailableError(
          absl::StrCat("Allocate of ", resource,
                       ": the pods of this node are not listed yet (is the API "
                       "server reachable?), so which pod this is for is unknown"));
    }
    std::optional<Match> m = FindMatch(resource, static_cast<int>(ids.size()), &ids);
    if (!m.has_value() && dynamic_mig) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Allocate of ", resource, " [", absl::StrJoin(ids, ","),
          "]: no pod placed by accelsched waits for this slot (dynamic MIG instances are made "
          "only for the slot the extender chose for a pod)"));
    }
    if (!m.has_value()) {
      answer = AnswerForeign(resource, ids);
      if (answer->uuids.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Allocate of ", resource, ": none of the device IDs [",
                         absl::StrJoin(ids, ","), "] is a device of this node"));
      }
      spdlog::info(
          "{}: no pod placed by accelsched waits for {} device(s); serving the "
          "kubelet's choice {}",
          resource, ids.size(), absl::StrJoin(answer->uuids, ","));
    } else {
      answer = Answer(resource, *m);
      uid = m->pod->uid;
      key = m->pod->key;
      served_[uid].insert(m->pod->containers[m->container].name);
      served = served_[uid];
      served.insert(m->pod->allocated.begin(), m->pod->allocated.end());
      if (answer.ok() && resource == kResourceGpuMilli && options_.sharing == SharingMode::kMps) {
        const ContainerDevices& c = m->pod->containers[m->container];
        AddMpsLimits(options_, c.counts.at(resource), c.gpu_memory_mib, *answer);
      }
    }
  }
  if (answer.ok() && answer->mig_slot.has_value()) MakeMigInstance(uid, answer);
  if (!uid.empty() && on_allocated_) on_allocated_(uid, key, served);
  if (!answer.ok()) {
    spdlog::error("Allocate {}: {}", resource, std::string(answer.status().message()));
    return answer;
  }
  AddDevices(options_.device_mode, *answer);
  if (!uid.empty()) {
    spdlog::info("pod {} container {}: {} -> {}", answer->pod, answer->container, resource,
                 absl::StrJoin(answer->uuids, ","));
  }
  return answer;
}

void Assigner::MakeMigInstance(const std::string& uid,
                               absl::StatusOr<ContainerAnswer>& answer) const {
  const std::string who = absl::StrCat("pod ", answer->pod, " container ", answer->container);
  const MigSlot& slot = *answer->mig_slot;
  absl::StatusOr<std::string> uuid =
      make_mig_ ? make_mig_(slot, uid) : absl::FailedPreconditionError("dynamic MIG is not set up");
  if (!uuid.ok()) {
    answer =
        absl::Status(uuid.status().code(),
                     absl::StrCat(who, ": cannot make MIG instance ", slot.profile, "@", slot.start,
                                  " on GPU ", slot.gpu, ": ", uuid.status().message()));
    return;
  }
  answer->uuids.push_back(*uuid);
}

namespace {

// Whole GPUs for a pod accelsched did not place: the topology-best `size` of `available` that
// holds `must_include` (must_include first, then the best set of the rest).
std::vector<std::string> BestGpus(const Inventory& inv, const std::vector<std::string>& available,
                                  const std::vector<std::string>& must_include, int size) {
  topology::GpuMask free = 0, must = 0;
  for (const NvmlGpu& g : inv.nvml().gpus) {
    const auto bit = topology::GpuMask{1} << g.index;
    if (std::find(available.begin(), available.end(), g.uuid) != available.end()) free |= bit;
    if (std::find(must_include.begin(), must_include.end(), g.uuid) != must_include.end()) {
      must |= bit;
    }
  }
  topology::GpuMask chosen = must;
  const int more = size - std::popcount(must);
  if (inv.search().has_value() && more > 0 && std::popcount(free & ~must) >= more) {
    chosen |= inv.search()->BestUnconstrained(free & ~must, more);
  }
  std::vector<std::string> out;
  for (const NvmlGpu& g : inv.nvml().gpus) {
    if ((chosen >> g.index) & 1u) out.push_back(g.uuid);
  }
  for (const std::string& id : available) {  // No topology: the first ones.
    if (static_cast<int>(out.size()) >= size) break;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

// The GPU index of milli device `id` ("<GPU UUID>::<k>"), -1 if it is not one of `inv`'s.
int MilliDeviceGpu(const Inventory& inv, const std::string& id) {
  const size_t sep = id.rfind("::");
  if (sep == std::string::npos) return -1;
  const absl::string_view uuid(id.data(), sep);
  for (const NvmlGpu& g : inv.nvml().gpus) {
    if (g.uuid == uuid) return g.index;
  }
  return -1;
}

// `size` virtual devices of `available` on GPU `gpu` (-1: on the GPU with the fewest available
// that has enough, to pack shares), must_include first. The kubelet offers every free milli
// device (8,000 on 8 GPUs), so this parses IDs rather than looking them up.
std::vector<std::string> MilliDevices(const Inventory& inv,
                                      const std::vector<std::string>& available,
                                      const std::vector<std::string>& must_include, int size,
                                      int gpu) {
  std::vector<int> gpu_of(available.size());
  std::map<int, int> free_on;
  for (size_t i = 0; i < available.size(); ++i) {
    gpu_of[i] = MilliDeviceGpu(inv, available[i]);
    ++free_on[gpu_of[i]];
  }
  if (gpu < 0) {
    int best = kMilliPerGpu + 1;
    for (const auto& [g, n] : free_on) {
      if (g >= 0 && n >= size && n < best) std::tie(gpu, best) = std::tie(g, n);
    }
  }
  std::vector<std::string> out(must_include.begin(), must_include.end());
  const std::set<std::string> taken(must_include.begin(), must_include.end());
  for (size_t i = 0; i < available.size() && static_cast<int>(out.size()) < size; ++i) {
    if (gpu_of[i] == gpu && taken.count(available[i]) == 0) out.push_back(available[i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> Assigner::Preferred(
    const std::string& resource, const std::vector<std::string>& available,
    const std::vector<std::string>& must_include, int size) const {
  if (inventory_->Find(resource) == nullptr) {
    return absl::NotFoundError(absl::StrCat("this node does not serve ", resource));
  }
  if (size <= 0 || static_cast<size_t>(size) > available.size()) {
    return absl::InvalidArgumentError(absl::StrCat("GetPreferredAllocation of ", resource, ": ",
                                                   size, " of ", available.size(),
                                                   " available devices"));
  }
  absl::ReaderMutexLock lock(&mu_);
  std::optional<Match> m = FindMatch(resource, size, nullptr, available);
  absl::StatusOr<ContainerAnswer> answer =
      m.has_value() ? Answer(resource, *m) : absl::NotFoundError("no pod");
  if (answer.ok() && resource == kResourceGpuMilli) {
    return MilliDevices(*inventory_, available, must_include, size,
                        (**m->pod->assignment).share_gpu);
  }
  if (answer.ok() && answer->mig_slot.has_value()) {
    const NvmlGpu& gpu = inventory_->nvml().gpus[static_cast<size_t>(answer->mig_slot->gpu)];
    return std::vector<std::string>{MigSlotDeviceId(gpu.uuid, *answer->mig_slot)};
  }
  if (answer.ok()) return answer->uuids;
  // Not ours (or Allocate will fail and say why): the best the node has.
  if (resource == kResourceGpu) return BestGpus(*inventory_, available, must_include, size);
  if (resource == kResourceGpuMilli) {
    return MilliDevices(*inventory_, available, must_include, size, -1);
  }
  std::vector<std::string> out(must_include.begin(), must_include.end());
  for (const std::string& id : available) {
    if (static_cast<int>(out.size()) >= size) break;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace accelsched::scheduler::node
