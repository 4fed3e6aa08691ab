#include "plugins/tenancy/tenancy.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"

#include "plugins/framework/fit.h"

namespace accelsched::plugins {
namespace {

// What PreFilter keeps for the cycle; written only when tenancy can object to the pod.
struct TenancyState final : StateData {
  std::shared_ptr<const TenantTable> table;  // Outlives the snapshot (SolverMemo).
  TenantId mine = kNoTenant;
  Isolation isolation = Isolation::kShared;  // The pod's tenant's.
  std::string ns;                            // The pod's tenant's name.
};

// False when tenancy cannot object to `pod` anywhere: no namespace is restricted, or the pod
// takes whole GPUs or none (never sharing a GPU) and no namespace is exclusive-node.
bool Matters(const TenantTable& table, const PodRequest& pod) {
  if (table.restricted == 0) return false;
  if (pod.WantsShare() || pod.WantsMig()) return true;
  return std::find(table.isolation.begin(), table.isolation.end(), Isolation::kExclusiveNode) !=
         table.isolation.end();
}

// May a pod of isolation `mine` share a partly used GPU with a tenant of isolation `theirs`?
bool MayShare(Isolation mine, Isolation theirs, const PodRequest& pod) {
  if (pod.WantsShare()) return mine == Isolation::kShared && theirs == Isolation::kShared;
  if (pod.WantsMig()) {
    return (mine == Isolation::kShared || mine == Isolation::kMig) &&
           (theirs == Isolation::kShared || theirs == Isolation::kMig);
  }
  return true;  // Whole GPUs are never shared.
}

enum class Objection { kMineExclusiveNode, kTheirsExclusiveNode, kMineStrict, kTheirsStrict };

struct NodeCheck {
  bool excluded = false;                         // The pod may not go onto the node at all.
  GpuMask blocked = 0;                           // GPUs the pod may not share.
  Objection objection = Objection::kMineStrict;  // Why, if excluded or blocked.
  TenantId other = kNoTenant;                    // The tenant the objection names.
};

NodeCheck CheckNode(const TenancyState& d, const PodRequest& pod, const NodeInfo& node) {
  NodeCheck c;
  for (const TenantUse& u : node.tenants) {
    if (u.tenant == d.mine) continue;
    const Isolation theirs = d.table->Of(u.tenant);
    if (d.isolation == Isolation::kExclusiveNode || theirs == Isolation::kExclusiveNode) {
      return NodeCheck{.excluded = true,
                       .objection = d.isolation == Isolation::kExclusiveNode
                                        ? Objection::kMineExclusiveNode
                                        : Objection::kTheirsExclusiveNode,
                       .other = u.tenant};
    }
    const GpuMask partly = u.PartlyUsedGpus();
    if (MayShare(d.isolation, theirs, pod) || (partly & ~c.blocked) == 0) continue;
    if (c.blocked == 0) {
      const bool strict_is_mine =
          d.isolation != Isolation::kShared && !(pod.WantsMig() && d.isolation == Isolation::kMig);
      c.objection = strict_is_mine ? Objection::kMineStrict : Objection::kTheirsStrict;
      c.other = u.tenant;
    }
    c.blocked |= partly;
  }
  return c;
}

std::string_view ReasonOf(const CycleState& state, const TenancyState& d, const NodeCheck& c) {
  if (!state.explain) return {};
  const std::string& other = d.table->names[static_cast<size_t>(std::max(c.other, 0))];
  const int key =
      CycleState::kFitReasonKeys + 4 * std::max(c.other, 0) + static_cast<int>(c.objection);
  return state.Reason(key, [&]() -> std::string {
    switch (c.objection) {
      case Objection::kMineExclusiveNode:
        return absl::StrCat("tenancy: namespace ", d.ns,
                            " is exclusive-node and the node runs pods of namespace ", other);
      case Objection::kTheirsExclusiveNode:
        return absl::StrCat("tenancy: the node runs pods of namespace ", other,
                            ", which is exclusive-node");
      case Objection::kMineStrict:
        return absl::StrCat("tenancy: namespace ", d.ns, " is ", IsolationName(d.isolation),
                            "; the GPUs with room are used by other namespaces");
      case Objection::kTheirsStrict:
        return absl::StrCat("tenancy: the GPUs with room are used by namespace ", other,
                            ", which is ", IsolationName(d.table->Of(c.other)));
    }
    return "tenancy";
  });
}

}  // namespace

absl::Status Tenancy::PreFilter(CycleState& state, const PodRequest& pod,
                                const ClusterSnapshot& snapshot) const {
  if (!Matters(snapshot.tenants(), pod)) {
    state.SkipFilter(this);  // The common case, and the simulator's: no Filter calls at all.
    return absl::OkStatus();
  }
  auto d = std::make_unique<TenancyState>();
  d->table = snapshot.shared_tenants();
  d->mine = d->table->Find(pod.tenant);
  d->isolation = d->table->Of(d->mine);
  d->ns = pod.tenant;
  state.Write(this, std::move(d));
  return absl::OkStatus();
}

absl::StatusOr<FilterVerdict> Tenancy::Filter(const CycleState& state, const PodRequest& pod,
                                              const NodeInfo& node) const {
  if (node.tenants.empty()) return FilterVerdict::Feasible();  // The simulator's case: first.
  const auto* d = state.Read<TenancyState>(this);
  if (d == nullptr) return FilterVerdict::Feasible();
  const NodeCheck c = CheckNode(*d, pod, node);
  if (c.excluded) return FilterVerdict::Unresolvable(ReasonOf(state, *d, c));
  if (c.blocked == 0) return FilterVerdict::Feasible();
  NodeInfo without = node;
  BlockGpus(without, c.blocked);
  if (!CheckFit(state, pod, without).has_value()) return FilterVerdict::Feasible();
  return FilterVerdict::Unresolvable(ReasonOf(state, *d, c));
}

GpuMask Tenancy::BlockedGpus(const CycleState& state, const PodRequest& pod,
                             const NodeInfo& node) const {
  if (node.tenants.empty()) return 0;
  const auto* d = state.Read<TenancyState>(this);
  if (d == nullptr) return 0;
  return CheckNode(*d, pod, node).blocked;
}

}  // namespace accelsched::plugins
