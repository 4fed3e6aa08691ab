// Dynamic MIG (DESIGN section 12): on a node labelled accelsched.io/mig-mode=dynamic, MIG
// instances are made where the extender placed a pod (accelsched.io/mig-placement) when the
// kubelet asks for the pod's device, and destroyed once no pod on the node holds them.
//
// Ensure makes the instance of a slot at Allocate; an instance in its way that no pod holds
// (left over from a pod that went while accelsched-node was down) is destroyed first. Reconcile,
// run every few seconds against the pods on this node, destroys every instance no pod holds;
// NVML refuses while a process still runs on one ("In use"), and the next round tries again.
// GPU instances without a compute instance (a make cut short by a crash) are destroyed too.
// On a dynamic node accelsched-node owns the MIG layout: instances made by hand go too.
//
// Thread-safety: thread-safe; one MIG change at a time (a reconcile round holds the lock from
// reading which slots pods hold until its last destroy, so it never races an Ensure).
#ifndef ACCELSCHED_SCHEDULER_NODE_DYNAMIC_MIG_H_
#define ACCELSCHED_SCHEDULER_NODE_DYNAMIC_MIG_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/node/inventory.h"
#include "scheduler/node/nvml.h"

namespace accelsched::scheduler::node {

class DynamicMig {
 public:
  // The slots the pods on this node hold (Assigner::HeldMigSlots); nullopt while unknown (the
  // pods are not listed yet, or one could not be read): then nothing is destroyed.
  using HeldSlots = std::function<std::optional<std::set<MigSlot>>()>;

  DynamicMig(Nvml& nvml, std::shared_ptr<const Inventory> inventory);

  // The MIG UUID of the instance at `slot` for pod `uid`, made now if it does not exist. An
  // instance there that was made for another pod (one force-deleted while its container ran)
  // is destroyed and made anew, never handed on; Unavailable while a process still runs on it.
  // FailedPrecondition if a pod holds an instance overlapping it, the placement is not legal or
  // the GPU is not in MIG mode; NVML's errors name the call and the placement.
  absl::StatusOr<std::string> Ensure(const MigSlot& slot, const std::string& uid,
                                     const HeldSlots& held);

  // Destroys every instance that no pod holds; the slots destroyed. Failures are logged (once per
  // slot and message) and retried on the next call.
  std::vector<MigSlot> Reconcile(const HeldSlots& held);

 private:
  // The instances of GPU `gpu` with their slots (profile "" if the model has no such profile).
  absl::StatusOr<std::vector<std::pair<MigSlot, NvmlMigDevice>>> Instances(int gpu) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Destroy(const MigSlot& slot, const NvmlMigDevice& mig)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Destroy, adding `slot` to `destroyed` or logging why not (once per slot and message).
  void DestroyUnheld(const MigSlot& slot, const NvmlMigDevice& mig, std::vector<MigSlot>& destroyed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A profile of the model, a legal start, a GPU in MIG mode.
  absl::Status CheckSlot(const MigSlot& slot, const topology::mig::MigProfile* profile) const;

  Nvml& nvml_;
  const std::shared_ptr<const Inventory> inventory_;
  absl::Mutex mu_;
  std::map<MigSlot, std::string> last_error_ ABSL_GUARDED_BY(mu_);
  // Which pod each instance was handed to (pod uid), since this process started.
  std::map<MigSlot, std::string> owner_ ABSL_GUARDED_BY(mu_);
};

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_DYNAMIC_MIG_H_
