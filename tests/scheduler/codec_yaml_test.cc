// Tests of scheduler/codec/yaml.h: YAML 1.2 core-schema input, multi-document files as a v1
// List, JSON taken as JSON, and errors that name the file and line.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "scheduler/codec/json.h"
#include "scheduler/codec/k8s.h"
#include "scheduler/codec/yaml.h"
#include "tests/scheduler/codec_test_util.h"

namespace accelsched::scheduler::codec {
namespace {

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

// Issue 14: yaml-cpp 0.7's LoadAll loops on a lone ',' (an empty document that never consumes
// it) and grew to 14 GB; a cluster, config or kubeconfig file holding "," never loaded.
TEST(CodecYamlTest, StrayTokenThatNeverEndsADocumentIsAnError) {
  for (const std::string& text : {std::string(","), std::string("kind: Pod\n---\n,\n")}) {
    SCOPED_TRACE(text);
    ExpectError(ParseJsonOrYaml(text, "c.yaml").status(), absl::StatusCode::kInvalidArgument,
                "c.yaml:");
  }
}

// The classic alias bomb: nine levels of nine aliases each, 9^9 (387 M) strings when expanded.
// It once reached 6 GB and aborted; now the expansion stops at a budget proportional to the
// file's size.
TEST(CodecYamlTest, AliasBombIsRefused) {
  std::string text =
      "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", "
      "\"lol\", \"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    text += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 9; ++k) text += std::string(k == 0 ? "" : ", ") + "*" + prev;
    text += "]\n";
  }
  ASSERT_LT(text.size(), 600u);
  ExpectError(ParseJsonOrYaml(text, "bomb.yaml").status(), absl::StatusCode::kInvalidArgument,
              "values (aliases counted");
}

TEST(CodecYamlTest, AliasesWithinTheBudgetAreExpanded) {
  absl::StatusOr<Json> j = ParseJsonOrYaml(
      "base: &b {cpu: 2, tags: [x, \"8\"]}\nn1: *b\nn2: *b\nkey: &k name\n*k : 3\n", "a.yaml");
  ASSERT_TRUE(j.ok()) << j.status();
  const Json base = J(R"json({"cpu": 2, "tags": ["x", "8"]})json");
  EXPECT_EQ(*j, (Json{{"base", base}, {"n1", base}, {"n2", base}, {"key", "name"}, {"name", 3}}))
      << j->dump();
}

TEST(CodecYamlTest, MalformedStructuresAreErrors) {
  const struct {
    std::string name;
    std::string text;
    std::string fragment;
  } cases[] = {
      {"alias inside its own anchor", "&a [*a]\n", "alias to a node that contains it"},
      {"undefined alias", "a: *nope\n", "m.yaml:1:"},
      {"sequence as a key", "? [1, 2]\n: 3\n", "map keys must be scalars"},
      {"map as a key", "? {a: 1}\n: 3\n", "map keys must be scalars"},
      {"nested too deep", "x: " + std::string(70, '[') + std::string(70, ']') + "\n",
       "nested deeper"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ExpectError(ParseJsonOrYaml(tc.text, "m.yaml").status(), absl::StatusCode::kInvalidArgument,
                tc.fragment);
  }
}

}  // namespace
}  // namespace accelsched::scheduler::codec
