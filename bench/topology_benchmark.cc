// Benchmarks of topology/: device-set queries and table builds, MIG best-start queries.
// Targets (issue 2): best-set query on 8 GPUs <= 50 ns; table build <= 5 ms (8 GPUs) and
// <= 500 ms (16 GPUs); MIG best start <= 20 ns. Results: bench/RESULTS.md.
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"

#include "topology/device_set.h"
#include "topology/mig/mig.h"
#include "topology/profiles.h"

namespace accelsched::topology {
namespace {

// Pseudo-random free masks (fixed LCG, no unseeded randomness) so that lookups are not all hits
// on one cache line.
std::vector<uint32_t> FreeMasks(int gpus, int count) {
  std::vector<uint32_t> out;
  uint64_t x = 42;
  for (int i = 0; i < count; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    out.push_back(static_cast<uint32_t>(x >> 33) & ((1u << gpus) - 1));
  }
  return out;
}
void BM_BestSetQuery8Gpu(benchmark::State& state) {
  const DeviceSetSearch search = *DeviceSetSearch::Create(*BuiltinProfile("dgx1-v100"));
  const std::vector<uint32_t> masks = FreeMasks(8, 1024);
  const int k = static_cast<int>(state.range(0));
  size_t i = 0;
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(search.BestUnconstrained(masks[i++ & 1023], k));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BestSetQuery8Gpu)->Arg(1)->Arg(2)->Arg(4);
void BM_BestSetQuery8GpuWithStatus(benchmark::State& state) {
  // The full API (validation + result with indices), not just the table lookup.
  const DeviceSetSearch search = *DeviceSetSearch::Create(*BuiltinProfile("hgx-h100"));
  const std::vector<uint32_t> masks = FreeMasks(8, 1024);
  size_t i = 0;
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(search.Best({2, masks[i++ & 1023]}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BestSetQuery8GpuWithStatus);
void BM_BestSetQueryConstrained8Gpu(benchmark::State& state) {
  const DeviceSetSearch search = *DeviceSetSearch::Create(*BuiltinProfile("dgx-a100"));
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(search.Best({4, 0xFF, /*require_close_nic=*/true, false}));
  }
}
BENCHMARK(BM_BestSetQueryConstrained8Gpu);
void BM_BuildTables(benchmark::State& state) {
  const Topology t = *BuiltinProfile(state.range(0) == 16 ? "hgx2-v100" : "dgx1-v100");
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(DeviceSetSearch::Create(t));
  }
}
BENCHMARK(BM_BuildTables)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);
void BM_MigBestStart(benchmark::State& state) {
  const mig::MigGeometry& geometry = **mig::GeometryForModel("A100-80GB");
  std::vector<mig::ProfileDemand> demand;
  for (const mig::MigProfile& p : geometry.profiles()) {
    demand.push_back({p.id, 1.0});
  }
  const mig::MigSlotTable table = *mig::MigSlotTable::Create(geometry, demand);
  const std::vector<uint32_t> masks = FreeMasks(8, 1024);
  const int profiles = geometry.num_profiles();
  size_t i = 0;
  for ([[maybe_unused]] auto _ : state) {
    const uint8_t mask = static_cast<uint8_t>(masks[i & 1023]);
    benchmark::DoNotOptimize(table.BestStart(mask, static_cast<int>(i % profiles)));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MigBestStart);

}  // namespace
}  // namespace accelsched::topology
