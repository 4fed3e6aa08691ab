#include "plugins/policy.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "plugins/baselines/baselines.h"
#include "plugins/resource_fit/resource_fit.h"
#include "plugins/share_fragmentation/fgd.h"

namespace accelsched::plugins {
namespace {

constexpr std::array<std::string_view, 8> kPolicies = {
    "random", "firstfit", "bestfit", "dotprod", "gpupacking", "gpuclustering", "fgd", "accelsched"};

}  // namespace

absl::Span<const std::string_view> PolicyNames() { return kPolicies; }

absl::Status ValidatePolicyConfig(const PolicyConfig& config) {
  bool known = false;
  for (std::string_view p : kPolicies) known = known || p == config.policy;
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
  int64_t sum = 0;
  for (const auto& w : weights) {
    if (w.value < 0 || w.value > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat(w.field, ": ", w.value, " is outside 0..1000"));
    }
    sum += w.value;
  }
  if (config.policy == "accelsched" && sum == 0) {
    return absl::InvalidArgumentError("accelsched weights: all are 0; at least one must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Solver>> BuildSolver(const PolicyConfig& config,
                                                    const WorkloadModel& workload) {
  if (absl::Status s = ValidatePolicyConfig(config); !s.ok()) return s;
  SolverBuilder b;
  b.RandomTies(config.random_ties);
  b.Add(std::make_unique<ResourceFit>());
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
    return absl::UnimplementedError("accelsched policy: not built yet");
  } else {
    if (p == "firstfit") b.Add(std::make_unique<FirstFitScore>());
    if (p == "bestfit") b.Add(std::make_unique<BestFitScore>());
    if (p == "dotprod") b.Add(std::make_unique<DotProductScore>());
    if (p == "gpupacking") b.Add(std::make_unique<GpuPackingScore>());
    if (p == "gpuclustering") b.Add(std::make_unique<GpuClusteringScore>());
    b.Add(std::make_unique<GpuAllocator>(ShareChoice::kBest));
  }
  return std::move(b).Build();
}

}  // namespace accelsched::plugins
