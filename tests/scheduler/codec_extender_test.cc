// Tests of scheduler/codec/extender.h: the kube-scheduler extender wire types (ExtenderArgs,
// FilterResult, HostPriority, Binding, Preemption), against golden files and decoding rules.
#include "scheduler/codec/extender.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

#include "plugins/framework/pod_request.h"
#include "scheduler/codec/json.h"
#include "tests/scheduler/codec_test_util.h"
#include "tests/testing/builders.h"

namespace accelsched::scheduler::codec {
namespace {

namespace t = ::accelsched::testing;
using plugins::TopologyPreference;

// ---- Helpers ------------------------------------------------------------------------------------

// Golden files: the extender wire types are compared, as parsed JSON (key order and whitespace
// do not matter), with hand-written files in tests/testdata/scheduler/*.golden.json, written from
// kube-scheduler's Go types (k8s.io/kube-scheduler/extender/v1: untagged fields, so PascalCase
// keys). After an intended change of the wire format, regenerate them with
//
//   ACCELSCHED_REGENERATE_GOLDEN=1 build/tests/scheduler_test --gtest_filter='CodecGolden*'
//
// and review the diff: the variable makes the golden tests write the current output instead of
// comparing with it.

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

// Compares `got` with the golden file as parsed JSON, or rewrites the file (see above).
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

// Issue 14: simdjson's on-demand parse skipped the node fields it was not asked for without
// validating them, and the item was echoed to kube-scheduler as it came: an unparseable answer.
TEST(CodecExtenderArgsTest, NodeItemsThatAreNotValidJsonAreRefused) {
  const std::string pod = kMinimalPod;
  for (const char* bad : {R"json("x": tru)json", R"json("x": [1,)json", R"json("x": 01)json",
                          R"json("x": "\q")json"}) {
    SCOPED_TRACE(bad);
    const std::string body = R"json({"Pod": )json" + pod +
                             R"json(, "Nodes": {"items": [{"metadata": {"name": "a"}}, )json" +
                             R"json({"metadata": {"name": "b"}, )json" + bad + "}]}}";
    ExpectError(DecodeExtenderArgs(absl::string_view(body)).status(),
                absl::StatusCode::kInvalidArgument, "Nodes.items[1]: not valid JSON");
  }
}

// Issue 14: 4 million one-letter names (16 MB) made a 356 MB answer; 5 million nested arrays in
// an unused pod field took 0.5 GB. Both are refused before that work.
TEST(CodecExtenderArgsTest, LimitsOnNamesAndNestingAreEnforced) {
  const std::string pod = kMinimalPod;
  const DecodeLimits limits{.max_node_names = 3, .max_pod_depth = 8};
  const std::string names4 =
      R"json({"Pod": )json" + pod + R"json(, "NodeNames": ["a","b","c","d"]})json";
  ExpectError(DecodeExtenderArgs(absl::string_view(names4), limits).status(),
              absl::StatusCode::kInvalidArgument,
              "NodeNames: more than 3 nodes in one request (maxNodeNames)");
  // The same list is remembered from an earlier, unlimited decode: still refused.
  ASSERT_TRUE(DecodeExtenderArgs(absl::string_view(names4)).ok());
  ExpectError(DecodeExtenderArgs(absl::string_view(names4), limits).status(),
              absl::StatusCode::kInvalidArgument, "NodeNames: more than 3 nodes");
  const std::string names3 =
      R"json({"Pod": )json" + pod + R"json(, "NodeNames": ["a","b","c"]})json";
  EXPECT_TRUE(DecodeExtenderArgs(absl::string_view(names3), limits).ok());
  std::string items;
  for (int i = 0; i < 4; ++i) {
    items +=
        absl::StrCat(i == 0 ? "" : ",", R"json({"metadata": {"name": "n)json", i, R"json("}})json");
  }
  const std::string nodes4 =
      R"json({"Pod": )json" + pod + R"json(, "Nodes": {"items": [)json" + items + "]}}";
  ExpectError(DecodeExtenderArgs(absl::string_view(nodes4), limits).status(),
              absl::StatusCode::kInvalidArgument, "Nodes.items: more than 3 nodes");
  // Nesting: 8 levels pass (the pod object itself is the first), 9 do not; brackets inside
  // strings do not count.
  auto with_field = [&](int levels) {
    std::string deep = std::string(static_cast<size_t>(levels), '[') +
                       std::string(static_cast<size_t>(levels), ']');
    return R"json({"Pod": {"metadata": {"name": "p", "labels": {"x": "[[[[[[[[[["}},
                  "spec": {"containers": []}, "extra": )json" +
           deep + R"json(}, "NodeNames": []})json";
  };
  EXPECT_TRUE(DecodeExtenderArgs(absl::string_view(with_field(7)), limits).ok());
  ExpectError(DecodeExtenderArgs(absl::string_view(with_field(8)), limits).status(),
              absl::StatusCode::kInvalidArgument, "Pod: nested more than 8 levels deep");
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

}  // namespace
}  // namespace accelsched::scheduler::codec
