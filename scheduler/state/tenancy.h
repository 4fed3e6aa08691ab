// Tenancy (DESIGN section 7): a tenant is a namespace; its namespace label
// accelsched.io/isolation says with whom its pods may share hardware:
//
//   shared          (default) time-sliced GPU shares may sit on a GPU with other shared tenants
//   mig             a GPU is shared with other tenants only through MIG instances: its share
//                   pods take GPUs no other tenant uses
//   exclusive-gpu   never on a physical GPU another tenant uses (no share, no MIG instance)
//   exclusive-node  never on a node where another tenant has pods, and no other tenant's pods on
//                   a node where it has pods
//
// Every rule binds both ways: a shared tenant's share cannot go onto a GPU that holds an
// exclusive-gpu tenant's share either. Whole-GPU pods never share a GPU, so only exclusive-node
// concerns them.
//
// Thread-safety: TenancyTable is thread-safe; CheckTenancy is a pure function; TenancyOnNode
// reads the ledger under its lock.
#ifndef ACCELSCHED_SCHEDULER_STATE_TENANCY_H_
#define ACCELSCHED_SCHEDULER_STATE_TENANCY_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "scheduler/state/ledger.h"

namespace accelsched::scheduler {

enum class Isolation { kShared, kMig, kExclusiveGpu, kExclusiveNode };

// "shared", "mig", "exclusive-gpu", "exclusive-node"; InvalidArgument naming the label otherwise.
absl::StatusOr<Isolation> ParseIsolation(std::string_view value);
const char* IsolationName(Isolation isolation);

// The isolation of every namespace that sets one (others are shared).
class TenancyTable {
 public:
  void Set(const std::string& ns, Isolation isolation) ABSL_LOCKS_EXCLUDED(mu_);
  void Erase(const std::string& ns) ABSL_LOCKS_EXCLUDED(mu_);
  Isolation Of(const std::string& ns) const ABSL_LOCKS_EXCLUDED(mu_);
  // False while every namespace is shared: then no check is needed at all.
  bool AnyRestricted() const ABSL_LOCKS_EXCLUDED(mu_);
  // Copy of the namespaces that are not shared.
  std::map<std::string, Isolation> Restricted() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Isolation> restricted_ ABSL_GUARDED_BY(mu_);  // Not kShared.
};

// A pod already on the node: its namespace and what it holds.
struct Occupant {
  std::string ns;
  plugins::Assignment assignment;
};

struct TenancyVerdict {
  bool node_excluded = false;    // The pod may not go onto this node at all.
  plugins::GpuMask blocked = 0;  // GPUs the pod may not share (block them before fitting).
  std::string reason;            // Why, when excluded or when GPUs are blocked.
};

// False when CheckTenancy cannot object to `pod` anywhere: it takes whole GPUs or none (never
// sharing a GPU) and no namespace is exclusive-node.
bool TenancyMatters(const std::map<std::string, Isolation>& restricted,
                    const plugins::PodRequest& pod);

// What tenancy allows pod `pod` of namespace `ns` on a node holding `occupants`.
TenancyVerdict CheckTenancy(const std::map<std::string, Isolation>& restricted,
                            const std::string& ns, const plugins::PodRequest& pod,
                            const std::vector<Occupant>& occupants);

// The namespace of a ledger key ("namespace/name", or "namespace/gang#slot").
inline std::string NamespaceOfKey(const std::string& key) { return key.substr(0, key.find('/')); }

// CheckTenancy for pod `uid` of namespace `ns` on node `node`, with the pods the ledger holds
// there (other than `uid` itself) as occupants.
TenancyVerdict TenancyOnNode(const Ledger& ledger,
                             const std::map<std::string, Isolation>& restricted,
                             const std::string& ns, const std::string& uid,
                             const plugins::PodRequest& pod, const std::string& node);

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_STATE_TENANCY_H_
