#include "plugins/mig_fragmentation/mig_fragmentation.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"

#include "plugins/framework/fit.h"

namespace accelsched::plugins {

namespace mig = topology::mig;

namespace {

// Growth scaled to an integer raw score (negated so that larger is better before Normalize).
constexpr double kRawScale = 1e6;

}  // namespace

absl::StatusOr<std::unique_ptr<MigFragmentation>> MigFragmentation::Create(
    const std::vector<std::pair<MigRequest, double>>& demand) {
  for (const auto& [shape, weight] : demand) {
    if (!(weight >= 0) || !std::isfinite(weight)) {
      return absl::InvalidArgumentError(absl::StrCat("mig demand: weight ", weight, " of ",
                                                     shape.compute_slices,
                                                     "g must be a finite non-negative number"));
    }
  }
  std::unique_ptr<MigFragmentation> plugin(new MigFragmentation());
  for (const mig::MigGeometry& g : mig::BuiltinGeometries()) {
    std::vector<mig::ProfileDemand> table_demand;
    for (const mig::MigProfile& p : g.profiles()) {
      double w = 0;
      if (demand.empty()) {
        w = p.media_extensions ? 0.0 : 1.0;
      } else {
        for (const auto& [shape, weight] : demand) {
          if (shape.compute_slices == p.compute_slices && shape.double_memory == p.double_memory &&
              shape.media_extensions == p.media_extensions) {
            w += weight;
          }
        }
      }
      if (w > 0) {
        table_demand.push_back({p.id, w});
      }
    }
    if (table_demand.empty()) {
      // The demand names no profile of this model: fall back to uniform for its tables.
      for (const mig::MigProfile& p : g.profiles()) {
        if (!p.media_extensions) {
          table_demand.push_back({p.id, 1.0});
        }
      }
    }
    absl::StatusOr<mig::MigSlotTable> table = mig::MigSlotTable::Create(g, table_demand);
    if (!table.ok()) {
      return table.status();
    }
    plugin->tables_.emplace_back(g.model(), std::move(*table));
  }
  return plugin;
}

const mig::MigSlotTable* MigFragmentation::TableFor(const mig::MigGeometry* g) const {
  if (g == nullptr) {
    return nullptr;
  }
  for (const auto& [model, table] : tables_) {
    if (model == g->model()) {
      return &table;
    }
  }
  return nullptr;
}

std::optional<MigChoice> MigFragmentation::ChooseMig(const PodRequest& pod,
                                                     const NodeInfo& node) const {
  if (!pod.WantsMig()) {
    return std::nullopt;
  }
  const mig::MigProfile* profile = MigProfileFor(*pod.mig, node);
  const mig::MigSlotTable* table = TableFor(node.mig_geometry);
  if (profile == nullptr || table == nullptr) {
    return std::nullopt;
  }
  const int index = static_cast<int>(profile - node.mig_geometry->profiles().data());
  const GpuMask candidates = MigCandidates(*profile, node);
  std::optional<MigChoice> best;
  for (int g = 0; g < node.gpu_count; ++g) {
    if (((candidates >> g) & 1u) == 0) {
      continue;
    }
    const uint8_t mask = node.mig_used_slots[g];
    int start = table->BestStart(mask, index);
    double cost = table->BestCost(mask, index);
    if (node.mig_instances != nullptr) {  // Static MIG: the best of the existing instances.
      start = -1;
      const uint8_t usable = UsableMigStarts(node, g, *profile);
      for (int s = 0; s < 8; ++s) {
        if (((usable >> s) & 1u) == 0) continue;
        const double c =
            table->Cost(static_cast<uint8_t>(mask | (((1u << profile->memory_slots) - 1u) << s)));
        if (start < 0 || c < cost - 1e-9) std::tie(start, cost) = std::tie(s, c);
      }
    }
    if (start < 0) {
      continue;
    }
    const double growth = cost - table->Cost(mask);
    if (!best.has_value() || growth < best->growth - 1e-9) {
      best = MigChoice{g, profile->id, start, growth};
    }
  }
  return best;
}

absl::Status MigFragmentation::Score(const CycleState& /*state*/, const PodRequest& pod,
                                     const ClusterSnapshot& snapshot,
                                     absl::Span<const NodeIndex> nodes,
                                     absl::Span<int64_t> scores) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!pod.WantsMig()) {
      scores[i] = kMaxScore;
      continue;
    }
    std::optional<MigChoice> c = ChooseMig(pod, snapshot.node(nodes[i]));
    // Infeasible nodes do not reach Score; treat a miss as the worst growth (7 slices).
    const double growth = c.has_value() ? c->growth : 7.0;
    scores[i] = -static_cast<int64_t>(std::llround(growth * kRawScale));
  }
  return absl::OkStatus();
}

absl::Status MigFragmentation::Normalize(const CycleState& /*state*/,
                                         absl::Span<int64_t> scores) const {
  // All equal (e.g. no MIG GPU involved): full marks, so the other plugins decide.
  MinMaxNormalize(scores, /*when_equal=*/kMaxScore);
  return absl::OkStatus();
}

}  // namespace accelsched::plugins
