#include "scheduler/codec/yaml.h"

#include <cstdint>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"

namespace accelsched::scheduler::codec {
namespace {

constexpr int kMaxDepth = 64;
constexpr int64_t kSpareValues = 1024;

// A scalar's JSON value; `tag` is "!" for quoted scalars.
Json ScalarValue(const std::string& s, const std::string& tag) {
  if (tag == "!") return s;  // Quoted.
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

// Builds one JSON value per YAML document from yaml-cpp's parse events, within budgets: the
// depth, and the number of values made, aliases expanded included (a 516-byte alias bomb once
// expanded to 6 GB through yaml-cpp's node tree). Errors are thrown as YAML::ParserException
// with the position, and reported like yaml-cpp's own.
class JsonBuilder final : public YAML::EventHandler {
 public:
  explicit JsonBuilder(int64_t max_values) : max_values_(max_values) {}

  // The finished document, null when it had none.
  Json TakeDocument() { return std::move(document_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 answers some stray tokens (a lone ',') with an empty document without
    // consuming them, forever: its LoadAll grew to 14 GB on a file holding ",".
    if (last_document_start_ == mark.pos) Fail(mark, "unexpected character");
    last_document_start_ = mark.pos;
    stack_.clear();
    anchors_.clear();
    anchored_values_.clear();
    document_ = nullptr;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Count(mark, 1);
    Finish(mark, nullptr, 1, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override;
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Count(mark, 1);
    if (anchor != 0) Remember(anchor, ScalarValue(value, tag), 1, value);
    if (AwaitingKey()) {
      stack_.back().key = value;  // Keys are strings as written.
      stack_.back().values += 1;
      return;
    }
    Finish(mark, ScalarValue(value, tag), 1, 0);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(mark, Json::array(), anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(mark, Json::object(), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  // A sequence or map being built, with the key waiting for its value in a map.
  struct Building {
    Json value;
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    int64_t values = 1;  // This one and everything in it, for anchors.
    std::optional<std::string> key;
  };
  struct Anchored {
    size_t slot = 0;  // In anchored_values_.
    int64_t values = 0;
    std::optional<std::string> text;  // A scalar's, as written: its value as a map key.
  };

  bool AwaitingKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key.has_value();
  }
  [[noreturn]] static void Fail(const YAML::Mark& mark, const std::string& why) {
    throw YAML::ParserException(mark, why);
  }
  void Count(const YAML::Mark& mark, int64_t values);
  void Remember(YAML::anchor_t anchor, Json value, int64_t values,
                std::optional<std::string> text) {
    anchors_[anchor] = {anchored_values_.size(), values, std::move(text)};
    anchored_values_.push_back(std::move(value));
  }
  void Open(const YAML::Mark& mark, Json empty, YAML::anchor_t anchor);
  void Close();
  void Finish(const YAML::Mark& mark, Json value, int64_t values, YAML::anchor_t anchor);

  int64_t max_values_;
  int64_t values_ = 0;  // Made so far in the whole file.
  std::optional<int> last_document_start_;
  std::vector<Building> stack_;
  absl::flat_hash_map<YAML::anchor_t, Anchored> anchors_;
  std::vector<Json> anchored_values_;
  Json document_;
};

void JsonBuilder::Count(const YAML::Mark& mark, int64_t values) {
  values_ += values;
  if (values_ > max_values_) {
    Fail(mark, absl::StrCat("more than ", max_values_,
                            " values (aliases counted as often as they are used)"));
  }
}

void JsonBuilder::OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) {
  auto it = anchors_.find(anchor);
  if (it == anchors_.end()) Fail(mark, "alias to a node that contains it or is not finished");
  Count(mark, it->second.values);
  if (AwaitingKey() && it->second.text.has_value()) {
    stack_.back().key = *it->second.text;
    stack_.back().values += 1;
    return;
  }
  Json copy = anchored_values_[it->second.slot];
  const int64_t values = it->second.values;
  Finish(mark, std::move(copy), values, 0);
}

void JsonBuilder::Open(const YAML::Mark& mark, Json empty, YAML::anchor_t anchor) {
  if (AwaitingKey()) Fail(mark, "map keys must be scalars");
  if (std::ssize(stack_) >= kMaxDepth) {
    Fail(mark, absl::StrCat("nested deeper than ", kMaxDepth));
  }
  Count(mark, 1);
  stack_.push_back({std::move(empty), mark, anchor, 1, std::nullopt});
}

void JsonBuilder::Close() {
  Building top = std::move(stack_.back());
  stack_.pop_back();
  if (top.key.has_value()) Fail(top.mark, "map key without a value");
  Finish(top.mark, std::move(top.value), top.values, top.anchor);
}

// Attaches a finished value (`values` of them counting what it holds) to what contains it.
void JsonBuilder::Finish(const YAML::Mark& mark, Json value, int64_t values,
                         YAML::anchor_t anchor) {
  if (AwaitingKey()) Fail(mark, "map keys must be scalars");
  if (anchor != 0) Remember(anchor, value, values, std::nullopt);
  if (stack_.empty()) {
    document_ = std::move(value);
    return;
  }
  Building& parent = stack_.back();
  parent.values += values;
  if (parent.value.is_array()) {
    parent.value.push_back(std::move(value));
  } else {
    parent.value[*parent.key] = std::move(value);
    parent.key.reset();
  }
}

}  // namespace

absl::StatusOr<std::vector<Json>> YamlToJson(absl::string_view text, absl::string_view file) {
  std::vector<Json> out;
  std::istringstream in{std::string(text)};
  // Without aliases a value takes at least two bytes of text, so this budget binds only on
  // aliases that would make the document larger than its text.
  JsonBuilder builder(std::ssize(text) + kSpareValues);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
      Json doc = builder.TakeDocument();
      if (!doc.is_null()) out.push_back(std::move(doc));
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
