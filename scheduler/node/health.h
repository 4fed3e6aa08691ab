// GPU health from NVML's XID events (DESIGN section 12): a critical XID marks its GPU unhealthy
// in the Assigner (so ListAndWatch reports it and no container gets it) until accelsched-node
// restarts, as the NVIDIA device plugin does: a GPU that needs a reset stays out of service.
// `on_change` then gets every unhealthy GPU with its reason, to publish for the extender.
//
// Thread-safety: runs on the caller's thread until `stop`; never throws.
#ifndef ACCELSCHED_SCHEDULER_NODE_HEALTH_H_
#define ACCELSCHED_SCHEDULER_NODE_HEALTH_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"

#include "scheduler/kube/client.h"
#include "scheduler/node/assigner.h"
#include "scheduler/node/nvml.h"

namespace accelsched::scheduler::node {

using OnHealthChange = std::function<void(const std::map<int, std::string>& unhealthy)>;

// The node annotation accelsched.io/unhealthy-gpus: "2:XID 48,5:XID 79" (GPU index: reason,
// ascending); "" when every GPU is healthy.
std::string UnhealthyGpusAnnotation(const std::map<int, std::string>& unhealthy);

// Writes the annotation onto Node `node` (a merge patch).
absl::Status PublishUnhealthyGpus(const kube::KubeClient& client, const std::string& node,
                                  const std::map<int, std::string>& unhealthy);

void WatchGpuHealth(Nvml& nvml, Assigner& assigner, const std::atomic<bool>& stop,
                    const OnHealthChange& on_change);

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_HEALTH_H_
