#include "topology/annotation.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/testing/data_path.h"
#include "topology/profiles.h"
#include "topology/smi_parser.h"

namespace accelsched::topology {
namespace {

using ::accelsched::testing::HaveSharedData;
using ::accelsched::testing::ReadFileOrEmpty;
using ::accelsched::testing::SharedDataPath;

void ExpectSameFacts(const Topology& a, const Topology& b) {
  ASSERT_EQ(a.num_gpus(), b.num_gpus());
  ASSERT_EQ(a.num_nics(), b.num_nics());
  EXPECT_EQ(a.name(), b.name());
  EXPECT_EQ(a.gpu_product(), b.gpu_product());
  for (int i = 0; i < a.num_gpus(); ++i) {
    EXPECT_EQ(a.GpuNuma(i), b.GpuNuma(i));
    EXPECT_EQ(a.gpu(i).cpu_affinity, b.gpu(i).cpu_affinity);
    for (int j = 0; j < a.num_gpus(); ++j) {
      EXPECT_EQ(a.GpuPath(i, j), b.GpuPath(i, j));
      EXPECT_EQ(a.NvlinkCount(i, j), b.NvlinkCount(i, j));
      EXPECT_DOUBLE_EQ(a.Bandwidth(i, j), b.Bandwidth(i, j));
    }
    for (int j = 0; j < a.num_nics(); ++j) {
      EXPECT_EQ(a.GpuNicPath(i, j), b.GpuNicPath(i, j));
    }
  }
  for (int j = 0; j < a.num_nics(); ++j) {
    EXPECT_EQ(a.nic(j).name, b.nic(j).name);
  }
}

TEST(AnnotationTest, RoundTripsEveryProfileAndRealMatrix) {
  std::vector<Topology> all;
  for (const ProfileInfo& p : BuiltinProfiles()) {
    all.push_back(*BuiltinProfile(p.name));
  }
  // The real matrices when ../shared/data is there; the profiles are checked either way.
  for (const char* file : {"dgx1-v100-8gpu-hybrid-cube-mesh.txt", "hgx-a100-8gpu-nv12-17nic.txt",
                           "hgx-h100-8gpu-nv18-partial.txt", "pcie-8x-rtx4090-sys.txt"}) {
    if (!HaveSharedData()) {
      break;
    }
    all.push_back(*ParseNvidiaSmiTopo(
        ReadFileOrEmpty(SharedDataPath(std::string("nvidia-smi-topo/") + file)), file));
  }
  for (const Topology& t : all) {
    SCOPED_TRACE(t.name());
    const std::string encoded = EncodeTopologyAnnotation(t);
    EXPECT_LT(encoded.size(), kMaxAnnotationBytes);
    absl::StatusOr<Topology> decoded = DecodeTopologyAnnotation(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ExpectSameFacts(t, *decoded);
    EXPECT_EQ(EncodeTopologyAnnotation(*decoded), encoded);  // Deterministic, lossless.
  }
  ACCELSCHED_SKIP_WITHOUT_SHARED_DATA() << " (the profiles passed; the real matrices did not run)";
}

TEST(AnnotationTest, HandWrittenDocumentDecodes) {
  // Two GPUs with 2 NVLinks under one PCIe switch, a NIC beside them.
  const std::string doc = R"({"version": 1, "name": "tiny", "gpuProduct": "X",
    "devices": [{"kind": "gpu", "name": "GPU0", "numa": 0}, {"kind": "gpu", "name": "GPU1"},
                {"kind": "pcieSwitch", "name": "sw"}, {"kind": "nic", "name": "mlx5_0"}],
    "links": [{"a": 0, "b": 1, "kind": "nvlink", "count": 2, "gbps": 50},
              {"a": 0, "b": 2, "kind": "pcie", "level": "PIX", "gbps": 24},
              {"a": 1, "b": 2, "kind": "pcie", "level": "PIX", "gbps": 24},
              {"a": 3, "b": 2, "kind": "pcie", "level": "PIX", "gbps": 24}]})";
  absl::StatusOr<Topology> t = DecodeTopologyAnnotation(doc);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->NvlinkCount(0, 1), 2);
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 50);
  EXPECT_EQ(t->GpuNicPath(1, 0), PathKind::kPix);
  EXPECT_EQ(t->GpuNuma(0), 0);
}

TEST(AnnotationTest, StrictValidationNamesTheField) {
  const std::string gpu = R"({"kind": "gpu", "name": "GPU0"})";
  auto doc = [&](const std::string& devices, const std::string& links,
                 const std::string& extra = "") {
    return R"({"version": 1, "name": "t", "devices": [)" + devices + R"(], "links": [)" + links +
           "]" + extra + "}";
  };
  const struct {
    std::string name;
    std::string text;
    std::string want;
  } cases[] = {
      {"not JSON", "{", "(document): not valid JSON"},
      {"not an object", "[]", "(document): must be a JSON object"},
      {"unknown top-level key", doc(gpu, "", R"(, "extra": 1)"), "extra: unknown field"},
      {"unsupported version", R"({"version": 2, "devices": [], "links": []})",
       "version: unsupported version 2"},
      {"version missing", R"({"devices": [], "links": []})", "version: required"},
      {"devices not an array", R"({"version": 1, "devices": {}, "links": []})",
       "devices: must be an array"},
      {"device kind unknown", doc(gpu + R"(, {"kind": "tpu", "name": "t"})", ""),
       "devices[1].kind: unknown device kind \"tpu\""},
      {"device name missing", doc(R"({"kind": "gpu"})", ""), "devices[0].name: required"},
      {"device numa wrong type", doc(R"({"kind": "gpu", "name": "g", "numa": "0"})", ""),
       "devices[0].numa: must be an integer"},
      {"device unknown key", doc(R"({"kind": "gpu", "name": "g", "uuid": "x"})", ""),
       "devices[0].uuid: unknown field"},
      {"link endpoint out of range", doc(gpu, R"({"a": 0, "b": 5, "kind": "pcie", "gbps": 1})"),
       "links[0].b: must be in [0, 0]"},
      {"link kind unknown", doc(gpu + "," + gpu, R"({"a": 0, "b": 1, "kind": "x", "gbps": 1})"),
       "links[0].kind: unknown link kind \"x\""},
      {"pcie level missing", doc(gpu + "," + gpu, R"({"a": 0, "b": 1, "kind": "pcie", "gbps": 1})"),
       "links[0].level: required for pcie"},
      {"count on pcie",
       doc(gpu + "," + gpu,
           R"({"a": 0, "b": 1, "kind": "pcie", "level": "PIX", "count": 2, "gbps": 1})"),
       "links[0].count: only NVLink links have a count"},
      {"nvlink count zero",
       doc(gpu + "," + gpu, R"({"a": 0, "b": 1, "kind": "nvlink", "count": 0, "gbps": 1})"),
       "links[0].count: must be in [1, 64]"},
      {"gbps missing", doc(gpu + "," + gpu, R"({"a": 0, "b": 1, "kind": "nvlink", "count": 1})"),
       "links[0].gbps: required, a number"},
      {"graph rule: NVLink to a NIC",
       doc(gpu + R"(, {"kind": "nic", "name": "n"})",
           R"({"a": 0, "b": 1, "kind": "nvlink", "count": 1, "gbps": 25})"),
       "NVLink must join two GPUs or a GPU and an NVSwitch"},
      {"no GPU", doc(R"({"kind": "nic", "name": "n"})", ""), "has 0 GPUs"},
      {"too large", std::string(kMaxAnnotationBytes + 1, ' '), "exceed the cap"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<Topology> t = DecodeTopologyAnnotation(tc.text);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(tc.want), std::string::npos) << t.status();
  }
}

}  // namespace
}  // namespace accelsched::topology
