// Server-side cost of the extender verbs without HTTP: decode the request text, run the verb,
// encode the answer (what the handlers of scheduler/server.cc do between reading the body and
// writing the response). Targets in bench/RESULTS.md (issue 4).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"

#include "bench/load/k8s_objects.h"
#include "scheduler/cmd/app.h"
#include "scheduler/codec/extender.h"
#include "scheduler/codec/json.h"
#include "scheduler/http/server.h"

namespace accelsched::scheduler {
namespace {

using load::Json;

// `n` HGX H100 nodes; the first half have 4 GPUs in use.
struct Fixture {
  Metrics metrics;
  InMemoryBinder binder;
  StaticCluster cluster;
  std::vector<std::string> names;
};

std::unique_ptr<Fixture> MakeCluster(int n) {
  TuneMallocForLargeBodies();  // As accelsched-extender does.
  auto f = std::make_unique<Fixture>();
  Json items = Json::array();
  for (int i = 0; i < n; ++i) {
    const std::string name = absl::StrFormat("node-%05d", i);
    f->names.push_back(name);
    items.push_back(load::FullNode(name));
    if (i >= n / 2) {
      continue;
    }
    items.push_back(
        {{"kind", "Pod"},
         {"metadata",
          {{"name", "busy-" + name},
           {"namespace", "load"},
           {"uid", "uid-" + name},
           {"annotations", {{"accelsched.io/gpu-ids", "0,1,2,3"}}}}},
         {"spec",
          {{"nodeName", name},
           {"containers",
            Json::array({{{"name", "c"},
                          {"resources", {{"limits", {{"cpu", "8"}, {"nvidia.com/gpu", 4}}}}}}})}}},
         {"status", {{"phase", "Running"}}}});
  }
  Json list = {{"kind", "List"}, {"items", items}};
  f->cluster = *LoadStaticCluster(list.dump(), "bench", ExtenderConfig{}, &f->binder, &f->metrics);
  return f;
}

Json Pod8() {
  return {
      {"metadata", {{"name", "probe"}, {"namespace", "ml"}, {"uid", "uid-probe"}}},
      {"spec",
       {{"containers",
         Json::array({{{"name", "c"},
                       {"resources", {{"limits", {{"cpu", "8"}, {"nvidia.com/gpu", 8}}}}}}})}}}};
}

// One kube-scheduler cycle as the server handles it: decode, verb, encode; filter, then prioritize.
void FilterThenPrioritize(Fixture& f, const std::string& filter_body,
                          const std::string& prioritize_body) {
  auto args = codec::DecodeExtenderArgs(absl::string_view(filter_body));
  auto result = f.cluster.extender->Filter(*args);
  std::string out = codec::EncodeFilterResultText(*args, *result);
  benchmark::DoNotOptimize(out.data());
  auto pargs = codec::DecodeExtenderArgs(absl::string_view(prioritize_body));
  auto scores = f.cluster.extender->Prioritize(*pargs);
  std::string pout = codec::EncodeHostPriorityListText(pargs->node_names, *scores);
  benchmark::DoNotOptimize(pout.data());
}

// Cycles of the 8-GPU probe over all names of `f` (5,000): kube-scheduler sends prioritize the
// survivors, the empty half.
void RunCycles(benchmark::State& state, Fixture& f) {
  const std::string filter_body = Json{{"Pod", Pod8()}, {"NodeNames", f.names}}.dump();
  std::vector<std::string> survivors(f.names.begin() + 2500, f.names.end());
  const std::string prioritize_body = Json{{"Pod", Pod8()}, {"NodeNames", survivors}}.dump();
  for ([[maybe_unused]] auto _ : state) {
    FilterThenPrioritize(f, filter_body, prioritize_body);
  }
  state.SetItemsProcessed(state.iterations() * 5000);
}
void BM_ExtenderFilterPrioritize5000Names(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(5000);
  RunCycles(state, *f);
}

// As above, with tenancy on (issue 5). Arg 0: the busy pods' namespace is exclusive-gpu, which
// cannot concern the 8-GPU probe (the fast path). Arg 1: it is exclusive-node, so the survivors
// are checked; they are the empty nodes, which their pod count clears without asking the
// ledger.
void BM_ExtenderFilterPrioritize5000NamesWithTenancy(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(5000);
  f->cluster.extender->SetIsolation("load", state.range(0) == 1
                                                ? plugins::Isolation::kExclusiveNode
                                                : plugins::Isolation::kExclusiveGpu);
  state.SetLabel(state.range(0) == 1 ? "exclusive-node: survivors checked"
                                     : "exclusive-gpu: fast path");
  RunCycles(state, *f);
}

// As above, with the cluster changing between cycles as a live one does: after each cycle a
// 1-GPU pod is bound to one of the busy nodes (not timed), so SolverMemo must recompute that
// node. Every 4 cycles the pods are released again, so the cluster does not fill up.
void BM_ExtenderFilterPrioritize5000NamesWithChurn(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(5000);
  const std::string filter_body = Json{{"Pod", Pod8()}, {"NodeNames", f->names}}.dump();
  std::vector<std::string> survivors(f->names.begin() + 2500, f->names.end());
  const std::string prioritize_body = Json{{"Pod", Pod8()}, {"NodeNames", survivors}}.dump();
  int64_t cycle = 0;
  std::vector<std::string> bound;
  for ([[maybe_unused]] auto _ : state) {
    FilterThenPrioritize(*f, filter_body, prioritize_body);

    state.PauseTiming();
    const std::string node = f->names[static_cast<size_t>((cycle * 7919) % 2500)];  // Busy.
    const std::string uid = absl::StrFormat("churn-%d", cycle++);
    codec::ExtenderArgs churn;
    churn.pod = *codec::DecodePod(
        {{"metadata", {{"name", uid}, {"namespace", "ml"}, {"uid", uid}}},
         {"spec",
          {{"containers",
            Json::array({{{"name", "c"},
                          {"resources", {{"limits", {{"cpu", "1"}, {"nvidia.com/gpu", 1}}}}}}})}}}},
        "Pod");
    churn.node_names = {node};
    (void)f->cluster.extender->Filter(churn);
    if (!f->cluster.extender->Bind(codec::BindingArgs{uid, "ml", uid, node}).ok()) {
      state.SkipWithError("churn bind failed");
      break;
    }
    bound.push_back(uid);
    if (bound.size() == 4) {
      for (const std::string& b : bound) {
        (void)f->cluster.ledger->Release(b);
      }
      bound.clear();
    }
    state.ResumeTiming();
  }
  for (const std::string& b : bound) {
    (void)f->cluster.ledger->Release(b);
  }
  state.SetItemsProcessed(state.iterations() * 5000);
}

// The parts of the benchmark above, for where the time goes: decoding the filter request (a
// list seen before: the codec's list cache answers; or each time another list, more than the
// cache keeps), and encoding its answer (2,500 survivors, 2,500 failed with one shared reason).
void BM_ExtenderDecodeFilter5000Names(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(5000);
  const bool repeated = state.range(0) == 1;
  std::vector<std::string> bodies;
  for (int k = 0; k < (repeated ? 1 : 9); ++k) {
    std::vector<std::string> names = f->names;
    std::rotate(names.begin(), names.begin() + k, names.end());
    bodies.push_back(Json{{"Pod", Pod8()}, {"NodeNames", names}}.dump());
  }
  size_t next = 0;
  for ([[maybe_unused]] auto _ : state) {
    auto args = codec::DecodeExtenderArgs(absl::string_view(bodies[next++ % bodies.size()]));
    benchmark::DoNotOptimize(args->node_names.names().data());
  }
  state.SetLabel(repeated ? "same list each time" : "another list each time");
}
void BM_ExtenderEncodeFilter5000Names(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(5000);
  const std::string filter_body = Json{{"Pod", Pod8()}, {"NodeNames", f->names}}.dump();
  auto args = codec::DecodeExtenderArgs(absl::string_view(filter_body));
  auto result = f->cluster.extender->Filter(*args);
  for ([[maybe_unused]] auto _ : state) {
    std::string out = codec::EncodeFilterResultText(*args, *result);
    benchmark::DoNotOptimize(out.data());
  }
}
void BM_ExtenderFilter500FullNodes(benchmark::State& state) {
  static std::unique_ptr<Fixture> f = MakeCluster(500);
  Json items = Json::array();
  for (const std::string& n : f->names) {
    items.push_back(load::FullNode(n));
  }
  const std::string body =
      Json{{"Pod", Pod8()}, {"Nodes", {{"kind", "NodeList"}, {"items", items}}}}.dump();
  for ([[maybe_unused]] auto _ : state) {
    auto args = codec::DecodeExtenderArgs(absl::string_view(body));
    auto result = f->cluster.extender->Filter(*args);
    std::string out = codec::EncodeFilterResultText(*args, *result);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

BENCHMARK(BM_ExtenderFilterPrioritize5000Names)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExtenderFilterPrioritize5000NamesWithTenancy)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExtenderFilterPrioritize5000NamesWithChurn)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExtenderDecodeFilter5000Names)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExtenderEncodeFilter5000Names)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExtenderFilter500FullNodes)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace accelsched::scheduler
