// Results of trace runs: the authors' expected numbers, the summary table, CSV files and the SVG
// plot that accelsched-sim writes.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_BENCH_SIM_REPORT_H_
#define ACCELSCHED_BENCH_SIM_REPORT_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "bench/sim/trace_sim.h"

namespace accelsched::sim {

// One finished run.
struct RunRecord {
  std::string trace;   // Pod-list basename without ".csv", e.g. "openb_pod_list_default".
  std::string policy;  // Our name, e.g. "fgd".
  uint64_t seed = 0;
  TraceRunResult result;
};

// The artifact's name of one of our policies ("fgd" -> "06-FGD"); nullopt if it has none.
std::optional<std::string> ArtifactPolicyName(absl::string_view policy);

// The authors' per-seed GPU allocation curves from analysis_allo_discrete.csv:
// (workload, artifact policy) -> per seed the 131 bucket values.
using ExpectedCurves =
    std::map<std::pair<std::string, std::string>, std::vector<std::array<double, kBuckets>>>;
absl::StatusOr<ExpectedCurves> LoadExpectedCurves(const std::string& path);

struct SummaryRow {
  std::string trace;
  std::string policy;
  int seeds = 0;
  double alloc100_mean = 0, alloc100_std = 0;
  double alloc130_mean = 0, alloc130_std = 0;
  double frag80_mean = 0;
  double wall_mean = 0;
  std::optional<double> authors100, authors130;  // The authors' 10-seed means.
};
// Groups records by (trace, policy), in first-appearance order.
std::vector<SummaryRow> Summarize(const std::vector<RunRecord>& records,
                                  const ExpectedCurves* expected);

// The human table (fixed-width text).
std::string FormatTable(const std::vector<SummaryRow>& rows);
// trace,policy,seed,alloc_100,alloc_130,frag_80,wall_seconds
std::string SummaryCsv(const std::vector<RunRecord>& records);
// trace,policy,seed,arrived_pct,alloc_pct,frag_pct,frag_rate_pct (one row per bucket).
std::string CurvesCsv(const std::vector<RunRecord>& records);
// Allocation vs arrived demand, mean over seeds, one panel per trace, one line per policy.
std::string SvgPlot(const std::vector<RunRecord>& records);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_REPORT_H_
