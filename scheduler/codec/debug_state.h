// GET /debug/state: the cluster as the service sees it, as JSON text (README.md, "accelsched-
// extender"): every node with its GPUs and what is free, every placed pod with its node and its
// assignment annotations, and the pods in conflict (bound on devices another pod holds).
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_DEBUG_STATE_H_
#define ACCELSCHED_SCHEDULER_CODEC_DEBUG_STATE_H_

#include <map>
#include <string>
#include <vector>

#include "plugins/framework/snapshot.h"

namespace accelsched::scheduler::codec {

// A placed pod (or gang slot) as the page shows it.
struct DebugPod {
  std::string uid;
  std::string key;  // "namespace/name".
  std::string node;
  std::map<std::string, std::string> annotations;  // AssignmentAnnotations.
  std::string assignment;                          // plugins::DebugString of the assignment.
};

// A pod bound on devices another pod holds (service/conflict_book.h).
struct DebugConflict {
  std::string uid;
  std::string key;
  std::string node;
  std::string devices;
  std::string reason;
};

// {"nodes": [...], "pods": [...], "conflicts": [...]}.
std::string EncodeDebugState(const plugins::ClusterSnapshot& snapshot,
                             const std::vector<DebugPod>& pods,
                             const std::vector<DebugConflict>& conflicts = {});

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_DEBUG_STATE_H_
