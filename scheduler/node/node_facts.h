// What accelsched-node tells the extender about its node, as Node annotations (merge patches):
// accelsched.io/topology (from NVML), accelsched.io/mig-gpus (the GPUs in MIG mode) and, when a
// GPU is in MIG mode, accelsched.io/mig-instances (static MIG). Failures are logged, not fatal: the
// extender then falls back to the product's built-in profile, and to partitioning MIG GPUs freely.
//
// Thread-safety: a pure function over a thread-safe client.
#ifndef ACCELSCHED_SCHEDULER_NODE_NODE_FACTS_H_
#define ACCELSCHED_SCHEDULER_NODE_NODE_FACTS_H_

#include <string>

#include "scheduler/kube/client.h"
#include "scheduler/node/inventory.h"

namespace accelsched::scheduler::node {

void PublishNodeFacts(const kube::KubeClient& client, const std::string& node,
                      const Inventory& inv);

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_NODE_FACTS_H_
