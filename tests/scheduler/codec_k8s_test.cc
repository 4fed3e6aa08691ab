// Tests of scheduler/codec/k8s.h: v1.Pod and v1.Node decoding, cluster lists, GPU model and MIG
// names, and the bind annotations. Every expected value is derived by hand from the Kubernetes
// semantics (the arithmetic is in the comments), never pasted from the code's output.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "plugins/framework/cluster_state.h"
#include "plugins/framework/pod_request.h"
#include "plugins/framework/snapshot.h"
#include "scheduler/codec/annotations.h"
#include "scheduler/codec/json.h"
#include "scheduler/codec/k8s.h"
#include "tests/scheduler/codec_test_util.h"
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
       t::Pod("ns/p").Mig(3).Models({"H100-80GB"}).ModelsFromPod()},
      {"gpu-models annotation, whitespace trimmed",
       R"json("containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}])json",
       R"json({"accelsched.io/gpu-models": " H100-80GB , A100-80GB "})json",
       t::Pod("ns/p").Gpus(1).Models({"H100-80GB", "A100-80GB"}).ModelsFromPod()},
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

// Issue 14: three containers whose GPU requests are each legal wrapped, summed in int64, to 8
// GPUs, and the pod was bound to GPUs 0-7. Every sum is checked now, for app containers, sidecar
// init containers (both into the total and into the running sidecar sum) and the overhead.
TEST(CodecDecodePodTest, SumsThatWouldOverflowAreRefusedNamingTheField) {
  auto container = [](const std::string& name, const std::string& gpus) {
    return R"json({"name": ")json" + name +
           R"json(", "resources": {"requests": {"nvidia.com/gpu": ")json" + gpus +
           R"json("}}})json";
  };
  const std::string a = container("a", "3146514939656189205m");
  const std::string b = container("b", "3146514939656189205m");
  const std::string third = container("c", "3146514939656189206m");
  const std::string sidecar = R"json({"name": "s", "restartPolicy": "Always", "resources":
      {"requests": {"cpu": "3000000000000000000m"}}})json";
  const struct {
    std::string spec;
    std::string fragment;
  } cases[] = {
      {R"json("containers": [)json" + a + "," + b + "," + third + "]",
       "Pod.spec.containers[1].resources.nvidia.com/gpu: the pod's total is out of range"},
      {R"json("containers": [{"name": "x", "resources": {"requests": {"cpu": "3000000000000000000m"}}}],
          "initContainers": [)json" +
           sidecar + "]",
       "Pod.spec.initContainers[0].resources.cpu: the pod's total is out of range"},
      {R"json("containers": [{"name": "x", "resources": {"requests": {"memory": "3Pi"}}}],
          "overhead": {"memory": "3Pi"})json",
       "Pod.spec.overhead.memory: the pod's total is out of range"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.spec);
    absl::StatusOr<PodObject> pod = DecodePod(PodWith(c.spec), "Pod");
    ASSERT_FALSE(pod.ok()) << "decoded: " << pod->request.gpu_count << " GPUs";
    ExpectError(pod.status(), absl::StatusCode::kInvalidArgument, c.fragment);
  }
}

// Issue 14: the pod cache held whatever a pod carried; Kubernetes allows 256 KiB of annotations.
TEST(CodecDecodePodTest, AnnotationsAboveKubernetesLimitAreRefused) {
  const std::string spec = R"json("containers": [])json";
  const std::string fits = R"json({"a": ")json" + std::string(size_t{256} * 1024 - 1, 'x') + "\"}";
  EXPECT_TRUE(DecodePod(PodWith(spec, fits), "Pod").ok());
  const std::string over = R"json({"a": ")json" + std::string(size_t{256} * 1024, 'x') + "\"}";
  ExpectError(DecodePod(PodWith(spec, over), "Pod").status(), absl::StatusCode::kInvalidArgument,
              "Pod.metadata.annotations: 262145 bytes; Kubernetes allows 262144");
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

TEST(CodecDecodeNodeTest, UnhealthyGpusFromTheNodeSideWithWarningsForBadEntries) {
  TopologyCache cache;
  absl::StatusOr<NodeObject> node = DecodeNode(
      NodeWith(R"json({"nvidia.com/gpu.product": "NVIDIA-L40S", "nvidia.com/gpu.count": "8"})json",
               R"json({"accelsched.io/unhealthy-gpus": "5:XID 79, x:bad,9:XID 48,2:XID 48"})json",
               "{}"),
      "Node", cache);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->spec.unhealthy_gpus, (std::map<int, std::string>{{2, "XID 48"}, {5, "XID 79"}}));
  ASSERT_EQ(node->warnings.size(), 2u);
  EXPECT_EQ(node->warnings[0],
            "accelsched.io/unhealthy-gpus: 'x:bad' is not <GPU index of this node>:<reason>; "
            "ignored");
  EXPECT_NE(node->warnings[1].find("'9:XID 48'"), std::string::npos) << node->warnings[1];
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
      // Issue 14: these were silently "0 nodes" or dropped the second pod (its GPUs free).
      {"not a list", R"json({"kind": "Widget"})json",
       "kind Widget: expected a List of Node, Pod, Namespace and PodGroup objects"},
      {"two pods with one uid",
       R"json({"kind": "List", "items": [
           {"kind": "Pod", "metadata": {"name": "p1", "uid": "u"}, "spec": {"containers": []}},
           {"kind": "Pod", "metadata": {"name": "p2", "uid": "u"}, "spec": {"containers": []}}]})json",
       "items[1]: pod default/p2 has uid \"u\", as has the pod at items[0] (default/p1)"},
      {"one pod twice",
       R"json({"kind": "List", "items": [
           {"kind": "Pod", "metadata": {"name": "p1"}, "spec": {"containers": []}},
           {"kind": "Pod", "metadata": {"name": "p1"}, "spec": {"containers": []}}]})json",
       "items[1]: pod default/p1 appears twice (also at items[0])"},
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

}  // namespace
}  // namespace accelsched::scheduler::codec
