// Gang planning at scale (issue 5 target): a 128-member x 8-GPU gang on 10,000 HGX-class nodes
// with three network levels (host; racks of 32; blocks of 8 racks), half the nodes with 4 GPUs
// in use. Target: median <= 5 ms (bench/RESULTS.md).
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/gang/planner.h"
#include "plugins/policy.h"
#include "scheduler/gang/gang_coordinator.h"
#include "scheduler/state/ledger.h"

namespace accelsched::plugins {
namespace {
const std::vector<std::string> kLevels = {"kubernetes.io/hostname", "topology.accelsched.io/rack",
                                          "topology.accelsched.io/block"};

struct GangFixture {
  std::unique_ptr<Solver> solver;
  std::unique_ptr<ClusterState> cluster;
};

GangFixture MakeGangCluster(int nodes) {
  GangFixture f;
  PolicyConfig config;
  config.policy = "firstfit";
  config.random_ties = false;
  f.solver = *BuildSolver(config, WorkloadModel{});
  ClusterSnapshotBuilder b;
  for (int i = 0; i < nodes; ++i) {
    NodeSpec n;
    n.name = absl::StrCat("node-", i);
    n.cpu_milli = 192000;
    n.memory_mib = 2 << 20;
    n.gpu_model = "H100";
    n.gpu_count = 8;
    n.gpu_memory_mib = 81920;
    n.labels = {{kLevels[0], n.name},
                {kLevels[1], absl::StrCat("rack-", i / 32)},
                {kLevels[2], absl::StrCat("block-", i / 256)}};
    b.AddNode(std::move(n));
  }
  f.cluster = std::make_unique<ClusterState>(*std::move(b).Build());
  std::mt19937_64 rng(1);
  for (NodeIndex i = 0; i < nodes; ++i) {
    if (rng() % 2 == 0) {
      continue;
    }
    Assignment a;
    a.node = i;
    a.gpus = 0x0f;
    a.cpu_milli = 32000;
    (void)f.cluster->Apply(a);
  }
  return f;
}
void BM_PlanGang128x8On10000Nodes(benchmark::State& state) {
  static GangFixture f = MakeGangCluster(10000);
  GangSpec g;
  g.name = "train";
  for (int i = 0; i < 128; ++i) {
    PodRequest p;
    p.name = absl::StrCat("ml/worker-", i);
    p.cpu_milli = 96000;
    p.memory_mib = 1 << 20;
    p.gpu_count = 8;
    g.members.push_back(p);
  }
  const NetworkDomains domains = NetworkDomains::Build(f.cluster->view(), kLevels);
  int level = -1;
  for ([[maybe_unused]] auto _ : state) {
    absl::StatusOr<GangPlanOutcome> out = PlanGang(*f.solver, f.cluster->view(), domains, g);
    if (!out.ok() || !out->plan.has_value()) {
      state.SkipWithError("no plan");
      break;
    }
    level = out->plan->level;
  }
  state.counters["level"] = level;
}

// Building the domains, once per cluster layout (not per gang).
void BM_NetworkDomainsBuild10000Nodes(benchmark::State& state) {
  static GangFixture f = MakeGangCluster(10000);
  for ([[maybe_unused]] auto _ : state) {
    NetworkDomains d = NetworkDomains::Build(f.cluster->view(), kLevels);
    benchmark::DoNotOptimize(d.at(0).size());
  }
}

// The whole first-member filter of that gang as the extender runs it (GangCoordinator::Admit):
// reconcile, plan on the ledger's snapshot (four default levels: host, clique, rack, block),
// hold the 128 slots in the ledger and claim them. Undone between iterations (not timed).
void BM_GangFirstMemberAdmit128x8On10000Nodes(benchmark::State& state) {
  static GangFixture f = MakeGangCluster(10000);
  std::vector<NodeSpec> specs;
  for (NodeIndex i = 0; i < f.cluster->view().num_nodes(); ++i) {
    const NodeInfo& n = f.cluster->view().node(i);
    NodeSpec spec;
    spec.name = n.name;
    spec.cpu_milli = n.cpu_capacity_milli;
    spec.memory_mib = n.memory_capacity_mib;
    spec.gpu_model = "H100";
    spec.gpu_count = int{n.gpu_count};  // Widens the int8_t count.
    spec.gpu_memory_mib = 81920;
    spec.labels = *n.labels;
    specs.push_back(std::move(spec));
  }
  std::unique_ptr<scheduler::Ledger> ledger = *scheduler::Ledger::Create(specs);
  for (NodeIndex i = 0; i < f.cluster->view().num_nodes(); ++i) {
    const NodeInfo& n = f.cluster->view().node(i);
    if (n.WholeFreeGpus() == 0xff) {
      continue;
    }
    PodRequest busy;
    busy.cpu_milli = 32000;
    busy.gpu_count = 4;
    auto take = [](const ClusterSnapshot&, NodeIndex node) -> absl::StatusOr<Assignment> {
      Assignment a;
      a.node = node;
      a.gpus = 0x0f;
      a.cpu_milli = 32000;
      return a;
    };
    (void)ledger->Place(absl::StrCat("busy-", i), absl::StrCat("x/busy-", i), busy, n.name, take);
  }
  scheduler::GangCoordinator gangs(f.solver.get(), ledger.get(), scheduler::GangOptions{});
  std::vector<scheduler::codec::PodObject> members;
  for (int i = 0; i < 128; ++i) {
    scheduler::codec::PodObject p;
    p.name = absl::StrCat("worker-", i);
    p.namespace_name = "ml";
    p.uid = absl::StrCat("uid-", i);
    p.request.name = "ml/" + p.name;
    p.request.tenant = "ml";
    p.request.cpu_milli = 96000;
    p.request.memory_mib = 1 << 20;
    p.request.gpu_count = 8;
    p.gang = scheduler::codec::GangMembership{"ml/train", 128, "", false, false};
    gangs.Observe(p);
    members.push_back(std::move(p));
  }
  for ([[maybe_unused]] auto _ : state) {
    absl::StatusOr<scheduler::GangCoordinator::Admission> a = gangs.Admit(members[0]);
    if (!a.ok() || a->kind != scheduler::GangCoordinator::Admission::Kind::kNode) {
      state.SkipWithError("no reservation");
      break;
    }
    state.PauseTiming();
    gangs.Forget(members[0]);  // Drops the reservation.
    gangs.Observe(members[0]);
    state.ResumeTiming();
  }
}

BENCHMARK(BM_PlanGang128x8On10000Nodes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GangFirstMemberAdmit128x8On10000Nodes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NetworkDomainsBuild10000Nodes)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace accelsched::plugins
