// Policy selection and weights: a typed, validated config and the factory that turns it into a
// Solver (DESIGN section 5). The extender reads it from YAML (scheduler/), the simulator from
// its flags; both call ValidatePolicyConfig at start-up so that a bad config fails there, not at
// the first pod.
//
// Policies:
//   random, firstfit, bestfit, dotprod, gpupacking, gpuclustering, fgd   the FGD artifact's
//       baselines (baselines/baselines.h) and FGD (share_fragmentation/fgd.h), faithful to it;
//   accelsched   ours, the default (accelsched/accelsched.h).
//
// Thread-safety: plain values and a pure factory.
#ifndef ACCELSCHED_PLUGINS_POLICY_H_
#define ACCELSCHED_PLUGINS_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

#include "plugins/framework/solver.h"
#include "plugins/share_fragmentation/fragmentation.h"
#include "topology/mig/mig.h"

namespace accelsched::plugins {

struct PolicyConfig {
  std::string policy = "accelsched";
  // Random tie-breaking among equal totals (kube-scheduler's selectHost); false = first node.
  bool random_ties = true;
  // Weights of the accelsched policy's score plugins, 0..1000 each; 0 turns topology or MIG
  // scoring off; fragmentation_weight must be >= 1.
  int64_t fragmentation_weight = 10;
  int64_t topology_weight = 2;
  int64_t mig_weight = 2;
};

// What the workload looks like: FGD's target shapes and the MIG profile demand. Built from the
// trace (simulator) or from configuration / observed pods (extender).
struct WorkloadModel {
  std::vector<TaskShape> shapes;  // Popularities sum to 1.
  // MIG demand by shape; empty = uniform over the classic profiles.
  std::vector<std::pair<MigRequest, double>> mig_demand;
};

// The policy names, in a stable order.
absl::Span<const std::string_view> PolicyNames();

// InvalidArgument naming the field: unknown policy (listing the known ones), weight outside
// 0..1000, or fragmentation_weight 0 with the accelsched policy.
absl::Status ValidatePolicyConfig(const PolicyConfig& config);

// A Solver for the policy. InvalidArgument for an invalid config or an empty workload for a
// policy that needs one (fgd, accelsched).
absl::StatusOr<std::unique_ptr<Solver>> BuildSolver(const PolicyConfig& config,
                                                    const WorkloadModel& workload);

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_POLICY_H_
