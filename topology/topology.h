// The hardware model of one GPU node: devices (GPUs, NVSwitches, PCIe switches and host bridges,
// CPU sockets / NUMA nodes, NICs) and the links between them, held in a Boost.Graph graph, plus
// the matrices derived from it once at Build() time (GPU x GPU bandwidth, NVLink count and path
// kind; GPU x NIC path kind; each GPU's nearest NICs and NUMA node).
//
// How path kinds come out of the graph (the nvidia-smi `topo -m` vocabulary):
//   * NVLink: a GPU's NVLink links are edges of kind kNvlink, either straight to another GPU
//     (DGX-1 hybrid cube-mesh) or to an NVSwitch vertex (A100/H100/B200: all-to-all). The NVLink
//     count between two GPUs is direct links + sum over switches of min(links of a, links of b).
//   * PCIe: every kPcie edge is labelled with the level of its upper end: an edge into a PCIe
//     switch is PIX, into an upper-level bridge PXB, into a host bridge PHB, into a CPU socket
//     NODE; kInterSocket edges between sockets are SYS. The path kind between two PCIe endpoints is
//     the largest label on the minimax path between them, which on a tree is the level of their
//     lowest common ancestor, exactly nvidia-smi's definition. Unconnected endpoints are SYS.
//   * kC2c edges (Grace <-> Blackwell NVLink-C2C) give NUMA locality, not PCIe distance.
//
// Bandwidths are GB/s in one direction. NVLink edges carry count x per-link bandwidth of their
// generation; the GPU pair bandwidth over PCIe is the smallest edge bandwidth on the path (so an
// inter-socket hop caps it, as NCCL's topology model does).
//
// The Boost.Graph graph itself is declared in topology/topology_graph.h, so that only the
// translation units that run graph algorithms compile Boost.Graph; everyone else sees the device
// and link lists (devices(), links()), which are the graph's vertices and edges in order.
//
// Thread-safety: a built Topology is immutable and safe to share between threads.
// Ownership: a Topology shares its immutable graph between copies (shared_ptr<const>).
#ifndef ACCELSCHED_TOPOLOGY_TOPOLOGY_H_
#define ACCELSCHED_TOPOLOGY_TOPOLOGY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace accelsched::topology {

// Up to this many GPUs per node. Device-set search is exact up to here (2^16 free masks).
inline constexpr int kMaxGpus = 16;
// The largest NUMA node id a device may name (the annotation's and the matrix parser's rule).
inline constexpr int kMaxNumaNode = 4095;
// Caps that keep a decoded annotation bounded.
inline constexpr int kMaxDevices = 512;
inline constexpr int kMaxLinks = 4096;

// A set of GPU indices of one node: bit i = GPU i.
using GpuMask = uint32_t;

enum class DeviceKind : uint8_t { kGpu, kNvSwitch, kPcieSwitch, kHostBridge, kCpuSocket, kNic };

// nvidia-smi's connection kinds, ordered from closest to farthest. kNvlink only ever describes a
// GPU pair; PCIe levels describe PCIe paths and the labels of kPcie edges.
enum class PathKind : uint8_t { kSelf, kNvlink, kPix, kPxb, kPhb, kNode, kSys };

enum class LinkKind : uint8_t { kNvlink, kPcie, kInterSocket, kC2c };

absl::string_view DeviceKindName(DeviceKind kind);
absl::string_view PathKindName(PathKind kind);  // "X", "NV", "PIX", "PXB", "PHB", "NODE", "SYS"
absl::string_view LinkKindName(LinkKind kind);
std::optional<DeviceKind> DeviceKindFromName(absl::string_view name);
// Accepts "PIX", "PXB", "PHB", "NODE", "SYS" and the old spelling "SOC" (= SYS).
std::optional<PathKind> PcieLevelFromName(absl::string_view name);
std::optional<LinkKind> LinkKindFromName(absl::string_view name);

struct Device {
  DeviceKind kind = DeviceKind::kGpu;
  int index = 0;             // Index among devices of the same kind (GPU i, NIC j, ...).
  std::string name;          // "GPU0", "mlx5_3", "nvswitch0", ...
  int numa = -1;             // NUMA node (GPUs, sockets); -1 when unknown.
  std::string cpu_affinity;  // GPUs: cores local to the GPU, as nvidia-smi prints them.
};

struct Link {
  LinkKind kind = LinkKind::kPcie;
  int nvlink_count = 0;                  // kNvlink only.
  PathKind pcie_level = PathKind::kPix;  // kPcie / kInterSocket: level of the upper end.
  double bandwidth_gbps = 0;             // One direction.
};

// A device's position in Topology::devices() (= its Boost.Graph vertex).
using DeviceId = int;

// One edge of the graph: devices `a` and `b` joined by `link` (for kPcie, `a` is the lower end).
struct LinkRecord {
  DeviceId a = 0;
  DeviceId b = 0;
  Link link;
};

namespace internal {
struct GraphHolder;  // Defined in topology/topology_graph.h.
}  // namespace internal

struct NicDistance {
  int nic = 0;  // NIC index.
  PathKind path = PathKind::kSys;
  friend bool operator==(const NicDistance&, const NicDistance&) = default;
};

// Nominal link bandwidths (GB/s, one direction) used by profiles and the parser.
inline constexpr double kNvlink2LinkGbps = 25;  // V100.
inline constexpr double kNvlink3LinkGbps = 25;  // A100: 12 links = 300 GB/s.
inline constexpr double kNvlink4LinkGbps = 25;  // H100/H200: 18 links = 450 GB/s.
inline constexpr double kNvlink5LinkGbps = 50;  // B200/GB200: 18 links = 900 GB/s.
inline constexpr double kPcieGen3Gbps = 12;     // Effective x16, as NCCL's PCI_BW.
inline constexpr double kPcieGen4Gbps = 24;
inline constexpr double kPcieGen5Gbps = 48;
inline constexpr double kInterSocketGbps = 10;  // QPI/UPI/xGMI as NCCL models it.

class Topology {
 public:
  Topology(const Topology&) = default;
  Topology& operator=(const Topology&) = default;
  Topology(Topology&&) = default;
  Topology& operator=(Topology&&) = default;
  ~Topology() = default;
  const std::string& name() const { return name_; }
  // The GPU product as GPU feature discovery reports it (may be empty).
  const std::string& gpu_product() const { return gpu_product_; }
  // Every device and link, in insertion order (the annotation codec writes them as they are).
  absl::Span<const Device> devices() const { return devices_; }
  absl::Span<const LinkRecord> links() const { return links_; }
  // The Boost.Graph form (include topology/topology_graph.h to use it).
  const internal::GraphHolder& graph() const { return *graph_; }

  int num_gpus() const { return static_cast<int>(gpu_device_.size()); }
  int num_nics() const { return static_cast<int>(nic_device_.size()); }
  GpuMask all_gpus() const { return (1u << num_gpus()) - 1; }  // num_gpus() <= kMaxGpus.
  const Device& gpu(int i) const { return devices_[gpu_device_[i]]; }
  const Device& nic(int j) const { return devices_[nic_device_[j]]; }

  // GPU pair facts; a == b gives kSelf / 0 links / 0 bandwidth.
  PathKind GpuPath(int a, int b) const { return gpu_path_[a * num_gpus() + b]; }
  int NvlinkCount(int a, int b) const { return nvlink_count_[a * num_gpus() + b]; }
  double Bandwidth(int a, int b) const { return bandwidth_[a * num_gpus() + b]; }

  PathKind GpuNicPath(int gpu, int nic) const { return gpu_nic_path_[gpu * num_nics() + nic]; }
  // All NICs sorted by distance from `gpu` (then by index).
  absl::Span<const NicDistance> NicsByDistance(int gpu) const { return nics_by_distance_[gpu]; }
  // The NICs at the smallest distance from `gpu` (empty if the node has no NIC).
  std::vector<NicDistance> NearestNics(int gpu) const;
  // True if `gpu` has a NIC at PIX or PXB distance (GPUDirect RDMA without the host bridge).
  bool HasCloseNic(int gpu) const { return (close_nic_gpus_ >> gpu) & 1u; }
  GpuMask close_nic_gpus() const { return close_nic_gpus_; }

  // The GPU's NUMA node: the NUMA Affinity nvidia-smi reported or the profile sets; else a
  // locality group derived from the CPU affinity (GPUs with the same affinity share one); else 0.
  int GpuNuma(int gpu) const { return gpu_numa_[gpu]; }
  // Distinct NUMA nodes of the GPUs, as a bit per dense NUMA rank (see NumaRank).
  int NumaRank(int gpu) const { return gpu_numa_rank_[gpu]; }

 private:
  friend class TopologyBuilder;
  Topology() = default;
  void Derive();  // Fills the derived matrices from graph_; cannot fail after Build validated.

  std::string name_;
  std::string gpu_product_;
  std::vector<Device> devices_;
  std::vector<LinkRecord> links_;
  std::shared_ptr<const internal::GraphHolder> graph_;
  std::vector<DeviceId> gpu_device_;  // By GPU index.
  std::vector<DeviceId> nic_device_;  // By NIC index.
  std::vector<PathKind> gpu_path_;
  std::vector<int> nvlink_count_;
  std::vector<double> bandwidth_;
  std::vector<PathKind> gpu_nic_path_;
  std::vector<std::vector<NicDistance>> nics_by_distance_;
  GpuMask close_nic_gpus_ = 0;
  std::vector<int> gpu_numa_;
  std::vector<int> gpu_numa_rank_;
};

// Builds a Topology. Devices of one kind get indices 0, 1, ... in the order they are added.
// Not thread-safe; use from one thread.
class TopologyBuilder {
 public:
  explicit TopologyBuilder(std::string name, std::string gpu_product = "");

  DeviceId AddGpu(std::string name, int numa = -1, std::string cpu_affinity = "");
  DeviceId AddNic(std::string name);
  DeviceId AddNvSwitch(std::string name);
  // A PCIe switch. `level` is kPix for a leaf switch (devices directly below it are PIX to each
  // other) or kPxb for an upper-level bridge that joins switches.
  DeviceId AddPcieSwitch(std::string name, PathKind level = PathKind::kPix);
  DeviceId AddHostBridge(std::string name);
  DeviceId AddCpuSocket(std::string name, int numa = -1);

  void AddNvlink(DeviceId a, DeviceId b, int links, double per_link_gbps);
  // A PCIe edge from `child` up to `parent`; its level is implied by the parent's kind.
  void AddPcie(DeviceId child, DeviceId parent, double gbps);
  void AddInterSocket(DeviceId a, DeviceId b, double gbps = kInterSocketGbps);
  void AddC2c(DeviceId gpu, DeviceId socket, double gbps);
  // Low-level: any edge as given (the annotation decoder uses it; Build() validates).
  void AddLink(DeviceId a, DeviceId b, const Link& link);
  DeviceId AddDevice(Device device);
  int num_devices() const { return static_cast<int>(devices_.size()); }

  // Validates (GPU count 1..kMaxGpus, devices/links under the caps, no self loops, link kinds
  // that match their endpoints, positive bandwidths) and derives the matrices.
  absl::StatusOr<Topology> Build() &&;

 private:
  std::string name_;
  std::string gpu_product_;
  std::vector<Device> devices_;
  std::vector<LinkRecord> links_;
  int count_[6] = {0, 0, 0, 0, 0, 0};
  std::vector<PathKind> level_;  // Per vertex: the level an edge into it carries.
};

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_TOPOLOGY_H_
