#include "scheduler/codec/debug_state.h"

#include <utility>

#include "scheduler/codec/json.h"

namespace accelsched::scheduler::codec {
namespace {

Json EncodeGpus(const plugins::NodeInfo& n) {
  Json gpus = Json::array();
  for (int g = 0; g < n.gpu_count; ++g) {
    const size_t i = static_cast<size_t>(g);
    Json gpu = {{"index", g}, {"freeMilli", n.gpu_free_milli[i]}};
    if (n.gpu_memory_mib > 0) gpu["freeMemoryMiB"] = n.gpu_free_memory_mib[i];
    if (n.unhealthy_reasons != nullptr) {
      if (auto it = n.unhealthy_reasons->find(g); it != n.unhealthy_reasons->end()) {
        gpu["unhealthy"] = it->second;  // Why accelsched-node took it out of service.
      }
    }
    if ((n.mig_enabled >> g) & 1u) {
      gpu["mig"] = true;
      gpu["migUsedSlots"] = n.mig_used_slots[i];
    }
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

Json EncodeNode(const plugins::ClusterSnapshot& snapshot, const plugins::NodeInfo& n) {
  Json node = {{"name", n.name},
               {"cpuMilli", {{"capacity", n.cpu_capacity_milli}, {"free", n.cpu_free_milli}}},
               {"memoryMiB", {{"capacity", n.memory_capacity_mib}, {"free", n.memory_free_mib}}},
               {"pods", n.pods},
               {"gpus", EncodeGpus(n)}};
  if (n.model != plugins::kNoModel) {
    node["gpuModel"] = snapshot.models()[static_cast<size_t>(n.model)];
  }
  if (n.topology != nullptr) node["topology"] = n.topology->topology.name();
  return node;
}

}  // namespace

std::string EncodeDebugState(const plugins::ClusterSnapshot& snapshot,
                             const std::vector<DebugPod>& pods,
                             const std::vector<DebugConflict>& conflicts) {
  Json nodes = Json::array();
  for (const plugins::NodeInfo& n : snapshot.nodes()) nodes.push_back(EncodeNode(snapshot, n));
  Json placed = Json::array();
  for (const DebugPod& p : pods) {
    placed.push_back(Json{{"uid", p.uid},
                          {"pod", p.key},
                          {"node", p.node},
                          {"annotations", p.annotations},
                          {"assignment", p.assignment}});
  }
  Json conflicting = Json::array();
  for (const DebugConflict& c : conflicts) {
    conflicting.push_back(Json{{"uid", c.uid},
                               {"pod", c.key},
                               {"node", c.node},
                               {"devices", c.devices},
                               {"reason", c.reason}});
  }
  return Dump(Json{{"nodes", std::move(nodes)},
                   {"pods", std::move(placed)},
                   {"conflicts", std::move(conflicting)}});
}

}  // namespace accelsched::scheduler::codec
