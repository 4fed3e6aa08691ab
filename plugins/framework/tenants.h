// Tenants in the snapshot (DESIGN section 7): a tenant is a namespace, and its namespace label
// accelsched.io/isolation says with whom its pods may share hardware. The rules themselves are
// the tenancy plugin's (plugins/tenancy/); this header holds the data they read:
//
//   TenantTable  every namespace a ClusterState has seen, by TenantId, with its isolation.
//                Published with each snapshot; a fresh version whenever it changes.
//   TenantUse    what one tenant holds on one node (NodeInfo::tenants): its pods, and per GPU
//                its pods that leave room on that GPU for someone else (shares, MIG instances).
//
// Thread-safety: plain data; immutable once published in a snapshot.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_TENANTS_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_TENANTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "topology/topology.h"

namespace accelsched::plugins {

//   shared          (default) time-sliced GPU shares may sit on a GPU with other shared tenants
//   mig             a GPU is shared with other tenants only through MIG instances: its share
//                   pods take GPUs no other tenant uses
//   exclusive-gpu   never on a physical GPU another tenant uses (no share, no MIG instance)
//   exclusive-node  never on a node where another tenant has pods, and no other tenant's pods on
//                   a node where it has pods
enum class Isolation { kShared, kMig, kExclusiveGpu, kExclusiveNode };

// "shared", "mig", "exclusive-gpu", "exclusive-node"; InvalidArgument naming the label otherwise.
absl::StatusOr<Isolation> ParseIsolation(std::string_view value);
const char* IsolationName(Isolation isolation);

// Index into TenantTable::names; stable for the life of a ClusterState (and carried over when the
// ledger replaces its node set).
using TenantId = int32_t;
inline constexpr TenantId kNoTenant = -1;

struct TenantTable {
  std::vector<std::string> names;    // By TenantId.
  std::vector<Isolation> isolation;  // By TenantId.
  absl::flat_hash_map<std::string, TenantId> ids;
  int restricted = 0;    // Tenants whose isolation is not kShared.
  uint64_t version = 0;  // Fresh (NextUniqueVersion) at every change.

  // The id of namespace `name`, or kNoTenant if the table has not seen it.
  TenantId Find(absl::string_view name) const {
    auto it = ids.find(name);
    return it == ids.end() ? kNoTenant : it->second;
  }
  // kShared for kNoTenant.
  Isolation Of(TenantId id) const {
    return id < 0 ? Isolation::kShared : isolation[static_cast<size_t>(id)];
  }
};

// What one tenant holds on one node.
struct TenantUse {
  TenantId tenant = kNoTenant;
  int32_t pods = 0;
  // Per GPU: this tenant's pods there that leave room for others (shares and MIG instances).
  std::array<uint16_t, topology::kMaxGpus> partial{};

  // The GPUs where `partial` is not zero.
  topology::GpuMask PartlyUsedGpus() const {
    topology::GpuMask m = 0;
    for (size_t g = 0; g < partial.size(); ++g) {
      if (partial[g] != 0) {
        m |= topology::GpuMask{1} << g;
      }
    }
    return m;
  }
  friend bool operator==(const TenantUse&, const TenantUse&) = default;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_TENANTS_H_
