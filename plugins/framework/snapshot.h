// ClusterSnapshot: an immutable view of every node's capacity and what is free on it, the input of
// every solver call (DESIGN sections 2 and 8, STYLE "Ownership & immutability").
//
// A snapshot is built once by ClusterSnapshotBuilder (every node empty) and then only changed by
// ClusterState (cluster_state.h), which applies and releases assignments on its private copy and
// hands out copies as `shared_ptr<const ClusterSnapshot>`. Solver calls take `const&`.
//
// Per node: CPU and memory capacity and free amounts; GPU model (interned: `NodeInfo::model` is an
// index into `ClusterSnapshot::models()`), GPU count, per-GPU free milli-GPU and free GPU memory,
// per-GPU MIG state (enabled, used memory slots, whether a +me instance exists), the intra-node
// topology with its device-set tables (shared between nodes of the same hardware), labels, and
// what each tenant holds there (tenants.h). Per snapshot: the tenant table.
//
// Thread-safety: immutable after construction; safe to read from many threads.
// Ownership: shares its nodes with its copies (in immutable chunks, see below); topologies and
// label sets are shared, immutable, reference counted.
#ifndef ACCELSCHED_PLUGINS_FRAMEWORK_SNAPSHOT_H_
#define ACCELSCHED_PLUGINS_FRAMEWORK_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

#include "plugins/framework/tenants.h"
#include "topology/device_set.h"
#include "topology/mig/mig.h"
#include "topology/topology.h"

namespace accelsched::plugins {

using NodeIndex = int32_t;
using topology::GpuMask;
using topology::kMaxGpus;

// Pod classes by what GPU they take, for per-node counts (GPU clustering).
inline constexpr int kNumGpuClasses = kMaxGpus + 2;
inline constexpr int kShareClass = 0;
inline constexpr int kMigClass = kMaxGpus + 1;

// Model index of nodes without GPUs.
inline constexpr int16_t kNoModel = -1;

// A node's hardware model with its device-set tables, built once per distinct topology and
// shared by every node that has it.
struct NodeTopology {
  topology::Topology topology;
  topology::DeviceSetSearch search;
  // By GPU subset: 1 if its members can be ordered in a ring whose every hop is an NVLink (or
  // NVSwitch) connection; single GPUs count. Held-Karp over NVLink adjacency, O(2^G G^2).
  std::vector<uint8_t> nvlink_ring;

  // Builds the device-set tables (tens of microseconds for 8 GPUs, ~0.3 s for 16).
  static absl::StatusOr<std::shared_ptr<const NodeTopology>> Create(topology::Topology topology);
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// The accelerator resources a node's allocatable advertises (its device plugins). The kubelet
// hands a container devices only of a resource some device plugin serves on the node, so a pod
// goes only where each resource it asks is advertised.
struct AdvertisedResources {
  bool whole_gpus = false;  // nvidia.com/gpu
  bool gpu_milli = false;   // accelsched.io/gpu-milli
  // nvidia.com/mig-<profile>: NVIDIA's profile names ("1g.10gb+me" for mig-1g.10gb.me).
  std::vector<std::string> mig_profiles;
};

// What a node has, as given to the builder. Everything starts free.
// One existing MIG instance: GPU, NVIDIA GPU-instance profile id, start memory slot.
struct MigInstanceSpec {
  int gpu = 0;
  int profile_id = 0;
  int start = 0;
  friend bool operator==(const MigInstanceSpec&, const MigInstanceSpec&) = default;
};

struct NodeSpec {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  std::string gpu_model;       // Empty iff gpu_count == 0.
  int gpu_count = 0;           // 0..kMaxGpus.
  int64_t gpu_memory_mib = 0;  // Per GPU; 0 = unknown (memory then never limits a share).
  GpuMask mig_enabled = 0;     // GPUs in MIG mode; needs a MIG-capable model.
  // GPUs taken out of service (accelsched.io/unhealthy-gpus), with why ("XID 79").
  std::map<int, std::string> unhealthy_gpus;
  // Static MIG (instances made ahead, e.g. by mig-parted; accelsched.io/mig-instances): MIG pods
  // go only onto these instances. Without (static_mig false), MIG GPUs are freely partitioned.
  bool static_mig = false;
  std::vector<MigInstanceSpec> mig_instances;
  std::shared_ptr<const NodeTopology> topology;  // Null = unknown (all GPUs equal).
  Labels labels;
  // Null = not known (the simulator's nodes): every resource counts as advertised.
  std::shared_ptr<const AdvertisedResources> advertised;
};

// One node's capacity and current free resources. Plain data; see ClusterSnapshot for the rules.
struct NodeInfo {
  std::string name;
  int64_t cpu_capacity_milli = 0;
  int64_t cpu_free_milli = 0;
  int64_t memory_capacity_mib = 0;
  int64_t memory_free_mib = 0;

  int16_t model = kNoModel;  // Index into ClusterSnapshot::models().
  int8_t gpu_count = 0;
  int64_t gpu_memory_mib = 0;  // Per-GPU capacity; 0 = unknown.
  // Free milli-GPU per GPU (0..1000). A MIG-enabled GPU shows 1000 minus 1000/7 per used
  // compute slice, for the allocation metric; only MIG requests may use it.
  std::array<int16_t, kMaxGpus> gpu_free_milli{};
  std::array<int64_t, kMaxGpus> gpu_free_memory_mib{};

  const topology::mig::MigGeometry* mig_geometry = nullptr;  // Null if the model has no MIG.
  GpuMask mig_enabled = 0;
  std::array<uint8_t, kMaxGpus> mig_used_slots{};  // Memory-slot masks of MIG-enabled GPUs.
  GpuMask mig_media_used = 0;                      // GPUs that already hold a +me instance.
  // GPUs out of service (NodeSpec::unhealthy_gpus): never given to a pod (the GpuHealth filter),
  // though pods already on them stay counted; why, per GPU (null when all are healthy).
  GpuMask unhealthy = 0;
  std::shared_ptr<const std::map<int, std::string>> unhealthy_reasons;
  // Static MIG: the instances MIG pods may use (NodeSpec::mig_instances); null = dynamic.
  std::shared_ptr<const std::vector<MigInstanceSpec>> mig_instances;

  std::shared_ptr<const NodeTopology> topology;           // Null = unknown.
  std::shared_ptr<const Labels> labels;                   // Never null.
  std::shared_ptr<const AdvertisedResources> advertised;  // Null = not checked.

  int32_t pods = 0;  // Pods placed here.
  // Pods placed here by GPU class (see GpuClassOf): [0] shares, [k] k whole GPUs (1..16),
  // [17] MIG instances. CPU-only pods are not counted.
  std::array<int16_t, kNumGpuClasses> pods_by_gpu_class{};
  // What each tenant holds here, by TenantId ascending; only tenants with pods here, and only
  // pods placed with a tenant (ClusterState::Apply). Empty in the simulator.
  std::vector<TenantUse> tenants;
  GpuMask all_gpus() const { return static_cast<GpuMask>((1u << gpu_count) - 1u); }
  // GPUs that can be handed out whole: entirely free, not MIG-enabled.
  GpuMask WholeFreeGpus() const {
    GpuMask m = 0;
    for (int i = 0; i < gpu_count; ++i) {
      if (gpu_free_milli[i] == 1000 && ((mig_enabled >> i) & 1u) == 0) {
        m |= GpuMask{1} << i;
      }
    }
    return m;
  }
  int64_t GpuFreeMilliTotal() const {
    int64_t sum = 0;
    for (int i = 0; i < gpu_count; ++i) {
      sum += gpu_free_milli[i];
    }
    return sum;
  }
  // The label's value, or nullopt.
  std::optional<absl::string_view> Label(absl::string_view key) const;
};

class ClusterSnapshot {
 public:
  ClusterSnapshot() = default;

  // Every node in index order: `for (const NodeInfo& n : snapshot.nodes())`.
  class NodeIterator {
   public:
    NodeIterator(const ClusterSnapshot* s, NodeIndex i) : s_(s), i_(i) {}
    const NodeInfo& operator*() const { return s_->node(i_); }
    NodeIterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const NodeIterator& o) const { return i_ == o.i_; }

   private:
    const ClusterSnapshot* s_;
    NodeIndex i_;
  };
  struct NodeRange {
    NodeIterator b, e;
    NodeIterator begin() const { return b; }
    NodeIterator end() const { return e; }
  };
  NodeRange nodes() const { return {{this, 0}, {this, num_nodes_}}; }
  const NodeInfo& node(NodeIndex i) const {
    const size_t k = static_cast<size_t>(i);
    return chunks_[k >> kChunkShift]->nodes[k & kChunkMask];
  }
  int num_nodes() const { return num_nodes_; }
  // Identifies node i's content: a fresh number (unique in the process, never 0) whenever the
  // node is built or changed, so two nodes with the same version are equal. Copies of a
  // snapshot keep it. Lets callers memoise per-node results (SolverMemo). Kept apart from the
  // NodeInfos, 8 bytes per node, so that checking thousands of them stays in cache.
  uint64_t node_version(NodeIndex i) const {
    const size_t k = static_cast<size_t>(i);
    return chunks_[k >> kChunkShift]->versions[k & kChunkMask];
  }
  // Interned GPU model names; NodeInfo::model indexes this.
  absl::Span<const std::string> models() const { return models_; }
  // Model index of `name` (exact match), or kNoModel.
  int16_t ModelIndex(absl::string_view name) const;
  // Node index by name, or nullopt.
  std::optional<NodeIndex> Find(absl::string_view name) const;
  // Sum over nodes of GPU count * 1000.
  int64_t gpu_capacity_milli() const { return gpu_capacity_milli_; }
  // Milli-GPU handed out (whole GPUs, shares, MIG compute).
  int64_t gpu_used_milli() const { return gpu_used_milli_; }
  // The namespaces placed pods belong to, with their isolation (tenancy). Never changes within
  // one snapshot; a changed table has a fresh TenantTable::version.
  const TenantTable& tenants() const { return *tenants_; }
  // The same table, shared: for a CycleState that must outlive this snapshot.
  const std::shared_ptr<const TenantTable>& shared_tenants() const { return tenants_; }
  // Incremented by every change to the cluster (ClusterState).
  uint64_t version() const { return version_; }
  // Identifies the node list, names, capacities, labels, topologies and model table: unique in
  // the process per ClusterSnapshotBuilder::Build, kept by copies and by ClusterState changes
  // (which change only what is free). Node indices mean the same node in two snapshots of one
  // layout.
  uint64_t layout() const { return layout_; }

 private:
  friend class ClusterSnapshotBuilder;
  friend class ClusterState;

  // Nodes live in chunks of 64, shared between copies: a copy costs one pointer per chunk, and
  // ClusterState copies a chunk only when it changes a node in a chunk that a published copy
  // still holds (copy on write). Chunks reached through a ClusterSnapshot are never changed.
  static constexpr size_t kChunkShift = 6;
  static constexpr size_t kChunkMask = (size_t{1} << kChunkShift) - 1;
  struct Chunk {
    std::vector<NodeInfo> nodes;
    std::vector<uint64_t> versions;  // Per node.
  };
  // The node for ClusterState to change, its chunk copied first if it is shared; the node gets a
  // new version.
  NodeInfo& ChangeNode(NodeIndex i);

  std::vector<std::shared_ptr<Chunk>> chunks_;
  int num_nodes_ = 0;
  std::vector<std::string> models_;
  // Never null after Build; shared by copies (the layout does not change).
  std::shared_ptr<const absl::flat_hash_map<std::string, NodeIndex>> by_name_;
  int64_t gpu_capacity_milli_ = 0;
  int64_t gpu_used_milli_ = 0;
  uint64_t version_ = 0;
  uint64_t layout_ = 0;
  std::shared_ptr<const TenantTable> tenants_ = EmptyTenantTable();  // Never null.

  static std::shared_ptr<const TenantTable> EmptyTenantTable();
};

// A number never handed out before in this process (thread-safe): NodeInfo::version and
// ClusterSnapshot::layout draw from it.
uint64_t NextUniqueVersion();

// Builds a snapshot with every node empty. Not thread-safe (one builder per thread).
class ClusterSnapshotBuilder {
 public:
  ClusterSnapshotBuilder& AddNode(NodeSpec spec);
  // InvalidArgument naming the node for: empty or duplicate name, negative capacity, gpu_count
  // outside 0..16, a GPU model without GPUs (or GPUs without a model), MIG on a model without
  // MIG geometry or on GPUs the node does not have, a topology whose GPU count differs.
  absl::StatusOr<ClusterSnapshot> Build() &&;

 private:
  std::vector<NodeSpec> specs_;
};

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_FRAMEWORK_SNAPSHOT_H_
