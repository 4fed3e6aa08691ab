#include "plugins/framework/fit.h"

#include <algorithm>
#include <bit>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace accelsched::plugins {

namespace mig = topology::mig;

GpuMask ShareCandidates(const PodRequest& pod, const NodeInfo& node) {
  // Branch-free: this runs for every node and GPU of every share request.
  const int64_t memory = pod.gpu_memory_mib > 0 && node.gpu_memory_mib > 0 ? pod.gpu_memory_mib : 0;
  uint32_t m = 0;
  for (int i = 0; i < node.gpu_count; ++i) {
    const uint32_t ok = static_cast<uint32_t>(node.gpu_free_milli[i] >= pod.gpu_milli) &
                        static_cast<uint32_t>(node.gpu_free_memory_mib[i] >= memory);
    m |= ok << i;
  }
  return static_cast<GpuMask>(m & ~static_cast<uint32_t>(node.mig_enabled));
}

const mig::MigProfile* MigProfileFor(const MigRequest& request, const NodeInfo& node) {
  if (node.mig_geometry == nullptr) {
    return nullptr;
  }
  for (const mig::MigProfile& p : node.mig_geometry->profiles()) {
    if (p.compute_slices != request.compute_slices) {
      continue;
    }
    if (p.double_memory != request.double_memory) {
      continue;
    }
    if (p.media_extensions != request.media_extensions) {
      continue;
    }
    return &p;
  }
  return nullptr;
}

uint8_t UsableMigStarts(const NodeInfo& node, int gpu, const mig::MigProfile& profile) {
  const uint8_t free = mig::FreeStarts(node.mig_used_slots[static_cast<size_t>(gpu)], profile);
  if (node.mig_instances == nullptr) return free;
  uint8_t existing = 0;
  for (const MigInstanceSpec& m : *node.mig_instances) {
    if (m.gpu == gpu && m.profile_id == profile.id) existing |= uint8_t{1} << m.start;
  }
  return free & existing;
}

GpuMask MigCandidates(const mig::MigProfile& profile, const NodeInfo& node) {
  GpuMask m = 0;
  for (int i = 0; i < node.gpu_count; ++i) {
    if (((node.mig_enabled >> i) & 1u) == 0) {
      continue;
    }
    if (profile.media_extensions && ((node.mig_media_used >> i) & 1u) != 0) {
      continue;
    }
    if (UsableMigStarts(node, i, profile) != 0) {
      m |= GpuMask{1} << i;
    }
  }
  return m;
}

bool IsNvlinkRing(const NodeTopology& topo, GpuMask set) {
  return set < topo.nvlink_ring.size() && topo.nvlink_ring[set] != 0;
}

bool IsBestSet(const NodeTopology& topo, GpuMask set) {
  const int g = topo.search.num_gpus();
  const int k = std::popcount(set);
  if (set == 0 || g == 0 || k > g) {
    return false;
  }
  const GpuMask all = static_cast<GpuMask>((GpuMask{1} << g) - 1);
  const GpuMask best = topo.search.BestUnconstrained(all, k);
  return topo.search.Quality(set).ring_mbps >= topo.search.Quality(best).ring_mbps;
}

namespace {

// Lowest k set bits of `free`, or 0 if it has fewer.
GpuMask LowestK(GpuMask free, int k) {
  GpuMask out = 0;
  while (k > 0 && free != 0) {
    const GpuMask bit = free & (~free + 1);
    out |= bit;
    free &= ~bit;
    --k;
  }
  return k == 0 ? out : 0;
}

}  // namespace

std::optional<GpuMask> BestWholeGpuSet(const PodRequest& pod, const NodeInfo& node) {
  const GpuMask free = node.WholeFreeGpus();
  const int k = pod.gpu_count;
  if (std::popcount(free) < k || k <= 0) {
    return std::nullopt;
  }
  if (node.topology == nullptr) {
    if (pod.nvlink == TopologyPreference::kRequired || pod.require_close_nic ||
        pod.require_same_numa) {
      return std::nullopt;
    }
    return LowestK(free, k);
  }
  const NodeTopology& topo = *node.topology;
  GpuMask best = 0;
  if (!pod.require_close_nic && !pod.require_same_numa) {
    best = topo.search.BestUnconstrained(free, k);
  } else {
    topology::DeviceSetRequest request{k, free, pod.require_close_nic, pod.require_same_numa};
    auto result = topo.search.Best(request);
    if (!result.ok() || !result->has_value()) {
      return std::nullopt;
    }
    best = (*result)->gpus;
  }
  if (best == 0) {
    return std::nullopt;
  }
  if (pod.nvlink != TopologyPreference::kRequired || IsNvlinkRing(topo, best)) {
    return best;
  }
  // The objective's favourite is not an NVLink ring; look for the best set that is. Enumerates
  // the k-subsets of `free` (at most C(16, 8) = 12870), only for required-NVLink pods.
  GpuMask chosen = 0;
  const GpuMask close_nic = topo.topology.close_nic_gpus();
  for (GpuMask s = free; s != 0; s = (s - 1) & free) {
    if (std::popcount(s) != k || !IsNvlinkRing(topo, s)) {
      continue;
    }
    if (pod.require_close_nic && (s & ~close_nic) != 0) {
      continue;
    }
    if (pod.require_same_numa && topo.search.Quality(s).numa_span > 1) {
      continue;
    }
    if (chosen == 0) {
      chosen = s;
      continue;
    }
    int c = topology::CompareQuality(topo.search.Quality(s), topo.search.Quality(chosen));
    if (c == 0) {
      c = topology::CompareLeftover(topo.search.Leftover(free & ~s),
                                    topo.search.Leftover(free & ~chosen));
    }
    if (c < 0 || (c == 0 && s < chosen)) {
      chosen = s;
    }
  }
  if (chosen == 0) {
    return std::nullopt;
  }
  return chosen;
}

namespace {

// CheckFit's reasons, one interned text per code and cycle (CycleState::Reason).
enum class FitCode {
  kCpuCapacity,
  kMemoryCapacity,
  kNoGpus,
  kModelNotAllowed,
  kModelUnknown,
  kTooFewNonMigGpus,
  kNoMigProfile,
  kAllMig,
  kInsufficientCpu,
  kInsufficientMemory,
  kInsufficientGpus,
  kNoTopologySetNow,
  kNoTopologySetEver,
  kNoTopologySetUnknown,
  kGpuMemoryCapacity,
  kNoShareGpu,
  kNoMigStart,
  kWholeGpusNotAdvertised,
  kGpuMilliNotAdvertised,
  kMigNotAdvertised,
};

std::string TopologyNeeds(const PodRequest& pod) {
  std::vector<std::string> needs;
  if (pod.nvlink == TopologyPreference::kRequired) {
    needs.emplace_back("the NVLink requirement");
  }
  if (pod.require_close_nic) {
    needs.emplace_back("the close-NIC requirement");
  }
  if (pod.require_same_numa) {
    needs.emplace_back("the same-NUMA requirement");
  }
  return absl::StrJoin(needs, " and ");
}

// "3g", "1g (double memory)", "3g+me": the pod's MIG shape; the profile's full name depends on
// the node's model.
std::string MigShape(const MigRequest& m) {
  return absl::StrCat(m.compute_slices, "g", m.double_memory ? " (double memory)" : "",
                      m.media_extensions ? "+me" : "");
}

// A problem with the reason `build()` makes, interned under `code`; the reason is built only
// when the cycle explains (and then once per code).
template <typename Build>
std::optional<FitProblem> Problem(const CycleState& state, bool unresolvable, FitCode code,
                                  Build&& build) {
  FitProblem p{unresolvable, {}};
  if (state.explain) {
    p.reason = state.Reason(static_cast<int>(code), build);
  }
  return std::optional<FitProblem>(p);
}

// What the node can never give, whatever it frees: CPU or memory capacity, GPUs, an allowed GPU
// model, enough GPUs outside MIG mode.
std::optional<FitProblem> CapacityProblem(const CycleState& state, const PodRequest& pod,
                                          const NodeInfo& node) {
  if (pod.cpu_milli > node.cpu_capacity_milli) {
    return Problem(state, true, FitCode::kCpuCapacity, [&] {
      return absl::StrCat("pod asks ", pod.cpu_milli, "m CPU, more than the node has in all");
    });
  }
  if (pod.memory_mib > node.memory_capacity_mib) {
    return Problem(state, true, FitCode::kMemoryCapacity, [&] {
      return absl::StrCat("pod asks ", pod.memory_mib,
                          " MiB memory, more than the node has in all");
    });
  }
  if (pod.WantsGpu()) {
    if (node.gpu_count == 0) {
      return Problem(state, true, FitCode::kNoGpus, [] { return std::string("node has no GPUs"); });
    }
    if (node.model == kNoModel) {
      return Problem(state, true, FitCode::kModelUnknown,
                     [] { return std::string("the node's GPU model is unknown to accelsched"); });
    }
    if (!ModelAllowed(state, pod, node)) {
      return Problem(state, true, FitCode::kModelNotAllowed, [&] {
        const std::string models = absl::StrJoin(pod.allowed_models, ", ");
        if (pod.mig.has_value() && !pod.models_from_pod) {  // The pod named no model.
          return absl::StrCat("the pod's MIG profile exists only on ", models);
        }
        if (pod.mig.has_value()) {
          return absl::StrCat("GPU model not allowed: the pod's MIG profile and its ",
                              "accelsched.io/gpu-models allow only ", models);
        }
        if (pod.allowed_models.empty()) {
          return std::string("GPU model not allowed by the pod");
        }
        return absl::StrCat("GPU model not allowed by the pod (it accepts ", models, ")");
      });
    }
  }
  if (pod.WantsWholeGpus()) {
    const int usable = node.gpu_count - std::popcount(node.mig_enabled);
    if (pod.gpu_count > usable) {
      return Problem(state, true, FitCode::kTooFewNonMigGpus, [&] {
        return absl::StrCat("pod asks ", pod.gpu_count,
                            " whole GPUs, more than the node has outside MIG mode in all");
      });
    }
  }
  return std::nullopt;
}

// A whole-GPU pod: enough entirely free GPUs, and a set of them that meets its topology
// constraints. Unresolvable if even the empty node has no such set (freeing GPUs cannot help).
std::optional<FitProblem> WholeGpuProblem(const CycleState& state, const PodRequest& pod,
                                          const NodeInfo& node) {
  const int free = std::popcount(node.WholeFreeGpus());
  if (free < pod.gpu_count) {
    return Problem(state, false, FitCode::kInsufficientGpus, [&] {
      return absl::StrCat("insufficient GPUs: fewer than ", pod.gpu_count, " entirely free");
    });
  }
  if (pod.nvlink != TopologyPreference::kRequired && !pod.require_close_nic &&
      !pod.require_same_numa) {
    return std::nullopt;
  }
  if (BestWholeGpuSet(pod, node).has_value()) {
    return std::nullopt;
  }
  if (node.topology == nullptr) {
    return Problem(state, true, FitCode::kNoTopologySetUnknown, [&] {
      return absl::StrCat("no set of ", pod.gpu_count, " GPUs of this node can ever meet ",
                          TopologyNeeds(pod), " (node topology unknown)");
    });
  }
  NodeInfo empty = node;
  for (int i = 0; i < empty.gpu_count; ++i) {
    empty.gpu_free_milli[i] = 1000;
  }
  if (!BestWholeGpuSet(pod, empty).has_value()) {
    return Problem(state, true, FitCode::kNoTopologySetEver, [&] {
      return absl::StrCat("no set of ", pod.gpu_count, " GPUs of this node can ever meet ",
                          TopologyNeeds(pod));
    });
  }
  return Problem(state, false, FitCode::kNoTopologySetNow, [&] {
    return absl::StrCat("no set of ", pod.gpu_count, " free GPUs meets ", TopologyNeeds(pod));
  });
}

// A share: GPU memory no GPU of the node could ever hold, or no GPU with the share free now.
std::optional<FitProblem> ShareProblem(const CycleState& state, const PodRequest& pod,
                                       const NodeInfo& node) {
  if (pod.gpu_memory_mib > 0 && node.gpu_memory_mib > 0 &&
      pod.gpu_memory_mib > node.gpu_memory_mib) {
    return Problem(state, true, FitCode::kGpuMemoryCapacity, [&] {
      return absl::StrCat("pod asks ", pod.gpu_memory_mib,
                          " MiB of GPU memory, more than one GPU of this node has in all");
    });
  }
  if (ShareCandidates(pod, node) == 0) {
    return Problem(state, false, FitCode::kNoShareGpu, [&] {
      return absl::StrCat("no GPU has ", pod.gpu_milli, " milli-GPU",
                          pod.gpu_memory_mib > 0 ? absl::StrCat(" and ", pod.gpu_memory_mib, " MiB")
                                                 : std::string(),
                          " free");
    });
  }
  return std::nullopt;
}

// A resource the pod asks that the node's allocatable does not advertise: no device plugin
// serves it there, so the kubelet would start the container without the device. Unresolvable.
std::optional<FitProblem> AdvertisedProblem(const CycleState& state, const PodRequest& pod,
                                            const NodeInfo& node,
                                            const mig::MigProfile* mig_profile) {
  if (node.advertised == nullptr) return std::nullopt;
  const AdvertisedResources& a = *node.advertised;
  if (pod.WantsWholeGpus() && !a.whole_gpus) {
    return Problem(state, true, FitCode::kWholeGpusNotAdvertised, [] {
      return std::string("the node does not advertise nvidia.com/gpu in allocatable");
    });
  }
  if (pod.WantsShare() && !a.gpu_milli) {
    return Problem(state, true, FitCode::kGpuMilliNotAdvertised, [] {
      return std::string("the node does not advertise accelsched.io/gpu-milli in allocatable");
    });
  }
  if (mig_profile != nullptr && std::find(a.mig_profiles.begin(), a.mig_profiles.end(),
                                          mig_profile->name) == a.mig_profiles.end()) {
    return Problem(state, true, FitCode::kMigNotAdvertised, [&] {
      std::string name(mig_profile->name);
      if (absl::EndsWith(name, "+me")) name.replace(name.size() - 3, 1, ".");
      return absl::StrCat("the node does not advertise nvidia.com/mig-", name, " in allocatable");
    });
  }
  return std::nullopt;
}

}  // namespace

std::optional<FitProblem> CheckFit(const CycleState& state, const PodRequest& pod,
                                   const NodeInfo& node) {
  if (std::optional<FitProblem> p = CapacityProblem(state, pod, node)) {
    return p;
  }
  const mig::MigProfile* mig_profile = nullptr;
  if (pod.WantsMig()) {
    mig_profile = MigProfileFor(*pod.mig, node);
    if (mig_profile == nullptr || node.mig_enabled == 0) {
      return Problem(state, true, FitCode::kNoMigProfile, [&] {
        return absl::StrCat("no MIG-enabled GPU with a ", MigShape(*pod.mig), " profile");
      });
    }
  }
  if (pod.WantsShare() && (node.all_gpus() & ~node.mig_enabled) == 0) {
    return Problem(state, true, FitCode::kAllMig, [] {
      return std::string("every GPU is in MIG mode; a share needs a non-MIG GPU");
    });
  }
  if (std::optional<FitProblem> p = AdvertisedProblem(state, pod, node, mig_profile)) {
    return p;
  }
  if (pod.cpu_milli > node.cpu_free_milli) {
    return Problem(state, false, FitCode::kInsufficientCpu, [&] {
      return absl::StrCat("insufficient CPU: less than the pod's ", pod.cpu_milli, "m free");
    });
  }
  if (pod.memory_mib > node.memory_free_mib) {
    return Problem(state, false, FitCode::kInsufficientMemory, [&] {
      return absl::StrCat("insufficient memory: less than the pod's ", pod.memory_mib, " MiB free");
    });
  }
  if (pod.WantsWholeGpus()) {
    return WholeGpuProblem(state, pod, node);
  }
  if (pod.WantsShare()) {
    return ShareProblem(state, pod, node);
  }
  if (pod.WantsMig() && MigCandidates(*mig_profile, node) == 0) {
    return Problem(state, false, FitCode::kNoMigStart, [&] {
      return absl::StrCat("no MIG-enabled GPU has a free legal start for a ", MigShape(*pod.mig),
                          " instance");
    });
  }
  return std::nullopt;
}

Assignment BaseAssignment(const PodRequest& pod, NodeIndex node) {
  Assignment a;
  a.node = node;
  a.cpu_milli = pod.cpu_milli;
  a.memory_mib = pod.memory_mib;
  return a;
}

}  // namespace accelsched::plugins
