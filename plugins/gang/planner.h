// Gang planner (DESIGN section 6): places every member of a distributed-training gang at once,
// all or nothing, in the smallest network domain that can host them all.
//
// Network domains come from node labels, one key per level, innermost first (e.g.
// kubernetes.io/hostname, topology.accelsched.io/rack, topology.accelsched.io/block); the whole
// cluster is the outermost domain. A node without the label of a level is in no domain of that
// level (it can still be used at the levels above).
//
// The plan: for each level from the innermost outwards, every domain of that level that can
// host all members; among them the best fit (the fewest whole GPUs left free in the domain
// afterwards, then the first by name), so that large domains stay whole for large gangs. The
// first level with a fitting domain wins. A required level stops the widening there; a preferred
// level only says where to start looking (inner levels are tried first anyway: a smaller domain
// is always at least as close).
//
// Hosting all members of a domain: members are placed largest first, each on the fitting node
// with the fewest free whole GPUs (best fit) within the fullest sub-domain (in a block, the
// fullest rack first; in the cluster, the fullest block, then its fullest rack), so that a gang
// too large for one domain fills few of them and leaves the others whole for the next large
// gang; its devices are chosen by the Solver's Reserve; a run
// of members of one shape filters each node once and then only the node that changed. If that
// greedy packing fails and the members are not all of one shape (for which it is exact: nodes
// are independent, and best fit fills each node as far as it goes), an exact search (depth-first
// over member -> node, members of the same shape in non-decreasing node order) decides, within a
// step budget. Rail alignment: every member
// gets the same GPU indices on its own node; the planner tries each GPU set a member could get.
//
// Thread-safety: pure functions over immutable inputs.
#ifndef ACCELSCHED_PLUGINS_GANG_PLANNER_H_
#define ACCELSCHED_PLUGINS_GANG_PLANNER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "plugins/framework/solver.h"

namespace accelsched::plugins {

// The network domains of one snapshot layout, built once (about a millisecond for 10,000 nodes
// and three levels) and reused for every gang planned on snapshots of that layout.
class NetworkDomains {
 public:
  struct Domain {
    std::string name;              // The label value ("" for the whole cluster).
    std::vector<NodeIndex> nodes;  // Ascending.
  };
  // `level_keys`: node label keys, innermost level first.
  static NetworkDomains Build(const ClusterSnapshot& snapshot, std::vector<std::string> level_keys);
  uint64_t layout() const { return layout_; }
  const std::vector<std::string>& keys() const { return keys_; }
  int num_levels() const { return static_cast<int>(keys_.size()); }
  // The domains of `level` sorted by name; level num_levels() is the whole cluster.
  const std::vector<Domain>& at(int level) const { return levels_[static_cast<size_t>(level)]; }
  // The index (into at(level)) of node `n`'s domain at `level`, or -1 if it has no label there.
  int domain_of(int level, NodeIndex n) const {
    return domain_of_[static_cast<size_t>(level)][static_cast<size_t>(n)];
  }

 private:
  uint64_t layout_ = 0;
  std::vector<std::string> keys_;
  std::vector<std::vector<Domain>> levels_;  // num_levels() + 1 entries.
  std::vector<std::vector<int>> domain_of_;  // Per level below the cluster, per node.
};

enum class NetworkMode {
  kNone,       // Any domain; still the smallest that fits.
  kRequired,   // All members within one domain of `level` (or an inner one), or no plan.
  kPreferred,  // Start at `level`... in practice: smallest fitting domain, widening as needed.
};

struct GangSpec {
  std::string name;
  std::vector<PodRequest> members;  // One per member slot (minMember of them).
  NetworkMode mode = NetworkMode::kNone;
  int level = -1;             // Index into the level keys; required with kRequired/kPreferred.
  bool rail_aligned = false;  // Every member uses the same GPU indices on its node.
  // Nodes of members already bound (after a restart, or when a reservation expired with some
  // members bound): the plan's domain must hold all of them, so the gang stays together.
  std::vector<NodeIndex> anchors;
};

struct GangPlan {
  int level = -1;      // Level of the chosen domain; == number of keys for the whole cluster.
  std::string domain;  // Its label value ("" for the whole cluster).
  std::vector<Assignment> slots;  // Per member, in GangSpec::members order.
};

struct GangPlanOutcome {
  std::optional<GangPlan> plan;  // Nullopt: no domain can host the gang (see `reason`).
  std::string reason;            // Why not, for every member's FailedNodes entry.
};

struct GangPlannerOptions {
  // Exact-search steps per domain after the greedy packing fails; 0 = greedy only.
  int64_t search_budget = 200000;
};

// InvalidArgument for an inconsistent spec (no members, a level out of range, rail alignment
// with members that do not all ask for the same number of whole GPUs, an invalid member) or
// domains built for another layout.
absl::StatusOr<GangPlanOutcome> PlanGang(const Solver& solver, const ClusterSnapshot& snapshot,
                                         const NetworkDomains& domains, const GangSpec& gang,
                                         const GangPlannerOptions& options = {});

}  // namespace accelsched::plugins

#endif  // ACCELSCHED_PLUGINS_GANG_PLANNER_H_
