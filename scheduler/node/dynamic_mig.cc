#include "scheduler/node/dynamic_mig.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace accelsched::scheduler::node {

namespace {

// "3g.40gb@4 on GPU 0".
std::string SlotName(const MigSlot& slot) {
  return absl::StrCat(slot.profile.empty() ? "?" : slot.profile, "@", slot.start, " on GPU ",
                      slot.gpu);
}

bool Overlap(int start_a, int size_a, int start_b, int size_b) {
  return start_a < start_b + size_b && start_b < start_a + size_a;
}

}  // namespace

DynamicMig::DynamicMig(Nvml& nvml, std::shared_ptr<const Inventory> inventory)
    : nvml_(nvml), inventory_(std::move(inventory)) {}

absl::StatusOr<std::vector<std::pair<MigSlot, NvmlMigDevice>>> DynamicMig::Instances(
    int gpu) const {
  absl::StatusOr<std::vector<NvmlMigDevice>> migs = nvml_.ReadMigs(gpu);
  if (!migs.ok()) return migs.status();
  std::vector<std::pair<MigSlot, NvmlMigDevice>> out;
  for (NvmlMigDevice& m : *migs) {
    MigSlot slot{gpu, inventory_->MigProfileName(m), m.start};
    out.emplace_back(std::move(slot), std::move(m));
  }
  return out;
}

absl::Status DynamicMig::Destroy(const MigSlot& slot, const NvmlMigDevice& mig) {
  absl::Status s = nvml_.DestroyMig(slot.gpu, mig.gpu_instance_id);
  if (s.ok()) {
    spdlog::info("dynamic MIG: destroyed {} ({}): no pod holds it", SlotName(slot), mig.uuid);
    last_error_.erase(slot);
    owner_.erase(slot);
  }
  return s;
}

absl::Status DynamicMig::CheckSlot(const MigSlot& slot,
                                   const topology::mig::MigProfile* profile) const {
  if (profile == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(inventory_->model(), " has no MIG profile ", slot.profile));
  }
  if (!profile->IsLegalStart(slot.start) ||
      slot.start + profile->memory_slots > topology::mig::kMaxMemorySlots) {
    return absl::FailedPreconditionError(absl::StrCat(slot.profile, " cannot start at memory slot ",
                                                      slot.start, " on ", inventory_->model()));
  }
  if (slot.gpu < 0 || slot.gpu >= inventory_->gpu_count() ||
      !inventory_->nvml().gpus[static_cast<size_t>(slot.gpu)].mig_enabled) {
    return absl::FailedPreconditionError(absl::StrCat("GPU ", slot.gpu, " is not in MIG mode"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DynamicMig::Ensure(const MigSlot& slot, const std::string& uid,
                                               const HeldSlots& held) {
  const topology::mig::MigProfile* profile = inventory_->MigProfileNamed(slot.profile);
  if (absl::Status s = CheckSlot(slot, profile); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::pair<MigSlot, NvmlMigDevice>>> instances = Instances(slot.gpu);
  if (!instances.ok()) return instances.status();
  const std::optional<std::set<MigSlot>> holders = held();
  for (const auto& [at, mig] : *instances) {
    if (!Overlap(mig.start, mig.size, slot.start, profile->memory_slots)) continue;
    auto owner = owner_.find(at);
    const bool another_pods = owner != owner_.end() && owner->second != uid;
    if (at == slot && !another_pods) {  // Made before: another container, or a restart.
      owner_[slot] = uid;
      return mig.uuid;
    }
    if (at != slot && (!holders.has_value() || holders->count(at) != 0)) {
      return absl::FailedPreconditionError(
          absl::StrCat("GPU ", slot.gpu, ": MIG instance ", SlotName(at), " (", mig.uuid,
                       ") is in the way of ", slot.profile, "@", slot.start,
                       holders.has_value() ? " and a pod holds it"
                                           : " (which pods hold what is not known yet)"));
    }
    if (absl::Status s = Destroy(at, mig); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("MIG instance ", SlotName(at), " (", mig.uuid,
                                                 ") no pod holds is still in use: ", s.message()));
    }
  }
  absl::StatusOr<NvmlMigDevice> made = nvml_.CreateMig(
      slot.gpu, profile->id, slot.start, profile->memory_slots, profile->compute_slices);
  if (!made.ok()) return made.status();
  spdlog::info("dynamic MIG: made {} ({}) for pod {}", SlotName(slot), made->uuid, uid);
  owner_[slot] = uid;
  return made->uuid;
}

std::vector<MigSlot> DynamicMig::Reconcile(const HeldSlots& held) {
  std::vector<MigSlot> destroyed;
  absl::MutexLock lock(&mu_);
  const std::optional<std::set<MigSlot>> holders = held();
  if (!holders.has_value()) return destroyed;
  for (const NvmlGpu& gpu : inventory_->nvml().gpus) {
    if (!gpu.mig_enabled) continue;
    absl::StatusOr<std::vector<std::pair<MigSlot, NvmlMigDevice>>> instances = Instances(gpu.index);
    if (!instances.ok()) {
      spdlog::warn("dynamic MIG: GPU {}: {}", gpu.index, std::string(instances.status().message()));
      continue;
    }
    for (const auto& [slot, mig] : *instances) {
      if (holders->count(slot) == 0) DestroyUnheld(slot, mig, destroyed);
    }
    // GPU instances without a compute instance (a make cut short) are no MIG device: no pod
    // can be using one.
    absl::StatusOr<std::vector<NvmlMigDevice>> all =
        nvml_.ReadGpuInstances(gpu.index, inventory_->MigProfileIds());
    if (!all.ok()) {
      spdlog::warn("dynamic MIG: GPU {}: {}", gpu.index, std::string(all.status().message()));
      continue;
    }
    for (const NvmlMigDevice& gi : *all) {
      bool has_device = false;
      for (const auto& [slot, mig] : *instances) {
        has_device = has_device || mig.gpu_instance_id == gi.gpu_instance_id;
      }
      if (!has_device) {
        DestroyUnheld({gpu.index, inventory_->MigProfileName(gi), gi.start}, gi, destroyed);
      }
    }
  }
  return destroyed;
}

void DynamicMig::DestroyUnheld(const MigSlot& slot, const NvmlMigDevice& mig,
                               std::vector<MigSlot>& destroyed) {
  if (absl::Status s = Destroy(slot, mig); s.ok()) {
    destroyed.push_back(slot);
  } else if (std::string& last = last_error_[slot]; last != s.message()) {
    last = std::string(s.message());
    spdlog::warn("dynamic MIG: {} not destroyed (retried): {}", SlotName(slot), last);
  }
}

}  // namespace accelsched::scheduler::node
