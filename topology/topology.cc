#include "topology/topology.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/graph/dijkstra_shortest_paths.hpp"
#include "boost/graph/filtered_graph.hpp"
#include "boost/property_map/function_property_map.hpp"

#include "topology/status_macros.h"
#include "topology/topology_graph.h"

namespace accelsched::topology {
namespace {

using VertexId = Graph::vertex_descriptor;

constexpr std::array<absl::string_view, 6> kDeviceKindNames = {
    "gpu", "nvswitch", "pcieSwitch", "hostBridge", "cpuSocket", "nic"};
constexpr std::array<absl::string_view, 7> kPathKindNames = {"X",   "NV",   "PIX", "PXB",
                                                             "PHB", "NODE", "SYS"};
constexpr std::array<absl::string_view, 4> kLinkKindNames = {"nvlink", "pcie", "interSocket",
                                                             "c2c"};

// Keeps the edges that carry PCIe distance: kPcie and kInterSocket.
struct PcieEdges {
  const Graph* graph = nullptr;
  bool operator()(Graph::edge_descriptor e) const {
    const LinkKind k = (*graph)[e].kind;
    return k == LinkKind::kPcie || k == LinkKind::kInterSocket;
  }
};

struct PathFacts {
  PathKind kind = PathKind::kSys;
  double bottleneck_gbps = 0;  // Smallest edge bandwidth on the path; 0 if unconnected.
};

// Minimax paths from `source` over PCIe/inter-socket edges: the path kind to every vertex is the
// smallest achievable largest edge label (Dijkstra with max as the combine function, which is
// valid because max is monotone). O(E log V).
std::vector<PathFacts> PcieDistancesFrom(const Graph& g, VertexId source) {
  const PcieEdges keep{&g};
  boost::filtered_graph<Graph, PcieEdges> fg(g, keep);
  const size_t n = boost::num_vertices(g);
  std::vector<int> dist(n);
  std::vector<VertexId> pred(n);
  auto weight = boost::make_function_property_map<Graph::edge_descriptor, int>(
      [&g](Graph::edge_descriptor e) { return static_cast<int>(g[e].pcie_level); });
  constexpr int kInf = std::numeric_limits<int>::max();
  boost::dijkstra_shortest_paths(fg, source,
                                 boost::predecessor_map(pred.data())
                                     .distance_map(dist.data())
                                     .weight_map(weight)
                                     .distance_combine([](int a, int b) { return std::max(a, b); })
                                     .distance_inf(kInf)
                                     .distance_zero(static_cast<int>(PathKind::kSelf)));
  std::vector<PathFacts> out(n);
  for (VertexId v = 0; v < n; ++v) {
    if (v == source) {
      out[v] = {PathKind::kSelf, std::numeric_limits<double>::infinity()};
      continue;
    }
    if (dist[v] == kInf) {
      continue;  // Unconnected: SYS, no bandwidth.
    }
    double bottleneck = std::numeric_limits<double>::infinity();
    for (VertexId u = v; u != source; u = pred[u]) {
      auto [e, ok] = boost::edge(pred[u], u, g);
      if (ok) {
        bottleneck = std::min(bottleneck, g[e].bandwidth_gbps);
      }
    }
    out[v] = {static_cast<PathKind>(dist[v]), bottleneck};
  }
  return out;
}

// NVLink counts and bandwidths of every GPU pair (row-major, g x g).
struct NvlinkPairs {
  std::vector<int> count;
  std::vector<double> gbps;
};

// Direct GPU-GPU edges count as they are; through each NVSwitch a pair gets the smaller of the
// two GPUs' links (and bandwidth) to that switch.
NvlinkPairs CountNvlinks(const Graph& graph, const std::vector<DeviceId>& gpu_device) {
  const int g = static_cast<int>(gpu_device.size());
  const size_t pairs = static_cast<size_t>(g) * g;
  NvlinkPairs nv{std::vector<int>(pairs, 0), std::vector<double>(pairs, 0.0)};
  std::map<VertexId, std::vector<std::pair<int, double>>> switch_links;  // switch -> (count, bw)
  std::vector<int> gpu_of_vertex(boost::num_vertices(graph), -1);
  for (int i = 0; i < g; ++i) {
    gpu_of_vertex[gpu_device[i]] = i;
  }
  for (auto [it, end] = boost::edges(graph); it != end; ++it) {
    const Link& link = graph[*it];
    if (link.kind != LinkKind::kNvlink) {
      continue;
    }
    VertexId a = boost::source(*it, graph);
    VertexId b = boost::target(*it, graph);
    if (gpu_of_vertex[a] < 0) {
      std::swap(a, b);
    }
    const int ga = gpu_of_vertex[a];
    const int gb = gpu_of_vertex[b];
    if (gb >= 0) {
      nv.count[ga * g + gb] += link.nvlink_count;
      nv.count[gb * g + ga] += link.nvlink_count;
      nv.gbps[ga * g + gb] += link.bandwidth_gbps;
      nv.gbps[gb * g + ga] += link.bandwidth_gbps;
    } else {
      auto& per_gpu = switch_links[b];
      per_gpu.resize(g, {0, 0.0});
      per_gpu[ga].first += link.nvlink_count;
      per_gpu[ga].second += link.bandwidth_gbps;
    }
  }
  for (const auto& [sw, per_gpu] : switch_links) {
    for (int a = 0; a < g; ++a) {
      for (int b = 0; b < g; ++b) {
        if (a == b) {
          continue;
        }
        nv.count[a * g + b] += std::min(per_gpu[a].first, per_gpu[b].first);
        nv.gbps[a * g + b] += std::min(per_gpu[a].second, per_gpu[b].second);
      }
    }
  }
  return nv;
}

// Each GPU's NUMA node: its own, else a C2C-attached socket's, else a new node per group of
// equal CPU affinity (numbered after the largest known one).
std::vector<int> GpuNumaNodes(const Graph& graph, const std::vector<DeviceId>& gpu_device) {
  const int g = static_cast<int>(gpu_device.size());
  std::vector<int> gpu_numa(g, -1);
  int max_known = -1;
  for (int i = 0; i < g; ++i) {
    int numa = graph[gpu_device[i]].numa;
    if (numa < 0) {
      for (auto [it, end] = boost::out_edges(gpu_device[i], graph); it != end; ++it) {
        const VertexId other = boost::target(*it, graph);
        if (graph[*it].kind == LinkKind::kC2c && graph[other].numa >= 0) {
          numa = graph[other].numa;
        }
      }
    }
    gpu_numa[i] = numa;
    max_known = std::max(max_known, numa);
  }
  std::map<std::string, int> affinity_group;
  for (int i = 0; i < g; ++i) {
    if (gpu_numa[i] >= 0) {
      continue;
    }
    const std::string& key = graph[gpu_device[i]].cpu_affinity;
    auto [it, inserted] = affinity_group.emplace(key, max_known + 1);
    if (inserted) {
      ++max_known;
    }
    gpu_numa[i] = it->second;
  }
  return gpu_numa;
}

// The rank of each value among the distinct values (0 for the smallest).
std::vector<int> DenseRanks(const std::vector<int>& values) {
  std::vector<int> distinct = values;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<int> rank(values.size(), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    rank[i] = static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), values[i]) -
                               distinct.begin());
  }
  return rank;
}

// Why link `link_no` of topology `name` cannot be built, or OK: endpoints that exist and differ,
// a bandwidth in (0, 1e6] GB/s, and endpoint kinds that match the link kind.
absl::Status CheckLink(const std::string& name, size_t link_no, const LinkRecord& record,
                       const std::vector<Device>& devices) {
  const Link& link = record.link;
  const int num_devices = static_cast<int>(devices.size());
  if (record.a < 0 || record.a >= num_devices || record.b < 0 || record.b >= num_devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology ", name, ": link ", link_no, " names a device that does not exist"));
  }
  const Device& a = devices[record.a];
  const Device& b = devices[record.b];
  const std::string where = absl::StrCat("topology ", name, ": link ", link_no, " (", a.name, " - ",
                                         b.name, ", ", LinkKindName(link.kind), ")");
  if (record.a == record.b) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": joins a device to itself"));
  }
  if (!(link.bandwidth_gbps > 0) || link.bandwidth_gbps > 1e6) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": bandwidth must be in (0, 1e6] GB/s, got ", link.bandwidth_gbps));
  }
  auto is = [](const Device& d, DeviceKind k) { return d.kind == k; };
  switch (link.kind) {
    case LinkKind::kNvlink: {
      const bool gpu_gpu = is(a, DeviceKind::kGpu) && is(b, DeviceKind::kGpu);
      const bool gpu_switch = (is(a, DeviceKind::kGpu) && is(b, DeviceKind::kNvSwitch)) ||
                              (is(b, DeviceKind::kGpu) && is(a, DeviceKind::kNvSwitch));
      if (!gpu_gpu && !gpu_switch) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": NVLink must join two GPUs or a GPU and an NVSwitch"));
      }
      if (link.nvlink_count < 1 || link.nvlink_count > 64) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": NVLink count must be 1..64, got ", link.nvlink_count));
      }
      break;
    }
    case LinkKind::kPcie:
      if (is(a, DeviceKind::kNvSwitch) || is(b, DeviceKind::kNvSwitch)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": PCIe link to an NVSwitch"));
      }
      if (link.pcie_level < PathKind::kPix || link.pcie_level > PathKind::kNode) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": PCIe level must be PIX, PXB, PHB or NODE"));
      }
      break;
    case LinkKind::kInterSocket:
      if (!is(a, DeviceKind::kCpuSocket) || !is(b, DeviceKind::kCpuSocket)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": inter-socket link must join two CPU sockets"));
      }
      break;
    case LinkKind::kC2c:
      if (!((is(a, DeviceKind::kGpu) && is(b, DeviceKind::kCpuSocket)) ||
            (is(b, DeviceKind::kGpu) && is(a, DeviceKind::kCpuSocket)))) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": chip-to-chip link must join a GPU and a CPU socket"));
      }
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view DeviceKindName(DeviceKind kind) {
  return kDeviceKindNames[static_cast<int>(kind)];
}
absl::string_view PathKindName(PathKind kind) { return kPathKindNames[static_cast<int>(kind)]; }
absl::string_view LinkKindName(LinkKind kind) { return kLinkKindNames[static_cast<int>(kind)]; }

std::optional<DeviceKind> DeviceKindFromName(absl::string_view name) {
  for (size_t i = 0; i < kDeviceKindNames.size(); ++i) {
    if (kDeviceKindNames[i] == name) {
      return static_cast<DeviceKind>(i);
    }
  }
  return std::nullopt;
}

std::optional<PathKind> PcieLevelFromName(absl::string_view name) {
  if (name == "SOC") {
    return PathKind::kSys;  // Drivers before ~2017 printed SOC.
  }
  for (int i = static_cast<int>(PathKind::kPix); i <= static_cast<int>(PathKind::kSys); ++i) {
    if (kPathKindNames[i] == name) {
      return static_cast<PathKind>(i);
    }
  }
  return std::nullopt;
}

std::optional<LinkKind> LinkKindFromName(absl::string_view name) {
  for (size_t i = 0; i < kLinkKindNames.size(); ++i) {
    if (kLinkKindNames[i] == name) {
      return static_cast<LinkKind>(i);
    }
  }
  return std::nullopt;
}

std::vector<NicDistance> Topology::NearestNics(int gpu) const {
  std::vector<NicDistance> out;
  for (const NicDistance& d : nics_by_distance_[gpu]) {
    if (!out.empty() && d.path != out.front().path) {
      break;
    }
    out.push_back(d);
  }
  return out;
}

void Topology::Derive() {
  const Graph& graph = graph_->graph;
  const int g = num_gpus();
  const int nn = num_nics();
  const size_t pairs = static_cast<size_t>(g) * g;
  gpu_path_.assign(pairs, PathKind::kSelf);
  bandwidth_.assign(pairs, 0.0);
  gpu_nic_path_.assign(static_cast<size_t>(g) * nn, PathKind::kSys);
  nics_by_distance_.assign(g, {});
  close_nic_gpus_ = 0;

  NvlinkPairs nv = CountNvlinks(graph, gpu_device_);
  nvlink_count_ = std::move(nv.count);

  // PCIe distances from every GPU.
  for (int a = 0; a < g; ++a) {
    const std::vector<PathFacts> facts = PcieDistancesFrom(graph, gpu_device_[a]);
    for (int b = 0; b < g; ++b) {
      if (a == b) {
        continue;
      }
      const PathFacts& f = facts[gpu_device_[b]];
      if (nvlink_count_[a * g + b] > 0) {
        gpu_path_[a * g + b] = PathKind::kNvlink;
        bandwidth_[a * g + b] = nv.gbps[a * g + b];
      } else {
        gpu_path_[a * g + b] = f.kind;
        bandwidth_[a * g + b] = f.kind == PathKind::kSys && f.bottleneck_gbps == 0
                                    ? kInterSocketGbps  // Unconnected: assume the SMP link.
                                    : f.bottleneck_gbps;
      }
    }
    for (int j = 0; j < nn; ++j) {
      const PathKind kind = facts[nic_device_[j]].kind;
      gpu_nic_path_[a * nn + j] = kind;
      nics_by_distance_[a].push_back({j, kind});
      if (kind <= PathKind::kPxb) {
        close_nic_gpus_ |= 1u << a;
      }
    }
    std::stable_sort(nics_by_distance_[a].begin(), nics_by_distance_[a].end(),
                     [](const NicDistance& x, const NicDistance& y) { return x.path < y.path; });
  }

  gpu_numa_ = GpuNumaNodes(graph, gpu_device_);
  gpu_numa_rank_ = DenseRanks(gpu_numa_);
}

TopologyBuilder::TopologyBuilder(std::string name, std::string gpu_product)
    : name_(std::move(name)), gpu_product_(std::move(gpu_product)) {}

DeviceId TopologyBuilder::AddDevice(Device device) {
  device.index = count_[static_cast<int>(device.kind)]++;
  PathKind level = PathKind::kSys;
  switch (device.kind) {
    case DeviceKind::kPcieSwitch:
      level = PathKind::kPix;
      break;
    case DeviceKind::kHostBridge:
      level = PathKind::kPhb;
      break;
    case DeviceKind::kCpuSocket:
      level = PathKind::kNode;
      break;
    default:
      break;
  }
  level_.push_back(level);
  devices_.push_back(std::move(device));
  return num_devices() - 1;
}

DeviceId TopologyBuilder::AddGpu(std::string name, int numa, std::string cpu_affinity) {
  return AddDevice({DeviceKind::kGpu, 0, std::move(name), numa, std::move(cpu_affinity)});
}
DeviceId TopologyBuilder::AddNic(std::string name) {
  return AddDevice({DeviceKind::kNic, 0, std::move(name), -1, ""});
}
DeviceId TopologyBuilder::AddNvSwitch(std::string name) {
  return AddDevice({DeviceKind::kNvSwitch, 0, std::move(name), -1, ""});
}
DeviceId TopologyBuilder::AddPcieSwitch(std::string name, PathKind level) {
  const DeviceId v = AddDevice({DeviceKind::kPcieSwitch, 0, std::move(name), -1, ""});
  level_[v] = level == PathKind::kPxb ? PathKind::kPxb : PathKind::kPix;
  return v;
}
DeviceId TopologyBuilder::AddHostBridge(std::string name) {
  return AddDevice({DeviceKind::kHostBridge, 0, std::move(name), -1, ""});
}
DeviceId TopologyBuilder::AddCpuSocket(std::string name, int numa) {
  return AddDevice({DeviceKind::kCpuSocket, 0, std::move(name), numa, ""});
}

void TopologyBuilder::AddLink(DeviceId a, DeviceId b, const Link& link) {
  links_.push_back({a, b, link});
}
void TopologyBuilder::AddNvlink(DeviceId a, DeviceId b, int links, double per_link_gbps) {
  AddLink(a, b, {LinkKind::kNvlink, links, PathKind::kPix, links * per_link_gbps});
}
void TopologyBuilder::AddPcie(DeviceId child, DeviceId parent, double gbps) {
  const PathKind level = parent >= 0 && parent < num_devices() ? level_[parent] : PathKind::kSys;
  AddLink(child, parent, {LinkKind::kPcie, 0, level, gbps});
}
void TopologyBuilder::AddInterSocket(DeviceId a, DeviceId b, double gbps) {
  AddLink(a, b, {LinkKind::kInterSocket, 0, PathKind::kSys, gbps});
}
void TopologyBuilder::AddC2c(DeviceId gpu, DeviceId socket, double gbps) {
  AddLink(gpu, socket, {LinkKind::kC2c, 0, PathKind::kPix, gbps});
}

absl::StatusOr<Topology> TopologyBuilder::Build() && {
  const int gpus = count_[static_cast<int>(DeviceKind::kGpu)];
  if (gpus < 1 || gpus > kMaxGpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology ", name_, ": has ", gpus, " GPUs; must be 1..", kMaxGpus));
  }
  if (num_devices() > kMaxDevices) {
    return absl::InvalidArgumentError(absl::StrCat("topology ", name_, ": ", num_devices(),
                                                   " devices exceed the cap of ", kMaxDevices));
  }
  if (static_cast<int>(links_.size()) > kMaxLinks) {
    return absl::InvalidArgumentError(absl::StrCat("topology ", name_, ": ", links_.size(),
                                                   " links exceed the cap of ", kMaxLinks));
  }
  for (size_t link_no = 0; link_no < links_.size(); ++link_no) {
    ACCELSCHED_RETURN_IF_ERROR(CheckLink(name_, link_no, links_[link_no], devices_));
  }

  Topology topo;
  topo.name_ = std::move(name_);
  topo.gpu_product_ = std::move(gpu_product_);
  auto holder = std::make_shared<internal::GraphHolder>();
  for (const Device& d : devices_) {
    boost::add_vertex(d, holder->graph);
  }
  for (const LinkRecord& r : links_) {
    boost::add_edge(r.a, r.b, r.link, holder->graph);
  }
  topo.graph_ = std::move(holder);
  topo.devices_ = std::move(devices_);
  topo.links_ = std::move(links_);
  topo.gpu_device_.assign(gpus, 0);
  topo.nic_device_.assign(count_[static_cast<int>(DeviceKind::kNic)], 0);
  for (DeviceId v = 0; v < static_cast<DeviceId>(topo.devices_.size()); ++v) {
    const Device& d = topo.devices_[v];
    if (d.kind == DeviceKind::kGpu) {
      topo.gpu_device_[d.index] = v;
    }
    if (d.kind == DeviceKind::kNic) {
      topo.nic_device_[d.index] = v;
    }
  }
  topo.Derive();
  return topo;
}

}  // namespace accelsched::topology
