#include "topology/topology.h"

#include <string>

#include "gtest/gtest.h"

#include "topology/topology_graph.h"

namespace accelsched::topology {
namespace {

// A small hand-built node: two sockets; socket 0 has a host bridge with a PCIe switch holding
// GPU0, GPU1 and NIC0, and a second root port with GPU2; socket 1 has GPU3 straight under it.
// GPU0-GPU1 also share 4 NVLink links.
Topology SmallNode() {
  TopologyBuilder b("small", "test");
  const DeviceId s0 = b.AddCpuSocket("cpu0", 0);
  const DeviceId s1 = b.AddCpuSocket("cpu1", 1);
  b.AddInterSocket(s0, s1, 10);
  const DeviceId hb0 = b.AddHostBridge("hb0");
  const DeviceId hb1 = b.AddHostBridge("hb1");
  b.AddPcie(hb0, s0, 24);
  b.AddPcie(hb1, s0, 24);
  const DeviceId sw = b.AddPcieSwitch("sw0");
  b.AddPcie(sw, hb0, 24);
  const DeviceId g0 = b.AddGpu("GPU0", 0);
  const DeviceId g1 = b.AddGpu("GPU1", 0);
  const DeviceId g2 = b.AddGpu("GPU2", 0);
  const DeviceId g3 = b.AddGpu("GPU3", 1);
  b.AddPcie(g0, sw, 24);
  b.AddPcie(g1, sw, 16);  // A narrower link: caps GPU1's PCIe paths at 16.
  b.AddPcie(g2, hb1, 24);
  b.AddPcie(g3, s1, 24);
  b.AddPcie(b.AddNic("mlx5_0"), sw, 24);
  b.AddNvlink(g0, g1, 4, 25);
  return *std::move(b).Build();
}

TEST(TopologyTest, PathKindsComeFromTheLowestCommonAncestor) {
  const Topology t = SmallNode();
  ASSERT_EQ(t.num_gpus(), 4);
  const struct {
    int a, b;
    PathKind want;
    double gbps;
  } cases[] = {
      {0, 1, PathKind::kNvlink, 100},  // 4 links x 25.
      {0, 2, PathKind::kNode, 24},     // sw -> hb0 -> cpu0 -> hb1: two host bridges, one socket.
      {1, 2, PathKind::kNode, 16},     // Same, limited by GPU1's x8-ish link.
      {0, 3, PathKind::kSys, 10},      // Across the inter-socket link.
      {2, 2, PathKind::kSelf, 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(testing::Message() << tc.a << "-" << tc.b);
    EXPECT_EQ(t.GpuPath(tc.a, tc.b), tc.want);
    EXPECT_EQ(t.GpuPath(tc.b, tc.a), tc.want);
    EXPECT_DOUBLE_EQ(t.Bandwidth(tc.a, tc.b), tc.gbps);
  }
  EXPECT_EQ(t.GpuNicPath(0, 0), PathKind::kPix);
  EXPECT_EQ(t.GpuNicPath(2, 0), PathKind::kNode);
  EXPECT_EQ(t.GpuNicPath(3, 0), PathKind::kSys);
  EXPECT_EQ(t.close_nic_gpus(), 0x3u);
  EXPECT_EQ(t.NvlinkCount(0, 1), 4);
  EXPECT_EQ(t.GpuNuma(3), 1);
  EXPECT_EQ(t.NumaRank(3), 1);
}

TEST(TopologyTest, BoostGraphMirrorsTheDeviceAndLinkLists) {
  const Topology t = SmallNode();
  const Graph& g = GraphOf(t);
  ASSERT_EQ(boost::num_vertices(g), t.devices().size());
  ASSERT_EQ(boost::num_edges(g), t.links().size());
  for (size_t v = 0; v < t.devices().size(); ++v) {
    EXPECT_EQ(g[v].name, t.devices()[v].name);
  }
  size_t e = 0;
  for (auto [it, end] = boost::edges(g); it != end; ++it, ++e) {
    EXPECT_EQ(static_cast<int>(boost::source(*it, g)), t.links()[e].a);
    EXPECT_EQ(static_cast<int>(boost::target(*it, g)), t.links()[e].b);
    EXPECT_EQ(g[*it].kind, t.links()[e].link.kind);
  }
  EXPECT_EQ(t.gpu(3).name, "GPU3");
  EXPECT_EQ(t.nic(0).name, "mlx5_0");
}

TEST(TopologyTest, NvSwitchCountsAreMinOfLinksPerSwitch) {
  // GPU0 has 3+2 links to two switches, GPU1 has 1+2: pairs get min(3,1) + min(2,2) = 3 links.
  TopologyBuilder b("switched");
  const DeviceId g0 = b.AddGpu("GPU0");
  const DeviceId g1 = b.AddGpu("GPU1");
  const DeviceId s0 = b.AddNvSwitch("s0");
  const DeviceId s1 = b.AddNvSwitch("s1");
  b.AddNvlink(g0, s0, 3, 25);
  b.AddNvlink(g0, s1, 2, 25);
  b.AddNvlink(g1, s0, 1, 25);
  b.AddNvlink(g1, s1, 2, 25);
  const Topology t = *std::move(b).Build();
  EXPECT_EQ(t.NvlinkCount(0, 1), 3);
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 1), 75);
  EXPECT_EQ(t.GpuPath(0, 1), PathKind::kNvlink);
}

TEST(TopologyTest, UnconnectedGpusAreSys) {
  TopologyBuilder b("islands");
  b.AddGpu("GPU0");
  b.AddGpu("GPU1");
  const Topology t = *std::move(b).Build();
  EXPECT_EQ(t.GpuPath(0, 1), PathKind::kSys);
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 1), kInterSocketGbps);
  EXPECT_EQ(t.GpuNuma(0), t.GpuNuma(1));  // No NUMA, no affinity: one group.
}

TEST(TopologyTest, BuildRejectsInvalidGraphs) {
  const struct {
    std::string name;
    std::function<void(TopologyBuilder&)> make;
    std::string want;
  } cases[] = {
      {"no GPU", [](TopologyBuilder& b) { b.AddNic("n"); }, "has 0 GPUs; must be 1..16"},
      {"17 GPUs",
       [](TopologyBuilder& b) {
         for (int i = 0; i < 17; ++i) {
           b.AddGpu("g");
         }
       },
       "has 17 GPUs"},
      {"NVLink to a NIC",
       [](TopologyBuilder& b) { b.AddNvlink(b.AddGpu("GPU0"), b.AddNic("nic"), 2, 25); },
       "NVLink must join two GPUs or a GPU and an NVSwitch"},
      {"zero bandwidth",
       [](TopologyBuilder& b) { b.AddPcie(b.AddGpu("GPU0"), b.AddHostBridge("hb"), 0); },
       "bandwidth must be in (0, 1e6]"},
      {"self loop",
       [](TopologyBuilder& b) {
         const DeviceId g = b.AddGpu("GPU0");
         b.AddLink(g, g, {LinkKind::kPcie, 0, PathKind::kPix, 1});
       },
       "joins a device to itself"},
      {"inter-socket between GPUs",
       [](TopologyBuilder& b) { b.AddInterSocket(b.AddGpu("GPU0"), b.AddGpu("GPU1")); },
       "inter-socket link must join two CPU sockets"},
      {"c2c to a switch",
       [](TopologyBuilder& b) { b.AddC2c(b.AddGpu("GPU0"), b.AddPcieSwitch("sw"), 100); },
       "chip-to-chip link must join a GPU and a CPU socket"},
      {"link to a missing device", [](TopologyBuilder& b) { b.AddPcie(b.AddGpu("GPU0"), 7, 24); },
       "link 0 names a device that does not exist"},
      {"PCIe SYS level",
       [](TopologyBuilder& b) {
         b.AddLink(b.AddGpu("GPU0"), b.AddHostBridge("hb"),
                   {LinkKind::kPcie, 0, PathKind::kSys, 1});
       },
       "PCIe level must be PIX, PXB, PHB or NODE"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    TopologyBuilder b(tc.name);
    tc.make(b);
    absl::StatusOr<Topology> t = std::move(b).Build();
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(tc.want), std::string::npos) << t.status();
  }
}

TEST(TopologyTest, KindNamesRoundTrip) {
  for (int k = 0; k <= static_cast<int>(DeviceKind::kNic); ++k) {
    EXPECT_EQ(DeviceKindFromName(DeviceKindName(static_cast<DeviceKind>(k))),
              static_cast<DeviceKind>(k));
  }
  for (int k = 0; k <= static_cast<int>(LinkKind::kC2c); ++k) {
    EXPECT_EQ(LinkKindFromName(LinkKindName(static_cast<LinkKind>(k))), static_cast<LinkKind>(k));
  }
  EXPECT_EQ(PcieLevelFromName("SOC"), PathKind::kSys);
  EXPECT_EQ(PcieLevelFromName("NV12"), std::nullopt);
  EXPECT_EQ(DeviceKindFromName("tpu"), std::nullopt);
}

}  // namespace
}  // namespace accelsched::topology
