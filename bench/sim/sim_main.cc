// accelsched-sim: offline placement simulator (DESIGN section 9).
//
//   accelsched-sim trace --nodes FILE --pods FILE[,FILE...] --policy P[,P...] --seeds 42-51
//                        [--summary-csv OUT] [--curves-csv OUT] [--svg OUT] [--expected FILE]
//                        [--jobs N] [--tune 1.3] [--ties ordered|name|random]
//   accelsched-sim scenario --file FILE --policy P[,P...] [--seeds S] [--json]
//
// Exit codes: 0 success, 1 bad usage or input, 2 internal error.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "bench/sim/cli.h"
#include "bench/sim/report.h"
#include "bench/sim/scenario.h"
#include "bench/sim/trace.h"
#include "bench/sim/trace_sim.h"
#include "plugins/policy.h"
#include "scheduler/cmd/cli_flags.h"
#include "topology/status_macros.h"

namespace accelsched::sim {
namespace {

constexpr char kTraceHelp[] =
    R"(usage: accelsched-sim trace --nodes FILE --pods FILE[,FILE...] --policy P[,P...]
                      [--seeds 42-51] [options]

Replays Alibaba GPU trace v2023 pod lists with the FGD paper's protocol: shuffle with the seed,
tune to 130% of GPU capacity by cloning random pods, no departures, no retries; records GPU
allocation and fragmentation after every pod, bucketed by arrived demand 0..130%.

  --nodes FILE          node list CSV (e.g. openb_node_list_gpu_node.csv)
  --pods FILES          comma-separated pod list CSVs (11-column or 5-column multigpu files)
  --policy NAMES        comma-separated: random firstfit bestfit dotprod gpupacking
                        gpuclustering fgd accelsched, or "paper" (the six paper policies)
  --seeds SPEC          a seed, a range A-B, or a comma list (default 42-51)
  --tune R              target arrived demand / capacity (default 1.3)
  --jobs N              worker threads (default: the number of cores)
  --expected FILE       the authors' analysis_allo_discrete.csv, for the delta columns
  --summary-csv OUT     one row per (trace, policy, seed):
                        trace,policy,seed,alloc_100,alloc_130,frag_80,wall_seconds
  --curves-csv OUT      one row per (trace, policy, seed, arrived %)
  --svg OUT             plot of allocation vs arrived demand, mean over seeds
  --detail-csv OUT      failed pods and the final state of every node, per run:
                        trace,policy,seed,failed,pod,arrived_pct,cpu_milli,memory_mib,num_gpu,gpu_milli
                        trace,policy,seed,node,name,model,cpu_free,memory_free,pods,gpu_free(;-list)
  --ties MODE           how equal scores are broken (default ordered):
                          ordered  first node in a seeded random node order, as the FGD
                                   artifact (its nodes are renamed from a random permutation
                                   and its scheduler takes the first best node)
                          name     first node in node-name order
                          random   a uniformly random best node per pod (stock kube-scheduler)
  --help                this text
)";

constexpr char kMainHelp[] =
    R"(usage: accelsched-sim <command> [flags]

commands:
  trace      replay the Alibaba GPU trace (the FGD paper's protocol)
  scenario   event-driven run of a scenario file (topology-aware nodes, arrivals and
             departures, MIG and multi-GPU requests)

Run `accelsched-sim <command> --help` for the flags.
)";

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write"));
  }
  out << contents;
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat(path, ": write failed"));
}

std::string TraceName(const std::string& path) {
  absl::string_view base = path;
  if (size_t slash = base.rfind('/'); slash != absl::string_view::npos) {
    base = base.substr(slash + 1);
  }
  absl::ConsumeSuffix(&base, ".csv");
  return std::string{base};
}

int Fail(const absl::Status& s) {
  std::cerr << "accelsched-sim: " << s.message() << "\n";
  return s.code() == absl::StatusCode::kInternal ? 2 : 1;
}

// The checked flags of `accelsched-sim trace` (paths stay in the CliFlags).
struct TraceCommand {
  std::vector<uint64_t> seeds;
  double tune = 1.3;
  int jobs = 1;
  std::string ties;                   // ordered, name or random.
  std::vector<std::string> policies;  // "paper" expanded, each a known policy.
};

// "--policy" values: names, "paper" standing for the six paper policies; each must be known.
absl::StatusOr<std::vector<std::string>> ParsePolicies(const std::string& list) {
  std::vector<std::string> policies;
  for (absl::string_view p : absl::StrSplit(list, ',')) {
    if (p == "paper") {
      for (const char* q : {"random", "dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd"}) {
        policies.emplace_back(q);
      }
    } else {
      policies.emplace_back(p);
    }
  }
  for (const std::string& p : policies) {
    plugins::PolicyConfig config;
    config.policy = p;
    if (absl::Status s = plugins::ValidatePolicyConfig(config); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--policy: ", s.message()));
    }
  }
  return policies;
}

absl::StatusOr<TraceCommand> ParseTraceCommand(const scheduler::CliFlags& flags) {
  for (const char* required : {"--nodes", "--pods", "--policy"}) {
    if (flags.Find(required) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(required, " is required (see --help)"));
    }
  }
  TraceCommand c;
  ACCELSCHED_ASSIGN_OR_RETURN(c.seeds, ParseSeeds(flags.Get("--seeds", "42-51")));
  if (const std::string* t = flags.Find("--tune");
      t != nullptr && (!absl::SimpleAtod(*t, &c.tune) || c.tune <= 0 || c.tune > 10)) {
    return absl::InvalidArgumentError("--tune: must be a number in (0, 10]");
  }
  c.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const std::string* j = flags.Find("--jobs");
      j != nullptr && (!absl::SimpleAtoi(*j, &c.jobs) || c.jobs < 1 || c.jobs > 256)) {
    return absl::InvalidArgumentError("--jobs: must be an integer in 1..256");
  }
  c.ties = flags.Get("--ties", "ordered");
  if (c.ties != "ordered" && c.ties != "name" && c.ties != "random") {
    return absl::InvalidArgumentError(
        absl::StrCat("--ties: '", c.ties, "' is not one of ordered, name, random"));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(c.policies, ParsePolicies(*flags.Find("--policy")));
  return c;
}

// One pod list: the pods, the workload model, one solver per policy.
struct Trace {
  std::string name;
  std::vector<TracePod> pods;
  std::vector<plugins::TaskShape> shapes;
  std::vector<std::unique_ptr<plugins::Solver>> solvers;  // By policy.
};

absl::StatusOr<Trace> LoadTrace(const std::string& path, const TraceCommand& command) {
  Trace t;
  t.name = TraceName(path);
  ACCELSCHED_ASSIGN_OR_RETURN(t.pods, LoadTracePods(path));
  std::vector<plugins::PodRequest> requests;
  for (const TracePod& p : t.pods) {
    requests.push_back(ToPodRequest(p));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(t.shapes, plugins::TypicalShapes(requests));
  for (const std::string& p : command.policies) {
    plugins::PolicyConfig config;
    config.policy = p;
    config.random_ties = command.ties == "random";
    ACCELSCHED_ASSIGN_OR_RETURN(std::unique_ptr<plugins::Solver> solver,
                                plugins::BuildSolver(config, plugins::WorkloadModel{t.shapes, {}}));
    t.solvers.push_back(std::move(solver));
  }
  return t;
}

// A progress bar on stderr: `finished` of `total` runs.
void ShowProgress(size_t finished, size_t total) {
  const int width = 40;
  const int filled = static_cast<int>(finished * width / total);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu runs", std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), finished, total);
  if (finished == total) {
    std::fprintf(stderr, "\n");
  }
}

// Every (trace, policy, seed) run on `jobs` threads; the records keep that order whatever
// finishes first. The first failed run's status (naming the run) if any failed.
absl::StatusOr<std::vector<RunRecord>> RunTraceJobs(const std::vector<Trace>& traces,
                                                    const std::vector<TraceNode>& nodes,
                                                    const TraceCommand& command,
                                                    bool record_detail) {
  struct Job {
    size_t trace, policy;
    uint64_t seed;
  };
  std::vector<Job> work;
  for (size_t t = 0; t < traces.size(); ++t) {
    for (size_t p = 0; p < command.policies.size(); ++p) {
      for (uint64_t s : command.seeds) {
        work.push_back({t, p, s});
      }
    }
  }
  std::vector<RunRecord> records(work.size());
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex error_mu;
  absl::Status first_error;
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto worker = [&] {
    for (size_t i = next++; i < work.size(); i = next++) {
      const Job& job = work[i];
      const Trace& t = traces[job.trace];
      TraceRunOptions options;
      options.tune_ratio = command.tune;
      options.seed = job.seed;
      options.node_order = command.ties == "name" ? NodeOrder::kByName : NodeOrder::kShuffled;
      options.record_detail = record_detail;
      absl::StatusOr<TraceRunResult> r =
          RunTrace(*t.solvers[job.policy], nodes, t.pods, t.shapes, options);
      if (!r.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (first_error.ok()) {
          first_error = absl::Status(
              r.status().code(), absl::StrCat(t.name, " / ", command.policies[job.policy],
                                              " / seed ", job.seed, ": ", r.status().message()));
        }
        continue;
      }
      records[i] = RunRecord{t.name, command.policies[job.policy], job.seed, std::move(*r)};
      const size_t finished = ++done;
      if (tty) {
        std::lock_guard<std::mutex> lock(error_mu);
        ShowProgress(finished, work.size());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::min<int>(command.jobs, static_cast<int>(work.size())); ++j) {
    threads.emplace_back(worker);
  }
  for (std::thread& th : threads) {
    th.join();
  }
  if (!first_error.ok()) {
    return first_error;
  }
  return records;
}

// The --detail-csv rows of every run, prefixed with trace,policy,seed.
std::string DetailCsv(const std::vector<RunRecord>& records) {
  std::string csv;
  for (const RunRecord& r : records) {
    for (const std::string& line : r.result.detail) {
      absl::StrAppend(&csv, r.trace, ",", r.policy, ",", r.seed, ",", line, "\n");
    }
  }
  return csv;
}

// The files the flags ask for, in the order --summary-csv, --curves-csv, --detail-csv, --svg.
absl::Status WriteTraceFiles(const scheduler::CliFlags& flags,
                             const std::vector<RunRecord>& records) {
  if (const std::string* out = flags.Find("--summary-csv"); out != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(WriteFile(*out, SummaryCsv(records)));
  }
  if (const std::string* out = flags.Find("--curves-csv"); out != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(WriteFile(*out, CurvesCsv(records)));
  }
  if (const std::string* out = flags.Find("--detail-csv"); out != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(WriteFile(*out, DetailCsv(records)));
  }
  if (const std::string* out = flags.Find("--svg"); out != nullptr) {
    ACCELSCHED_RETURN_IF_ERROR(WriteFile(*out, SvgPlot(records)));
  }
  return absl::OkStatus();
}

int RunTraceCommand(int argc, char** argv) {
  absl::StatusOr<scheduler::CliFlags> flags = scheduler::ParseCliFlags(
      argc, argv, 2,
      {"--nodes", "--pods", "--policy", "--seeds", "--tune", "--jobs", "--expected",
       "--summary-csv", "--curves-csv", "--svg", "--ties", "--detail-csv"});
  if (!flags.ok()) {
    return Fail(flags.status());
  }
  if (flags->help) {
    std::cout << kTraceHelp;
    return 0;
  }
  absl::StatusOr<TraceCommand> command = ParseTraceCommand(*flags);
  if (!command.ok()) {
    return Fail(command.status());
  }
  absl::StatusOr<std::vector<TraceNode>> nodes = LoadTraceNodes(*flags->Find("--nodes"));
  if (!nodes.ok()) {
    return Fail(nodes.status());
  }
  std::vector<Trace> traces;
  for (absl::string_view path : absl::StrSplit(*flags->Find("--pods"), ',')) {
    absl::StatusOr<Trace> trace = LoadTrace(std::string{path}, *command);
    if (!trace.ok()) {
      return Fail(trace.status());
    }
    traces.push_back(std::move(*trace));
  }
  std::optional<ExpectedCurves> expected;
  if (const std::string* e = flags->Find("--expected"); e != nullptr) {
    absl::StatusOr<ExpectedCurves> loaded = LoadExpectedCurves(*e);
    if (!loaded.ok()) {
      return Fail(loaded.status());
    }
    expected = std::move(*loaded);
  }
  absl::StatusOr<std::vector<RunRecord>> records =
      RunTraceJobs(traces, *nodes, *command, flags->Find("--detail-csv") != nullptr);
  if (!records.ok()) {
    return Fail(records.status());
  }
  std::cout << FormatTable(Summarize(*records, expected ? &*expected : nullptr));
  if (absl::Status s = WriteTraceFiles(*flags, *records); !s.ok()) {
    return Fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace accelsched::sim

int main(int argc, char** argv) {
  using accelsched::sim::kMainHelp;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kMainHelp;
    return argc < 2 ? 1 : 0;
  }
  const std::string command = argv[1];
  if (command == "trace") {
    return accelsched::sim::RunTraceCommand(argc, argv);
  }
  if (command == "scenario") {
    return accelsched::sim::RunScenarioCommand(argc, argv);
  }
  std::cerr << "accelsched-sim: unknown command '" << command << "'\n" << kMainHelp;
  return 1;
}
