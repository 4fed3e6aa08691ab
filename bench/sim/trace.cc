#include "bench/sim/trace.h"

#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace accelsched::sim {
namespace {

constexpr absl::string_view kNodeHeader = "sn,cpu_milli,memory_mib,gpu,model";
constexpr absl::string_view kPodHeader5 = "name,cpu_milli,memory_mib,num_gpu,gpu_milli";
constexpr absl::string_view kPodHeader11 =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time";

absl::Status LineError(absl::string_view file, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
}

// Splits into lines, dropping a trailing '\r' and a final empty line.
std::vector<absl::string_view> Lines(absl::string_view contents) {
  std::vector<absl::string_view> lines = absl::StrSplit(contents, '\n');
  if (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  for (absl::string_view& l : lines) {
    absl::ConsumeSuffix(&l, "\r");
  }
  return lines;
}

absl::Status ParseInt(absl::string_view file, int line, absl::string_view column,
                      absl::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  if (!absl::SimpleAtoi(text, out) || *out < lo || *out > hi) {
    return LineError(
        file, line,
        absl::StrCat("column ", column, ": '", text, "' is not an integer in ", lo, "..", hi));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::vector<TraceNode>> ParseTraceNodes(absl::string_view contents,
                                                       absl::string_view file) {
  std::vector<absl::string_view> lines = Lines(contents);
  if (lines.empty()) {
    return LineError(file, 1, "empty file; expected a node-list header");
  }
  if (lines[0] != kNodeHeader) {
    return LineError(
        file, 1,
        absl::StrCat("header is '", lines[0], "', expected '", kNodeHeader, "' (a node list)"));
  }
  std::vector<TraceNode> nodes;
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 1; i < lines.size(); ++i) {
    const int line = static_cast<int>(i) + 1;
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ',');
    if (f.size() != 5) {
      return LineError(file, line, absl::StrCat("expected 5 columns, found ", f.size()));
    }
    TraceNode n;
    n.name = std::string{f[0]};
    if (n.name.empty()) {
      return LineError(file, line, "column sn: empty node name");
    }
    if (!seen.insert(n.name).second) {
      return LineError(file, line, absl::StrCat("duplicate node ", n.name));
    }
    int64_t gpus = 0;
    if (auto s = ParseInt(file, line, "cpu_milli", f[1], 0, int64_t{1} << 40, &n.cpu_milli);
        !s.ok()) {
      return s;
    }
    if (auto s = ParseInt(file, line, "memory_mib", f[2], 0, int64_t{1} << 40, &n.memory_mib);
        !s.ok()) {
      return s;
    }
    if (auto s = ParseInt(file, line, "gpu", f[3], 0, 16, &gpus); !s.ok()) {
      return s;
    }
    n.gpus = static_cast<int>(gpus);
    n.model = std::string{f[4]};
    if (n.gpus > 0 && n.model.empty()) {
      return LineError(file, line, "column model: empty with GPUs");
    }
    if (n.gpus == 0 && !n.model.empty()) {
      return LineError(file, line, "column model: set on a node without GPUs");
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

absl::StatusOr<std::vector<TracePod>> ParseTracePods(absl::string_view contents,
                                                     absl::string_view file) {
  std::vector<absl::string_view> lines = Lines(contents);
  if (lines.empty()) {
    return LineError(file, 1, "empty file; expected a pod-list header");
  }
  size_t columns = 0;
  if (lines[0] == kPodHeader11) {
    columns = 11;
  } else if (lines[0] == kPodHeader5) {
    columns = 5;
  } else {
    return LineError(file, 1,
                     absl::StrCat("header is '", lines[0], "', expected '", kPodHeader11,
                                  "' or its first 5 columns (a pod list)"));
  }
  std::vector<TracePod> pods;
  for (size_t i = 1; i < lines.size(); ++i) {
    const int line = static_cast<int>(i) + 1;
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ',');
    if (f.size() != columns) {
      return LineError(file, line,
                       absl::StrCat("expected ", columns, " columns, found ", f.size()));
    }
    TracePod p;
    p.name = std::string{f[0]};
    if (p.name.empty()) {
      return LineError(file, line, "column name: empty pod name");
    }
    int64_t num_gpu = 0;
    int64_t gpu_milli = 0;
    if (auto s = ParseInt(file, line, "cpu_milli", f[1], 0, int64_t{1} << 40, &p.cpu_milli);
        !s.ok()) {
      return s;
    }
    if (auto s = ParseInt(file, line, "memory_mib", f[2], 0, int64_t{1} << 40, &p.memory_mib);
        !s.ok()) {
      return s;
    }
    if (auto s = ParseInt(file, line, "num_gpu", f[3], 0, 8, &num_gpu); !s.ok()) {
      return s;
    }
    if (auto s = ParseInt(file, line, "gpu_milli", f[4], 0, 1000, &gpu_milli); !s.ok()) {
      return s;
    }
    p.num_gpu = static_cast<int>(num_gpu);
    p.gpu_milli = static_cast<int>(gpu_milli);
    if (p.num_gpu > 0 && p.gpu_milli == 0) {
      return LineError(file, line, "num_gpu > 0 but gpu_milli is 0");
    }
    if (p.num_gpu == 0 && p.gpu_milli != 0) {
      return LineError(file, line, "gpu_milli is set but num_gpu is 0");
    }
    if (p.num_gpu > 1 && p.gpu_milli < 1000) {
      return LineError(file, line, "a GPU share (gpu_milli < 1000) needs num_gpu 1");
    }
    if (columns == 11 && !f[5].empty()) {
      for (absl::string_view m : absl::StrSplit(f[5], '|')) {
        if (m.empty()) {
          return LineError(file, line, "column gpu_spec: empty model name");
        }
        p.gpu_spec.emplace_back(m);
      }
    }
    pods.push_back(std::move(p));
  }
  return pods;
}

absl::StatusOr<std::vector<TraceNode>> LoadTraceNodes(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return contents.status();
  }
  return ParseTraceNodes(*contents, path);
}

absl::StatusOr<std::vector<TracePod>> LoadTracePods(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return contents.status();
  }
  return ParseTracePods(*contents, path);
}

plugins::PodRequest ToPodRequest(const TracePod& pod) {
  plugins::PodRequest r;
  r.name = pod.name;
  r.cpu_milli = pod.cpu_milli;
  r.memory_mib = pod.memory_mib;
  if (pod.num_gpu > 0 && pod.gpu_milli >= 1000) {
    r.gpu_count = pod.num_gpu;
  } else if (pod.num_gpu > 0) {
    r.gpu_milli = pod.gpu_milli;
  }
  r.allowed_models = pod.gpu_spec;
  return r;
}

plugins::NodeSpec ToNodeSpec(const TraceNode& node) {
  plugins::NodeSpec s;
  s.name = node.name;
  s.cpu_milli = node.cpu_milli;
  s.memory_mib = node.memory_mib;
  s.gpu_count = node.gpus;
  s.gpu_model = node.model;
  return s;
}

}  // namespace accelsched::sim
