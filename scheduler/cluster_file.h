// Static mode (DESIGN section 8): the cluster from a file of Node and Pod objects, as printed by
// `kubectl get nodes,pods -A -o json` (or -o yaml), with the pods that are bound adopted into
// the ledger with the devices their annotations record.
//
// Thread-safety: a function without shared state.
#ifndef ACCELSCHED_SCHEDULER_CLUSTER_FILE_H_
#define ACCELSCHED_SCHEDULER_CLUSTER_FILE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "plugins/policy.h"
#include "scheduler/config.h"
#include "scheduler/extender.h"
#include "scheduler/ledger.h"
#include "scheduler/metrics.h"

namespace accelsched::scheduler {

struct StaticCluster {
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<Extender> extender;
  std::vector<std::string> warnings;  // Per node: unknown product, topology fallback, ...
};

// The workload model the FGD-based policies score against when no trace is given: the shapes
// of the pods the cluster already runs plus a default mix (1, 2, 4, 8 whole GPUs, shares of
// 250 and 500 milli, CPU-only), so that an empty cluster still has a sensible model.
plugins::WorkloadModel WorkloadFrom(const std::vector<plugins::PodRequest>& running);

// Parses `text` (`file` names it in errors), builds the ledger and the extender, and adopts
// every pod that holds resources. InvalidArgument naming the item for anything malformed or
// impossible (e.g. two pods on the same GPU).
absl::StatusOr<StaticCluster> LoadStaticCluster(absl::string_view text, absl::string_view file,
                                                const ExtenderConfig& config, Binder* binder,
                                                Metrics* metrics);

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CLUSTER_FILE_H_
