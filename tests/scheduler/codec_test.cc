// Tests of the wire codec (scheduler/codec/): Kubernetes quantities, the JSON helpers, v1.Pod and
// v1.Node decoding, cluster lists, GPU model and MIG names, the bind annotations, the extender
// wire types and YAML input.
//
// Every expected value is derived by hand from the Kubernetes / kube-scheduler semantics (the
// arithmetic is in the comments), never pasted from the code's output.
//
// Golden files: the extender wire types are compared, as parsed JSON (key order and whitespace
// do not matter), with hand-written files in tests/testdata/scheduler/*.golden.json, written from
// kube-scheduler's Go types (k8s.io/kube-scheduler/extender/v1: untagged fields, so PascalCase
// keys). After an intended change of the wire format, regenerate them with
//
//   ACCELSCHED_REGENERATE_GOLDEN=1 build/tests/scheduler_test --gtest_filter='CodecGolden*'
//
// and review the diff: the variable makes the golden tests write the current output instead of
// comparing with it.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "scheduler/codec/annotations.h"
#include "scheduler/codec/extender.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/json_util.h"
#include "scheduler/codec/k8s.h"
#include "scheduler/codec/quantity.h"
#include "scheduler/codec/yaml.h"
#include "tests/testing/builders.h"
#include "topology/annotation.h"
#include "topology/profiles.h"

namespace accelsched::scheduler::codec {
namespace {

namespace t = ::accelsched::testing;
using plugins::MigRequest;
using plugins::PodRequest;
using plugins::TopologyPreference;

// ---- Helpers ------------------------------------------------------------------------------------

// Parses JSON written in this file; a typo fails the test that uses it.
Json J(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "bad JSON in the test: " << text;
  return j;
}

std::string TestdataPath(const std::string& name) {
  return std::string(ACCELSCHED_TESTDATA_DIR) + "/scheduler/" + name;
}

// The text of tests/testdata/scheduler/<name>; empty (and a failure) if it cannot be read.
std::string ReadTestdataText(const std::string& name) {
  std::ifstream in(TestdataPath(name), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << "cannot read " << TestdataPath(name);
  return text.str();
}

// The parsed file tests/testdata/scheduler/<name>; null (and a failure) if missing or not JSON.
Json ReadTestdata(const std::string& name) {
  Json j = Json::parse(ReadTestdataText(name), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << TestdataPath(name) << " is not JSON";
  return j.is_discarded() ? Json() : j;
}

bool RegenerateGolden() {
  const char* v = std::getenv("ACCELSCHED_REGENERATE_GOLDEN");  // NOLINT(concurrency-mt-unsafe)
  return v != nullptr && std::string(v) == "1";
}

// Compares `got` with the golden file as parsed JSON, or rewrites the file (see the top comment).
void ExpectMatchesGolden(const Json& got, const std::string& name) {
  if (RegenerateGolden()) {
    std::ofstream out(TestdataPath(name), std::ios::binary | std::ios::trunc);
    out << got.dump(2) << "\n";
    ASSERT_TRUE(out.good()) << "cannot write " << TestdataPath(name);
    return;
  }
  const Json want = ReadTestdata(name);
  EXPECT_EQ(got, want) << "golden " << name << " differs.\ngot:\n"
                       << got.dump(2) << "\nwant:\n"
                       << want.dump(2);
}

// OK-ness, code and a message fragment of a failed call.
void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& fragment) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(std::string(s.message()).find(fragment), std::string::npos)
      << "message '" << s.message() << "' lacks '" << fragment << "'";
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Field by field (PodRequest has no operator==); allowed_models as a set.
void ExpectRequestEq(const PodRequest& got, const PodRequest& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.cpu_milli, want.cpu_milli);
  EXPECT_EQ(got.memory_mib, want.memory_mib);
  EXPECT_EQ(got.gpu_count, want.gpu_count);
  EXPECT_EQ(got.gpu_milli, want.gpu_milli);
  EXPECT_EQ(got.gpu_memory_mib, want.gpu_memory_mib);
  EXPECT_EQ(got.mig.has_value(), want.mig.has_value());
  if (got.mig.has_value() && want.mig.has_value()) {
    EXPECT_EQ(got.mig->compute_slices, want.mig->compute_slices);
    EXPECT_EQ(got.mig->double_memory, want.mig->double_memory);
    EXPECT_EQ(got.mig->media_extensions, want.mig->media_extensions);
  }
  EXPECT_EQ(Sorted(got.allowed_models), Sorted(want.allowed_models));
  EXPECT_EQ(static_cast<int>(got.nvlink), static_cast<int>(want.nvlink));
  EXPECT_EQ(got.require_close_nic, want.require_close_nic);
  EXPECT_EQ(got.require_same_numa, want.require_same_numa);
}

// A pod "ns/p" with the given spec members (JSON text without the braces) and annotations.
Json PodWith(const std::string& spec_members, const std::string& annotations = "{}") {
  return J(
      R"json({"kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "annotations": )json" +
      annotations + R"json(}, "spec": {)json" + spec_members + "}}");
}

// A node "n1" with the given labels, annotations and status (JSON objects as text).
Json NodeWith(const std::string& labels, const std::string& annotations,
              const std::string& status) {
  return J(R"json({"kind": "Node", "metadata": {"name": "n1", "labels": )json" + labels +
           R"json(, "annotations": )json" + annotations + R"json(}, "status": )json" + status +
           "}");
}

// GFD labels of an 8-GPU DGX A100 80GB.
constexpr char kA100Labels[] =
    R"json({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8",
            "nvidia.com/gpu.memory": "81920"})json";
constexpr char kA100Status[] =
    R"json({"allocatable": {"cpu": "255", "memory": "2000Gi", "nvidia.com/gpu": "8"}})json";

// ---- Quantities ---------------------------------------------------------------------------------

TEST(CodecQuantityTest, MilliAndValueRoundUpLikeKubernetes) {
  // Quantity.MilliValue() and Quantity.Value() both round up (towards +inf).
  const struct {
    std::string text;
    int64_t milli;
    int64_t value;
  } cases[] = {
      {"500m", 500, 1},                       // 0.5 -> ceil 1
      {"2", 2000, 2},                         //
      {"0.5", 500, 1},                        //
      {"1.5", 1500, 2},                       //
      {"0.1", 100, 1},                        // exactly 100 milli (no binary floating point)
      {"1500m", 1500, 2},                     //
      {"0", 0, 0},                            //
      {"1k", 1000000, 1000},                  // k = 10^3
      {"16Gi", 17179869184000, 17179869184},  // 16 * 2^30 = 17179869184
      {"1Ki", 1024000, 1024},                 // 2^10
      {"2063937512Ki", 2113472012288000, 2113472012288},  // 2063937512*1024 = 2113472012288
      {"1e3", 1000000, 1000},                             // decimal exponent
      {"1E-3", 1, 1},                                     // 0.001: 1 milli; value ceil(0.001) = 1
      {"100M", 100000000000, 100000000},                  // 100 * 10^6
      {"+1", 1000, 1},                                    // explicit plus sign
      {"1.5Gi", 1610612736000, 1610612736},               // 1.5 * 1073741824 = 1610612736
      {"1.5m", 2, 1},                                     // 1.5 milli -> ceil 2 milli
      {"1n", 1, 1},                                       // 10^-6 milli -> ceil 1; 10^-9 -> ceil 1
      {"0.3Ki", 307200, 308},                             // 0.3 * 1024 = 307.2 -> value ceil 308
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.text);
    absl::StatusOr<int64_t> milli = QuantityMilli(tc.text);
    ASSERT_TRUE(milli.ok()) << milli.status();
    EXPECT_EQ(*milli, tc.milli);
    absl::StatusOr<int64_t> value = QuantityValue(tc.text);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, tc.value);
  }
}

TEST(CodecQuantityTest, MilliLimitIsBelowValueLimit) {
  // Both are capped at 2^62 = 4611686018427387904. "4E" = 4 * 10^18 fits as a value, but in
  // thousandths it is 4 * 10^21. "1E" is the exa suffix, not an exponent.
  absl::StatusOr<int64_t> value = QuantityValue("4E");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, int64_t{4000000000000000000});
  ExpectError(QuantityMilli("4E").status(), absl::StatusCode::kInvalidArgument,
              "quantity '4E': too large");
  value = QuantityValue("1E");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, int64_t{1000000000000000000});
}

TEST(CodecQuantityTest, RejectsMalformedWithTheQuantityInTheMessage) {
  const struct {
    std::string text;
    std::string fragment;
  } cases[] = {
      {"", "quantity '': empty"},
      {"-1", "quantity '-1': must not be negative"},
      {"1.2.3", "quantity '1.2.3': two decimal points"},
      {"5X", "quantity '5X': unknown suffix 'X'"},
      {"1K", "quantity '1K': unknown suffix 'K'"},  // Kubernetes' kilo is lower-case k.
      {"m", "quantity 'm': no digits"},
      {"1e", "quantity '1e': exponent without digits"},
      {"1e19", "quantity '1e19': too large"},  // 10^19 > 2^62 (about 4.6 * 10^18)
      {"99999999999999999999", "quantity '99999999999999999999': too large"},
      {"1e101", "quantity '1e101': exponent out of range"},
      {"1Gi5", "quantity '1Gi5': unknown suffix 'Gi5'"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.text);
    ExpectError(QuantityMilli(tc.text).status(), absl::StatusCode::kInvalidArgument, tc.fragment);
    ExpectError(QuantityValue(tc.text).status(), absl::StatusCode::kInvalidArgument, tc.fragment);
  }
}

// ---- JSON helpers -------------------------------------------------------------------------------

TEST(CodecJsonUtilTest, FindIsCaseInsensitiveAndTreatsNullAsAbsent) {
  const Json object = J(R"json({"NodeNames": ["a"], "Nodes": null, "pod": 1})json");
  const struct {
    std::string key;
    bool found;
  } cases[] = {
      {"NodeNames", true}, {"nodenames", true}, {"NODENAMES", true},
      {"Pod", true},       {"Nodes", false},  // null counts as absent
      {"Missing", false},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.key);
    EXPECT_EQ(Find(object, tc.key) != nullptr, tc.found);
  }
  EXPECT_EQ(Find(Json::array(), "x"), nullptr);
  EXPECT_EQ(Join("", "spec"), "spec");
  EXPECT_EQ(Join("Pod", "spec"), "Pod.spec");
}

TEST(CodecJsonUtilTest, GetStringAndStringMap) {
  const Json object = J(R"json({"name": "x", "count": 3,
      "labels": {"a": "x", "n": 8, "f": 1.5, "b": true, "z": null}, "bad": {"k": {}}})json");
  absl::StatusOr<std::string> s = GetString(object, "NAME", "meta", true);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "x");
  s = GetString(object, "other", "meta", false);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "");
  ExpectError(GetString(object, "other", "meta", true).status(), absl::StatusCode::kInvalidArgument,
              "meta.other: required");
  ExpectError(GetString(object, "count", "meta", false).status(),
              absl::StatusCode::kInvalidArgument, "meta.count: must be a string, got number");

  absl::StatusOr<std::map<std::string, std::string>> m = GetStringMap(object, "labels", "meta");
  ASSERT_TRUE(m.ok()) << m.status();
  const std::map<std::string, std::string> want = {
      {"a", "x"}, {"n", "8"}, {"f", "1.5"}, {"b", "true"}};  // null dropped
  EXPECT_EQ(*m, want);
  ExpectError(GetStringMap(object, "bad", "meta").status(), absl::StatusCode::kInvalidArgument,
              R"(meta.bad["k"]: must be a string, got object)");
  ExpectError(GetStringMap(object, "name", "meta").status(), absl::StatusCode::kInvalidArgument,
              "meta.name: must be an object of strings");
}

TEST(CodecJsonUtilTest, QuantityTextTakesStringsAndNumbers) {
  const struct {
    std::string name;
    Json value;
    std::string want;  // Empty: an error.
  } cases[] = {
      {"string", "500m", "500m"},     {"integer", 8, "8"},
      {"float", 0.5, "0.5"},          {"boolean", true, ""},
      {"object", Json::object(), ""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<std::string> got = QuantityText(tc.value, "x.cpu");
    if (tc.want.empty()) {
      ExpectError(got.status(), absl::StatusCode::kInvalidArgument,
                  "x.cpu: must be a quantity (string or number)");
    } else {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, tc.want);
    }
  }
}

// ---- DecodePod ----------------------------------------------------------------------------------

TEST(CodecDecodePodTest, RequestsFollowKubernetesRules) {
  const struct {
    std::string name;
    std::string spec;
    std::string annotations;
    PodRequest want;
  } cases[] = {
      {"containers are summed",
       R"json("containers": [
          {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
          {"name": "b", "resources": {"requests": {"cpu": "1.5", "memory": "512Mi"}}}])json",
       "{}", t::Pod("ns/p").Cpu(2000).Mem(1536)},  // 500 + 1500 milli; 1024 + 512 MiB
      {"requests override limits",
       R"json("containers": [{"name": "a", "resources": {
          "limits": {"cpu": "4", "memory": "8Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}}}])json",
       "{}", t::Pod("ns/p").Cpu(1000).Mem(2048)},
      {"a limit without a request counts (extended resource)",
       R"json("containers": [{"name": "a", "resources": {
          "limits": {"nvidia.com/gpu": "2"}, "requests": {"cpu": "1"}}}])json",
       "{}", t::Pod("ns/p").Cpu(1000).Gpus(2)},
      {"limits only (requests defaulted to limits)",
       R"json("containers": [{"name": "a", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}])json",
       "{}", t::Pod("ns/p").Cpu(2000).Mem(1024)},
      {"init container larger than the sum wins for that resource only",
       // Sum of app containers: cpu 1+1 = 2000m, memory 1+1 = 2048 MiB. Init: cpu 3000m, 512 MiB.
       // max per resource: cpu 3000, memory 2048.
       R"json("containers": [
          {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
          {"name": "b", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        "initContainers": [
          {"name": "i", "resources": {"requests": {"cpu": "3", "memory": "512Mi"}}}])json",
       "{}", t::Pod("ns/p").Cpu(3000).Mem(2048)},
      {"init containers are max'ed, not summed",
       // max(1000, 2000, 2500) = 2500 (a sum would be 5500).
       R"json("containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
        "initContainers": [
          {"name": "i1", "resources": {"requests": {"cpu": "2"}}},
          {"name": "i2", "resources": {"requests": {"cpu": "2500m"}}}])json",
       "{}", t::Pod("ns/p").Cpu(2500)},
      {"init container with GPUs",
       // app 1 GPU, init 2 GPUs: max = 2.
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        "initContainers": [{"name": "i", "resources": {"limits": {"nvidia.com/gpu": "2"}}}])json",
       "{}", t::Pod("ns/p").Gpus(2)},
      {"overhead is added after the init max",
       // max(1000, 2000) + 250 = 2250 milli; max(1024, 0) + 128 = 1152 MiB.
       R"json("containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
        "overhead": {"cpu": "250m", "memory": "128Mi"})json",
       "{}", t::Pod("ns/p").Cpu(2250).Mem(1152)},
      {"memory rounds up to MiB (decimal mega)",
       // 1M = 1,000,000 bytes = 0.954 MiB -> 1.
       R"json("containers": [{"name": "a", "resources": {"requests": {"memory": "1M"}}}])json",
       "{}", t::Pod("ns/p").Mem(1)},
      {"memory rounds up to MiB (one byte over)",
       // 100Mi + 1 byte = 104857601 bytes -> ceil(104857601 / 1048576) = 101.
       R"json("containers": [
          {"name": "a", "resources": {"requests": {"memory": "100Mi"}}},
          {"name": "b", "resources": {"requests": {"memory": "1"}}}])json",
       "{}", t::Pod("ns/p").Mem(101)},
      {"quantities given as JSON numbers",
       R"json("containers": [{"name": "a", "resources": {
          "requests": {"cpu": 0.5, "memory": 1048576}, "limits": {"nvidia.com/gpu": 1}}}])json",
       "{}", t::Pod("ns/p").Cpu(500).Mem(1).Gpus(1)},
      {"zero GPUs is a CPU-only pod",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "0"}}}])json",
       "{}", t::Pod("ns/p")},
      {"share as resources",
       R"json("containers": [{"name": "a", "resources": {"limits": {
          "accelsched.io/gpu-milli": "300", "accelsched.io/gpu-memory-mib": "4096"}}}])json",
       "{}", t::Pod("ns/p").Share(300, 4096)},
      {"share as annotation", R"json("containers": [{"name": "a"}])json",
       R"json({"accelsched.io/gpu-milli": "300"})json", t::Pod("ns/p").Share(300)},
      {"MIG 3g.40gb: compute 3, models with that name",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/mig-3g.40gb": "1"}}}])json",
       "{}", t::Pod("ns/p").Mig(3).Models({"A100-80GB", "H100-80GB"})},
      {"MIG with quantity 0 is no MIG",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/mig-3g.40gb": "0"}}}])json",
       "{}", t::Pod("ns/p")},
      {"MIG and a model list: the intersection",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/mig-3g.40gb": "1"}}}])json",
       R"json({"accelsched.io/gpu-models": "H100-80GB,L40S"})json",
       t::Pod("ns/p").Mig(3).Models({"H100-80GB"})},
      {"gpu-models annotation, whitespace trimmed",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}])json",
       R"json({"accelsched.io/gpu-models": " H100-80GB , A100-80GB "})json",
       t::Pod("ns/p").Gpus(1).Models({"H100-80GB", "A100-80GB"})},
      {"nvlink required, close-nic, same-numa",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "4"}}}])json",
       R"json({"accelsched.io/nvlink": "required", "accelsched.io/close-nic": "true",
               "accelsched.io/same-numa": "True"})json",
       t::Pod("ns/p").Gpus(4).Nvlink(TopologyPreference::kRequired).Nic().Numa()},
      {"nvlink preferred",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "2"}}}])json",
       R"json({"accelsched.io/nvlink": "Preferred", "accelsched.io/close-nic": "false"})json",
       t::Pod("ns/p").Gpus(2).Nvlink(TopologyPreference::kPreferred)},
      {"nvlink none",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "2"}}}])json",
       R"json({"accelsched.io/nvlink": "none"})json", t::Pod("ns/p").Gpus(2)},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<PodObject> pod = DecodePod(PodWith(tc.spec, tc.annotations), "Pod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    ExpectRequestEq(pod->request, tc.want);
  }
}

TEST(CodecDecodePodTest, MigResourceRecordsTheProfileName) {
  absl::StatusOr<PodObject> pod =
      DecodePod(PodWith(R"json("containers": [{"name": "a", "resources": {
          "limits": {"nvidia.com/mig-1g.20gb": "1"}}}])json"),
                "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->mig_profile_name, "1g.20gb");
  ASSERT_TRUE(pod->request.mig.has_value());
  EXPECT_EQ(*pod->request.mig, (MigRequest{1, /*double_memory=*/true, false}));
}

TEST(CodecDecodePodTest, SidecarInitContainersAddToTheSum) {
  // Kubernetes >= 1.29 (SidecarContainers, GA in 1.33): an init container with restartPolicy
  // Always keeps running next to the app containers, so its request is added to the app sum, and
  // every later init container runs next to the sidecars started before it
  // (k8s.io/component-helpers/resource.PodRequests).
  const struct {
    std::string name;
    std::string spec;
    int64_t cpu_milli;
  } cases[] = {
      {"sidecar adds to the app sum",
       // app 1000 + sidecar 500 = 1500 (a plain max would give 1000).
       R"json("containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
        "initContainers": [{"name": "proxy", "restartPolicy": "Always",
                            "resources": {"requests": {"cpu": "500m"}}}])json",
       1500},
      {"later init container runs next to the sidecar",
       // app sum 1000 + 500 = 1500; init after the sidecar: 2000 + 500 = 2500; max = 2500.
       R"json("containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
        "initContainers": [
          {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
          {"name": "setup", "resources": {"requests": {"cpu": "2"}}}])json",
       2500},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<PodObject> pod = DecodePod(PodWith(tc.spec), "Pod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    EXPECT_EQ(pod->request.cpu_milli, tc.cpu_milli);
  }
}

TEST(CodecDecodePodTest, FractionalByteMemoryRoundsUp) {
  // Quantity.Value() rounds up: 1048576500m = 1048576.5 bytes -> 1048577 bytes, one byte over
  // 1 MiB -> 2 MiB when rounded up to MiB.
  absl::StatusOr<PodObject> pod =
      DecodePod(PodWith(R"json("containers": [{"name": "a", "resources": {
          "requests": {"memory": "1048576500m"}}}])json"),
                "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->request.memory_mib, 2);
}

TEST(CodecDecodePodTest, Metadata) {
  absl::StatusOr<PodObject> pod = DecodePod(J(R"json({
      "metadata": {"name": "w-0", "uid": "u-1", "labels": {"rank": 0, "spot": true, "app": "x"}},
      "spec": {"nodeName": "node-a", "schedulerName": "accelsched",
               "containers": [{"name": "c"}]},
      "status": {"phase": "Running"}})json"),
                                            "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->name, "w-0");
  EXPECT_EQ(pod->namespace_name, "default");  // Absent namespace.
  EXPECT_EQ(pod->Key(), "default/w-0");
  EXPECT_EQ(pod->request.name, "default/w-0");
  EXPECT_EQ(pod->uid, "u-1");
  EXPECT_EQ(pod->node_name, "node-a");
  EXPECT_EQ(pod->scheduler_name, "accelsched");
  EXPECT_EQ(pod->phase, "Running");
  const std::map<std::string, std::string> labels = {
      {"rank", "0"}, {"spot", "true"}, {"app", "x"}};  // numbers and booleans become strings
  EXPECT_EQ(pod->labels, labels);
  EXPECT_TRUE(pod->HoldsResources());
}

TEST(CodecDecodePodTest, HoldsResourcesWhileBoundAndNotFinished) {
  const struct {
    std::string name;
    std::string node;
    std::string phase;
    bool holds;
  } cases[] = {
      {"pending", "", "Pending", false},   {"running", "n", "Running", true},
      {"bound, no status", "n", "", true}, {"succeeded", "n", "Succeeded", false},
      {"failed", "n", "Failed", false},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Json j = PodWith(R"json("containers": [])json");
    if (!tc.node.empty()) j["spec"]["nodeName"] = tc.node;
    if (!tc.phase.empty()) j["status"] = {{"phase", tc.phase}};
    absl::StatusOr<PodObject> pod = DecodePod(j, "Pod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    EXPECT_EQ(pod->HoldsResources(), tc.holds);
  }
}

TEST(CodecDecodePodTest, AcceptsNullForOptionalFields) {
  absl::StatusOr<PodObject> pod = DecodePod(J(R"json({
      "metadata": {"name": "p", "namespace": null, "uid": null, "labels": null,
                   "annotations": null},
      "spec": {"nodeName": null, "schedulerName": null, "initContainers": null, "overhead": null,
               "containers": [
                 {"name": "a", "resources": null},
                 {"name": "b", "resources": {"limits": null, "requests": {"cpu": "1"}}},
                 {"name": "c", "resources": {"requests": {"cpu": "1", "memory": null}}}]},
      "status": null})json"),
                                            "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "default");
  EXPECT_TRUE(pod->labels.empty());
  EXPECT_EQ(pod->request.cpu_milli, 2000);  // 1 + 1
  EXPECT_EQ(pod->request.memory_mib, 0);
}

// Gang membership: the scheduler-plugins label or accelsched's annotations, with the network
// constraint; bad values name the annotation.
TEST(CodecDecodePodTest, GangMembershipFromLabelOrAnnotations) {
  auto pod = [](const std::string& metadata_extra) {
    return J(R"json({"metadata": {"name": "w-0", "namespace": "ml")json" + metadata_extra +
             R"json(}, "spec": {"containers": [{"name": "c"}]}})json");
  };
  {
    absl::StatusOr<PodObject> p = DecodePod(pod(""), "Pod");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_FALSE(p->gang.has_value());
  }
  {
    absl::StatusOr<PodObject> p =
        DecodePod(pod(R"json(, "labels": {"scheduling.x-k8s.io/pod-group": "llm"})json"), "Pod");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->gang.has_value());
    EXPECT_EQ(p->gang->name, "ml/llm");  // Namespaced.
    EXPECT_EQ(p->gang->size, 0);         // minMember comes from the PodGroup.
    EXPECT_EQ(p->gang->network_level, "");
    EXPECT_FALSE(p->gang->rail_aligned);
  }
  {
    absl::StatusOr<PodObject> p =
        DecodePod(pod(R"json(, "annotations": {"accelsched.io/gang-name": "train-a",
            "accelsched.io/gang-size": "16", "accelsched.io/network-required": "rack",
            "accelsched.io/rail-aligned": "TRUE"})json"),
                  "Pod");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->gang.has_value());
    EXPECT_EQ(p->gang->name, "ml/train-a");
    EXPECT_EQ(p->gang->size, 16);
    EXPECT_EQ(p->gang->network_level, "rack");
    EXPECT_TRUE(p->gang->network_required);
    EXPECT_TRUE(p->gang->rail_aligned);
  }
  {
    absl::StatusOr<PodObject> p =
        DecodePod(pod(R"json(, "labels": {"scheduling.x-k8s.io/pod-group": "llm"},
            "annotations": {"accelsched.io/network-preferred": "block"})json"),
                  "Pod");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->gang->network_level, "block");
    EXPECT_FALSE(p->gang->network_required);
  }
  const struct {
    std::string extra;
    std::string fragment;
  } bad[] = {
      {R"json(, "annotations": {"accelsched.io/gang-name": "a", "accelsched.io/gang-size": "x"})json",
       "Pod.metadata.annotations[\"accelsched.io/gang-size\"]: must be an integer in 1..100000"},
      {R"json(, "annotations": {"accelsched.io/gang-name": "a", "accelsched.io/gang-size": "0"})json",
       "accelsched.io/gang-size\"]: must be an integer"},
      {R"json(, "annotations": {"accelsched.io/gang-name": "a"})json",
       "accelsched.io/gang-size\"]: required with accelsched.io/gang-name"},
      {R"json(, "annotations": {"accelsched.io/gang-name": ""})json",
       "accelsched.io/gang-name\"]: must not be empty"},
      {R"json(, "annotations": {"accelsched.io/gang-name": "a", "accelsched.io/gang-size": "2",
          "accelsched.io/network-required": "rack", "accelsched.io/network-preferred": "block"})json",
       "accelsched.io/network-required\"]: give it or accelsched.io/network-preferred, not both"},
      {R"json(, "annotations": {"accelsched.io/gang-name": "a", "accelsched.io/gang-size": "2",
          "accelsched.io/rail-aligned": "yes"})json",
       "accelsched.io/rail-aligned\"]: must be true or false"},
      {R"json(, "annotations": {"accelsched.io/network-required": "rack"})json",
       "accelsched.io/network-required\"]: needs a gang"},
      {R"json(, "labels": {"scheduling.x-k8s.io/pod-group": ""})json",
       "Pod.metadata.labels[\"scheduling.x-k8s.io/pod-group\"]: must not be empty"},
  };
  for (const auto& tc : bad) {
    SCOPED_TRACE(tc.extra);
    absl::StatusOr<PodObject> p = DecodePod(pod(tc.extra), "Pod");
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find(tc.fragment), std::string::npos) << p.status().message();
  }
}

TEST(CodecDecodePodTest, ErrorsNameTheField) {
  const std::string kOneContainer = R"json("containers": [{"name": "a"}])json";
  const struct {
    std::string name;
    Json pod;
    std::string fragment;
  } cases[] = {
      {"not an object", Json::array(), "Pod: must be an object, got array"},
      {"missing metadata", J(R"json({"spec": {"containers": []}})json"), "Pod.metadata: required"},
      {"missing name", J(R"json({"metadata": {}, "spec": {"containers": []}})json"),
       "Pod.metadata.name: required"},
      {"empty name", J(R"json({"metadata": {"name": ""}, "spec": {"containers": []}})json"),
       "Pod.metadata.name: must not be empty"},
      {"name not a string", J(R"json({"metadata": {"name": 7}, "spec": {"containers": []}})json"),
       "Pod.metadata.name: must be a string, got number"},
      {"labels not an object",
       J(R"json({"metadata": {"name": "p", "labels": []}, "spec": {"containers": []}})json"),
       "Pod.metadata.labels: must be an object of strings"},
      {"missing spec", J(R"json({"metadata": {"name": "p"}})json"), "Pod.spec: required"},
      {"missing containers", J(R"json({"metadata": {"name": "p"}, "spec": {}})json"),
       "Pod.spec.containers: required"},
      {"containers not an array", PodWith(R"json("containers": {"name": "a"})json"),
       "Pod.spec.containers: must be an array, got object"},
      {"initContainers not an array", PodWith(kOneContainer + R"json(, "initContainers": 3)json"),
       "Pod.spec.initContainers: must be an array, got number"},
      {"container not an object", PodWith(R"json("containers": ["a"])json"),
       "Pod.spec.containers[0]: must be an object, got string"},
      {"quantity of the wrong type",
       PodWith(
           R"json("containers": [{"name": "a", "resources": {"requests": {"cpu": true}}}])json"),
       "Pod.spec.containers[0].resources.requests.cpu: must be a quantity (string or number), "
       "got boolean"},
      {"malformed quantity in the second container", PodWith(R"json("containers": [{"name": "a"},
           {"name": "b", "resources": {"limits": {"memory": "2 GB"}}}])json"),
       "Pod.spec.containers[1].resources.memory: quantity '2 GB': unknown suffix"},
      {"malformed quantity in an init container",
       PodWith(
           kOneContainer +
           R"json(, "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "-1"}}}])json"),
       "Pod.spec.initContainers[0].resources.cpu: quantity '-1': must not be negative"},
      {"gpu-milli 0", PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "accelsched.io/gpu-milli": "0"}}}])json"),
       "accelsched.io/gpu-milli: must be 1..999, got 0"},
      {"gpu-milli 1000", PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "accelsched.io/gpu-milli": "1000"}}}])json"),
       "accelsched.io/gpu-milli: must be 1..999, got 1000"},
      {"gpu-milli annotation 1000",
       PodWith(kOneContainer, R"json({"accelsched.io/gpu-milli": "1000"})json"),
       R"(Pod.metadata.annotations["accelsched.io/gpu-milli"]: must be an integer 1..999)"},
      {"gpu-milli annotation not a number",
       PodWith(kOneContainer, R"json({"accelsched.io/gpu-milli": "half"})json"),
       R"(Pod.metadata.annotations["accelsched.io/gpu-milli"]: must be an integer 1..999)"},
      {"two MIG resources", PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/mig-1g.10gb": "1", "nvidia.com/mig-3g.40gb": "1"}}}])json"),
       "a pod may ask for one MIG instance"},
      {"two MIG instances", PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/mig-3g.40gb": "2"}}}])json"),
       "a pod may ask for one MIG instance"},
      {"unknown MIG profile", PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/mig-5g.50gb": "1"}}}])json"),
       "nvidia.com/mig-5g.50gb: MIG profile '5g.50gb' is not a profile of any known GPU model"},
      {"MIG and a model list without that profile",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/mig-3g.40gb": "1"}}}])json",
               R"json({"accelsched.io/gpu-models": "L40S"})json"),
       R"(Pod.metadata.annotations["accelsched.io/gpu-models"]: no listed model has MIG profile )"
       "3g.40gb"},
      {"whole GPUs and a share",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/gpu": "1", "accelsched.io/gpu-milli": "500"}}}])json"),
       "asks for both whole GPUs (nvidia.com/gpu) and a share (accelsched.io/gpu-milli)"},
      {"whole GPUs and a MIG instance",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/gpu": "1", "nvidia.com/mig-3g.40gb": "1"}}}])json"),
       "more than one of whole GPUs, a GPU share and a MIG instance"},
      {"fractional nvidia.com/gpu",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/gpu": "1.5"}}}])json"),
       "Pod.spec.containers[*].resources.nvidia.com/gpu: must be a whole number"},
      {"more GPUs than a node can have",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/gpu": "17"}}}])json"),
       "nvidia.com/gpu: 17 GPUs; a node has at most 16"},
      {"bad nvlink value",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "nvidia.com/gpu": "2"}}}])json",
               R"json({"accelsched.io/nvlink": "always"})json"),
       R"(Pod.metadata.annotations["accelsched.io/nvlink"]: must be required, preferred or none)"},
      {"nvlink on a share",
       PodWith(R"json("containers": [{"name": "a", "resources": {"limits": {
           "accelsched.io/gpu-milli": "500"}}}])json",
               R"json({"accelsched.io/nvlink": "required"})json"),
       "NVLink/NIC/NUMA constraints need whole GPUs"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodePod(tc.pod, "Pod").status(), absl::StatusCode::kInvalidArgument, tc.fragment);
  }
}

// ---- MIG resources and GPU models ---------------------------------------------------------------

TEST(CodecMigResourceTest, ShapeAndModelsFromTheProfileTables) {
  // Names from topology/mig/mig.cc: A100-40GB 1g.5gb 1g.5gb+me 1g.10gb(double) 2g.10gb 3g.20gb
  // 4g.20gb 7g.40gb; A100-80GB and H100-80GB 1g.10gb 1g.10gb+me 1g.20gb(double) 2g.20gb 3g.40gb
  // 4g.40gb 7g.80gb; H100-94GB and H100-96GB 1g.12gb ...; H200-141GB 3g.71gb ...; A30 1g.6gb
  // 1g.6gb+me 2g.12gb 2g.12gb+me 4g.24gb.
  const struct {
    std::string profile;
    MigRequest want;
    std::vector<std::string> models;
  } cases[] = {
      {"3g.40gb", {3, false, false}, {"A100-80GB", "H100-80GB"}},
      // Single 1g on the 80GB models, double-memory 1g on A100-40GB: the single shape is served.
      {"1g.10gb", {1, false, false}, {"A100-80GB", "H100-80GB"}},
      {"1g.20gb", {1, true, false}, {"A100-80GB", "H100-80GB"}},
      {"7g.80gb", {7, false, false}, {"A100-80GB", "H100-80GB"}},
      {"1g.10gb+me", {1, false, true}, {"A100-80GB", "H100-80GB"}},
      {"1g.5gb", {1, false, false}, {"A100-40GB"}},
      {"3g.20gb", {3, false, false}, {"A100-40GB"}},
      {"1g.12gb", {1, false, false}, {"H100-94GB", "H100-96GB"}},
      {"3g.71gb", {3, false, false}, {"H200-141GB"}},
      {"4g.24gb", {4, false, false}, {"A30"}},
      {"2g.12gb+me", {2, false, true}, {"A30"}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.profile);
    absl::StatusOr<MigResource> got = ParseMigResource(tc.profile);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->request, tc.want);
    EXPECT_EQ(Sorted(got->models), Sorted(tc.models));
  }
}

TEST(CodecMigResourceTest, UnknownNamesAreErrors) {
  for (const std::string name : {"5g.50gb", "3g.41gb", "", "3g"}) {
    SCOPED_TRACE(name);
    ExpectError(ParseMigResource(name).status(), absl::StatusCode::kInvalidArgument,
                "MIG profile '" + name + "' is not a profile of any known GPU model");
  }
}

TEST(CodecCanonicalGpuModelTest, RealGfdProducts) {
  const struct {
    std::string product;
    int64_t memory_mib;
    std::string want;
  } cases[] = {
      {"NVIDIA-A100-SXM4-80GB", 81920, "A100-80GB"},
      {"NVIDIA-A100-SXM4-40GB", 40960, "A100-40GB"},
      {"NVIDIA-A100-PCIE-40GB", 40960, "A100-40GB"},
      {"NVIDIA-A100-80GB-PCIe", 81920, "A100-80GB"},
      {"NVIDIA-H100-80GB-HBM3", 81559, "H100-80GB"},
      {"NVIDIA-H100-NVL", 95830, "H100-94GB"},  // H100 NVL: 94 GB HBM3
      {"NVIDIA-H200", 143771, "H200-141GB"},
      {"NVIDIA-GH200-480GB", 97871, "H100-96GB"},  // 480 GB is LPDDR5X; the GPU has 96 GB HBM3
      {"NVIDIA-B200", 183359, "B200"},
      {"NVIDIA-A30", 24576, "A30"},
      {"NVIDIA-L40S", 46068, "L40S"},
      {"NVIDIA-L4", 23034, "L4"},
      {"Tesla-T4", 15360, "T4"},
      {"Tesla-V100-SXM2-32GB", 32768, "V100-32GB"},
      {"Tesla-V100-SXM2-16GB", 16384, "V100-16GB"},
      {"nvidia-a100-sxm4-80gb", 0, "A100-80GB"},  // case does not matter
      {"NVIDIA-RTX-A6000", 49140, "RTX-A6000"},   // unknown: vendor prefix removed
      // The product does not say the size: nvidia.com/gpu.memory decides, rounded to GB
      // ((40960 + 512) / 1024 = 40; (81920 + 512) / 1024 = 80).
      {"NVIDIA-A100-SXM4", 40960, "A100-40GB"},
      {"NVIDIA-A100-SXM4", 81920, "A100-80GB"},
      {"NVIDIA-A100-PCIE", 40960, "A100-40GB"},
      {"NVIDIA-H100-PCIe", 81559, "H100-80GB"},  // (81559 + 512) / 1024 = 80
      {"Tesla-V100-SXM2", 32768, "V100-32GB"},
      // The product's own size wins over the memory label.
      {"NVIDIA-A100-SXM4-40GB", 81920, "A100-40GB"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.product + " " + std::to_string(tc.memory_mib));
    EXPECT_EQ(CanonicalGpuModel(tc.product, tc.memory_mib), tc.want);
  }
}

// ---- DecodeNode ---------------------------------------------------------------------------------

TEST(CodecDecodeNodeTest, ResourcesAndGfdLabels) {
  const struct {
    std::string name;
    std::string labels;
    std::string annotations;
    std::string status;
    plugins::NodeSpec want;
  } cases[] = {
      {"CPU-only, allocatable overrides capacity", "{}", "{}",
       R"json({"capacity": {"cpu": "16", "memory": "64Gi"},
               "allocatable": {"cpu": "15500m", "memory": "62Gi"}})json",
       t::Node("n1").Cpu(15500).Mem(63488)},  // 62 * 1024
      {"capacity when no allocatable", "{}", "{}",
       R"json({"capacity": {"cpu": "8", "memory": "32Gi"}})json",
       t::Node("n1").Cpu(8000).Mem(32768)},
      {"memory floors to MiB", "{}", "{}",
       // 2063937512 KiB / 1024 = 2015563 MiB + 1000 KiB -> 2015563.
       R"json({"allocatable": {"cpu": "255500m", "memory": "2063937512Ki"}})json",
       t::Node("n1").Cpu(255500).Mem(2015563)},
      {"GFD labels", kA100Labels, "{}", kA100Status,
       t::Node("n1").Cpu(255000).Mem(2048000).Gpus(8, "A100-80GB", 81920)},
      {"GFD labels as YAML-typed numbers",
       R"json({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": 8,
               "nvidia.com/gpu.memory": 81559})json",
       "{}", R"json({"allocatable": {"cpu": "64", "nvidia.com/gpu": 8}})json",
       t::Node("n1").Cpu(64000).Gpus(8, "H100-80GB", 81559)},
      {"GPU count from allocatable without the count label",
       R"json({"nvidia.com/gpu.product": "NVIDIA-L4"})json", "{}",
       R"json({"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "4"}})json",
       t::Node("n1").Gpus(4, "L4")},
      {"mig-gpus 0-3", kA100Labels, R"json({"accelsched.io/mig-gpus": "0-3"})json", kA100Status,
       t::Node("n1").Cpu(255000).Mem(2048000).Gpus(8, "A100-80GB", 81920).Mig(0x0F)},
      {"mig-gpus list and range", kA100Labels, R"json({"accelsched.io/mig-gpus": "0, 2,5-6"})json",
       kA100Status,
       // bits 0, 2, 5, 6 = 1 + 4 + 32 + 64 = 0x65
       t::Node("n1").Cpu(255000).Mem(2048000).Gpus(8, "A100-80GB", 81920).Mig(0x65)},
      {"mixed strategy: first count - allocatable GPUs in MIG mode",
       R"json({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8",
               "nvidia.com/gpu.memory": "81920", "nvidia.com/mig.strategy": "mixed"})json",
       "{}",
       // 8 - 4 = 4 GPUs: 0b1111.
       R"json({"allocatable": {"nvidia.com/gpu": "4", "nvidia.com/mig-3g.40gb": "8"}})json",
       t::Node("n1").Gpus(8, "A100-80GB", 81920).Mig(0x0F)},
      {"mixed strategy with every GPU allocatable: no MIG",
       R"json({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8",
               "nvidia.com/mig.strategy": "mixed"})json",
       "{}", R"json({"allocatable": {"nvidia.com/gpu": "8"}})json",
       t::Node("n1").Gpus(8, "A100-80GB")},
      {"mig-gpus overrides the mixed-strategy guess",
       R"json({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8",
               "nvidia.com/mig.strategy": "mixed"})json",
       R"json({"accelsched.io/mig-gpus": "6-7"})json",
       R"json({"allocatable": {"nvidia.com/gpu": "4"}})json",
       t::Node("n1").Gpus(8, "A100-80GB").Mig(0xC0)},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    TopologyCache cache;
    absl::StatusOr<NodeObject> node =
        DecodeNode(NodeWith(tc.labels, tc.annotations, tc.status), "Node", cache);
    ASSERT_TRUE(node.ok()) << node.status();
    const plugins::NodeSpec& got = node->spec;
    EXPECT_EQ(got.name, tc.want.name);
    EXPECT_EQ(got.cpu_milli, tc.want.cpu_milli);
    EXPECT_EQ(got.memory_mib, tc.want.memory_mib);
    EXPECT_EQ(got.gpu_model, tc.want.gpu_model);
    EXPECT_EQ(got.gpu_count, tc.want.gpu_count);
    EXPECT_EQ(got.gpu_memory_mib, tc.want.gpu_memory_mib);
    EXPECT_EQ(got.mig_enabled, tc.want.mig_enabled);
    EXPECT_EQ(got.topology == nullptr, tc.want.gpu_count == 0);
  }
}

TEST(CodecDecodeNodeTest, ErrorsNameTheField) {
  const struct {
    std::string name;
    Json node;
    std::string fragment;
  } cases[] = {
      {"mig-gpus outside the node's GPUs",
       NodeWith(kA100Labels, R"json({"accelsched.io/mig-gpus": "0-9"})json", kA100Status),
       R"(Node.metadata.annotations["accelsched.io/mig-gpus"]: '0-9' is outside the node's GPUs )"
       "0..7"},
      {"mig-gpus not a list",
       NodeWith(kA100Labels, R"json({"accelsched.io/mig-gpus": "all"})json", kA100Status),
       R"(Node.metadata.annotations["accelsched.io/mig-gpus"]: 'all' is not an index or a range)"},
      {"more than 16 GPUs",
       NodeWith(R"json({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                        "nvidia.com/gpu.count": "17"})json",
                "{}", "{}"),
       "Node: 17 GPUs; at most 16 per node are supported"},
      {"count label not a number",
       NodeWith(R"json({"nvidia.com/gpu.count": "eight"})json", "{}", "{}"),
       R"(Node.metadata.labels["nvidia.com/gpu.count"]: must be a non-negative integer)"},
      {"memory label not MiB",
       NodeWith(R"json({"nvidia.com/gpu.count": "1", "nvidia.com/gpu.memory": "80GB"})json", "{}",
                "{}"),
       R"(Node.metadata.labels["nvidia.com/gpu.memory"]: must be MiB as an integer)"},
      {"bad allocatable quantity",
       NodeWith("{}", "{}", R"json({"allocatable": {"cpu": "lots"}})json"),
       "Node.status.allocatable.cpu: quantity 'lots'"},
      {"allocatable of the wrong type",
       NodeWith("{}", "{}", R"json({"allocatable": {"cpu": ["64"]}})json"),
       "Node.status.allocatable.cpu: must be a quantity (string or number), got array"},
      {"missing name", J(R"json({"metadata": {}})json"), "Node.metadata.name: required"},
      {"missing metadata", J(R"json({"status": {}})json"), "Node.metadata: required"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    TopologyCache cache;
    ExpectError(DecodeNode(tc.node, "Node", cache).status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

TEST(CodecDecodeNodeTest, MigOnAModelWithoutMigIsIgnoredWithAWarning) {
  TopologyCache cache;
  absl::StatusOr<NodeObject> node = DecodeNode(
      NodeWith(R"json({"nvidia.com/gpu.product": "NVIDIA-L40S", "nvidia.com/gpu.count": "8"})json",
               R"json({"accelsched.io/mig-gpus": "0"})json", "{}"),
      "Node", cache);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->spec.mig_enabled, 0u);
  ASSERT_EQ(node->warnings.size(), 1u);
  EXPECT_NE(node->warnings[0].find("MIG mode on GPU model L40S"), std::string::npos)
      << node->warnings[0];
}

TEST(CodecDecodeNodeTest, TopologyFromProfileAnnotationOrFallback) {
  const std::string matching =
      topology::EncodeTopologyAnnotation(topology::GenericPcieTopology(8, "NVIDIA-A100-SXM4-80GB"));
  const std::string four_gpus =
      topology::EncodeTopologyAnnotation(topology::GenericPcieTopology(4, "NVIDIA-A100-SXM4-80GB"));
  const struct {
    std::string name;
    std::string labels;
    std::string topology_annotation;  // Empty: none.
    std::string want_topology;        // Topology::name().
    int want_gpus;
    std::string warning;  // Empty: no warning expected.
  } cases[] = {
      {"built-in DGX A100", kA100Labels, "", "dgx-a100", 8, ""},
      {"built-in HGX H100",
       R"json({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"})json",
       "", "hgx-h100", 8, ""},
      {"built-in 4x T4",
       R"json({"nvidia.com/gpu.product": "Tesla-T4", "nvidia.com/gpu.count": "4"})json", "",
       "pcie-4x-t4", 4, ""},
      {"unknown product falls back to generic PCIe",
       R"json({"nvidia.com/gpu.product": "NVIDIA-Foo-9000", "nvidia.com/gpu.count": "2"})json", "",
       "generic-pcie-2", 2, "no built-in topology for product \"NVIDIA-Foo-9000\""},
      {"annotation wins over the profile", kA100Labels, matching, "generic-pcie-8", 8, ""},
      {"annotation with another GPU count falls back", kA100Labels, four_gpus, "dgx-a100", 8,
       "accelsched.io/topology describes 4 GPUs, the node has 8; using the built-in profile"},
      {"invalid annotation falls back", kA100Labels, "{not json", "dgx-a100", 8,
       "accelsched.io/topology is invalid"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Json j = NodeWith(tc.labels, "{}", "{}");
    if (!tc.topology_annotation.empty()) {
      j["metadata"]["annotations"][kAnnotationTopology] = tc.topology_annotation;
    }
    TopologyCache cache;
    absl::StatusOr<NodeObject> node = DecodeNode(j, "Node", cache);
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_NE(node->spec.topology, nullptr);
    EXPECT_EQ(node->spec.topology->topology.name(), tc.want_topology);
    EXPECT_EQ(node->spec.topology->topology.num_gpus(), tc.want_gpus);
    EXPECT_EQ(node->spec.gpu_count, tc.want_gpus);
    if (tc.warning.empty()) {
      EXPECT_TRUE(node->warnings.empty()) << node->warnings[0];
    } else {
      ASSERT_EQ(node->warnings.size(), 1u);
      EXPECT_NE(node->warnings[0].find(tc.warning), std::string::npos) << node->warnings[0];
    }
  }
}

TEST(CodecDecodeNodeTest, TopologyCacheSharesOneTopologyPerHardware) {
  TopologyCache cache;
  auto decode = [&](const std::string& name, const std::string& labels) {
    Json j = NodeWith(labels, "{}", kA100Status);
    j["metadata"]["name"] = name;
    absl::StatusOr<NodeObject> node = DecodeNode(j, "Node", cache);
    EXPECT_TRUE(node.ok()) << node.status();
    return node.ok() ? node->spec.topology : nullptr;
  };
  const auto a = decode("a", kA100Labels);
  const auto b = decode("b", kA100Labels);
  const auto h = decode(
      "h",
      R"json({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"})json");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a.get(), b.get());  // Same hardware: one shared NodeTopology.
  EXPECT_NE(a.get(), h.get());  // Other hardware: its own.
  TopologyCache other;
  absl::StatusOr<NodeObject> c =
      DecodeNode(NodeWith(kA100Labels, "{}", kA100Status), "Node", other);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->spec.topology.get(), a.get());  // The sharing is per cache.
}

// ---- Cluster lists ------------------------------------------------------------------------------

TEST(CodecClusterListTest, ListsOfNodesAndPods) {
  const std::string node_a =
      R"json({"kind": "Node", "metadata": {"name": "a", "labels": {"nvidia.com/gpu.product":
          "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8"}}})json";
  const std::string node_b =
      R"json({"kind": "Node", "metadata": {"name": "b", "labels": {"nvidia.com/gpu.product":
          "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8"}}})json";
  const std::string pod = R"json({"kind": "Pod", "metadata": {"name": "p", "namespace": "ml"},
      "spec": {"containers": [{"name": "c"}]}})json";
  const struct {
    std::string name;
    std::string list;
    std::vector<std::string> nodes;
    std::vector<std::string> pods;
  } cases[] = {
      {"List of Nodes and Pods, other kinds skipped",
       R"json({"apiVersion": "v1", "kind": "List", "items": [)json" + node_a + "," + pod +
           R"json(, {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {}}, )json" + node_b +
           "]}",
       {"a", "b"},
       {"ml/p"}},
      {"NodeList without item kinds",
       R"json({"kind": "NodeList", "items": [{"metadata": {"name": "x"}},
                                             {"metadata": {"name": "y"}}]})json",
       {"x", "y"},
       {}},
      {"PodList without item kinds",
       R"json({"kind": "PodList", "items": [{"metadata": {"name": "q"},
                                            "spec": {"containers": []}}]})json",
       {},
       {"default/q"}},
      {"empty List", R"json({"kind": "List", "items": []})json", {}, {}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<ClusterObjects> got = DecodeClusterList(J(tc.list));
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<std::string> nodes;
    for (const NodeObject& n : got->nodes) nodes.push_back(n.spec.name);
    std::vector<std::string> pods;
    for (const PodObject& p : got->pods) pods.push_back(p.Key());
    EXPECT_EQ(nodes, tc.nodes);
    EXPECT_EQ(pods, tc.pods);
  }
}

TEST(CodecClusterListTest, NodesOfOneListShareTopologies) {
  absl::StatusOr<ClusterObjects> got = DecodeClusterList(J(R"json({"kind": "NodeList", "items": [
      {"metadata": {"name": "a", "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                            "nvidia.com/gpu.count": "8"}}},
      {"metadata": {"name": "b", "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                            "nvidia.com/gpu.count": "8"}}}]})json"));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->nodes.size(), 2u);
  ASSERT_NE(got->nodes[0].spec.topology, nullptr);
  EXPECT_EQ(got->nodes[0].spec.topology.get(), got->nodes[1].spec.topology.get());
}

TEST(CodecClusterListTest, PodGroupsGiveMinMember) {
  absl::StatusOr<ClusterObjects> objects = DecodeClusterList(J(R"json({"kind": "List", "items": [
      {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
       "metadata": {"name": "train-a", "namespace": "ml"}, "spec": {"minMember": 16}},
      {"kind": "PodGroup", "metadata": {"name": "b"}, "spec": {"minMember": 2}}]})json"));
  ASSERT_TRUE(objects.ok()) << objects.status();
  ASSERT_EQ(objects->pod_groups.size(), 2u);
  EXPECT_EQ(objects->pod_groups[0].gang, "ml/train-a");
  EXPECT_EQ(objects->pod_groups[0].min_member, 16);
  EXPECT_EQ(objects->pod_groups[1].gang, "default/b");
  EXPECT_EQ(objects->pod_groups[1].min_member, 2);
}

TEST(CodecClusterListTest, ErrorsNameTheItem) {
  const struct {
    std::string name;
    std::string list;
    std::string fragment;
  } cases[] = {
      {"item without kind in a List",
       R"json({"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "a"}},
                                         {"metadata": {"name": "b"}}]})json",
       "items[1].kind: required"},
      {"bad pod item",
       R"json({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"}}]})json",
       "items[0].spec: required"},
      {"bad node item",
       R"json({"kind": "NodeList", "items": [{"metadata": {"name": "n",
           "labels": {"nvidia.com/gpu.count": "99"}}}]})json",
       "items[0]: 99 GPUs"},
      {"item not an object", R"json({"kind": "List", "items": [3]})json",
       "items[0]: must be an object, got number"},
      {"PodGroup without minMember",
       R"json({"kind": "List", "items": [{"kind": "PodGroup", "metadata": {"name": "g"},
                                         "spec": {}}]})json",
       "items[0].spec.minMember: required"},
      {"PodGroup with minMember 0",
       R"json({"kind": "List", "items": [{"kind": "PodGroup", "metadata": {"name": "g"},
                                         "spec": {"minMember": 0}}]})json",
       "items[0].spec.minMember: must be an integer in 1..100000"},
      {"no items", R"json({"kind": "List"})json", "items: required"},
      {"items not an array", R"json({"kind": "List", "items": {}})json",
       "items: must be an array, got object"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodeClusterList(J(tc.list)).status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

// ---- Assignment annotations ---------------------------------------------------------------------

// Node 0: 8 x A100-80GB, GPUs 4..7 in MIG mode (3g.40gb is NVIDIA profile ID 9, 1g.20gb ID 15).
plugins::ClusterSnapshot AssignmentSnapshot() {
  return t::BuildSnapshot(
      {t::Node("a100").Cpu(64000).Mem(512000).Gpus(8, "A100-80GB", 81920).Mig(0xF0)});
}

plugins::Assignment MigAt(int gpu, int profile_id, int start, int64_t cpu) {
  plugins::Assignment a = t::AssignMig(0, gpu, profile_id, start);
  a.cpu_milli = cpu;
  return a;
}

TEST(CodecAssignmentTest, RoundTrip) {
  const plugins::ClusterSnapshot snapshot = AssignmentSnapshot();
  const struct {
    std::string name;
    PodRequest pod;
    plugins::Assignment assignment;
    std::map<std::string, std::string> annotations;
  } cases[] = {
      {"two whole GPUs",
       t::Pod().Gpus(2).Cpu(4000).Mem(8192),
       t::Assign(0, 0b0110, 0, 0, 4000, 8192),
       {{kAnnotationGpuIds, "1,2"}}},
      {"four whole GPUs", t::Pod().Gpus(4), t::Assign(0, 0x0F), {{kAnnotationGpuIds, "0,1,2,3"}}},
      {"a share",
       t::Pod().Share(300, 4096).Cpu(1000),
       t::Assign(0, 1u << 3, 300, 4096, 1000),
       {{kAnnotationGpuIds, "3"}, {kAnnotationGpuShare, "3@300"}}},
      {"a MIG 3g.40gb at slot 4 of GPU 5",
       t::Pod().Mig(3).Cpu(500),
       MigAt(5, 9, 4, 500),
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "5:3g.40gb@4"}}},
      {"a MIG 1g.20gb at slot 6 of GPU 7",
       t::Pod().Mig(1, /*double_memory=*/true),
       MigAt(7, 15, 6, 0),
       {{kAnnotationGpuIds, "7"}, {kAnnotationMigPlacement, "7:1g.20gb@6"}}},
      {"CPU only: no annotations",
       t::Pod().Cpu(2000).Mem(100),
       t::Assign(0, 0, 0, 0, 2000, 100),
       {}},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const std::map<std::string, std::string> got =
        AssignmentAnnotations(tc.assignment, snapshot.node(0));
    EXPECT_EQ(got, tc.annotations);
    absl::StatusOr<std::optional<plugins::Assignment>> back =
        AssignmentFromAnnotations(tc.annotations, tc.pod, snapshot, 0);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(back->has_value());
    EXPECT_TRUE(**back == tc.assignment) << "got " << plugins::DebugString(**back) << "\nwant "
                                         << plugins::DebugString(tc.assignment);
  }
}

TEST(CodecAssignmentTest, GpuPodsWithoutGpuIdsHaveNoRecordedAssignment) {
  // Not an error: such a pod was bound by someone else, and the extender chooses its devices.
  const plugins::ClusterSnapshot snapshot = AssignmentSnapshot();
  for (const PodRequest& pod : {PodRequest(t::Pod().Gpus(1)), PodRequest(t::Pod().Share(500))}) {
    absl::StatusOr<std::optional<plugins::Assignment>> got =
        AssignmentFromAnnotations({}, pod, snapshot, 0);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value());
  }
}

TEST(CodecAssignmentTest, MalformedAnnotations) {
  const plugins::ClusterSnapshot snapshot = AssignmentSnapshot();
  const struct {
    std::string name;
    PodRequest pod;
    std::map<std::string, std::string> annotations;
    absl::StatusCode code;
    std::string fragment;
  } cases[] = {
      {"gpu-ids count differs from the request",
       t::Pod().Gpus(2),
       {{kAnnotationGpuIds, "1"}},
       absl::StatusCode::kInvalidArgument,
       "lists 1 GPUs, the pod asks for 2"},
      {"a share on two GPUs",
       t::Pod().Share(500),
       {{kAnnotationGpuIds, "1,2"}},
       absl::StatusCode::kInvalidArgument,
       "a share or MIG pod has one GPU"},
      {"GPU index out of range",
       t::Pod().Gpus(1),
       {{kAnnotationGpuIds, "8"}},
       absl::StatusCode::kInvalidArgument,
       "'8' is outside the node's GPUs 0..7"},
      {"gpu-ids not indices",
       t::Pod().Gpus(1),
       {{kAnnotationGpuIds, "GPU-1f2e"}},
       absl::StatusCode::kInvalidArgument,
       "is not an index or a range"},
      {"MIG pod without mig-placement",
       t::Pod().Mig(3),
       {{kAnnotationGpuIds, "5"}},
       absl::StatusCode::kInvalidArgument,
       "a MIG pod needs the accelsched.io/mig-placement"},
      {"mig-placement on another GPU",
       t::Pod().Mig(3),
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "4:3g.40gb@4"}},
       absl::StatusCode::kInvalidArgument,
       "GPU differs from accelsched.io/gpu-ids"},
      {"mig-placement malformed",
       t::Pod().Mig(3),
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "5/3g.40gb@4"}},
       absl::StatusCode::kInvalidArgument,
       "not gpu:profile@start"},
      // The next three are malformed records too (header: InvalidArgument for malformed ones;
      // NotFound is reserved for "no gpu-ids", which Extender::Adopt treats as "choose devices").
      {"mig-placement profile not on this model",
       t::Pod().Mig(3),
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "5:3g.20gb@4"}},
       absl::StatusCode::kInvalidArgument,
       "3g.20gb"},
      {"mig-placement start illegal for the profile",
       t::Pod().Mig(3),
       // 3g starts at memory slot 0 or 4 only.
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "5:3g.40gb@3"}},
       absl::StatusCode::kInvalidArgument,
       "3g.40gb@3"},
      {"mig-placement start outside the GPU",
       t::Pod().Mig(3),
       {{kAnnotationGpuIds, "5"}, {kAnnotationMigPlacement, "5:3g.40gb@9"}},
       absl::StatusCode::kInvalidArgument,
       "3g.40gb@9"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(AssignmentFromAnnotations(tc.annotations, tc.pod, snapshot, 0).status(), tc.code,
                tc.fragment);
  }
}

// ---- Extender wire types: golden files ----------------------------------------------------------

// Decodes the file both ways (raw text, as the server does, and parsed JSON) and checks that
// they agree; returns the text-path result.
absl::StatusOr<ExtenderArgs> DecodeArgsFile(const std::string& name) {
  absl::StatusOr<ExtenderArgs> from_text =
      DecodeExtenderArgs(absl::string_view(ReadTestdataText(name)));
  absl::StatusOr<ExtenderArgs> from_json = DecodeExtenderArgs(ReadTestdata(name));
  EXPECT_EQ(from_text.ok(), from_json.ok());
  if (from_text.ok() && from_json.ok()) {
    EXPECT_EQ(from_text->node_names, from_json->node_names);
    EXPECT_EQ(from_text->full_nodes, from_json->full_nodes);
    EXPECT_EQ(from_text->pod.Key(), from_json->pod.Key());
  }
  return from_text;
}

// Both encodings of a filter result (the text the server sends and the Json form).
void ExpectFilterGolden(const ExtenderArgs& args, const FilterResult& result,
                        const std::string& golden) {
  const std::string text = EncodeFilterResultText(args, result);
  const Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << "not JSON: " << text;
  ExpectMatchesGolden(parsed, golden);
  EXPECT_EQ(EncodeFilterResult(args, result), parsed);
}

TEST(CodecGoldenTest, FilterWithNodeNames) {
  absl::StatusOr<ExtenderArgs> args = DecodeArgsFile("filter_args_nodenames.json");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->pod.Key(), "ml/train-0");
  EXPECT_EQ(args->pod.uid, "0d8a6c3e-5f3b-4c5e-9f0a-1b2c3d4e5f60");
  const std::map<std::string, std::string> labels = {{"app", "train"}, {"replica", "0"}};
  EXPECT_EQ(args->pod.labels, labels);
  // cpu 8 -> 8000m; memory 64Gi = 65536 MiB; 4 GPUs from the limit; nvlink required.
  ExpectRequestEq(
      args->pod.request,
      t::Pod("ml/train-0").Cpu(8000).Mem(65536).Gpus(4).Nvlink(TopologyPreference::kRequired));
  EXPECT_FALSE(args->full_nodes);
  const std::vector<std::string> names = {"node-a", "node-b", "node-c", "node-d"};
  EXPECT_EQ(args->node_names, names);

  FilterResult result;
  result.survivors = {0, 3};
  result.failed.emplace_back(1,
                             result.AddReason("Insufficient nvidia.com/gpu: 2 free, 4 requested"));
  result.failed_unresolvable.emplace_back(
      2, result.AddReason("no NVLink-connected set of 4 GPUs (accelsched.io/nvlink: required)"));
  ExpectFilterGolden(*args, result, "filter_result_nodenames.golden.json");
}

TEST(CodecGoldenTest, FilterWithNodeList) {
  const Json input = ReadTestdata("filter_args_nodelist.json");
  absl::StatusOr<ExtenderArgs> args = DecodeArgsFile("filter_args_nodelist.json");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->pod.Key(), "serving/infer-7");
  // Limits only: cpu 2 -> 2000m, 8Gi = 8192 MiB, a 250 milli-GPU share.
  ExpectRequestEq(args->pod.request, t::Pod("serving/infer-7").Cpu(2000).Mem(8192).Share(250));
  EXPECT_TRUE(args->full_nodes);
  const std::vector<std::string> names = {"node-a", "node-b"};
  EXPECT_EQ(args->node_names, names);
  ASSERT_EQ(args->node_items.size(), 2u);
  EXPECT_EQ(J(args->node_items[1]), input["Nodes"]["items"][1]);  // Kept as sent.

  FilterResult result;
  result.survivors = {1};
  result.failed.emplace_back(0, result.AddReason("no GPU with 250 milli-GPU free"));
  ExpectFilterGolden(*args, result, "filter_result_nodelist.golden.json");
}

// Failing nodes refer to shared reason texts; each is escaped once and written for every node.
TEST(CodecFilterResultTest, SharedReasonsAreWrittenForEveryNodeAndEscaped) {
  ExtenderArgs args;
  args.node_names = {"n\"0", "n1", "n2", "n3"};
  FilterResult result;
  result.survivors = {2};
  const int quoted = result.AddReason("needs \"8\" GPUs\\ok\n");
  const int plain = result.AddReason("plain");
  result.failed = {{0, quoted}, {3, quoted}};
  result.failed_unresolvable = {{1, plain}};
  const Json got = Json::parse(EncodeFilterResultText(args, result));
  EXPECT_EQ(got["NodeNames"], Json::array({"n2"}));
  EXPECT_EQ(got["FailedNodes"],
            (Json{{"n\"0", "needs \"8\" GPUs\\ok\n"}, {"n3", "needs \"8\" GPUs\\ok\n"}}));
  EXPECT_EQ(got["FailedAndUnresolvableNodes"], (Json{{"n1", "plain"}}));
  const auto named = result.Named(args, /*unresolvable=*/false);
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[1], (std::pair<std::string, std::string>{"n3", "needs \"8\" GPUs\\ok\n"}));
}

TEST(CodecGoldenTest, HostPriorityList) {
  std::vector<HostPriority> list(3);
  list[0].host = "node-a";
  list[0].score = 10;
  list[1].host = "node-d";
  list[1].score = 3;
  list[2].host = "node-b";
  list[2].score = 0;
  const Json parsed =
      Json::parse(EncodeHostPriorityListText(list), nullptr, /*allow_exceptions=*/false);
  ExpectMatchesGolden(parsed, "priorities.golden.json");
  EXPECT_EQ(EncodeHostPriorityList(list), parsed);
  EXPECT_EQ(EncodeHostPriorityList({}), Json::array());  // A bare (empty) array, not null.
}

// The names-and-scores encoder (what the server sends) writes the same JSON as the
// HostPriority one, also for names that need escapes.
TEST(CodecHostPriorityTest, NamesAndScoresEncodeLikeTheHostPriorityList) {
  const NodeNames names = {"node-a", "we\"ird\\name\n", "\xc3\xa9t\xc3\xa9", "node-b"};
  const std::vector<int64_t> scores = {10, 3, 0, 7};
  std::vector<HostPriority> list;
  for (size_t i = 0; i < names.size(); ++i) list.push_back({names[i], scores[i]});
  const std::string text = EncodeHostPriorityListText(names, scores);
  EXPECT_EQ(text, EncodeHostPriorityListText(list));
  const Json parsed = Json::parse(text);
  ASSERT_EQ(parsed.size(), 4u);
  EXPECT_EQ(parsed[1]["Host"], "we\"ird\\name\n");
  EXPECT_EQ(parsed[3]["Score"], 7);
  EXPECT_EQ(EncodeHostPriorityListText(NodeNames(), {}), "[]");
}

// Identical NodeNames arrays decode to one shared list (the codec's cache), whose names and
// literals equal a plain parse of each body; different arrays never share.
TEST(CodecNodeNamesTest, IdenticalListsShareOneDecodedListAndDifferentOnesNever) {
  std::mt19937 rng(9);
  const std::vector<std::string> alphabet = {"a", "b", "-", ".", "\"", "\\", "\n", "\xc3\xa9", "0"};
  std::vector<std::vector<std::string>> lists;
  for (int k = 0; k < 12; ++k) {
    std::vector<std::string> names;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      std::string name;
      for (int c = 0; c < 1 + static_cast<int>(rng() % 5); ++c) {
        name += alphabet[rng() % alphabet.size()];
      }
      names.push_back(name);
    }
    lists.push_back(names);
  }
  lists.push_back(lists[0]);  // A repeat of the first.
  const Json pod = ReadTestdata("filter_args_nodenames.json")["Pod"];
  // The first list decoded from each text, kept alive so that no identity can be reused.
  std::map<std::string, NodeNames> first;
  for (int round = 0; round < 3; ++round) {
    for (const std::vector<std::string>& names : lists) {
      const Json body = {{"Pod", pod}, {"NodeNames", names}};
      absl::StatusOr<ExtenderArgs> args = DecodeExtenderArgs(absl::string_view(body.dump()));
      ASSERT_TRUE(args.ok()) << args.status();
      ASSERT_EQ(args->node_names.names(), names);
      for (size_t i = 0; i < names.size(); ++i) {
        std::string literal;
        AppendJsonString(&literal, names[i]);
        EXPECT_EQ(args->node_names.Quoted(i), literal);
        EXPECT_EQ(Json::parse(args->node_names.Quoted(i)), names[i]);
      }
      const std::string text = Json(names).dump();
      first.try_emplace(text, args->node_names);
      for (const auto& [other_text, other] : first) {
        if (other_text != text) {
          EXPECT_NE(other.identity(), args->node_names.identity());
        }
      }
    }
  }
  // Back to back, the same text gives the same list.
  const Json body = {{"Pod", pod}, {"NodeNames", lists[3]}};
  absl::StatusOr<ExtenderArgs> a = DecodeExtenderArgs(absl::string_view(body.dump()));
  absl::StatusOr<ExtenderArgs> b = DecodeExtenderArgs(absl::string_view(body.dump()));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->node_names.identity(), b->node_names.identity());
  // A non-string element is still named, also when the rest of the list was seen before.
  Json bad = body;
  bad["NodeNames"].push_back(7);
  absl::StatusOr<ExtenderArgs> c = DecodeExtenderArgs(absl::string_view(bad.dump()));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("NodeNames[" + std::to_string(lists[3].size()) + "]"),
            std::string::npos)
      << c.status().message();
}

TEST(CodecGoldenTest, Binding) {
  absl::StatusOr<BindingArgs> args = DecodeBindingArgs(ReadTestdata("binding_args.json"));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->pod_name, "train-0");
  EXPECT_EQ(args->pod_namespace, "ml");
  EXPECT_EQ(args->pod_uid, "0d8a6c3e-5f3b-4c5e-9f0a-1b2c3d4e5f60");
  EXPECT_EQ(args->node, "node-a");
  ExpectMatchesGolden(EncodeErrorResult("node node-x: not in the cluster snapshot"),
                      "binding_result_error.golden.json");
  EXPECT_EQ(EncodeErrorResult(""), J(R"json({"Error": ""})json"));
}

TEST(CodecGoldenTest, PreemptionMetaAndFullVictimsGiveTheSameResult) {
  // Both inputs name the same victims: node-a {victim-a1, victim-a2} with 1 PDB violation,
  // node-b {victim-b1} with none.
  const std::map<std::string, std::vector<std::string>> victims = {
      {"node-a", {"victim-a1", "victim-a2"}}, {"node-b", {"victim-b1"}}};
  const std::map<std::string, int64_t> pdb = {{"node-a", 1}, {"node-b", 0}};
  for (const std::string file : {"preemption_args_meta.json", "preemption_args_full.json"}) {
    SCOPED_TRACE(file);
    absl::StatusOr<PreemptionArgs> args = DecodePreemptionArgs(ReadTestdata(file));
    ASSERT_TRUE(args.ok()) << args.status();
    EXPECT_EQ(args->pod.Key(), "ml/urgent");
    EXPECT_EQ(args->pod.request.gpu_count, 2);
    EXPECT_EQ(args->victims, victims);
    EXPECT_EQ(args->pdb_violations, pdb);
    ExpectMatchesGolden(EncodePreemptionResult(args->victims, args->pdb_violations),
                        "preemption_result.golden.json");
  }
}

// ---- Extender wire types: decoding rules --------------------------------------------------------

constexpr char kMinimalPod[] =
    R"json({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})json";

TEST(CodecExtenderArgsTest, KeysCaseInsensitiveAndNullOptional) {
  const std::string pod = kMinimalPod;
  const struct {
    std::string name;
    std::string body;
    std::vector<std::string> names;
    bool full_nodes;
  } cases[] = {
      {"lower-case keys",
       R"json({"pod": )json" + pod + R"json(, "nodenames": ["a", "b"]})json",
       {"a", "b"},
       false},
      {"upper-case keys",
       R"json({"POD": )json" + pod + R"json(, "NODENAMES": ["a"]})json",
       {"a"},
       false},
      {"Nodes null with NodeNames",
       R"json({"Pod": )json" + pod + R"json(, "Nodes": null, "NodeNames": ["a"]})json",
       {"a"},
       false},
      {"NodeNames null with Nodes",
       R"json({"Pod": )json" + pod +
           R"json(, "NodeNames": null, "nodes": {"items": [{"metadata": {"name": "x"}}]}})json",
       {"x"},
       true},
      {"Nodes without items",
       R"json({"Pod": )json" + pod + R"json(, "Nodes": {"items": null}})json",
       {},
       true},
      {"neither: no candidates", R"json({"Pod": )json" + pod + "}", {}, false},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    for (const bool raw : {true, false}) {
      SCOPED_TRACE(raw ? "raw text" : "parsed JSON");
      absl::StatusOr<ExtenderArgs> args =
          raw ? DecodeExtenderArgs(absl::string_view(tc.body)) : DecodeExtenderArgs(J(tc.body));
      ASSERT_TRUE(args.ok()) << args.status();
      EXPECT_EQ(args->pod.Key(), "default/p");
      EXPECT_EQ(args->node_names, tc.names);
      EXPECT_EQ(args->full_nodes, tc.full_nodes);
    }
  }
}

TEST(CodecExtenderArgsTest, Errors) {
  const std::string pod = kMinimalPod;
  const struct {
    std::string name;
    std::string body;
    std::string fragment;
  } cases[] = {
      {"not an object", "[]", "body: must be an object"},
      {"missing Pod", R"json({"NodeNames": ["a"]})json", "Pod: required"},
      {"null Pod", R"json({"Pod": null, "NodeNames": ["a"]})json", "Pod: required"},
      {"Pod not an object", R"json({"Pod": "p", "NodeNames": ["a"]})json",
       "Pod: must be an object, got string"},
      {"bad Pod", R"json({"Pod": {"metadata": {"name": "p"}}, "NodeNames": []})json",
       "Pod.spec: required"},
      {"both Nodes and NodeNames",
       R"json({"Pod": )json" + pod + R"json(, "Nodes": {"items": []}, "NodeNames": []})json",
       "Nodes and NodeNames: give one, not both"},
      {"NodeNames not an array", R"json({"Pod": )json" + pod + R"json(, "NodeNames": "a"})json",
       "NodeNames: must be an array of strings, got string"},
      {"NodeNames entry not a string",
       R"json({"Pod": )json" + pod + R"json(, "NodeNames": ["a", 2]})json",
       "NodeNames[1]: must be a string, got number"},
      {"Nodes item without a name",
       R"json({"Pod": )json" + pod + R"json(, "Nodes": {"items": [{"metadata": {}}]}})json",
       "Nodes.items[0].metadata.name: required"},
      {"Nodes item not an object",
       R"json({"Pod": )json" + pod +
           R"json(, "Nodes": {"items": [{"metadata": {"name": "a"}}, 7]}})json",
       "Nodes.items[1]: must be an object, got number"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodeExtenderArgs(absl::string_view(tc.body)).status(),
                absl::StatusCode::kInvalidArgument, tc.fragment);
    ExpectError(DecodeExtenderArgs(J(tc.body)).status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

TEST(CodecExtenderArgsTest, RawBodyThatIsNotJson) {
  const std::string pod = kMinimalPod;
  const struct {
    std::string name;
    std::string body;
  } cases[] = {
      {"truncated", R"json({"Pod": )json" + pod + R"json(, "NodeNames": ["a")json"},
      {"not JSON at all", "Pod=p"},
      {"invalid UTF-8 in a node name", R"json({"Pod": )json" + pod + "," +
                                           R"json("NodeNames": [")json" + "\xff\xfe" +
                                           R"json("]})json"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodeExtenderArgs(absl::string_view(tc.body)).status(),
                absl::StatusCode::kInvalidArgument, "request body is not valid JSON");
  }
}

TEST(CodecBindingArgsTest, KeysAndErrors) {
  absl::StatusOr<BindingArgs> args = DecodeBindingArgs(
      J(R"json({"podName": "p", "podNamespace": "ns", "podUID": "u-1", "node": "n"})json"));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->pod_name, "p");
  EXPECT_EQ(args->pod_namespace, "ns");
  EXPECT_EQ(args->pod_uid, "u-1");
  EXPECT_EQ(args->node, "n");

  const struct {
    std::string name;
    std::string body;
    std::string fragment;
  } cases[] = {
      {"empty PodUID",
       R"json({"PodName": "p", "PodNamespace": "ns", "PodUID": "", "Node": "n"})json",
       "PodUID: must not be empty"},
      {"missing Node", R"json({"PodName": "p", "PodNamespace": "ns", "PodUID": "u"})json",
       "Node: required"},
      {"PodName not a string",
       R"json({"PodName": 1, "PodNamespace": "ns", "PodUID": "u", "Node": "n"})json",
       "PodName: must be a string, got number"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodeBindingArgs(J(tc.body)).status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

TEST(CodecPreemptionArgsTest, KeysNullsAndErrors) {
  const std::string pod = kMinimalPod;
  absl::StatusOr<PreemptionArgs> args = DecodePreemptionArgs(
      J(R"json({"pod": )json" + pod +
        R"json(, "nodeNameToMetaVictims": {"a": {"pods": [{"uid": "v1"}]}, "b": null}})json"));
  ASSERT_TRUE(args.ok()) << args.status();
  // "b": null is a node without victims; a missing NumPDBViolations is 0 in the result.
  const std::map<std::string, std::vector<std::string>> victims = {{"a", {"v1"}}, {"b", {}}};
  EXPECT_EQ(args->victims, victims);
  EXPECT_EQ(EncodePreemptionResult(args->victims, args->pdb_violations), J(R"json(
      {"NodeNameToMetaVictims": {"a": {"Pods": [{"UID": "v1"}], "NumPDBViolations": 0},
                                 "b": {"Pods": [], "NumPDBViolations": 0}}})json"));

  args = DecodePreemptionArgs(
      J(R"json({"Pod": )json" + pod + R"json(, "NodeNameToVictims": null})json"));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->victims.empty());

  const struct {
    std::string name;
    Json body;
    std::string fragment;
  } cases[] = {
      {"missing Pod", J(R"json({"NodeNameToMetaVictims": {}})json"), "Pod: required"},
      {"meta victim without UID",
       J(R"json({"Pod": )json" + pod +
         R"json(, "NodeNameToMetaVictims": {"a": {"Pods": [{}]}}})json"),
       R"(NodeNameToMetaVictims["a"].Pods[0].UID: required)"},
      {"full victim without uid",
       J(R"json({"Pod": )json" + pod +
         R"json(, "NodeNameToVictims": {"a": {"Pods": [{"metadata": {"name": "x"}}]}}})json"),
       R"(NodeNameToVictims["a"].Pods[0].metadata.uid: required)"},
      {"NumPDBViolations not an integer",
       J(R"json({"Pod": )json" + pod +
         R"json(, "NodeNameToMetaVictims": {"a": {"NumPDBViolations": "1"}}})json"),
       R"(NodeNameToMetaVictims["a"].NumPDBViolations: must be an integer)"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(DecodePreemptionArgs(tc.body).status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

// ---- YAML ---------------------------------------------------------------------------------------

TEST(CodecYamlTest, ScalarTypes) {
  absl::StatusOr<std::vector<Json>> docs = YamlToJson(
      "quoted: \"8\"\n"
      "single: '8'\n"
      "plain: 8\n"
      "negative: -3\n"
      "plus: +1\n"
      "float: 8.5\n"
      "exp: 1e3\n"
      "yes_word: yes\n"
      "bool: true\n"
      "tilde: ~\n"
      "null_word: null\n"
      "empty:\n"
      "quantity: 500m\n"
      "quoted_true: \"true\"\n",
      "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  // YAML 1.2 core schema: quoted scalars are strings; plain ones are typed when they read as
  // such ("yes" is a string in 1.2, unlike 1.1).
  const Json want = J(R"json({"quoted": "8", "single": "8", "plain": 8, "negative": -3,
      "plus": 1, "float": 8.5, "exp": 1000.0, "yes_word": "yes", "bool": true, "tilde": null,
      "null_word": null, "empty": null, "quantity": "500m", "quoted_true": "true"})json");
  EXPECT_EQ((*docs)[0], want);
  EXPECT_TRUE((*docs)[0]["plain"].is_number_integer());
  EXPECT_TRUE((*docs)[0]["quoted"].is_string());
}

TEST(CodecYamlTest, Yaml12CoreHexAndOctalIntegers) {
  // The header promises the YAML 1.2 core schema, whose int forms include 0o[0-7]+ and
  // 0x[0-9a-fA-F]+ (YAML 1.2.2, section 10.3.2).
  absl::StatusOr<std::vector<Json>> docs = YamlToJson("hex: 0x1F\noctal: 0o17\n", "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0], J(R"json({"hex": 31, "octal": 15})json"));  // 0x1F = 31, 0o17 = 15
}

TEST(CodecYamlTest, TwoDocumentsBecomeAListThatDecodes) {
  const std::string text =
      "apiVersion: v1\n"
      "kind: Node\n"
      "metadata:\n"
      "  name: node-a\n"
      "  labels:\n"
      "    nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB\n"
      "    nvidia.com/gpu.count: \"8\"\n"
      "status:\n"
      "  allocatable:\n"
      "    cpu: 64\n"
      "    memory: 512Gi\n"
      "    nvidia.com/gpu: 8\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Pod\n"
      "metadata:\n"
      "  name: train\n"
      "spec:\n"
      "  containers:\n"
      "  - name: main\n"
      "    resources:\n"
      "      limits:\n"
      "        nvidia.com/gpu: 2\n"
      "        cpu: 0.5\n";
  absl::StatusOr<Json> list = ParseJsonOrYaml(text, "cluster.yaml");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["kind"], "List");
  EXPECT_EQ((*list)["apiVersion"], "v1");
  ASSERT_EQ((*list)["items"].size(), 2u);
  EXPECT_EQ((*list)["items"][0]["metadata"]["labels"]["nvidia.com/gpu.count"], "8");  // quoted
  EXPECT_EQ((*list)["items"][0]["status"]["allocatable"]["cpu"], 64);                 // plain

  absl::StatusOr<ClusterObjects> objects = DecodeClusterList(*list);
  ASSERT_TRUE(objects.ok()) << objects.status();
  ASSERT_EQ(objects->nodes.size(), 1u);
  ASSERT_EQ(objects->pods.size(), 1u);
  EXPECT_EQ(objects->nodes[0].spec.cpu_milli, 64000);
  EXPECT_EQ(objects->nodes[0].spec.memory_mib, 524288);  // 512 * 1024
  EXPECT_EQ(objects->nodes[0].spec.gpu_count, 8);
  EXPECT_EQ(objects->nodes[0].spec.gpu_model, "A100-80GB");
  EXPECT_EQ(objects->pods[0].request.gpu_count, 2);
  EXPECT_EQ(objects->pods[0].request.cpu_milli, 500);
}

TEST(CodecYamlTest, OneDocumentIsTheValueItself) {
  absl::StatusOr<Json> j =
      ParseJsonOrYaml("---\n---\nkind: Pod\n", "p.yaml");  // empty docs skipped
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, J(R"json({"kind": "Pod"})json"));
}

TEST(CodecYamlTest, JsonInputIsTakenAsJson) {
  // 12345678901234567890 > 2^63: JSON keeps it as an unsigned integer; the YAML path would make
  // it a double.
  absl::StatusOr<Json> j =
      ParseJsonOrYaml(R"json({"n": 12345678901234567890, "s": "8"})json", "c.json");
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_TRUE((*j)["n"].is_number_unsigned()) << j->dump();
  EXPECT_EQ((*j)["n"].get<uint64_t>(), uint64_t{12345678901234567890u});
  EXPECT_EQ((*j)["s"], "8");
}

TEST(CodecYamlTest, ErrorsNameTheFileAndLine) {
  const struct {
    std::string name;
    std::string text;
    std::string fragment;
  } cases[] = {
      // Line 2 holds a mapping value inside a plain scalar's line ("name: x" after "metadata:").
      {"map value in a scalar line", "kind: Pod\nmetadata: name: x\n", "pod.yaml:2:"},
      // The flow sequence opened on line 3 is never closed.
      {"unclosed flow sequence", "a: 1\nb: 2\nc: [1, 2\n", "pod.yaml:"},
      {"empty", "", "pod.yaml: empty"},
      {"only comments", "# nothing\n", "pod.yaml: empty"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(ParseJsonOrYaml(tc.text, "pod.yaml").status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

}  // namespace
}  // namespace accelsched::scheduler::codec
