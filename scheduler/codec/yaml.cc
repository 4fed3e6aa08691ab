#include "scheduler/codec/yaml.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "yaml-cpp/yaml.h"

namespace accelsched::scheduler::codec {
namespace {

constexpr int kMaxDepth = 64;

Json Scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // Quoted.
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t i = 0;
  if (absl::SimpleAtoi(s, &i) && s.find_first_of("xXoO") == std::string::npos) return i;
  // YAML 1.2 core schema: 0x1F and 0o17.
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    uint64_t u = 0;
    const int base = s[1] == 'x' ? 16 : 8;
    bool ok = true;
    for (size_t k = 2; k < s.size() && ok; ++k) {
      const char c = static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(s[k])));
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
      ok = d < base && u <= (uint64_t{1} << 59);
      u = u * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    if (ok) return static_cast<int64_t>(u);
  }
  double d = 0;
  const bool numeric = !s.empty() && (absl::ascii_isdigit(static_cast<unsigned char>(s[0])) ||
                                      s[0] == '-' || s[0] == '+' || s[0] == '.');
  if (numeric && absl::SimpleAtod(s, &d) && s.find_first_of("xXiInN") == std::string::npos) {
    return d;
  }
  return s;
}

absl::StatusOr<Json> Convert(const YAML::Node& node, int depth, absl::string_view file) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": nested deeper than ", kMaxDepth));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return Scalar(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& child : node) {
        absl::StatusOr<Json> c = Convert(child, depth + 1, file);
        if (!c.ok()) return c.status();
        out.push_back(std::move(*c));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(file, ":", kv.first.Mark().line + 1, ": map keys must be scalars"));
        }
        absl::StatusOr<Json> c = Convert(kv.second, depth + 1, file);
        if (!c.ok()) return c.status();
        out[kv.first.Scalar()] = std::move(*c);
      }
      return out;
    }
  }
  return Json(nullptr);
}

}  // namespace

absl::StatusOr<std::vector<Json>> YamlToJson(absl::string_view text, absl::string_view file) {
  std::vector<Json> out;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(std::string(text))) {
      absl::StatusOr<Json> j = Convert(doc, 0, file);
      if (!j.ok()) return j.status();
      if (!j->is_null()) out.push_back(std::move(*j));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  return out;
}

absl::StatusOr<Json> ParseJsonOrYaml(absl::string_view text, absl::string_view file) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  absl::StatusOr<std::vector<Json>> docs = YamlToJson(text, file);
  if (!docs.ok()) return docs.status();
  if (docs->empty()) return absl::InvalidArgumentError(absl::StrCat(file, ": empty"));
  if (docs->size() == 1) return std::move((*docs)[0]);
  Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
  for (Json& d : *docs) list["items"].push_back(std::move(d));
  return list;
}

}  // namespace accelsched::scheduler::codec
