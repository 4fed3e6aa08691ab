#include "scheduler/state/ledger.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::scheduler {

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Create(std::vector<plugins::NodeSpec> nodes) {
  plugins::ClusterSnapshotBuilder builder;
  for (plugins::NodeSpec& n : nodes) builder.AddNode(std::move(n));
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::ClusterSnapshot snapshot, std::move(builder).Build());
  return std::unique_ptr<Ledger>(new Ledger(std::move(snapshot)));
}

Ledger::Ledger(plugins::ClusterSnapshot initial) : state_(std::move(initial)) {
  absl::MutexLock lock(&mu_);
  PublishLocked();
}

std::shared_ptr<const plugins::ClusterSnapshot> Ledger::Snapshot() const {
  absl::MutexLock lock(&mu_);
  if (stale_) {
    published_ = state_.Snapshot();
    stale_ = false;
  }
  return published_;
}

absl::StatusOr<std::optional<PlacedPod>> Ledger::HeldLocked(const std::string& uid,
                                                            const std::string& key,
                                                            const std::string& node,
                                                            bool* existed) const {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  if (it->second.node != node) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", key, " (uid ", uid, ") is already bound to node ", it->second.node));
  }
  if (existed != nullptr) *existed = true;
  return std::optional<PlacedPod>(it->second);
}

absl::StatusOr<PlacedPod> Ledger::Place(const std::string& uid, const std::string& key,
                                        const plugins::PodRequest& request, const std::string& node,
                                        const Chooser& choose, bool* existed, Holder holder) {
  if (existed != nullptr) *existed = false;
  absl::MutexLock lock(&mu_);
  ACCELSCHED_ASSIGN_OR_RETURN(std::optional<PlacedPod> already,
                              HeldLocked(uid, key, node, existed));
  if (already.has_value()) return *std::move(already);
  const plugins::ClusterSnapshot& view = state_.view();
  std::optional<plugins::NodeIndex> index = view.Find(node);
  if (!index.has_value()) return absl::NotFoundError(absl::StrCat("node ", node, " is unknown"));
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::Assignment a, choose(view, *index));
  if (a.node != *index) {
    return absl::InternalError(absl::StrCat("chooser returned node index ", a.node, " for ", node));
  }
  ACCELSCHED_RETURN_IF_ERROR(state_.Apply(a, TenantLocked(key)));
  PlacedPod placed{uid, key, node, request, a, holder};
  pods_[uid] = placed;
  PublishLocked();
  return placed;
}

absl::StatusOr<PlacedPod> Ledger::Transfer(const std::string& from_uid, const std::string& uid,
                                           const std::string& key,
                                           const plugins::PodRequest& request,
                                           const std::string& node, bool* existed) {
  if (existed != nullptr) *existed = false;
  absl::MutexLock lock(&mu_);
  ACCELSCHED_ASSIGN_OR_RETURN(std::optional<PlacedPod> already,
                              HeldLocked(uid, key, node, existed));
  if (already.has_value()) return *std::move(already);
  auto from = pods_.find(from_uid);
  if (from == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("nothing is held under ", from_uid));
  }
  const PlacedPod held = from->second;
  if (held.node != node) {
    return absl::FailedPreconditionError(
        absl::StrCat(from_uid, " is held on node ", held.node, ", not ", node));
  }
  plugins::Assignment a = held.assignment;
  // The slot was planned for a request with the same GPU part (whole count, share and its
  // memory, MIG profile); CPU and memory may differ and are checked by applying.
  if (!held.request.SameGpuRequest(request)) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", key, " asks for other GPUs than the slot ", from_uid, " holds (",
                     plugins::DebugString(a), ")"));
  }
  a.cpu_milli = request.cpu_milli;
  a.memory_mib = request.memory_mib;
  ACCELSCHED_RETURN_IF_ERROR(state_.Release(held.assignment, TenantLocked(held.key)));
  if (absl::Status s = state_.Apply(a, TenantLocked(key)); !s.ok()) {
    if (absl::Status back = state_.Apply(held.assignment, TenantLocked(held.key)); !back.ok()) {
      return absl::InternalError(absl::StrCat("transfer of ", from_uid, " failed (", s.message(),
                                              ") and so did restoring it: ", back.message()));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", key, " does not fit in the slot ", from_uid, ": ", s.message()));
  }
  pods_.erase(from);
  PlacedPod placed{uid, key, node, request, a};
  pods_[uid] = placed;
  PublishLocked();
  return placed;
}

absl::Status Ledger::Release(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("pod uid ", uid, " is not placed"));
  }
  ACCELSCHED_RETURN_IF_ERROR(state_.Release(it->second.assignment, TenantLocked(it->second.key)));
  pods_.erase(it);
  PublishLocked();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PlacedPod>> Ledger::ReplaceNodes(std::vector<plugins::NodeSpec> nodes) {
  plugins::ClusterSnapshotBuilder builder;
  for (plugins::NodeSpec& n : nodes) builder.AddNode(std::move(n));
  ACCELSCHED_ASSIGN_OR_RETURN(plugins::ClusterSnapshot snapshot, std::move(builder).Build());
  plugins::ClusterState next(std::move(snapshot));
  std::vector<PlacedPod> dropped;
  absl::MutexLock lock(&mu_);
  next.AdoptTenants(state_.view());  // Tenant ids keep their meaning.
  absl::flat_hash_map<std::string, PlacedPod> kept;
  for (auto& [uid, pod] : pods_) {
    std::optional<plugins::NodeIndex> index = next.view().Find(pod.node);
    plugins::Assignment a = pod.assignment;
    if (index.has_value()) a.node = *index;
    if (!index.has_value() || !next.Apply(a, next.Tenant(NamespaceOfKey(pod.key))).ok()) {
      dropped.push_back(pod);
      continue;
    }
    pod.assignment = a;
    kept[uid] = std::move(pod);
  }
  state_ = std::move(next);
  pods_ = std::move(kept);
  PublishLocked();
  return dropped;
}

void Ledger::SetIsolation(const std::string& ns, plugins::Isolation isolation) {
  absl::MutexLock lock(&mu_);
  const uint64_t before = state_.view().tenants().version;
  state_.SetIsolation(ns, isolation);
  if (state_.view().tenants().version != before) PublishLocked();
}

plugins::Isolation Ledger::IsolationOf(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  const plugins::TenantTable& table = state_.view().tenants();
  return table.Of(table.Find(ns));
}

std::map<std::string, plugins::Isolation> Ledger::RestrictedNamespaces() const {
  std::map<std::string, plugins::Isolation> out;
  absl::MutexLock lock(&mu_);
  const plugins::TenantTable& table = state_.view().tenants();
  for (size_t t = 0; t < table.names.size(); ++t) {
    if (table.isolation[t] != plugins::Isolation::kShared) {
      out.emplace(table.names[t], table.isolation[t]);
    }
  }
  return out;
}

std::optional<PlacedPod> Ledger::Find(const std::string& uid) const {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::vector<PlacedPod> Ledger::Pods() const {
  std::vector<PlacedPod> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(pods_.size());
    for (const auto& [uid, p] : pods_) out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const PlacedPod& a, const PlacedPod& b) { return a.key < b.key; });
  return out;
}

size_t Ledger::num_pods() const {
  absl::MutexLock lock(&mu_);
  return pods_.size();
}

}  // namespace accelsched::scheduler
