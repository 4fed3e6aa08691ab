#include "plugins/share_fragmentation/fragmentation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace accelsched::plugins {

TaskShape ShapeOf(const PodRequest& pod) {
  TaskShape s;
  // The artifact keys shapes by kube-scheduler's non-zero request: 0 CPU counts as 100m.
  s.cpu_milli = pod.cpu_milli == 0 ? 100 : pod.cpu_milli;
  if (pod.WantsWholeGpus()) {
    s.gpu_count = pod.gpu_count;
    s.gpu_milli = kMilliPerGpu;
  } else if (pod.WantsShare()) {
    s.gpu_count = 1;
    s.gpu_milli = pod.gpu_milli;
  }
  if (s.gpu_count > 0) {
    s.allowed_models = pod.allowed_models;
  }
  return s;
}

absl::StatusOr<std::vector<TaskShape>> TypicalShapes(absl::Span<const PodRequest> pods,
                                                     double coverage) {
  if (pods.empty()) {
    return absl::InvalidArgumentError("typical shapes of an empty pod list");
  }
  if (!(coverage > 0 && coverage <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("coverage ", coverage, " is outside (0, 1]"));
  }
  // Key: the shape fields joined; value: index into `distinct`.
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<TaskShape> distinct;
  std::vector<int64_t> counts;
  for (const PodRequest& pod : pods) {
    TaskShape s = ShapeOf(pod);
    std::string key = absl::StrCat(s.cpu_milli, "/", s.gpu_count, "/", s.gpu_milli, "/",
                                   absl::StrJoin(s.allowed_models, "|"));
    auto [it, inserted] = index.emplace(std::move(key), distinct.size());
    if (inserted) {
      distinct.push_back(std::move(s));
      counts.push_back(0);
    }
    ++counts[it->second];
  }
  std::vector<size_t> order(distinct.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  // Count descending; ties by (cpu, milli, count, model string) descending, as the artifact's
  // SortTargetPodInDecreasingCount.
  std::vector<std::string> model_keys(distinct.size());
  for (size_t i = 0; i < distinct.size(); ++i) {
    model_keys[i] = absl::StrJoin(distinct[i].allowed_models, "|");
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TaskShape& x = distinct[a];
    const TaskShape& y = distinct[b];
    return std::tie(counts[a], x.cpu_milli, x.gpu_milli, x.gpu_count, model_keys[a]) >
           std::tie(counts[b], y.cpu_milli, y.gpu_milli, y.gpu_count, model_keys[b]);
  });
  std::vector<TaskShape> out;
  int64_t covered = 0;
  const double total = static_cast<double>(pods.size());
  for (size_t i : order) {
    if (static_cast<double>(covered) / total >= coverage) {
      break;
    }
    covered += counts[i];
    out.push_back(distinct[i]);
    out.back().popularity = static_cast<double>(counts[i]);
  }
  for (TaskShape& s : out) {
    s.popularity /= static_cast<double>(covered);
  }
  return out;
}

absl::StatusOr<FragmentationModel> FragmentationModel::Create(
    std::vector<TaskShape> shapes, absl::Span<const std::string> models) {
  if (shapes.empty()) {
    return absl::InvalidArgumentError("fragmentation model without shapes");
  }
  double sum = 0;
  for (const TaskShape& s : shapes) {
    if (s.popularity < 0) {
      return absl::InvalidArgumentError("negative shape popularity");
    }
    sum += s.popularity;
  }
  if (std::abs(sum - 1.0) > 1e-6) {
    return absl::InvalidArgumentError(absl::StrCat("shape popularities sum to ", sum, ", not 1"));
  }
  FragmentationModel m;
  for (const TaskShape& s : shapes) {
    if (s.gpu_count > 0 &&
        std::find(m.distinct_u_.begin(), m.distinct_u_.end(), s.gpu_milli) == m.distinct_u_.end()) {
      m.distinct_u_.push_back(s.gpu_milli);
    }
  }
  std::sort(m.distinct_u_.begin(), m.distinct_u_.end(), std::greater<>());
  if (m.distinct_u_.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("fragmentation model with ", m.distinct_u_.size(),
                     " distinct GPU sizes; at most 64 are supported"));
  }
  for (const TaskShape& s : shapes) {
    if (s.gpu_count == 0) {
      continue;  // Contributes R, folded into the "R -" form.
    }
    Compiled c{};
    c.cpu_milli = s.cpu_milli;
    c.gpu_count = s.gpu_count;
    c.u_index = static_cast<int>(
        std::find(m.distinct_u_.begin(), m.distinct_u_.end(), s.gpu_milli) - m.distinct_u_.begin());
    c.model_mask = ~uint64_t{0};
    if (!s.allowed_models.empty()) {
      c.model_mask = 0;
      for (const std::string& name : s.allowed_models) {
        for (size_t i = 0; i < models.size() && i < 64; ++i) {
          if (models[i] == name) {
            c.model_mask |= uint64_t{1} << i;
          }
        }
      }
    }
    c.popularity = s.popularity;
    m.compiled_.push_back(c);
  }
  std::stable_sort(m.compiled_.begin(), m.compiled_.end(),
                   [](const Compiled& a, const Compiled& b) { return a.u_index < b.u_index; });
  for (const Compiled& c : m.compiled_) {
    m.compiled_u_.push_back(m.distinct_u_[static_cast<size_t>(c.u_index)]);
  }
  m.shapes_ = std::move(shapes);
  return m;
}

FragmentationModel::GpuProfile FragmentationModel::Profile(
    absl::Span<const int16_t> gpu_free_milli) const {
  GpuProfile p;
  for (const int16_t f : gpu_free_milli) {
    p.total += f;
  }
  // For each distinct u: how many GPUs have f >= u, and their sum. A direct G x U scan (no sort):
  // both are small (G <= 16, U <= 64) and the loop is branch-free.
  const size_t nu = distinct_u_.size();  // <= 64 (Create).
  for (size_t k = 0; k < nu; ++k) {
    const int u = distinct_u_[k];
    int c = 0;
    int s = 0;
    for (const int16_t f : gpu_free_milli) {
      const int fits = f >= u;
      c += fits;
      s += fits * f;
    }
    p.count[k] = c;
    p.sum[k] = s;
  }
  return p;
}

double FragmentationModel::Fragment(const GpuProfile& p, int16_t model,
                                    int64_t cpu_free_milli) const {
  if (p.total == 0) {
    return 0;
  }
  const uint64_t model_bit = model >= 0 ? uint64_t{1} << model : 0;
  double hosted = 0;
  for (const Compiled& c : compiled_) {
    if (p.count[static_cast<size_t>(c.u_index)] < c.gpu_count) {
      continue;
    }
    if (cpu_free_milli < c.cpu_milli || (c.model_mask & model_bit) == 0) {
      continue;
    }
    hosted += c.popularity * p.sum[static_cast<size_t>(c.u_index)];
  }
  return p.total - hosted;
}

double FragmentationModel::FragmentAfterTake(const GpuProfile& p, int16_t model,
                                             int64_t cpu_free_milli, int free, int take) const {
  const int total = p.total - take;
  if (total == 0) {
    return 0;
  }
  const int after = free - take;
  const uint64_t model_bit = model >= 0 ? uint64_t{1} << model : 0;
  double hosted = 0;
  for (size_t i = 0; i < compiled_.size(); ++i) {
    const Compiled& c = compiled_[i];
    if (cpu_free_milli < c.cpu_milli || (c.model_mask & model_bit) == 0) {
      continue;
    }
    const int u = compiled_u_[i];
    // The GPU counted for u before (free >= u) and after (after >= u).
    const int was = free >= u;
    const int is = after >= u;
    const int count = p.count[static_cast<size_t>(c.u_index)] - was + is;
    if (count < c.gpu_count) {
      continue;
    }
    const int sum = p.sum[static_cast<size_t>(c.u_index)] - was * free + is * after;
    hosted += c.popularity * sum;
  }
  return total - hosted;
}

double FragmentationModel::NodeFragment(int16_t model, int64_t cpu_free_milli,
                                        absl::Span<const int16_t> gpu_free_milli) const {
  if (gpu_free_milli.empty()) {
    return 0;
  }
  return Fragment(Profile(gpu_free_milli), model, cpu_free_milli);
}

double FragmentationModel::NodeFragment(const NodeInfo& node) const {
  std::array<int16_t, kMaxGpus> free = ShareableFree(node);
  return NodeFragment(node.model, node.cpu_free_milli,
                      absl::MakeConstSpan(free.data(), static_cast<size_t>(node.gpu_count)));
}

std::array<int16_t, kMaxGpus> ShareableFree(const NodeInfo& node) {
  std::array<int16_t, kMaxGpus> free{};
  for (int i = 0; i < node.gpu_count; ++i) {
    free[i] = ((node.mig_enabled >> i) & 1u) ? int16_t{0} : node.gpu_free_milli[i];
  }
  return free;
}

}  // namespace accelsched::plugins
