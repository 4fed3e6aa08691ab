// Test builders shared by the plugin tests: fluent NodeSpec and PodRequest builders, snapshot,
// assignment, task-shape and solver helpers, so that each test file states only its own fixtures.
//
// Thread-safety: the builders are plain values; use each from one thread. The free functions are
// stateless. Helpers that can fail report with EXPECT_* (never ASSERT_*, which cannot be used in
// a function returning a value), so a failing fixture fails the calling test.
#ifndef ACCELSCHED_TESTS_TESTING_BUILDERS_H_
#define ACCELSCHED_TESTS_TESTING_BUILDERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "plugins/framework/solver.h"
#include "plugins/policy.h"
#include "plugins/share_fragmentation/fragmentation.h"

namespace accelsched::testing {

// Fluent NodeSpec builder: `Node("v100").Cpu(8000).Mem(32000).Gpus(4, "V100", 16000)`.
// (Designated initializers would trip -Wmissing-field-initializers.) Unset fields keep the
// NodeSpec defaults, so invalid specs can be built on purpose to test the snapshot builder.
class Node {
 public:
  explicit Node(std::string name) { s_.name = std::move(name); }
  Node& Cpu(int64_t milli) {
    s_.cpu_milli = milli;
    return *this;
  }
  Node& Mem(int64_t mib) {
    s_.memory_mib = mib;
    return *this;
  }
  Node& Model(std::string model) {
    s_.gpu_model = std::move(model);
    return *this;
  }
  // Only the GPU count; the model and per-GPU memory stay as they are (see Model, GpuMem).
  Node& Gpus(int count) {
    s_.gpu_count = count;
    return *this;
  }
  // Count, model and per-GPU memory (0 = unknown) at once.
  Node& Gpus(int count, std::string model, int64_t gpu_mem = 0) {
    s_.gpu_count = count;
    s_.gpu_model = std::move(model);
    s_.gpu_memory_mib = gpu_mem;
    return *this;
  }
  Node& GpuMem(int64_t mib) {
    s_.gpu_memory_mib = mib;
    return *this;
  }
  Node& Mig(plugins::GpuMask mask) {
    s_.mig_enabled = mask;
    return *this;
  }
  Node& Topo(std::shared_ptr<const plugins::NodeTopology> t) {
    s_.topology = std::move(t);
    return *this;
  }
  Node& Label(std::string k, std::string v) {
    s_.labels.emplace_back(std::move(k), std::move(v));
    return *this;
  }
  operator plugins::NodeSpec() const { return s_; }  // NOLINT(google-explicit-constructor)

 private:
  plugins::NodeSpec s_;
};

// Fluent PodRequest builder: `Pod().Cpu(1000).Share(300)`. The name only shows in
// PodRequest::Validate messages ("pod default/p: ..."). Unset fields keep the PodRequest
// defaults; inconsistent requests can be built on purpose to test validation.
class Pod {
 public:
  explicit Pod(std::string name = "default/p") { p_.name = std::move(name); }
  Pod& Tenant(std::string ns) {
    p_.tenant = std::move(ns);
    return *this;
  }
  Pod& Cpu(int64_t milli) {
    p_.cpu_milli = milli;
    return *this;
  }
  Pod& Mem(int64_t mib) {
    p_.memory_mib = mib;
    return *this;
  }
  Pod& Gpus(int count) {
    p_.gpu_count = count;
    return *this;
  }
  // A share of one GPU, with the GPU memory it needs (0 = not limited by memory).
  Pod& Share(int milli, int64_t gpu_mem = 0) {
    p_.gpu_milli = milli;
    p_.gpu_memory_mib = gpu_mem;
    return *this;
  }
  // GPU memory alone (to build a request that is invalid without a share).
  Pod& GpuMem(int64_t mib) {
    p_.gpu_memory_mib = mib;
    return *this;
  }
  Pod& Mig(int slices, bool double_memory = false, bool media_extensions = false) {
    p_.mig = plugins::MigRequest{slices, double_memory, media_extensions};
    return *this;
  }
  Pod& Models(std::vector<std::string> m) {
    p_.allowed_models = std::move(m);
    return *this;
  }
  // The models are (also) the pod's own list (accelsched.io/gpu-models).
  Pod& ModelsFromPod() {
    p_.models_from_pod = true;
    return *this;
  }
  Pod& Nvlink(plugins::TopologyPreference t) {
    p_.nvlink = t;
    return *this;
  }
  Pod& Nic() {
    p_.require_close_nic = true;
    return *this;
  }
  Pod& Numa() {
    p_.require_same_numa = true;
    return *this;
  }
  operator plugins::PodRequest() const { return p_; }  // NOLINT(google-explicit-constructor)

 private:
  plugins::PodRequest p_;
};

// The snapshot of `nodes`, in order (node i is index i); EXPECTs that they are valid.
inline plugins::ClusterSnapshot BuildSnapshot(const std::vector<plugins::NodeSpec>& nodes) {
  plugins::ClusterSnapshotBuilder b;
  for (const plugins::NodeSpec& n : nodes) {
    b.AddNode(n);
  }
  absl::StatusOr<plugins::ClusterSnapshot> s = std::move(b).Build();
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// CPU-only nodes from (name, CPU milli) pairs, each with `memory_mib` of memory.
inline plugins::ClusterSnapshot CpuNodes(const std::vector<std::pair<std::string, int64_t>>& nodes,
                                         int64_t memory_mib = 1000) {
  std::vector<plugins::NodeSpec> specs;
  specs.reserve(nodes.size());
  for (const auto& [name, cpu] : nodes) {
    specs.push_back(Node(name).Cpu(cpu).Mem(memory_mib));
  }
  return BuildSnapshot(specs);
}

// Whole GPUs (`gpus`), or a share of `milli` (and `gpu_mem` MiB) on the one GPU in `gpus`, plus
// CPU and memory; `Assign(n, 0, 0, 0, cpu, mem)` is CPU-only.
inline plugins::Assignment Assign(plugins::NodeIndex node, plugins::GpuMask gpus, int32_t milli = 0,
                                  int64_t gpu_mem = 0, int64_t cpu = 0, int64_t mem = 0) {
  plugins::Assignment a;
  a.node = node;
  a.gpus = gpus;
  a.gpu_milli = milli;
  a.gpu_memory_mib = gpu_mem;
  a.cpu_milli = cpu;
  a.memory_mib = mem;
  return a;
}

// A MIG instance of NVIDIA profile `profile_id` at memory slot `start` on GPU `gpu`.
inline plugins::Assignment AssignMig(plugins::NodeIndex node, int gpu, int profile_id, int start) {
  plugins::Assignment a;
  a.node = node;
  a.gpus = plugins::GpuMask{1} << gpu;
  a.mig_profile_id = profile_id;
  a.mig_start = start;
  return a;
}

// A node as the score and fragmentation formulas see it (plain data, no snapshot): named "n",
// `cpu_free` CPU (also the capacity), one GPU per entry of `free` with that much free milli,
// model 0 if it has GPUs (kNoModel otherwise), MIG mode on the GPUs in `mig`. GPU memory is
// unknown and no pods are counted.
inline plugins::NodeInfo Info(int64_t cpu_free, const std::vector<int16_t>& free,
                              plugins::GpuMask mig = 0) {
  plugins::NodeInfo n;
  n.name = "n";
  n.cpu_capacity_milli = n.cpu_free_milli = cpu_free;
  n.gpu_count = static_cast<int8_t>(free.size());
  n.model = free.empty() ? plugins::kNoModel : 0;
  for (size_t i = 0; i < free.size(); ++i) {
    n.gpu_free_milli[i] = free[i];
  }
  n.mig_enabled = mig;
  return n;
}

// A task shape of the FGD workload: `gpus` GPUs of `milli` each (0, 0 for CPU-only), popularity
// `p`, restricted to `models` (empty = any).
inline plugins::TaskShape Shape(int64_t cpu, int gpus, int milli, double p,
                                std::vector<std::string> models = {}) {
  plugins::TaskShape s;
  s.cpu_milli = cpu;
  s.gpu_count = gpus;
  s.gpu_milli = milli;
  s.allowed_models = std::move(models);
  s.popularity = p;
  return s;
}

// The solver `b` describes; EXPECTs that the plugin set is valid (nullptr otherwise).
inline std::unique_ptr<plugins::Solver> MustBuild(plugins::SolverBuilder b) {
  absl::StatusOr<std::unique_ptr<plugins::Solver>> s = std::move(b).Build();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// The first-fit policy with deterministic ties: plans and placements in tests are predictable.
inline std::unique_ptr<plugins::Solver> FirstFitSolver() {
  plugins::PolicyConfig config;
  config.policy = "firstfit";
  config.random_ties = false;
  absl::StatusOr<std::unique_ptr<plugins::Solver>> s =
      plugins::BuildSolver(config, plugins::WorkloadModel{});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_BUILDERS_H_
