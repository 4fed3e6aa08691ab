// Benchmarks of the placement solver: one pod's PreFilter + Filter + Score over 5,000 nodes with
// the default accelsched policy, for each request kind (issue 3 target: <= 500 us each,
// single-threaded). Results: bench/RESULTS.md.
//
// The cluster: 2,000 HGX H100 nodes (topology profile hgx-h100), 1,500 DGX A100-80GB nodes with
// GPUs 0-3 in MIG mode, 1,500 PCIe L40S nodes; then ~50% of the GPUs filled by a seeded mix of
// whole GPUs, shares and MIG instances, so that filters and scores see realistic, varied nodes.
#include <memory>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/solver.h"
#include "plugins/policy.h"
#include "topology/profiles.h"

namespace accelsched::plugins {
namespace {

struct Fixture {
  std::unique_ptr<ClusterState> state;
  std::unique_ptr<Solver> solver;
  std::vector<NodeIndex> all;
};

PodRequest WholeGpus(int k) {
  PodRequest p;
  p.name = "bench/whole";
  p.cpu_milli = int64_t{8000} * k;
  p.memory_mib = int64_t{32768} * k;
  p.gpu_count = k;
  return p;
}

PodRequest Share(int milli) {
  PodRequest p;
  p.name = "bench/share";
  p.cpu_milli = 4000;
  p.memory_mib = 16384;
  p.gpu_milli = milli;
  return p;
}

PodRequest Mig(int slices) {
  PodRequest p;
  p.name = "bench/mig";
  p.cpu_milli = 4000;
  p.memory_mib = 16384;
  p.mig = MigRequest{slices};
  return p;
}

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto f = std::make_unique<Fixture>();
    auto h100 = *NodeTopology::Create(*topology::BuiltinProfile("hgx-h100"));
    auto a100 = *NodeTopology::Create(*topology::BuiltinProfile("dgx-a100"));
    auto l40s = *NodeTopology::Create(*topology::BuiltinProfile("pcie-8x-l40s"));
    ClusterSnapshotBuilder b;
    for (int i = 0; i < 5000; ++i) {
      NodeSpec s;
      s.name = "node-" + std::to_string(i);
      s.cpu_milli = 224000;
      s.memory_mib = 2 << 20;
      s.gpu_count = 8;
      if (i < 2000) {
        s.gpu_model = "H100-80GB";
        s.gpu_memory_mib = 81559;
        s.topology = h100;
      } else if (i < 3500) {
        s.gpu_model = "A100-80GB";
        s.gpu_memory_mib = 81920;
        s.mig_enabled = 0x0F;
        s.topology = a100;
      } else {
        s.gpu_model = "L40S";
        s.gpu_memory_mib = 46068;
        s.topology = l40s;
      }
      b.AddNode(std::move(s));
    }
    f->state = std::make_unique<ClusterState>(*std::move(b).Build());
    WorkloadModel workload;
    std::vector<PodRequest> mix = {WholeGpus(1), WholeGpus(2), WholeGpus(4), WholeGpus(8),
                                   Share(250),   Share(500),   Share(810),   Mig(1),
                                   Mig(2),       Mig(3),       PodRequest{}};
    workload.shapes = *TypicalShapes(mix, 1.0);
    PolicyConfig config;
    f->solver = *BuildSolver(config, workload);
    // Fill about half the GPUs.
    std::mt19937_64 rng(7);
    const int64_t target = f->state->view().gpu_capacity_milli() / 2;
    while (f->state->view().gpu_used_milli() < target) {
      const PodRequest& pod = mix[rng() % (mix.size() - 1)];
      const NodeIndex n = static_cast<NodeIndex>(rng() % 5000);
      CycleState cs = *f->solver->PreFilter(pod, f->state->view(), /*explain=*/false);
      auto a = f->solver->Reserve(cs, pod, f->state->view(), n);
      if (a.ok() && a->has_value()) {
        (void)f->state->Apply(**a);
      }
    }
    f->all.resize(5000);
    for (int i = 0; i < 5000; ++i) {
      f->all[static_cast<size_t>(i)] = i;
    }
    return f.release();
  }();
  return *fixture;
}

void RunFilterScore(benchmark::State& state, const PodRequest& pod) {
  const Fixture& f = GetFixture();
  const ClusterSnapshot& view = f.state->view();
  int64_t feasible = 0;
  for ([[maybe_unused]] auto _ : state) {
    CycleState cs = *f.solver->PreFilter(pod, view, /*explain=*/false);
    CandidateVerdicts filtered = *f.solver->Filter(cs, pod, view, f.all);
    std::vector<int64_t> totals = *f.solver->Score(cs, pod, view, filtered.feasible);
    benchmark::DoNotOptimize(totals.data());
    feasible = static_cast<int64_t>(filtered.feasible.size());
  }
  state.counters["feasible_nodes"] = static_cast<double>(feasible);
  state.SetItemsProcessed(state.iterations() * 5000);
}
void BM_SolverFilterScore5000_WholeGpu4(benchmark::State& state) {
  RunFilterScore(state, WholeGpus(4));
}
void BM_SolverFilterScore5000_Share500(benchmark::State& state) {
  RunFilterScore(state, Share(500));
}
void BM_SolverFilterScore5000_Mig3g(benchmark::State& state) { RunFilterScore(state, Mig(3)); }

BENCHMARK(BM_SolverFilterScore5000_WholeGpu4)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SolverFilterScore5000_Share500)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SolverFilterScore5000_Mig3g)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace accelsched::plugins
