// The allocation ledger: the single writer of the cluster's allocations (DESIGN sections 2 and
// 8). It owns a plugins::ClusterState, records which pod (by UID) holds which devices, and
// publishes an immutable snapshot after every change for the request handlers to read. Each pod
// is counted for the tenant of its namespace (NodeInfo::tenants), and the namespaces' isolation
// is published with the snapshot (ClusterSnapshot::tenants()), for the tenancy plugin.
//
// Binding is idempotent by pod UID: a second Bind of a pod the ledger already holds on the same
// node returns the existing placement and allocates nothing.
//
// Thread-safety: thread-safe; every method takes the one mutex. Snapshots handed out are
// immutable and stay valid after later changes. A snapshot is copied from the live state at the
// first Snapshot() after a change (one pointer per 64 nodes: ClusterSnapshot shares unchanged
// nodes between copies), never per change.
#ifndef ACCELSCHED_SCHEDULER_STATE_LEDGER_H_
#define ACCELSCHED_SCHEDULER_STATE_LEDGER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"

namespace accelsched::scheduler {

// Who holds a placement: a pod, a gang reservation's slot (scheduler/gang/gang_book.h) that a
// member takes over at its bind (Ledger::Transfer), or the devices prioritize chose for a pod,
// held until its bind (scheduler/service/tentative_holds.h).
enum class Holder { kPod, kGangSlot, kTentative };

struct PlacedPod {
  std::string uid;  // The pod's UID; for a slot, GangBook::SlotUid.
  std::string key;  // "namespace/name".
  std::string node;
  plugins::PodRequest request;
  plugins::Assignment assignment;  // assignment.node is the node's index in the current state.
  Holder holder = Holder::kPod;
};

// The namespace of a ledger key ("namespace/name", or "namespace/gang#slot").
inline std::string NamespaceOfKey(const std::string& key) { return key.substr(0, key.find('/')); }

class Ledger {
 public:
  // An empty cluster of `nodes` (InvalidArgument as ClusterSnapshotBuilder::Build).
  static absl::StatusOr<std::unique_ptr<Ledger>> Create(std::vector<plugins::NodeSpec> nodes);

  // The current state. Never null.
  std::shared_ptr<const plugins::ClusterSnapshot> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  // Chooses the devices for a pod on the live state (called under the ledger's lock, so no other
  // change can come between the choice and its application). Returns the assignment, or an
  // error that the bind reports (e.g. FailedPrecondition "no longer fits").
  using Chooser = std::function<absl::StatusOr<plugins::Assignment>(
      const plugins::ClusterSnapshot& view, plugins::NodeIndex node)>;

  // Places pod `uid` on `node`: if the ledger already holds it there, returns that placement
  // (`*existed` = true); if it holds it elsewhere, FailedPrecondition. Otherwise runs `choose`,
  // applies the assignment (counted for the tenant of `key`'s namespace) and publishes a new
  // snapshot. NotFound for an unknown node.
  absl::StatusOr<PlacedPod> Place(const std::string& uid, const std::string& key,
                                  const plugins::PodRequest& request, const std::string& node,
                                  const Chooser& choose, bool* existed = nullptr,
                                  Holder holder = Holder::kPod) ABSL_LOCKS_EXCLUDED(mu_);

  // Hands the devices held under `from_uid` (a gang reservation's slot) to pod `uid` in one step,
  // so that no other placement can come between: pod `uid` then holds the same node and the same
  // GPU devices, with its own CPU and memory. Idempotent: if the ledger already holds `uid` on
  // `node`, returns that placement (`*existed` = true). NotFound if nothing is held under
  // `from_uid`; FailedPrecondition if it is held on another node, if the pod's GPU request is not
  // the one the slot was held for (whole count, share and its memory, MIG profile), or if the
  // pod's CPU or memory does not fit (the slot stays held then).
  absl::StatusOr<PlacedPod> Transfer(const std::string& from_uid, const std::string& uid,
                                     const std::string& key, const plugins::PodRequest& request,
                                     const std::string& node, bool* existed = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Gives back what pod `uid` holds. NotFound if the ledger does not hold it.
  absl::Status Release(const std::string& uid) ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces the node set (Kubernetes mode: nodes added, removed or changed). Every placed pod
  // whose node still exists is applied again on the new node; pods on removed nodes, or that no
  // longer fit (the node shrank), are dropped and returned. InvalidArgument (nothing changed)
  // if the specs are invalid.
  absl::StatusOr<std::vector<PlacedPod>> ReplaceNodes(std::vector<plugins::NodeSpec> nodes)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Tenancy: namespace `ns`'s isolation (its accelsched.io/isolation label), published with the
  // snapshots (ClusterSnapshot::tenants()) for the tenancy plugin.
  void SetIsolation(const std::string& ns, plugins::Isolation isolation) ABSL_LOCKS_EXCLUDED(mu_);
  // Namespace `ns`'s isolation (shared if never set).
  plugins::Isolation IsolationOf(const std::string& ns) const ABSL_LOCKS_EXCLUDED(mu_);
  // The namespaces whose isolation is not shared.
  std::map<std::string, plugins::Isolation> RestrictedNamespaces() const ABSL_LOCKS_EXCLUDED(mu_);

  std::optional<PlacedPod> Find(const std::string& uid) const ABSL_LOCKS_EXCLUDED(mu_);
  // Every placed pod, ordered by key.
  std::vector<PlacedPod> Pods() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t num_pods() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Ledger(plugins::ClusterSnapshot initial);
  // Marks the published snapshot stale. The copy is made by the next Snapshot(), so a burst of
  // changes (adopting thousands of pods at start-up) costs one copy, not one per change.
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { stale_ = true; }
  // The idempotency rule of Place and Transfer: pod `uid`'s placement on `node` if it is placed
  // there (setting `*existed`), nullopt if it is not placed; FailedPrecondition if it is placed on
  // another node.
  absl::StatusOr<std::optional<PlacedPod>> HeldLocked(const std::string& uid,
                                                      const std::string& key,
                                                      const std::string& node, bool* existed) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The tenant id of the namespace of ledger key `key`.
  plugins::TenantId TenantLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return state_.Tenant(NamespaceOfKey(key));
  }

  mutable absl::Mutex mu_;
  plugins::ClusterState state_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PlacedPod> pods_ ABSL_GUARDED_BY(mu_);
  mutable std::shared_ptr<const plugins::ClusterSnapshot> published_ ABSL_GUARDED_BY(mu_);
  mutable bool stale_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_STATE_LEDGER_H_
