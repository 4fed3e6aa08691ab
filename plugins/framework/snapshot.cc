#include "plugins/framework/snapshot.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <iterator>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::plugins {

absl::StatusOr<std::shared_ptr<const NodeTopology>> NodeTopology::Create(
    topology::Topology topology) {
  ACCELSCHED_ASSIGN_OR_RETURN(topology::DeviceSetSearch search,
                              topology::DeviceSetSearch::Create(topology));
  const int g = topology.num_gpus();
  const size_t subsets = size_t{1} << g;
  std::vector<GpuMask> adjacent(static_cast<size_t>(g), 0);
  for (int a = 0; a < g; ++a) {
    for (int b = 0; b < g; ++b) {
      if (a != b && topology.NvlinkCount(a, b) > 0) {
        adjacent[a] |= GpuMask{1} << b;
      }
    }
  }
  // path[S] = bitmask of v such that a Hamiltonian NVLink path through S starts at min(S) and
  // ends at v.
  std::vector<GpuMask> path(subsets, 0);
  std::vector<uint8_t> ring(subsets, 0);
  for (size_t s = 1; s < subsets; ++s) {
    const GpuMask set = static_cast<GpuMask>(s);
    const int first = std::countr_zero(set);
    if (std::popcount(set) == 1) {
      path[s] = set;
      ring[s] = 1;
      continue;
    }
    GpuMask ends = 0;
    for (int v = 0; v < g; ++v) {
      if (v == first || ((set >> v) & 1u) == 0) {
        continue;
      }
      const GpuMask prev = path[set & ~(GpuMask{1} << v)];
      if ((prev & adjacent[v]) != 0) {
        ends |= GpuMask{1} << v;
      }
    }
    path[s] = ends;
    // Two GPUs joined by NVLink form a (degenerate) ring; more need the last hop back.
    ring[s] = (ends & adjacent[first]) != 0 ? 1 : 0;
  }
  return std::make_shared<const NodeTopology>(
      NodeTopology{std::move(topology), std::move(search), std::move(ring)});
}

std::optional<absl::string_view> NodeInfo::Label(absl::string_view key) const {
  for (const auto& [k, v] : *labels) {
    if (k == key) {
      return absl::string_view(v);
    }
  }
  return std::nullopt;
}

int16_t ClusterSnapshot::ModelIndex(absl::string_view name) const {
  for (size_t i = 0; i < models_.size(); ++i) {
    if (models_[i] == name) {
      return static_cast<int16_t>(i);
    }
  }
  return kNoModel;
}

std::optional<NodeIndex> ClusterSnapshot::Find(absl::string_view name) const {
  if (by_name_ == nullptr) {
    return std::nullopt;
  }
  auto it = by_name_->find(name);
  if (it == by_name_->end()) {
    return std::nullopt;
  }
  return it->second;
}

NodeInfo& ClusterSnapshot::ChangeNode(NodeIndex i) {
  const size_t k = static_cast<size_t>(i);
  std::shared_ptr<Chunk>& chunk = chunks_[k >> kChunkShift];
  // Sole owner: no published copy can see the change. Otherwise change a private copy (a copy
  // being dropped concurrently may make this copy needlessly, never wrongly).
  if (chunk.use_count() > 1) {
    chunk = std::make_shared<Chunk>(*chunk);
  }
  chunk->versions[k & kChunkMask] = NextUniqueVersion();
  return chunk->nodes[k & kChunkMask];
}

std::shared_ptr<const TenantTable> ClusterSnapshot::EmptyTenantTable() {
  static const std::shared_ptr<const TenantTable> empty = std::make_shared<const TenantTable>();
  return empty;
}

uint64_t NextUniqueVersion() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {

absl::Status NodeError(const NodeSpec& spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("node ", spec.name, ": ", why));
}

// The checks of one spec that need no other node: a name, capacities, GPU count and model.
// `position` is the spec's index (for a spec without a name).
absl::Status ValidateNodeSpec(const NodeSpec& spec, size_t position) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("node #", position, ": name must not be empty"));
  }
  if (spec.cpu_milli < 0 || spec.memory_mib < 0 || spec.gpu_memory_mib < 0) {
    return NodeError(spec, "capacities must not be negative");
  }
  if (spec.gpu_count < 0 || spec.gpu_count > kMaxGpus) {
    return NodeError(spec, absl::StrCat("gpu_count ", spec.gpu_count, " is outside 0..", kMaxGpus));
  }
  if (spec.gpu_count > 0 && spec.gpu_model.empty()) {
    return NodeError(spec, "has GPUs but no GPU model");
  }
  if (spec.gpu_count == 0 && !spec.gpu_model.empty()) {
    return NodeError(spec, absl::StrCat("has GPU model ", spec.gpu_model, " but no GPUs"));
  }
  return absl::OkStatus();
}

// The node's MIG geometry (when its model has one) and MIG-enabled GPUs; MIG mode needs GPUs
// the node has and a model with a known geometry.
absl::Status SetMig(const NodeSpec& spec, NodeInfo& n) {
  if (spec.mig_enabled != 0) {
    if ((spec.mig_enabled & ~n.all_gpus()) != 0) {
      return NodeError(spec, "MIG enabled on GPUs it does not have");
    }
    auto geometry = topology::mig::GeometryForModel(spec.gpu_model);
    if (!geometry.ok()) {
      return NodeError(spec, absl::StrCat("MIG enabled, but GPU model ", spec.gpu_model,
                                          " has no known MIG geometry"));
    }
    n.mig_geometry = *geometry;
    n.mig_enabled = spec.mig_enabled;
  } else if (auto geometry = topology::mig::GeometryForModel(spec.gpu_model); geometry.ok()) {
    n.mig_geometry = *geometry;
  }
  return absl::OkStatus();
}

// The GPUs out of service; each must be one the node has.
absl::Status SetUnhealthy(const NodeSpec& spec, NodeInfo& n) {
  if (spec.unhealthy_gpus.empty()) return absl::OkStatus();
  for (const auto& [gpu, reason] : spec.unhealthy_gpus) {
    if (gpu < 0 || gpu >= spec.gpu_count) {
      return NodeError(spec, absl::StrCat("unhealthy GPU ", gpu, " is not one of its ",
                                          spec.gpu_count, " GPUs"));
    }
    n.unhealthy |= GpuMask{1} << gpu;
  }
  n.unhealthy_reasons = std::make_shared<const std::map<int, std::string>>(spec.unhealthy_gpus);
  return absl::OkStatus();
}

// Static MIG: every instance on a MIG-enabled GPU, of a profile of the model, at a legal start.
absl::Status SetStaticMig(const NodeSpec& spec, NodeInfo& n) {
  if (!spec.static_mig) return absl::OkStatus();
  for (const MigInstanceSpec& m : spec.mig_instances) {
    const std::string what =
        absl::StrCat("MIG instance ", m.profile_id, "@", m.start, " on GPU ", m.gpu);
    if (m.gpu < 0 || m.gpu >= spec.gpu_count || ((n.mig_enabled >> m.gpu) & 1u) == 0) {
      return NodeError(spec, what + ": not a GPU of the node in MIG mode");
    }
    absl::StatusOr<const topology::mig::MigProfile*> p = n.mig_geometry->ProfileById(m.profile_id);
    if (!p.ok() || m.start < 0 || m.start > 7 || (((*p)->start_mask >> m.start) & 1u) == 0) {
      return NodeError(spec, what + ": not a profile and legal start of " + spec.gpu_model);
    }
  }
  n.mig_instances = std::make_shared<const std::vector<MigInstanceSpec>>(spec.mig_instances);
  return absl::OkStatus();
}

}  // namespace

ClusterSnapshotBuilder& ClusterSnapshotBuilder::AddNode(NodeSpec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

absl::StatusOr<ClusterSnapshot> ClusterSnapshotBuilder::Build() && {
  ClusterSnapshot s;
  std::vector<NodeInfo> nodes;
  nodes.reserve(specs_.size());
  auto by_name = std::make_shared<absl::flat_hash_map<std::string, NodeIndex>>();
  auto shared_empty_labels = std::make_shared<const Labels>();
  for (NodeSpec& spec : specs_) {
    ACCELSCHED_RETURN_IF_ERROR(ValidateNodeSpec(spec, nodes.size()));
    NodeInfo n;
    n.name = spec.name;
    n.cpu_capacity_milli = n.cpu_free_milli = spec.cpu_milli;
    n.memory_capacity_mib = n.memory_free_mib = spec.memory_mib;
    n.gpu_count = static_cast<int8_t>(spec.gpu_count);
    n.gpu_memory_mib = spec.gpu_memory_mib;
    if (!spec.gpu_model.empty()) {
      int16_t m = s.ModelIndex(spec.gpu_model);
      if (m == kNoModel) {
        if (s.models_.size() >= 64) {
          return NodeError(spec, "more than 64 distinct GPU models in one cluster");
        }
        s.models_.push_back(spec.gpu_model);
        m = static_cast<int16_t>(s.models_.size() - 1);
      }
      n.model = m;
    }
    for (int i = 0; i < spec.gpu_count; ++i) {
      n.gpu_free_milli[i] = 1000;
      n.gpu_free_memory_mib[i] = spec.gpu_memory_mib;
    }
    ACCELSCHED_RETURN_IF_ERROR(SetMig(spec, n));
    ACCELSCHED_RETURN_IF_ERROR(SetUnhealthy(spec, n));
    ACCELSCHED_RETURN_IF_ERROR(SetStaticMig(spec, n));
    if (spec.topology != nullptr && spec.topology->topology.num_gpus() != spec.gpu_count) {
      return NodeError(spec, absl::StrCat("topology has ", spec.topology->topology.num_gpus(),
                                          " GPUs but the node has ", spec.gpu_count));
    }
    n.topology = std::move(spec.topology);
    n.advertised = std::move(spec.advertised);
    n.labels = spec.labels.empty() ? shared_empty_labels
                                   : std::make_shared<const Labels>(std::move(spec.labels));
    auto [it, inserted] = by_name->emplace(n.name, static_cast<NodeIndex>(nodes.size()));
    if (!inserted) {
      return NodeError(spec, "duplicate node name");
    }
    s.gpu_capacity_milli_ += int64_t{spec.gpu_count} * 1000;
    nodes.push_back(std::move(n));
  }
  s.num_nodes_ = static_cast<int>(nodes.size());
  for (size_t first = 0; first < nodes.size(); first += size_t{1} << ClusterSnapshot::kChunkShift) {
    const size_t last = std::min(nodes.size(), first + (size_t{1} << ClusterSnapshot::kChunkShift));
    auto chunk = std::make_shared<ClusterSnapshot::Chunk>();
    chunk->nodes.assign(std::make_move_iterator(nodes.begin() + static_cast<std::ptrdiff_t>(first)),
                        std::make_move_iterator(nodes.begin() + static_cast<std::ptrdiff_t>(last)));
    for (size_t k = first; k < last; ++k) {
      chunk->versions.push_back(NextUniqueVersion());
    }
    s.chunks_.push_back(std::move(chunk));
  }
  s.by_name_ = std::move(by_name);
  s.layout_ = NextUniqueVersion();
  specs_.clear();
  return s;
}

}  // namespace accelsched::plugins
