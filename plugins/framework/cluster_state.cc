#include "plugins/framework/cluster_state.h"

#include <algorithm>
#include <bit>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace accelsched::plugins {
namespace {

namespace mig = topology::mig;

std::string GpuList(GpuMask m) {
  std::vector<int> ids;
  for (int i = 0; i < kMaxGpus; ++i) {
    if ((m >> i) & 1u) {
      ids.push_back(i);
    }
  }
  return absl::StrCat("[", absl::StrJoin(ids, ","), "]");
}

// The parts of ClusterState::Check: each returns why `a` cannot be applied to node `n` (or, with
// `release`, given back to it), or nullopt if that part is fine.

std::optional<std::string> CheckCpuMemory(const NodeInfo& n, const Assignment& a, bool release) {
  if (!release) {
    if (a.cpu_milli > n.cpu_free_milli) {
      return "not enough free CPU";
    }
    if (a.memory_mib > n.memory_free_mib) {
      return "not enough free memory";
    }
  } else {
    if (n.cpu_free_milli + a.cpu_milli > n.cpu_capacity_milli) {
      return "CPU was not taken";
    }
    if (n.memory_free_mib + a.memory_mib > n.memory_capacity_mib) {
      return "memory was not taken";
    }
  }
  return std::nullopt;
}

// `a` is a MIG instance on exactly one GPU.
std::optional<std::string> CheckMig(const NodeInfo& n, const Assignment& a, bool release) {
  const int g = std::countr_zero(a.gpus);
  if (((n.mig_enabled >> g) & 1u) == 0) {
    return "GPU is not MIG-enabled";
  }
  auto profile = n.mig_geometry->ProfileById(a.mig_profile_id);
  if (!profile.ok()) {
    return std::string{profile.status().message()};
  }
  const mig::MigProfile& p = **profile;
  if (!p.IsLegalStart(a.mig_start)) {
    return "illegal MIG start slot";
  }
  const uint8_t slots = p.SlotMask(a.mig_start);
  const bool me = ((n.mig_media_used >> g) & 1u) != 0;
  if (!release) {
    if ((n.mig_used_slots[g] & slots) != 0) {
      return "MIG memory slots are in use";
    }
    if (p.media_extensions && me) {
      return "the GPU already has a +me instance";
    }
  } else {
    if ((n.mig_used_slots[g] & slots) != slots) {
      return "MIG memory slots were not taken";
    }
    if (p.media_extensions && !me) {
      return "no +me instance to release";
    }
  }
  return std::nullopt;
}

// `a` is a share of exactly one GPU that is not MIG-enabled.
std::optional<std::string> CheckShare(const NodeInfo& n, const Assignment& a, bool release) {
  const int g = std::countr_zero(a.gpus);
  if (a.gpu_milli >= 1000) {
    return "share must be below 1000 milli";
  }
  if (!release) {
    if (n.gpu_free_milli[g] < a.gpu_milli) {
      return "not enough free milli-GPU";
    }
    // GPU memory 0 = unknown: it never limits a share (snapshot.h).
    if (n.gpu_memory_mib > 0 && n.gpu_free_memory_mib[g] < a.gpu_memory_mib) {
      return "not enough free GPU memory";
    }
  } else {
    if (n.gpu_free_milli[g] + a.gpu_milli > 1000) {
      return "share was not taken";
    }
    if (n.gpu_memory_mib > 0 && n.gpu_free_memory_mib[g] + a.gpu_memory_mib > n.gpu_memory_mib) {
      return "GPU memory was not taken";
    }
  }
  return std::nullopt;
}

// `a` takes whole GPUs, none of them MIG-enabled.
std::optional<std::string> CheckWholeGpus(const NodeInfo& n, const Assignment& a, bool release) {
  for (int g = 0; g < n.gpu_count; ++g) {
    if (((a.gpus >> g) & 1u) == 0) {
      continue;
    }
    if (!release && n.gpu_free_milli[g] != 1000) {
      return "GPU is not entirely free";
    }
    if (release && n.gpu_free_milli[g] != 0) {
      return "GPU was not taken whole";
    }
  }
  return std::nullopt;
}

// True for a share or a MIG instance: it leaves room on its GPU for other pods (TenantUse).
bool LeavesRoomOnItsGpu(const Assignment& a) { return a.gpu_milli > 0 || a.mig_profile_id >= 0; }

// Why tenant `tenant`'s pod holding `a` cannot be applied to (or released from) node `n`.
std::optional<std::string> CheckTenant(const TenantTable& table, const NodeInfo& n,
                                       const Assignment& a, TenantId tenant, bool release) {
  if (tenant == kNoTenant) return std::nullopt;
  if (tenant < 0 || static_cast<size_t>(tenant) >= table.names.size()) return "unknown tenant";
  if (!release) return std::nullopt;
  for (const TenantUse& u : n.tenants) {
    if (u.tenant != tenant) continue;
    if (LeavesRoomOnItsGpu(a) && u.partial[static_cast<size_t>(std::countr_zero(a.gpus))] == 0) {
      break;
    }
    return std::nullopt;
  }
  return absl::StrCat("tenant ", table.names[static_cast<size_t>(tenant)],
                      " holds no such pod on the node");
}

// Counts (sign +1) or uncounts (-1) a pod of `tenant` holding `a` in `n.tenants`.
void ChangeTenantUse(NodeInfo& n, const Assignment& a, TenantId tenant, int sign) {
  auto it = std::lower_bound(n.tenants.begin(), n.tenants.end(), tenant,
                             [](const TenantUse& u, TenantId t) { return u.tenant < t; });
  if (it == n.tenants.end() || it->tenant != tenant) {
    it = n.tenants.insert(it, TenantUse{.tenant = tenant});
  }
  it->pods += sign;
  if (LeavesRoomOnItsGpu(a)) {
    uint16_t& partial = it->partial[static_cast<size_t>(std::countr_zero(a.gpus))];
    partial = static_cast<uint16_t>(partial + sign);
  }
  if (it->pods == 0) n.tenants.erase(it);
}

}  // namespace

void BlockGpus(NodeInfo& n, GpuMask gpus) {
  for (int g = 0; g < n.gpu_count; ++g) {
    if (((gpus >> g) & 1u) == 0) {
      continue;
    }
    n.gpu_free_milli[static_cast<size_t>(g)] = 0;
    n.gpu_free_memory_mib[static_cast<size_t>(g)] = 0;
    if (((n.mig_enabled >> g) & 1u) != 0) {
      n.mig_used_slots[static_cast<size_t>(g)] = 0xff;
    }
  }
}

std::string DebugString(const Assignment& a) {
  std::string out = absl::StrCat("node=", a.node, " gpus=", GpuList(a.gpus));
  if (a.gpu_milli > 0) {
    absl::StrAppend(&out, " share=", a.gpu_milli, "m/", a.gpu_memory_mib, "MiB");
  }
  if (a.mig_profile_id >= 0) {
    absl::StrAppend(&out, " mig=", a.mig_profile_id, "@", a.mig_start);
  }
  absl::StrAppend(&out, " cpu=", a.cpu_milli, "m mem=", a.memory_mib, "MiB");
  return out;
}

absl::Status ClusterState::Check(const Assignment& a, TenantId tenant, bool release) const {
  auto bad = [&](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat(release ? "release " : "apply ", DebugString(a), ": ", why));
  };
  if (a.node < 0 || a.node >= snapshot_.num_nodes()) {
    return bad("unknown node");
  }
  const NodeInfo& n = snapshot_.node(a.node);
  if (a.cpu_milli < 0 || a.memory_mib < 0 || a.gpu_milli < 0 || a.gpu_memory_mib < 0) {
    return bad("negative amount");
  }
  if ((a.gpus & ~n.all_gpus()) != 0) {
    return bad("GPU index beyond the node's GPUs");
  }
  if (std::optional<std::string> why = CheckCpuMemory(n, a, release)) {
    return bad(*why);
  }
  const bool is_mig = a.mig_profile_id >= 0;
  const bool is_share = a.gpu_milli > 0;
  if (is_mig && is_share) {
    return bad("both a share and a MIG instance");
  }
  if ((is_mig || is_share) && std::popcount(a.gpus) != 1) {
    return bad("a share or MIG instance needs exactly one GPU");
  }
  if (a.gpu_memory_mib > 0 && !is_share) {
    return bad("GPU memory without a share");
  }
  std::optional<std::string> why;
  if (is_mig) {
    why = CheckMig(n, a, release);
  } else if ((n.mig_enabled & a.gpus) != 0) {
    why = "whole GPU or share on a MIG-enabled GPU";
  } else if (is_share) {
    why = CheckShare(n, a, release);
  } else {
    why = CheckWholeGpus(n, a, release);
  }
  if (!why.has_value()) {
    why = CheckTenant(snapshot_.tenants(), n, a, tenant, release);
  }
  if (why.has_value()) {
    return bad(*why);
  }
  return absl::OkStatus();
}

void ClusterState::Change(const Assignment& a, TenantId tenant, int sign) {
  NodeInfo& n = snapshot_.ChangeNode(a.node);  // Also gives the node a new version.
  if (tenant != kNoTenant) {
    ChangeTenantUse(n, a, tenant, sign);
  }
  const int64_t free_before = n.GpuFreeMilliTotal();
  n.cpu_free_milli -= sign * a.cpu_milli;
  n.memory_free_mib -= sign * a.memory_mib;
  n.pods += sign;
  int gpu_class = -1;
  if (a.mig_profile_id >= 0) {
    gpu_class = kMigClass;
  } else if (a.gpu_milli > 0) {
    gpu_class = kShareClass;
  } else if (a.gpus != 0) {
    gpu_class = std::popcount(a.gpus);
  }
  if (gpu_class >= 0) {
    n.pods_by_gpu_class[static_cast<size_t>(gpu_class)] =
        static_cast<int16_t>(n.pods_by_gpu_class[static_cast<size_t>(gpu_class)] + sign);
  }
  if (a.mig_profile_id >= 0) {
    const int g = std::countr_zero(a.gpus);
    const mig::MigProfile& p = **n.mig_geometry->ProfileById(a.mig_profile_id);
    const uint8_t slots = p.SlotMask(a.mig_start);
    n.mig_used_slots[g] = static_cast<uint8_t>(sign > 0 ? (n.mig_used_slots[g] | slots)
                                                        : (n.mig_used_slots[g] & ~slots));
    if (p.media_extensions) {
      n.mig_media_used = sign > 0 ? (n.mig_media_used | a.gpus) : (n.mig_media_used & ~a.gpus);
    }
    const int c = n.mig_geometry->compute_slices();
    n.gpu_free_milli[g] = static_cast<int16_t>(
        1000 * mig::FreeComputeSlices(*n.mig_geometry, n.mig_used_slots[g]) / c);
  } else if (a.gpu_milli > 0) {
    const int g = std::countr_zero(a.gpus);
    n.gpu_free_milli[g] = static_cast<int16_t>(n.gpu_free_milli[g] - sign * a.gpu_milli);
    if (n.gpu_memory_mib > 0) {
      n.gpu_free_memory_mib[g] -= sign * a.gpu_memory_mib;
    }
  } else {
    for (int g = 0; g < n.gpu_count; ++g) {
      if (((a.gpus >> g) & 1u) == 0) {
        continue;
      }
      n.gpu_free_milli[g] = static_cast<int16_t>(sign > 0 ? 0 : 1000);
      n.gpu_free_memory_mib[g] = sign > 0 ? 0 : n.gpu_memory_mib;
    }
  }
  snapshot_.gpu_used_milli_ += free_before - n.GpuFreeMilliTotal();
  ++snapshot_.version_;
}

absl::Status ClusterState::Apply(const Assignment& a, TenantId tenant) {
  if (absl::Status s = Check(a, tenant, /*release=*/false); !s.ok()) {
    return s;
  }
  Change(a, tenant, +1);
  return absl::OkStatus();
}

absl::Status ClusterState::BlockGpus(NodeIndex node, GpuMask gpus) {
  if (node < 0 || node >= snapshot_.num_nodes()) {
    return absl::InvalidArgumentError(absl::StrCat("BlockGpus: node index ", node, " unknown"));
  }
  NodeInfo& n = snapshot_.ChangeNode(node);
  const int64_t free_before = n.GpuFreeMilliTotal();
  plugins::BlockGpus(n, gpus);
  snapshot_.gpu_used_milli_ += free_before - n.GpuFreeMilliTotal();
  ++snapshot_.version_;
  return absl::OkStatus();
}

absl::Status ClusterState::Release(const Assignment& a, TenantId tenant) {
  if (absl::Status s = Check(a, tenant, /*release=*/true); !s.ok()) {
    return s;
  }
  Change(a, tenant, -1);
  return absl::OkStatus();
}

TenantTable& ClusterState::ChangeTenants() {
  auto table = std::make_shared<TenantTable>(snapshot_.tenants());
  table->version = NextUniqueVersion();
  TenantTable& out = *table;
  snapshot_.tenants_ = std::move(table);
  return out;
}

TenantId ClusterState::Tenant(absl::string_view name) {
  if (TenantId id = snapshot_.tenants().Find(name); id != kNoTenant) {
    return id;
  }
  TenantTable& table = ChangeTenants();
  const auto id = static_cast<TenantId>(table.names.size());
  table.names.emplace_back(name);
  table.isolation.push_back(Isolation::kShared);
  table.ids.emplace(std::string(name), id);
  return id;
}

void ClusterState::SetIsolation(absl::string_view name, Isolation isolation) {
  const TenantId id = Tenant(name);
  const Isolation before = snapshot_.tenants().Of(id);
  if (before == isolation) {
    return;
  }
  TenantTable& table = ChangeTenants();
  table.isolation[static_cast<size_t>(id)] = isolation;
  table.restricted += (isolation != Isolation::kShared) - (before != Isolation::kShared);
}

}  // namespace accelsched::plugins
