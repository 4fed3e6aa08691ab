#include "bench/sim/report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace accelsched::sim {
namespace {

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) {
    s += x;
  }
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1), as pandas' std, which the authors' summary uses.
double Std(const std::vector<double>& v) {
  if (v.size() < 2) {
    return 0;
  }
  const double m = Mean(v);
  double s = 0;
  for (double x : v) {
    s += (x - m) * (x - m);
  }
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::string Fixed(double v, int digits = 2) {
  if (std::isnan(v)) {
    return "nan";
  }
  return absl::StrFormat("%.*f", digits, v);
}

}  // namespace

std::optional<std::string> ArtifactPolicyName(absl::string_view policy) {
  if (policy == "random") {
    return "01-Random";
  }
  if (policy == "dotprod") {
    return "02-DotProd";
  }
  if (policy == "gpuclustering") {
    return "03-GpuClustering";
  }
  if (policy == "gpupacking") {
    return "04-GpuPacking";
  }
  if (policy == "bestfit") {
    return "05-BestFit";
  }
  if (policy == "fgd") {
    return "06-FGD";
  }
  return std::nullopt;
}

absl::StatusOr<ExpectedCurves> LoadExpectedCurves(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  }
  ExpectedCurves out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    absl::string_view l = absl::StripSuffix(line, "\r");
    if (number == 1) {
      if (!absl::StartsWith(l, "workload,sc_policy,tune,seed,total_gpus,0,")) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":1: not an analysis_allo_discrete.csv header"));
      }
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(l, ',');
    if (f.size() != 5 + kBuckets) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": expected ", 5 + kBuckets,
                                                     " columns, found ", f.size()));
    }
    std::array<double, kBuckets> curve{};
    for (int k = 0; k < kBuckets; ++k) {
      if (!absl::SimpleAtod(f[5 + static_cast<size_t>(k)], &curve[static_cast<size_t>(k)])) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", number, ": column ", k, " is not a number"));
      }
    }
    out[{std::string{f[0]}, std::string{f[1]}}].push_back(curve);
  }
  return out;
}

std::vector<SummaryRow> Summarize(const std::vector<RunRecord>& records,
                                  const ExpectedCurves* expected) {
  std::vector<SummaryRow> rows;
  std::vector<std::vector<const RunRecord*>> groups;
  for (const RunRecord& r : records) {
    size_t i = 0;
    while (i < rows.size() && !(rows[i].trace == r.trace && rows[i].policy == r.policy)) {
      ++i;
    }
    if (i == rows.size()) {
      SummaryRow row;
      row.trace = r.trace;
      row.policy = r.policy;
      rows.push_back(std::move(row));
      groups.emplace_back();
    }
    groups[i].push_back(&r);
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<double> a100, a130, f80, wall;
    for (const RunRecord* r : groups[i]) {
      a100.push_back(r->result.alloc_pct[100]);
      a130.push_back(r->result.alloc_pct[130]);
      f80.push_back(r->result.frag_pct[80]);
      wall.push_back(r->result.wall_seconds);
    }
    SummaryRow& row = rows[i];
    row.seeds = static_cast<int>(groups[i].size());
    row.alloc100_mean = Mean(a100);
    row.alloc100_std = Std(a100);
    row.alloc130_mean = Mean(a130);
    row.alloc130_std = Std(a130);
    row.frag80_mean = Mean(f80);
    row.wall_mean = Mean(wall);
    std::optional<std::string> artifact = ArtifactPolicyName(row.policy);
    if (expected != nullptr && artifact.has_value()) {
      auto it = expected->find({row.trace, *artifact});
      if (it != expected->end() && !it->second.empty()) {
        std::vector<double> e100, e130;
        for (const auto& curve : it->second) {
          e100.push_back(curve[100]);
          e130.push_back(curve[130]);
        }
        row.authors100 = Mean(e100);
        row.authors130 = Mean(e130);
      }
    }
  }
  return rows;
}

std::string FormatTable(const std::vector<SummaryRow>& rows) {
  std::string out =
      absl::StrFormat("%-26s %-13s %5s %15s %8s %7s %15s %8s %7s %8s %7s %7s\n", "trace", "policy",
                      "seeds", "alloc@100 (sd)", "authors", "delta", "alloc@130 (sd)", "authors",
                      "delta", "to-ideal", "frag@80", "wall_s");
  for (const SummaryRow& r : rows) {
    auto opt = [](const std::optional<double>& v) { return v ? Fixed(*v) : std::string("-"); };
    auto delta = [](double ours, const std::optional<double>& v) {
      return v ? absl::StrFormat("%+.2f", ours - *v) : std::string("-");
    };
    absl::string_view trace = r.trace;
    absl::ConsumePrefix(&trace, "openb_pod_list_");
    out += absl::StrFormat("%-26s %-13s %5d %8s (%4s) %8s %7s %8s (%4s) %8s %7s %8s %7s %7s\n",
                           trace, r.policy, r.seeds, Fixed(r.alloc100_mean), Fixed(r.alloc100_std),
                           opt(r.authors100), delta(r.alloc100_mean, r.authors100),
                           Fixed(r.alloc130_mean), Fixed(r.alloc130_std), opt(r.authors130),
                           delta(r.alloc130_mean, r.authors130), Fixed(100.0 - r.alloc130_mean),
                           Fixed(r.frag80_mean), Fixed(r.wall_mean, 3));
  }
  return out;
}

std::string SummaryCsv(const std::vector<RunRecord>& records) {
  std::string out = "trace,policy,seed,alloc_100,alloc_130,frag_80,wall_seconds\n";
  for (const RunRecord& r : records) {
    absl::StrAppend(&out, r.trace, ",", r.policy, ",", r.seed, ",", Fixed(r.result.alloc_pct[100]),
                    ",", Fixed(r.result.alloc_pct[130]), ",", Fixed(r.result.frag_pct[80], 3), ",",
                    Fixed(r.result.wall_seconds, 4), "\n");
  }
  return out;
}

std::string CurvesCsv(const std::vector<RunRecord>& records) {
  std::string out = "trace,policy,seed,arrived_pct,alloc_pct,frag_pct,frag_rate_pct\n";
  for (const RunRecord& r : records) {
    for (int k = 0; k < kBuckets; ++k) {
      const size_t i = static_cast<size_t>(k);
      absl::StrAppend(&out, r.trace, ",", r.policy, ",", r.seed, ",", k, ",",
                      Fixed(r.result.alloc_pct[i]), ",", Fixed(r.result.frag_pct[i], 3), ",",
                      Fixed(r.result.frag_rate_pct[i], 3), "\n");
    }
  }
  return out;
}

namespace {

// The allocation curves summed per (trace, policy), with the number of runs summed; traces and
// policies in first-seen order.
struct CurveSums {
  std::vector<std::string> traces;
  std::vector<std::string> policies;
  std::map<std::pair<size_t, size_t>, std::pair<std::array<double, kBuckets>, int>> sums;
};

CurveSums SumCurves(const std::vector<RunRecord>& records) {
  CurveSums c;
  auto index_of = [](std::vector<std::string>& v, const std::string& s) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == s) {
        return i;
      }
    }
    v.push_back(s);
    return v.size() - 1;
  };
  for (const RunRecord& r : records) {
    auto& [sum, n] = c.sums[{index_of(c.traces, r.trace), index_of(c.policies, r.policy)}];
    for (size_t k = 0; k < kBuckets; ++k) {
      sum[k] += r.result.alloc_pct[k];
    }
    ++n;
  }
  return c;
}

// The geometry of the SVG: one plot per trace, stacked, each kSvgH high.
constexpr int kSvgW = 640;
constexpr int kSvgH = 360;
constexpr int kSvgLeft = 60;
constexpr int kSvgTop = 40;
constexpr int kPlotW = 440;
constexpr int kPlotH = 260;

// The plot whose top edge is at `y0`: maps arrived demand and allocation (%) to pixels.
struct Plot {
  int y0 = 0;
  double Px(double arrived) const { return kSvgLeft + arrived / 130.0 * kPlotW; }
  double Py(double alloc) const { return y0 + kSvgTop + kPlotH - alloc / 100.0 * kPlotH; }
};

// Title, frame, axis labels and the ideal curve of the plot of `trace`.
void AppendSvgAxes(const Plot& plot, const std::string& trace, std::string& svg) {
  const int y0 = plot.y0;
  absl::StrAppend(&svg, absl::StrFormat("<text x=\"%d\" y=\"%d\" font-size=\"14\">%s: GPU "
                                        "allocation vs arrived demand</text>\n",
                                        kSvgLeft, y0 + 24, trace));
  absl::StrAppend(&svg, absl::StrFormat("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                                        "fill=\"none\" stroke=\"black\"/>\n",
                                        kSvgLeft, y0 + kSvgTop, kPlotW, kPlotH));
  for (int v = 0; v <= 100; v += 20) {
    absl::StrAppend(&svg, absl::StrFormat("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d"
                                          "</text>\n",
                                          kSvgLeft - 6, plot.Py(v) + 4, v));
  }
  for (int v = 0; v <= 130; v += 10) {
    absl::StrAppend(&svg, absl::StrFormat("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d"
                                          "</text>\n",
                                          plot.Px(v), y0 + kSvgTop + kPlotH + 16, v));
  }
  absl::StrAppend(&svg, absl::StrFormat("<text x=\"%d\" y=\"%d\">arrived GPU demand (%% of "
                                        "capacity); y: GPU allocation (%%)</text>\n",
                                        kSvgLeft, y0 + kSvgTop + kPlotH + 34));
  // Ideal: min(100, arrived).
  absl::StrAppend(&svg, absl::StrFormat("<polyline fill=\"none\" stroke=\"#999\" "
                                        "stroke-dasharray=\"4,3\" points=\"%.1f,%.1f %.1f,%.1f "
                                        "%.1f,%.1f\"/>\n",
                                        plot.Px(0), plot.Py(0), plot.Px(100), plot.Py(100),
                                        plot.Px(130), plot.Py(100)));
}

// The mean curve (`sum` over `n` runs) of policy number `p`, named `policy`, and its label.
void AppendSvgCurve(const Plot& plot, size_t p, const std::string& policy,
                    const std::array<double, kBuckets>& sum, int n, std::string& svg) {
  static constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  std::string points;
  for (size_t k = 0; k < kBuckets; ++k) {
    const double v = sum[k] / n;
    if (std::isnan(v)) {
      continue;
    }
    absl::StrAppend(&points,
                    absl::StrFormat("%.1f,%.1f ", plot.Px(static_cast<double>(k)), plot.Py(v)));
  }
  const char* color = kColors[p % 8];
  absl::StrAppend(&svg, absl::StrFormat("<polyline fill=\"none\" stroke=\"%s\" "
                                        "stroke-width=\"1.5\" points=\"%s\"/>\n",
                                        color, points));
  const double at130 = sum[130] / n;
  absl::StrAppend(&svg, absl::StrFormat("<text x=\"%d\" y=\"%d\" fill=\"%s\">%s %s</text>\n",
                                        kSvgLeft + kPlotW + 12,
                                        plot.y0 + kSvgTop + 16 + 18 * static_cast<int>(p), color,
                                        policy, Fixed(at130)));
}

}  // namespace

std::string SvgPlot(const std::vector<RunRecord>& records) {
  // Mean curve per (trace, policy).
  const CurveSums c = SumCurves(records);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n",
      kSvgW, kSvgH * static_cast<int>(c.traces.size()));
  for (size_t t = 0; t < c.traces.size(); ++t) {
    const Plot plot{static_cast<int>(t) * kSvgH};
    AppendSvgAxes(plot, c.traces[t], svg);
    for (size_t p = 0; p < c.policies.size(); ++p) {
      auto it = c.sums.find({t, p});
      if (it == c.sums.end()) {
        continue;
      }
      const auto& [sum, n] = it->second;
      AppendSvgCurve(plot, p, c.policies[p], sum, n, svg);
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace accelsched::sim
