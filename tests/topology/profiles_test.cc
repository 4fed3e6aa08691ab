#include "topology/profiles.h"

#include <string>

#include "gtest/gtest.h"

namespace accelsched::topology {
namespace {

TEST(ProfilesTest, EveryProfileBuildsWithItsGpuCount) {
  ASSERT_GE(BuiltinProfiles().size(), 10u);
  for (const ProfileInfo& p : BuiltinProfiles()) {
    SCOPED_TRACE(p.name);
    absl::StatusOr<Topology> t = BuiltinProfile(p.name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->num_gpus(), p.gpus);
    EXPECT_EQ(t->name(), p.name);
    EXPECT_FALSE(p.description.empty());
  }
}

TEST(ProfilesTest, Dgx1HasTheDocumentedCubeMesh) {
  const Topology t = *BuiltinProfile("dgx1-v100");
  EXPECT_EQ(t.NvlinkCount(0, 3), 2);
  EXPECT_EQ(t.NvlinkCount(0, 1), 1);
  EXPECT_EQ(t.NvlinkCount(0, 5), 0);
  EXPECT_EQ(t.GpuPath(0, 5), PathKind::kSys);
  EXPECT_EQ(t.GpuPath(1, 4), PathKind::kSys);
  EXPECT_EQ(t.GpuNuma(3), 0);
  EXPECT_EQ(t.GpuNuma(4), 1);
  // One HCA per PCIe switch pair: GPU2/3 -> mlx5_1 at PIX.
  EXPECT_EQ(t.NearestNics(2)[0], (NicDistance{1, PathKind::kPix}));
}

TEST(ProfilesTest, DgxA100Layout) {
  const Topology t = *BuiltinProfile("dgx-a100");
  for (int a = 0; a < 8; ++a) {
    for (int b = 0; b < 8; ++b) {
      if (a != b) {
        EXPECT_EQ(t.NvlinkCount(a, b), 12) << a << "-" << b;
      }
    }
  }
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 7), 300);
  // NPS4: GPU0,1 -> NUMA 3; GPU2,3 -> 1; GPU4,5 -> 7; GPU6,7 -> 5.
  const int want_numa[8] = {3, 3, 1, 1, 7, 7, 5, 5};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t.GpuNuma(i), want_numa[i]) << "GPU" << i;
  }
  // NIC0/1 at PXB to GPU0/1; storage NICs 8/9 SYS to every GPU.
  EXPECT_EQ(t.GpuNicPath(0, 0), PathKind::kPxb);
  EXPECT_EQ(t.GpuNicPath(1, 1), PathKind::kPxb);
  EXPECT_EQ(t.GpuNicPath(0, 2), PathKind::kSys);
  EXPECT_EQ(t.NearestNics(6).size(), 2u);
  EXPECT_EQ(t.NearestNics(6)[0].nic, 6);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t.GpuNicPath(i, 8), PathKind::kSys);
  }
}

TEST(ProfilesTest, HopperOneNicPerGpuNotInGpuOrder) {
  for (const char* name : {"hgx-h100", "hgx-h200"}) {
    SCOPED_TRACE(name);
    const Topology t = *BuiltinProfile(name);
    EXPECT_EQ(t.NvlinkCount(2, 5), 18);
    EXPECT_DOUBLE_EQ(t.Bandwidth(2, 5), 450);
    // DGX H100 user guide, table 6.
    const int want_nic[8] = {0, 3, 4, 5, 6, 9, 10, 11};
    for (int i = 0; i < 8; ++i) {
      ASSERT_EQ(t.NearestNics(i).size(), 1u);
      EXPECT_EQ(t.NearestNics(i)[0], (NicDistance{want_nic[i], PathKind::kPix}));
      EXPECT_EQ(t.nic(want_nic[i]).name, "mlx5_" + std::to_string(want_nic[i]));
      EXPECT_EQ(t.GpuNuma(i), i / 4);
    }
    EXPECT_EQ(t.GpuNicPath(0, 3), PathKind::kNode);  // Same socket, another switch.
    EXPECT_EQ(t.GpuNicPath(0, 6), PathKind::kSys);
  }
}

TEST(ProfilesTest, BlackwellLinksAreTwiceAsFast) {
  const Topology b200 = *BuiltinProfile("dgx-b200");
  EXPECT_EQ(b200.NvlinkCount(0, 7), 18);
  EXPECT_DOUBLE_EQ(b200.Bandwidth(0, 7), 900);
  const Topology tray = *BuiltinProfile("gb200-nvl72-tray");
  EXPECT_EQ(tray.num_gpus(), 4);
  EXPECT_DOUBLE_EQ(tray.Bandwidth(0, 3), 900);
  EXPECT_EQ(tray.GpuNuma(1), 0);  // GPU0,1 on Grace 0 (C2C), GPU2,3 on Grace 1.
  EXPECT_EQ(tray.GpuNuma(2), 1);
  EXPECT_TRUE(tray.HasCloseNic(3));
}

TEST(ProfilesTest, PcieBoxes) {
  const Topology l40s = *BuiltinProfile("pcie-8x-l40s");
  EXPECT_EQ(l40s.GpuPath(0, 1), PathKind::kPix);   // Same switch.
  EXPECT_EQ(l40s.GpuPath(0, 2), PathKind::kNode);  // Other root port, same socket.
  EXPECT_EQ(l40s.GpuPath(0, 7), PathKind::kSys);
  EXPECT_EQ(l40s.GpuNicPath(0, 0), PathKind::kPix);
  const Topology t4 = *BuiltinProfile("pcie-4x-t4");
  EXPECT_EQ(t4.GpuPath(0, 1), PathKind::kNode);
  EXPECT_EQ(t4.GpuPath(0, 2), PathKind::kSys);
  EXPECT_DOUBLE_EQ(t4.Bandwidth(0, 1), kPcieGen3Gbps);
}

TEST(ProfilesTest, SelectionFromGpuFeatureDiscoveryLabels) {
  const struct {
    std::string product;
    int count;
    std::string want;  // Profile name, or "" for the fallback.
  } cases[] = {
      {"NVIDIA-H100-80GB-HBM3", 8, "hgx-h100"},
      {"NVIDIA-H100-80GB-HBM3", 0, "hgx-h100"},  // Count label absent.
      {"NVIDIA-H200", 8, "hgx-h200"},
      {"NVIDIA-A100-SXM4-80GB", 8, "dgx-a100"},
      {"Tesla-V100-SXM2-16GB", 8, "dgx1-v100"},
      {"Tesla-V100-SXM3-32GB", 16, "hgx2-v100"},
      {"NVIDIA-B200", 8, "dgx-b200"},
      {"NVIDIA-GB200", 4, "gb200-nvl72-tray"},
      {"NVIDIA-L40S", 8, "pcie-8x-l40s"},
      {"NVIDIA-A10", 4, "pcie-4x-a10"},
      {"Tesla-T4", 2, "pcie-2x-t4"},
      {"Tesla-T4", 4, "pcie-4x-t4"},
      {"NVIDIA-H100-PCIe", 8, ""},       // PCIe H100s are not an HGX board.
      {"NVIDIA-A100-SXM4-80GB", 4, ""},  // Known product, unexpected count.
      {"NVIDIA-RTX-6000", 4, ""},
      {"", 0, ""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.product + "/" + std::to_string(tc.count));
    const ProfileSelection s = ProfileForNode(tc.product, tc.count);
    if (tc.want.empty()) {
      EXPECT_TRUE(s.fallback);
      EXPECT_NE(s.warning.find("no built-in topology"), std::string::npos) << s.warning;
      EXPECT_EQ(s.topology.num_gpus(), tc.count > 0 ? tc.count : 1);
      for (int a = 0; a < s.topology.num_gpus(); ++a) {
        for (int b = 0; b < s.topology.num_gpus(); ++b) {
          if (a != b) {
            EXPECT_EQ(s.topology.GpuPath(a, b), PathKind::kPhb);
          }
        }
      }
    } else {
      EXPECT_FALSE(s.fallback) << s.warning;
      EXPECT_EQ(s.topology.name(), tc.want);
      EXPECT_EQ(s.topology.gpu_product(), tc.product);
    }
  }
}

TEST(ProfilesTest, UnknownNameListsKnownOnes) {
  absl::StatusOr<Topology> t = BuiltinProfile("dgx-9000");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("hgx-h100"), std::string::npos);
  EXPECT_EQ(GenericPcieTopology(99).num_gpus(), kMaxGpus);  // Clamped, never a crash.
  EXPECT_EQ(ProfileForNode("weird", 40).topology.num_gpus(), kMaxGpus);
}

}  // namespace
}  // namespace accelsched::topology
