#include "topology/smi_parser.h"

#include <string>

#include "gtest/gtest.h"

#include "tests/testing/data_path.h"

namespace accelsched::topology {
namespace {

using ::accelsched::testing::ReadFileOrEmpty;
using ::accelsched::testing::SharedDataPath;

Topology ParseFile(const std::string& file) {
  const std::string text = ReadFileOrEmpty(SharedDataPath("nvidia-smi-topo/" + file));
  EXPECT_FALSE(text.empty()) << "missing " << SharedDataPath("nvidia-smi-topo/" + file);
  absl::StatusOr<Topology> topo = ParseNvidiaSmiTopo(text, file);
  EXPECT_TRUE(topo.ok()) << topo.status();
  return *std::move(topo);
}

// Facts from ../shared/data/nvidia-smi-topo/README.md and DESIGN.md section 11.
TEST(SmiParserTest, Dgx1HybridCubeMesh) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const Topology t = ParseFile("dgx1-v100-8gpu-hybrid-cube-mesh.txt");
  ASSERT_EQ(t.num_gpus(), 8);
  ASSERT_EQ(t.num_nics(), 1);
  EXPECT_EQ(t.nic(0).name, "mlx5_0");
  // NV2 pairs, NV1 pairs and no-NVLink pairs exactly as DESIGN lists them.
  const int nv2[][2] = {{0, 3}, {0, 4}, {1, 2}, {1, 5}, {2, 3}, {4, 7}, {5, 6}, {6, 7}};
  const int nv1[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 6}, {3, 7}, {4, 5}, {4, 6}, {5, 7}};
  for (const auto& p : nv2) {
    EXPECT_EQ(t.NvlinkCount(p[0], p[1]), 2) << p[0] << "-" << p[1];
    EXPECT_EQ(t.NvlinkCount(p[1], p[0]), 2);
    EXPECT_DOUBLE_EQ(t.Bandwidth(p[0], p[1]), 50);  // 2 x 25 GB/s.
  }
  for (const auto& p : nv1) {
    EXPECT_EQ(t.NvlinkCount(p[0], p[1]), 1) << p[0] << "-" << p[1];
  }
  EXPECT_EQ(t.GpuPath(0, 5), PathKind::kSys);
  EXPECT_EQ(t.NvlinkCount(0, 5), 0);
  EXPECT_EQ(t.GpuPath(3, 4), PathKind::kSys);
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 5), kInterSocketGbps);
  // Each GPU has 6 links in total.
  for (int a = 0; a < 8; ++a) {
    int links = 0;
    for (int b = 0; b < 8; ++b) {
      links += t.NvlinkCount(a, b);
    }
    EXPECT_EQ(links, 6) << "GPU" << a;
  }
  // mlx5_0 is PIX to GPU2/3, NODE to GPU0/1, SYS to GPU4-7.
  EXPECT_EQ(t.GpuNicPath(2, 0), PathKind::kPix);
  EXPECT_EQ(t.GpuNicPath(3, 0), PathKind::kPix);
  EXPECT_EQ(t.GpuNicPath(0, 0), PathKind::kNode);
  EXPECT_EQ(t.GpuNicPath(5, 0), PathKind::kSys);
  EXPECT_TRUE(t.HasCloseNic(2));
  EXPECT_FALSE(t.HasCloseNic(0));
  // No NUMA column: CPU affinity splits the GPUs into two locality groups, 0-3 and 4-7.
  EXPECT_EQ(t.gpu(0).cpu_affinity, "0-11,24-35");
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(t.GpuNuma(i), t.GpuNuma(0));
  }
  for (int i = 5; i < 8; ++i) {
    EXPECT_EQ(t.GpuNuma(i), t.GpuNuma(4));
  }
  EXPECT_NE(t.GpuNuma(0), t.GpuNuma(4));
}

TEST(SmiParserTest, HgxA100NvSwitchWith17Nics) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const Topology t = ParseFile("hgx-a100-8gpu-nv12-17nic.txt");
  ASSERT_EQ(t.num_gpus(), 8);
  ASSERT_EQ(t.num_nics(), 17);
  EXPECT_EQ(t.nic(0).name, "mlx5_2");  // From the NIC legend.
  EXPECT_EQ(t.nic(16).name, "mlx5_bond_0");
  for (int a = 0; a < 8; ++a) {
    for (int b = 0; b < 8; ++b) {
      if (a == b) {
        continue;
      }
      EXPECT_EQ(t.NvlinkCount(a, b), 12);
      EXPECT_DOUBLE_EQ(t.Bandwidth(a, b), 300);  // NV12 x 25 GB/s through the NVSwitch.
    }
    EXPECT_EQ(t.GpuNuma(a), 0);
  }
  // 4 NIC ports per GPU pair at PXB: GPU0/1 -> NIC0-3, GPU6/7 -> NIC12-15.
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(t.GpuNicPath(1, j), PathKind::kPxb);
  }
  EXPECT_EQ(t.GpuNicPath(1, 4), PathKind::kSys);
  const std::vector<NicDistance> near = t.NearestNics(6);
  ASSERT_EQ(near.size(), 4u);
  EXPECT_EQ(near[0].nic, 12);
  EXPECT_EQ(near[3].nic, 15);
  EXPECT_EQ(near[0].path, PathKind::kPxb);
  EXPECT_EQ(t.GpuNicPath(0, 16), PathKind::kSys);  // The bond is far from every GPU.
  EXPECT_EQ(t.close_nic_gpus(), 0xFFu);
}

TEST(SmiParserTest, HgxH100PartialMatrixNicOrderNotGpuOrder) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const std::string text =
      ReadFileOrEmpty(SharedDataPath("nvidia-smi-topo/hgx-h100-8gpu-nv18-partial.txt"));
  absl::StatusOr<SmiMatrix> m = ParseSmiMatrix(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->num_gpus, 8);
  EXPECT_EQ(m->nic_labels.size(), 10u);
  EXPECT_EQ(m->nic_rows_missing, 7);  // NIC3..NIC9 were cut off.
  const Topology t = ParseFile("hgx-h100-8gpu-nv18-partial.txt");
  EXPECT_EQ(t.NvlinkCount(0, 7), 18);
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 7), 450);
  // GPU3's nearest NIC is NIC5; GPU4 -> NIC6; NIC3 and NIC4 belong to no GPU.
  ASSERT_EQ(t.NearestNics(3).size(), 1u);
  EXPECT_EQ(t.NearestNics(3)[0], (NicDistance{5, PathKind::kPix}));
  EXPECT_EQ(t.NearestNics(4)[0], (NicDistance{6, PathKind::kPix}));
  EXPECT_EQ(t.NearestNics(7)[0], (NicDistance{9, PathKind::kPix}));
  for (int gpu = 0; gpu < 8; ++gpu) {
    EXPECT_EQ(t.GpuNicPath(gpu, 3), PathKind::kSys);
    EXPECT_EQ(t.GpuNicPath(gpu, 4), PathKind::kSys);
  }
  // Two sockets: GPU0-3 on NUMA 0, GPU4-7 on NUMA 1.
  EXPECT_EQ(t.GpuNuma(3), 0);
  EXPECT_EQ(t.GpuNuma(4), 1);
  EXPECT_EQ(t.gpu(4).cpu_affinity, "56-111,168-223");
}

TEST(SmiParserTest, FourA10AllSys) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const Topology t = ParseFile("pcie-4x-a10-no-nvlink.txt");
  ASSERT_EQ(t.num_gpus(), 4);
  ASSERT_EQ(t.num_nics(), 2);
  EXPECT_EQ(t.nic(1).name, "mlx5_1");
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) {
      if (a != b) {
        EXPECT_EQ(t.GpuPath(a, b), PathKind::kSys);
      }
    }
    EXPECT_EQ(t.GpuNuma(a), 0);
    EXPECT_FALSE(t.HasCloseNic(a));
  }
}

TEST(SmiParserTest, TwoGtx1080TiPhbWithoutNumaColumn) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const Topology t = ParseFile("pcie-2x-gtx1080ti-phb.txt");
  ASSERT_EQ(t.num_gpus(), 2);
  EXPECT_EQ(t.num_nics(), 0);
  EXPECT_EQ(t.GpuPath(0, 1), PathKind::kPhb);
  EXPECT_DOUBLE_EQ(t.Bandwidth(0, 1), kPcieGen4Gbps);
  EXPECT_EQ(t.GpuNuma(0), t.GpuNuma(1));  // NUMA N/A, same CPU affinity.
  EXPECT_TRUE(t.NearestNics(0).empty());
}

TEST(SmiParserTest, EightRtx4090SysTabSeparated) {
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA();
  const Topology t = ParseFile("pcie-8x-rtx4090-sys.txt");
  ASSERT_EQ(t.num_gpus(), 8);
  EXPECT_EQ(t.GpuPath(0, 1), PathKind::kSys);
  EXPECT_EQ(t.GpuNicPath(6, 0), PathKind::kPhb);  // NIC at PHB to GPU6 only.
  EXPECT_EQ(t.GpuNicPath(5, 0), PathKind::kSys);
  EXPECT_EQ(t.GpuNuma(0), 0);
  EXPECT_EQ(t.GpuNuma(7), 1);
  EXPECT_FALSE(t.HasCloseNic(6));  // PHB is not close enough for GPUDirect RDMA.
}

TEST(SmiParserTest, OldSocSpellingMeansSys) {
  const std::string text =
      "        GPU0    GPU1    CPU Affinity\n"
      "GPU0     X      SOC     0-7\n"
      "GPU1    SOC      X      8-15\n";
  absl::StatusOr<Topology> t = ParseNvidiaSmiTopo(text, "old");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->GpuPath(0, 1), PathKind::kSys);
  EXPECT_NE(t->GpuNuma(0), t->GpuNuma(1));
}

TEST(SmiParserTest, MalformedInputNamesLineAndProblem) {
  const struct {
    std::string name;
    std::string text;
    std::string want;  // Substring of the error message.
  } cases[] = {
      {"empty", "", "no header line"},
      {"prompt only", "$ nvidia-smi topo -m\n", "no header line"},
      {"unknown cell", "\tGPU0\tGPU1\nGPU0\t X \tFOO\nGPU1\tPIX\t X \n",
       "line 2: GPU0, column GPU1: unknown connection \"FOO\""},
      {"short row", "\tGPU0\tGPU1\nGPU0\t X \nGPU1\tPIX\t X \n",
       "line 2: GPU0: expected 2 connection cells, found 1"},
      {"long row", "\tGPU0\tGPU1\nGPU0\t X \tPIX\tPIX\nGPU1\tPIX\t X \n",
       "line 2: GPU0: expected 2 cells, found 3"},
      {"cut before a GPU row", "\tGPU0\tGPU1\nGPU0\t X \tPIX\n\nLegend:\n",
       "line 3: matrix cut short: no row for GPU1"},
      {"X off the diagonal", "\tGPU0\tGPU1\nGPU0\t X \t X \nGPU1\tPIX\t X \n",
       "line 2: GPU0, column GPU1: \"X\" belongs on the diagonal"},
      {"GPU columns out of order", "\tGPU0\tGPU2\n", "line 1: expected column GPU1, found GPU2"},
      {"duplicate row", "\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU0\t X \tPIX\n",
       "line 3: second row for GPU0"},
      {"asymmetric", "\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU1\tSYS\t X \n", "is not symmetric"},
      {"NVLink to a NIC", "\tGPU0\tNIC0\nGPU0\t X \tNV2\nNIC0\tNV2\t X \n",
       "NVLink is only valid between two GPUs"},
      {"bad NVLink count", "\tGPU0\tGPU1\nGPU0\t X \tNV0\nGPU1\tNV0\t X \n",
       "unknown connection \"NV0\""},
      {"unknown title", "\tGPU0\tGPU1\tCPU Foo\nGPU0\t X \tPIX\nGPU1\tPIX\t X \n",
       "line 1: unknown column title near \"CPU Foo\""},
      {"legend names no column",
       "\tGPU0\tNIC0\nGPU0\t X \tPIX\nNIC0\tPIX\t X \n\nNIC Legend:\n\n"
       "  NIC7: mlx5_0\n",
       "line 7: NIC legend entry"},
      // Issue 14: a stray byte reached nlohmann's dump, which threw and aborted the CLI and the
      // agent; a NUMA node the annotation refuses was accepted here.
      {"not UTF-8", "\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU1\tPIX\t X \xff\n",
       "line 3: not UTF-8 text (byte 0xFF at column 13)"},
      {"NUMA node out of range",
       "\tGPU0\tGPU1\tNUMA Affinity\nGPU0\t X \tPIX\t5000\nGPU1\tPIX\t X \t0\n",
       "line 2: GPU0: NUMA affinity '5000' is neither N/A nor a node 0..4095"},
      {"NUMA node not a number",
       "\tGPU0\tGPU1\tNUMA Affinity\nGPU0\t X \tPIX\t0x\nGPU1\tPIX\t X \t0\n",
       "line 2: GPU0: NUMA affinity '0x' is neither N/A nor a node 0..4095"},
      {"not a tree",
       "\tGPU0\tGPU1\tGPU2\nGPU0\t X \tPIX\tSYS\nGPU1\tPIX\t X \tPIX\n"
       "GPU2\tSYS\tPIX\t X \n",
       "not consistent with any PCIe tree"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<Topology> t = ParseNvidiaSmiTopo(tc.text, tc.name);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(tc.want), std::string::npos) << t.status();
  }
}

TEST(SmiParserTest, GpuCountAboveLimitIsRejected) {
  std::string header;
  for (int i = 0; i <= kMaxGpus; ++i) {
    header += "\tGPU" + std::to_string(i);
  }
  absl::StatusOr<SmiMatrix> m = ParseSmiMatrix(header + "\n");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("at most 16 supported"), std::string::npos) << m.status();
}

}  // namespace
}  // namespace accelsched::topology
