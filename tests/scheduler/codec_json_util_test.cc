// Tests of scheduler/codec/json_util.h: case-insensitive lookup, strings, string maps and
// quantities in JSON objects, with errors that name the path.
#include "scheduler/codec/json_util.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "tests/scheduler/codec_test_util.h"

namespace accelsched::scheduler::codec {
namespace {

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

}  // namespace
}  // namespace accelsched::scheduler::codec
