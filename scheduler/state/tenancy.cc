#include "scheduler/state/tenancy.h"

#include <bit>

#include "absl/strings/str_cat.h"

namespace accelsched::scheduler {

absl::StatusOr<Isolation> ParseIsolation(std::string_view value) {
  if (value == "shared") return Isolation::kShared;
  if (value == "mig") return Isolation::kMig;
  if (value == "exclusive-gpu") return Isolation::kExclusiveGpu;
  if (value == "exclusive-node") return Isolation::kExclusiveNode;
  return absl::InvalidArgumentError(
      absl::StrCat("label accelsched.io/isolation: '", std::string(value),
                   "' is not shared, mig, exclusive-gpu or exclusive-node"));
}

const char* IsolationName(Isolation isolation) {
  switch (isolation) {
    case Isolation::kShared:
      return "shared";
    case Isolation::kMig:
      return "mig";
    case Isolation::kExclusiveGpu:
      return "exclusive-gpu";
    case Isolation::kExclusiveNode:
      return "exclusive-node";
  }
  return "shared";
}

void TenancyTable::Set(const std::string& ns, Isolation isolation) {
  absl::MutexLock lock(&mu_);
  if (isolation == Isolation::kShared) {
    restricted_.erase(ns);
  } else {
    restricted_[ns] = isolation;
  }
}

void TenancyTable::Erase(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  restricted_.erase(ns);
}

Isolation TenancyTable::Of(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  auto it = restricted_.find(ns);
  return it == restricted_.end() ? Isolation::kShared : it->second;
}

bool TenancyTable::AnyRestricted() const {
  absl::MutexLock lock(&mu_);
  return !restricted_.empty();
}

std::map<std::string, Isolation> TenancyTable::Restricted() const {
  absl::MutexLock lock(&mu_);
  return restricted_;
}

bool TenancyMatters(const std::map<std::string, Isolation>& restricted,
                    const plugins::PodRequest& pod) {
  if (pod.WantsShare() || pod.WantsMig()) return !restricted.empty();
  for (const auto& [ns, isolation] : restricted) {
    if (isolation == Isolation::kExclusiveNode) return true;
  }
  return false;
}

TenancyVerdict CheckTenancy(const std::map<std::string, Isolation>& restricted,
                            const std::string& ns, const plugins::PodRequest& pod,
                            const std::vector<Occupant>& occupants) {
  auto of = [&](const std::string& n) {
    auto it = restricted.find(n);
    return it == restricted.end() ? Isolation::kShared : it->second;
  };
  const Isolation mine = of(ns);
  TenancyVerdict v;
  for (const Occupant& o : occupants) {
    if (o.ns == ns) continue;
    const Isolation theirs = of(o.ns);
    if (mine == Isolation::kExclusiveNode || theirs == Isolation::kExclusiveNode) {
      v.node_excluded = true;
      v.reason = mine == Isolation::kExclusiveNode
                     ? absl::StrCat("tenancy: namespace ", ns,
                                    " is exclusive-node and the node runs pods of namespace ", o.ns)
                     : absl::StrCat("tenancy: the node runs pods of namespace ", o.ns,
                                    ", which is exclusive-node");
      v.blocked = 0;
      return v;
    }
    // Only a share or a MIG instance leaves room on its GPU for someone else.
    const bool shares = o.assignment.gpu_milli > 0;
    const bool mig = o.assignment.mig_profile_id >= 0;
    if (!shares && !mig) continue;
    bool allowed = true;
    if (pod.WantsShare()) {
      allowed = mine == Isolation::kShared && theirs == Isolation::kShared;
    } else if (pod.WantsMig()) {
      allowed = (mine == Isolation::kShared || mine == Isolation::kMig) &&
                (theirs == Isolation::kShared || theirs == Isolation::kMig);
    }
    if (allowed || (o.assignment.gpus & ~v.blocked) == 0) continue;
    v.blocked |= o.assignment.gpus;
    if (v.reason.empty()) {
      const bool strict_is_mine =
          mine != Isolation::kShared && !(pod.WantsMig() && mine == Isolation::kMig);
      v.reason = strict_is_mine
                     ? absl::StrCat("tenancy: namespace ", ns, " is ", IsolationName(mine),
                                    "; the GPUs with room are used by other namespaces")
                     : absl::StrCat("tenancy: the GPUs with room are used by namespace ", o.ns,
                                    ", which is ", IsolationName(theirs));
    }
  }
  return v;
}

TenancyVerdict TenancyOnNode(const Ledger& ledger,
                             const std::map<std::string, Isolation>& restricted,
                             const std::string& ns, const std::string& uid,
                             const plugins::PodRequest& pod, const std::string& node) {
  std::vector<Occupant> occupants;
  ledger.VisitPodsOn(node, [&](const PlacedPod& p) {
    if (p.uid != uid) occupants.push_back(Occupant{NamespaceOfKey(p.key), p.assignment});
  });
  return CheckTenancy(restricted, ns, pod, occupants);
}

}  // namespace accelsched::scheduler
