#include "plugins/policy.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "plugins/accelsched/accelsched.h"
#include "plugins/baselines/baselines.h"
#include "plugins/mig_fragmentation/mig_fragmentation.h"
#include "plugins/resource_fit/resource_fit.h"
#include "plugins/share_fragmentation/fgd.h"
#include "plugins/gpu_health/gpu_health.h"
#include "plugins/tenancy/tenancy.h"
#include "plugins/topology_score/topology_score.h"

namespace accelsched::plugins {
namespace {

constexpr std::array<std::string_view, 8> kPolicies = {
    "random", "firstfit", "bestfit", "dotprod", "gpupacking", "gpuclustering", "fgd", "accelsched"};

}  // namespace

absl::Span<const std::string_view> PolicyNames() { return kPolicies; }

absl::Status ValidatePolicyConfig(const PolicyConfig& config) {
  bool known = false;
  for (std::string_view p : kPolicies) {
    known = known || p == config.policy;
  }
  if (!known) {
    std::vector<std::string> names(kPolicies.begin(), kPolicies.end());
    return absl::InvalidArgumentError(absl::StrCat("policy: unknown policy '", config.policy,
                                                   "'; known: ", absl::StrJoin(names, ", ")));
  }
  const struct {
    const char* field;
    int64_t value;
  } weights[] = {{"fragmentation_weight", config.fragmentation_weight},
                 {"topology_weight", config.topology_weight},
                 {"mig_weight", config.mig_weight}};
  for (const auto& w : weights) {
    if (w.value < 0 || w.value > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat(w.field, ": ", w.value, " is outside 0..1000"));
    }
  }
  if (config.policy == "accelsched" && config.fragmentation_weight < 1) {
    return absl::InvalidArgumentError(
        "fragmentation_weight: must be >= 1 for the accelsched policy (its share and node choice "
        "rest on the fragmentation measure)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Solver>> BuildSolver(const PolicyConfig& config,
                                                    const WorkloadModel& workload) {
  if (absl::Status s = ValidatePolicyConfig(config); !s.ok()) {
    return s;
  }
  SolverBuilder b;
  b.RandomTies(config.random_ties);
  b.Add(std::make_unique<ResourceFit>());
  b.Add(std::make_unique<Tenancy>());
  b.Add(std::make_unique<GpuHealth>());
  const std::string& p = config.policy;
  if (p == "fgd" || p == "accelsched") {
    if (workload.shapes.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy ", p, " needs a workload model (task shapes)"));
    }
  }
  if (p == "random") {
    b.Add(std::make_unique<RandomScore>());
    b.Add(std::make_unique<GpuAllocator>(ShareChoice::kRandom));
  } else if (p == "fgd") {
    b.Add(std::make_unique<FgdPlugin>(workload.shapes));
  } else if (p == "accelsched") {
    auto packing = std::make_unique<AccelschedPacking>(workload.shapes);
    absl::StatusOr<std::unique_ptr<MigFragmentation>> mig_reserve =
        MigFragmentation::Create(workload.mig_demand);
    if (!mig_reserve.ok()) {
      return mig_reserve.status();
    }
    auto allocator = std::make_unique<AccelschedAllocator>(packing.get(), std::move(*mig_reserve));
    b.Add(std::move(packing), config.fragmentation_weight);
    if (config.topology_weight > 0) {
      b.Add(std::make_unique<TopologyScore>(), config.topology_weight);
    }
    if (config.mig_weight > 0) {
      absl::StatusOr<std::unique_ptr<MigFragmentation>> mig =
          MigFragmentation::Create(workload.mig_demand);
      if (!mig.ok()) {
        return mig.status();
      }
      b.Add(std::move(*mig), config.mig_weight);
    }
    b.Add(std::move(allocator));
  } else {
    if (p == "firstfit") {
      b.Add(std::make_unique<FirstFitScore>());
    }
    if (p == "bestfit") {
      b.Add(std::make_unique<BestFitScore>());
    }
    if (p == "dotprod") {
      b.Add(std::make_unique<DotProductScore>());
    }
    if (p == "gpupacking") {
      b.Add(std::make_unique<GpuPackingScore>());
    }
    if (p == "gpuclustering") {
      b.Add(std::make_unique<GpuClusteringScore>());
    }
    b.Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
  }
  return std::move(b).Build();
}

}  // namespace accelsched::plugins
