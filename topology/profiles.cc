#include "topology/profiles.h"

#include <algorithm>
#include <array>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"

namespace accelsched::topology {
namespace {

// CPU affinity strings of a 2 x 56-core Sapphire/Emerald Rapids host (DGX H100/H200/B200).
constexpr const char* kXeon56Affinity[2] = {"0-55,112-167", "56-111,168-223"};

Topology MustBuild(TopologyBuilder&& b) {
  absl::StatusOr<Topology> t = std::move(b).Build();
  // Profiles are fixed data covered by tests; a failure here is a programming error.
  if (!t.ok()) {
    std::abort();
  }
  return *std::move(t);
}

// A PLX switch holding GPUs 2*sw and 2*sw+1 and HCA mlx5_<sw> (the DGX-1 / DGX-2 PCIe layout).
DeviceId AddGpuPairSwitch(TopologyBuilder& b, absl::Span<const DeviceId> gpu, int sw, double gbps) {
  const DeviceId pcie = b.AddPcieSwitch(absl::StrCat("plx", sw));
  const size_t first = static_cast<size_t>(sw) * 2;
  b.AddPcie(gpu[first], pcie, gbps);
  b.AddPcie(gpu[first + 1], pcie, gbps);
  b.AddPcie(b.AddNic(absl::StrCat("mlx5_", sw)), pcie, gbps);
  return pcie;
}

// DGX-1 / HGX-1 with 8 V100 SXM2: the hybrid cube-mesh (DESIGN section 11). Each GPU pair under
// one PCIe switch shares one EDR IB HCA; two switches per socket.
Topology Dgx1V100(const std::string& product) {
  TopologyBuilder b("dgx1-v100", product);
  std::array<DeviceId, 8> gpu{};
  for (int i = 0; i < 8; ++i) {
    gpu[i] = b.AddGpu(absl::StrCat("GPU", i), i / 4, i < 4 ? "0-19,40-59" : "20-39,60-79");
  }
  const int nv2[][2] = {{0, 3}, {0, 4}, {1, 2}, {1, 5}, {2, 3}, {4, 7}, {5, 6}, {6, 7}};
  const int nv1[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 6}, {3, 7}, {4, 5}, {4, 6}, {5, 7}};
  for (const auto& p : nv2) {
    b.AddNvlink(gpu[p[0]], gpu[p[1]], 2, kNvlink2LinkGbps);
  }
  for (const auto& p : nv1) {
    b.AddNvlink(gpu[p[0]], gpu[p[1]], 1, kNvlink2LinkGbps);
  }
  std::array<DeviceId, 2> socket{};
  for (int s = 0; s < 2; ++s) {
    socket[s] = b.AddCpuSocket(absl::StrCat("cpu", s), s);
  }
  b.AddInterSocket(socket[0], socket[1]);
  for (int sw = 0; sw < 4; ++sw) {
    const DeviceId pcie = AddGpuPairSwitch(b, gpu, sw, kPcieGen3Gbps);
    const DeviceId hb = b.AddHostBridge(absl::StrCat("root-port", sw));
    b.AddPcie(pcie, hb, kPcieGen3Gbps);
    b.AddPcie(hb, socket[sw / 2], kPcieGen3Gbps);
  }
  return MustBuild(std::move(b));
}

// DGX-2 / HGX-2 with 16 V100 SXM3: 12 NVSwitches, every GPU pair NV6 (one link to each of the six
// switches of its baseboard; the boards are bridged switch to switch). Modelled as one switch
// fabric with 6 links per GPU. 8 PCIe switches of 2 GPUs + 1 HCA, four per socket.
Topology Hgx2V100(const std::string& product) {
  TopologyBuilder b("hgx2-v100", product);
  std::array<DeviceId, 2> socket{};
  for (int s = 0; s < 2; ++s) {
    socket[s] = b.AddCpuSocket(absl::StrCat("cpu", s), s);
  }
  b.AddInterSocket(socket[0], socket[1]);
  const DeviceId fabric = b.AddNvSwitch("nvswitch-fabric");
  std::array<DeviceId, 16> gpu{};
  for (int i = 0; i < 16; ++i) {
    gpu[i] = b.AddGpu(absl::StrCat("GPU", i), i / 8, i < 8 ? "0-23,48-71" : "24-47,72-95");
    b.AddNvlink(gpu[i], fabric, 6, kNvlink2LinkGbps);
  }
  for (int sw = 0; sw < 8; ++sw) {
    const DeviceId pcie = AddGpuPairSwitch(b, gpu, sw, kPcieGen3Gbps);
    b.AddPcie(pcie, socket[sw / 4], kPcieGen3Gbps);
  }
  return MustBuild(std::move(b));
}

// DGX A100: 6 NVSwitches (2 links per GPU each = NV12). Four PCIe complexes, each an upper bridge
// over two GPU leaf switches and one leaf with 2 compute HCAs (PXB to both GPUs), one complex
// per NUMA node of the NPS4 layout: GPU0,1 -> NUMA 3, GPU2,3 -> 1, GPU4,5 -> 7, GPU6,7 -> 5.
// AMD NPS4 NUMA nodes print SYS to each other, so each is a CPU-socket vertex here. The two
// storage ports (PIX to each other, SYS to all GPUs) sit on NUMA 0 (placement assumed).
Topology DgxA100(const std::string& product) {
  TopologyBuilder b("dgx-a100", product);
  constexpr int kNuma[4] = {3, 1, 7, 5};
  constexpr const char* kAffinity[4] = {"48-63,176-191", "16-31,144-159", "112-127,240-255",
                                        "80-95,208-223"};
  std::array<DeviceId, 6> nvswitch{};
  for (int s = 0; s < 6; ++s) {
    nvswitch[s] = b.AddNvSwitch(absl::StrCat("nvswitch", s));
  }
  std::array<DeviceId, 5> numa_node{};
  for (int c = 0; c < 4; ++c) {
    numa_node[c] = b.AddCpuSocket(absl::StrCat("numa", kNuma[c]), kNuma[c]);
  }
  numa_node[4] = b.AddCpuSocket("numa0", 0);
  for (int c = 1; c < 5; ++c) {
    b.AddInterSocket(numa_node[0], numa_node[c]);
  }
  for (int c = 0; c < 4; ++c) {
    const DeviceId bridge = b.AddPcieSwitch(absl::StrCat("complex", c), PathKind::kPxb);
    const DeviceId hb = b.AddHostBridge(absl::StrCat("root-port", c));
    b.AddPcie(bridge, hb, kPcieGen4Gbps);
    b.AddPcie(hb, numa_node[c], kPcieGen4Gbps);
    for (int k = 0; k < 2; ++k) {
      const int i = 2 * c + k;
      const DeviceId gpu = b.AddGpu(absl::StrCat("GPU", i), kNuma[c], kAffinity[c]);
      for (const DeviceId sw : nvswitch) {
        b.AddNvlink(gpu, sw, 2, kNvlink3LinkGbps);
      }
      const DeviceId leaf = b.AddPcieSwitch(absl::StrCat("gpu-switch", i));
      b.AddPcie(gpu, leaf, kPcieGen4Gbps);
      b.AddPcie(leaf, bridge, kPcieGen4Gbps);
    }
    const DeviceId nic_leaf = b.AddPcieSwitch(absl::StrCat("nic-switch", c));
    for (int k = 0; k < 2; ++k) {
      b.AddPcie(b.AddNic(absl::StrCat("mlx5_", 2 * c + k)), nic_leaf, kPcieGen4Gbps);
    }
    b.AddPcie(nic_leaf, bridge, kPcieGen4Gbps);
  }
  const DeviceId storage = b.AddPcieSwitch("storage-switch");
  b.AddPcie(b.AddNic("mlx5_8"), storage, kPcieGen4Gbps);
  b.AddPcie(b.AddNic("mlx5_9"), storage, kPcieGen4Gbps);
  b.AddPcie(storage, numa_node[4], kPcieGen4Gbps);
  return MustBuild(std::move(b));
}

// DGX/HGX H100 and H200 (NVLink4, 4 NVSwitches with 5+4+4+5 links per GPU = NV18) and DGX B200
// (NVLink5, 18 links x 50 GB/s; modelled as 2 NVSwitch chips of 9 links each, chip count
// unverified). GPU0-3 on socket 0, GPU4-7 on socket 1; each GPU shares a PCIe switch with its
// single-port ConnectX-7 (PIX). NIC names follow the DGX H100 user guide (table 6): GPU0 mlx5_0,
// GPU1 mlx5_3, GPU2 mlx5_4, GPU3 mlx5_5, GPU4 mlx5_6, GPU5 mlx5_9, GPU6 mlx5_10, GPU7 mlx5_11; the
// gaps (mlx5_1/2 on socket 0, mlx5_7/8 on socket 1) are the storage ports. B200 reuses this
// naming (assumed; read the node's own matrix when it matters).
Topology HgxHopperOrBlackwell(const std::string& name, const std::string& product, bool blackwell) {
  TopologyBuilder b(name, product);
  const std::vector<int> links_per_switch =
      blackwell ? std::vector<int>{9, 9} : std::vector<int>{5, 4, 4, 5};
  const double per_link = blackwell ? kNvlink5LinkGbps : kNvlink4LinkGbps;
  std::vector<DeviceId> nvswitch;
  for (size_t s = 0; s < links_per_switch.size(); ++s) {
    nvswitch.push_back(b.AddNvSwitch(absl::StrCat("nvswitch", s)));
  }
  std::array<DeviceId, 2> socket{};
  for (int s = 0; s < 2; ++s) {
    socket[s] = b.AddCpuSocket(absl::StrCat("cpu", s), s);
  }
  b.AddInterSocket(socket[0], socket[1]);
  constexpr int kComputeNic[8] = {0, 3, 4, 5, 6, 9, 10, 11};
  // Add NICs in mlx5 order so that NIC index j is mlx5_j.
  std::array<DeviceId, 12> nic{};
  for (int j = 0; j < 12; ++j) {
    nic[j] = b.AddNic(absl::StrCat("mlx5_", j));
  }
  const double pcie = kPcieGen5Gbps;  // H100, H200 and B200 hosts are PCIe Gen5.
  for (int i = 0; i < 8; ++i) {
    const DeviceId gpu = b.AddGpu(absl::StrCat("GPU", i), i / 4, kXeon56Affinity[i / 4]);
    for (size_t s = 0; s < nvswitch.size(); ++s) {
      b.AddNvlink(gpu, nvswitch[s], links_per_switch[s], per_link);
    }
    const DeviceId leaf = b.AddPcieSwitch(absl::StrCat("pcie-switch", i));
    b.AddPcie(gpu, leaf, pcie);
    b.AddPcie(nic[kComputeNic[i]], leaf, pcie);
    b.AddPcie(leaf, socket[i / 4], pcie);
  }
  constexpr int kStorage[4] = {1, 2, 7, 8};
  for (int k = 0; k < 4; ++k) {
    const DeviceId leaf = b.AddPcieSwitch(absl::StrCat("storage-switch", k));
    b.AddPcie(nic[kStorage[k]], leaf, pcie);
    b.AddPcie(leaf, socket[k / 2], pcie);
  }
  return MustBuild(std::move(b));
}

// GB200 NVL72 compute tray: 2 Grace CPUs, each joined by NVLink-C2C to 2 Blackwell GPUs; every
// GPU has 18 NVLink5 links into the rack's NVSwitch trays, so all 72 GPUs of the rack form one
// NVLink domain (named by the `nvidia.com/gpu.clique` label, handled by gang placement). Inside
// the tray the fabric is one NVSwitch vertex. One ConnectX-7 per GPU at PIX.
Topology Gb200Tray(const std::string& product) {
  TopologyBuilder b("gb200-nvl72-tray", product);
  const DeviceId fabric = b.AddNvSwitch("nvl72-fabric");
  std::array<DeviceId, 2> grace{};
  for (int s = 0; s < 2; ++s) {
    grace[s] = b.AddCpuSocket(absl::StrCat("grace", s), s);
  }
  b.AddInterSocket(grace[0], grace[1], 100);  // Grace-Grace C2C.
  constexpr const char* kAffinity[2] = {"0-71", "72-143"};
  for (int i = 0; i < 4; ++i) {
    const DeviceId gpu = b.AddGpu(absl::StrCat("GPU", i), i / 2, kAffinity[i / 2]);
    b.AddNvlink(gpu, fabric, 18, kNvlink5LinkGbps);
    b.AddC2c(gpu, grace[i / 2], 450);
    const DeviceId leaf = b.AddPcieSwitch(absl::StrCat("pcie-switch", i));
    b.AddPcie(gpu, leaf, kPcieGen5Gbps);
    b.AddPcie(b.AddNic(absl::StrCat("mlx5_", i)), leaf, kPcieGen5Gbps);
    b.AddPcie(leaf, grace[i / 2], kPcieGen5Gbps);
  }
  return MustBuild(std::move(b));
}

// PCIe-only servers. `per_switch` GPUs share a PCIe switch (0 = each GPU straight under a host
// bridge); switches are spread evenly over `sockets`; `nic_per_switch` adds one NIC per switch.
// The layouts are the common ones of such servers (assumed, not from one vendor's manual).
Topology PcieBox(const std::string& name, const std::string& product, int gpus, int sockets,
                 int per_switch, bool nic_per_switch, double gbps) {
  TopologyBuilder b(name, product);
  std::vector<DeviceId> socket;
  socket.reserve(static_cast<size_t>(sockets));
  for (int s = 0; s < sockets; ++s) {
    socket.push_back(b.AddCpuSocket(absl::StrCat("cpu", s), s));
  }
  for (int s = 1; s < sockets; ++s) {
    b.AddInterSocket(socket[0], socket[s]);
  }
  const int groups = per_switch > 0 ? gpus / per_switch : gpus;
  const int size = per_switch > 0 ? per_switch : 1;
  for (int grp = 0; grp < groups; ++grp) {
    const int s = grp * sockets / groups;
    const DeviceId hb = b.AddHostBridge(absl::StrCat("root-port", grp));
    b.AddPcie(hb, socket[s], gbps);
    DeviceId parent = hb;
    if (per_switch > 0) {
      parent = b.AddPcieSwitch(absl::StrCat("pcie-switch", grp));
      b.AddPcie(parent, hb, gbps);
    }
    for (int k = 0; k < size; ++k) {
      const int i = grp * size + k;
      b.AddPcie(b.AddGpu(absl::StrCat("GPU", i), s, ""), parent, gbps);
    }
    if (nic_per_switch) {
      b.AddPcie(b.AddNic(absl::StrCat("mlx5_", grp)), parent, gbps);
    }
  }
  return MustBuild(std::move(b));
}

struct ProfileEntry {
  ProfileInfo info;
  std::vector<std::string> products;  // Lower-case substrings of nvidia.com/gpu.product.
  std::vector<std::string> excludes;  // Lower-case substrings that rule the profile out.
  std::function<Topology(const std::string& product)> make;
};

const std::vector<ProfileEntry>& Entries() {
  static const auto* const kEntries = new std::vector<ProfileEntry>{
      {{"dgx1-v100", "DGX-1/HGX-1: 8x V100 SXM2, NVLink2 hybrid cube-mesh (NV1/NV2), 4 EDR HCAs",
        8},
       {"v100-sxm2"},
       {},
       Dgx1V100},
      {{"hgx2-v100", "DGX-2/HGX-2: 16x V100 SXM3, 12 NVSwitches (NV6 all-to-all)", 16},
       {"v100-sxm3"},
       {},
       Hgx2V100},
      {{"dgx-a100", "DGX/HGX A100: 8x A100 SXM4, 6 NVSwitches (NV12), 4 PCIe complexes, NPS4", 8},
       {"a100-sxm"},
       {},
       DgxA100},
      {{"hgx-h100", "DGX/HGX H100: 8x H100 SXM5, 4 NVSwitches (NV18), 1 NIC per GPU at PIX", 8},
       {"h100"},
       {"pcie", "nvl", "gh200"},
       [](const std::string& p) { return HgxHopperOrBlackwell("hgx-h100", p, false); }},
      {{"hgx-h200", "DGX/HGX H200: 8x H200 SXM5, 4 NVSwitches (NV18), 1 NIC per GPU at PIX", 8},
       {"h200"},
       {"nvl", "gh200"},
       [](const std::string& p) { return HgxHopperOrBlackwell("hgx-h200", p, false); }},
      {{"dgx-b200", "DGX/HGX B200: 8x B200, NVLink5 (NV18, 900 GB/s), 1 NIC per GPU at PIX", 8},
       {"b200"},
       {"gb200"},
       [](const std::string& p) { return HgxHopperOrBlackwell("dgx-b200", p, true); }},
      {{"gb200-nvl72-tray", "GB200 NVL72 compute tray: 4x B200 + 2 Grace (C2C), rack NVLink domain",
        4},
       {"gb200"},
       {},
       Gb200Tray},
      {{"pcie-8x-l40s", "8x L40S PCIe Gen4, 2 sockets, 2 GPUs + 1 NIC per PCIe switch", 8},
       {"l40s"},
       {},
       [](const std::string& p) {
         return PcieBox("pcie-8x-l40s", p, 8, 2, 2, true, kPcieGen4Gbps);
       }},
      {{"pcie-4x-a10", "4x A10 PCIe Gen4, 1 socket, 2 GPUs per PCIe switch", 4},
       {"a10"},
       {"a100"},
       [](const std::string& p) {
         return PcieBox("pcie-4x-a10", p, 4, 1, 2, false, kPcieGen4Gbps);
       }},
      {{"pcie-4x-t4", "4x T4 PCIe Gen3, 2 sockets, each GPU on its own root port", 4},
       {"t4"},
       {},
       [](const std::string& p) {
         return PcieBox("pcie-4x-t4", p, 4, 2, 0, false, kPcieGen3Gbps);
       }},
      {{"pcie-2x-t4", "2x T4 PCIe Gen3, 1 socket, each GPU on its own root port", 2},
       {"t4"},
       {},
       [](const std::string& p) {
         return PcieBox("pcie-2x-t4", p, 2, 1, 0, false, kPcieGen3Gbps);
       }},
  };
  return *kEntries;
}

}  // namespace

const std::vector<ProfileInfo>& BuiltinProfiles() {
  static const auto* const kInfos = [] {
    auto* infos = new std::vector<ProfileInfo>;
    for (const ProfileEntry& e : Entries()) {
      infos->push_back(e.info);
    }
    return infos;
  }();
  return *kInfos;
}

absl::StatusOr<Topology> BuiltinProfile(absl::string_view name) {
  std::vector<std::string> names;
  for (const ProfileEntry& e : Entries()) {
    if (e.info.name == name) {
      return e.make("");
    }
    names.push_back(e.info.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown hardware profile \"", name,
                                          "\"; known profiles: ", absl::StrJoin(names, ", ")));
}

Topology GenericPcieTopology(int gpus, std::string gpu_product) {
  gpus = std::clamp(gpus, 1, kMaxGpus);
  TopologyBuilder b(absl::StrCat("generic-pcie-", gpus), std::move(gpu_product));
  const DeviceId socket = b.AddCpuSocket("cpu0", 0);
  const DeviceId hb = b.AddHostBridge("host-bridge0");
  b.AddPcie(hb, socket, kPcieGen4Gbps);
  for (int i = 0; i < gpus; ++i) {
    b.AddPcie(b.AddGpu(absl::StrCat("GPU", i), 0, ""), hb, kPcieGen4Gbps);
  }
  return MustBuild(std::move(b));
}

ProfileSelection ProfileForNode(absl::string_view gpu_product, int gpu_count) {
  const std::string product = absl::AsciiStrToLower(gpu_product);
  for (const ProfileEntry& e : Entries()) {
    const bool match =
        std::any_of(e.products.begin(), e.products.end(),
                    [&](const std::string& s) { return absl::StrContains(product, s); }) &&
        std::none_of(e.excludes.begin(), e.excludes.end(),
                     [&](const std::string& s) { return absl::StrContains(product, s); });
    if (match && (gpu_count <= 0 || gpu_count == e.info.gpus)) {
      return {e.make(std::string{gpu_product}), false, ""};
    }
  }
  const int gpus = gpu_count > 0 ? gpu_count : 1;
  return {GenericPcieTopology(gpus, std::string{gpu_product}), true,
          absl::StrCat("no built-in topology for product \"", gpu_product, "\" with ",
                       gpu_count > 0 ? absl::StrCat(gpu_count) : std::string("unknown"),
                       " GPUs; assuming ", std::min(std::max(gpus, 1), kMaxGpus),
                       " GPUs equal over PCIe (publish accelsched.io/topology for this node)")};
}

}  // namespace accelsched::topology
