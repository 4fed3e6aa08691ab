#include "scheduler/codec/extender.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/json.h"
#include "topology/status_macros.h"

#include "simdjson.h"

namespace accelsched::scheduler::codec {
namespace {

constexpr char kBodyNotJson[] = "request body is not valid JSON (or not UTF-8)";

absl::StatusOr<PodObject> RequiredPod(const Json& body) {
  const Json* pod = Find(body, "Pod");
  if (pod == nullptr) return absl::InvalidArgumentError("Pod: required");
  return DecodePod(*pod, "Pod");
}

}  // namespace

namespace {

// Case-insensitive key match (simdjson gives std::string_view; Debian's abseil has its own).
bool KeyIs(std::string_view key, absl::string_view want) {
  return absl::EqualsIgnoreCase(absl::string_view(key.data(), key.size()), want);
}

absl::Status BadJson(simdjson::error_code e) {
  return absl::InvalidArgumentError(
      absl::StrCat("request body is not valid JSON (or not UTF-8): ", simdjson::error_message(e)));
}

const char* TypeName(simdjson::ondemand::value& v) {
  simdjson::ondemand::json_type t;
  if (v.type().get(t)) return "invalid";
  switch (t) {
    case simdjson::ondemand::json_type::array:
      return "array";
    case simdjson::ondemand::json_type::object:
      return "object";
    case simdjson::ondemand::json_type::number:
      return "number";
    case simdjson::ondemand::json_type::string:
      return "string";
    case simdjson::ondemand::json_type::boolean:
      return "boolean";
    case simdjson::ondemand::json_type::null:
      return "null";
  }
  return "invalid";
}

absl::Status WrongTypeOf(absl::string_view path, absl::string_view what,
                         simdjson::ondemand::value& v) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": must be ", what, ", got ", TypeName(v)));
}

// metadata.name of one raw Node object, which must be valid JSON throughout: it is echoed back
// in the answer, and simdjson's on-demand parser skips what it is not asked for without
// validating it ("x":tru went back to kube-scheduler unchanged). So the item gets one DOM parse,
// which validates all of it and gives the name.
absl::StatusOr<std::string> RawNodeName(std::string_view raw, const std::string& path) {
  simdjson::padded_string padded(raw);
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto e = parser.parse(padded).get(doc); e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not valid JSON: ", simdjson::error_message(e)));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return absl::InvalidArgumentError(path + ": must be an object");
  for (const simdjson::dom::key_value_pair field : obj) {
    if (!KeyIs(field.key, "metadata")) continue;
    simdjson::dom::object metadata;
    if (field.value.get_object().get(metadata)) {
      return absl::InvalidArgumentError(path + ".metadata: must be an object");
    }
    for (const simdjson::dom::key_value_pair m : metadata) {
      if (m.key != "name") continue;
      std::string_view name;
      if (m.value.get_string().get(name)) {
        return absl::InvalidArgumentError(path + ".metadata.name: must be a string");
      }
      if (name.empty()) {
        return absl::InvalidArgumentError(path + ".metadata.name: must not be empty");
      }
      return std::string(name);
    }
    break;
  }
  return absl::InvalidArgumentError(path + ".metadata.name: required");
}

absl::Status TooManyNames(const char* field, int64_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": more than ", max, " nodes in one request (maxNodeNames)"));
}

// InvalidArgument unless the arrays and objects of JSON text `raw` nest at most `max_depth`
// deep; `what` names it. Strings are skipped (their brackets do not count).
absl::Status CheckNesting(std::string_view raw, int max_depth, const char* what) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": nested more than ", max_depth, " levels deep"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

// The names of a NodeNames array (`raw`: its JSON text, already validated as JSON and UTF-8);
// InvalidArgument past `max` names (without building the rest).
absl::StatusOr<NodeNames> ParseNodeNames(std::string_view raw, int64_t max) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(raw.data(), raw.size());
  simdjson::ondemand::document doc;
  if (auto e = parser.iterate(padded).get(doc); e) return BadJson(e);
  simdjson::ondemand::array array;
  if (auto e = doc.get_array().get(array); e) return BadJson(e);
  std::vector<std::string> names;
  names.reserve(std::min(raw.size() / 8, static_cast<size_t>(max)));
  size_t i = 0;
  for (auto element : array) {
    simdjson::ondemand::value n;
    if (auto e = element.get(n); e) return BadJson(e);
    std::string_view name;
    if (n.get_string().get(name)) {
      return WrongTypeOf(absl::StrCat("NodeNames[", i, "]"), "a string", n);
    }
    if (static_cast<int64_t>(i) >= max) return TooManyNames("NodeNames", max);
    names.emplace_back(name);
    ++i;
  }
  return NodeNames(std::move(names));
}

// The last NodeNames arrays decoded, by their JSON text: kube-scheduler sends the same list
// (every node) cycle after cycle, and prioritize the same survivors while nothing changes.
class NodeNamesCache {
 public:
  absl::StatusOr<NodeNames> Get(std::string_view raw, int64_t max) {
    {
      absl::MutexLock lock(&mu_);
      for (size_t k = 0; k < recent_.size(); ++k) {
        if (recent_[k].first == raw) {
          NodeNames hit = recent_[k].second;
          if (static_cast<int64_t>(hit.size()) > max) return TooManyNames("NodeNames", max);
          std::rotate(recent_.begin(), recent_.begin() + static_cast<std::ptrdiff_t>(k),
                      recent_.begin() + static_cast<std::ptrdiff_t>(k) + 1);
          return hit;
        }
      }
    }
    ACCELSCHED_ASSIGN_OR_RETURN(NodeNames names, ParseNodeNames(raw, max));
    absl::MutexLock lock(&mu_);
    recent_.insert(recent_.begin(), {std::string(raw), names});
    if (recent_.size() > kKept) recent_.pop_back();
    return names;
  }

 private:
  static constexpr size_t kKept = 8;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, NodeNames>> recent_ ABSL_GUARDED_BY(mu_);  // MRU first.
};

absl::StatusOr<NodeNames> NodeNamesOf(std::string_view raw, int64_t max) {
  static NodeNamesCache* const cache = new NodeNamesCache();
  return cache->Get(raw, max);
}

// Writes into a string sized up front: the answers are built from pieces whose sizes are known,
// and appending them one by one through std::string (a capacity check and a call per piece, for
// 10,000 pieces) costs more than the copying.
class Writer {
 public:
  Writer(std::string* out, size_t capacity) : out_(out) {
    out_->resize(capacity);
    p_ = out_->data();
    end_ = p_ + capacity;
  }
  void Put(absl::string_view s) {
    Check(s.size());
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Put(char c) {
    Check(1);
    *p_++ = c;
  }
  void Finish() { out_->resize(static_cast<size_t>(p_ - out_->data())); }

 private:
  void Check(size_t n) const {
    // The capacity is computed from the same pieces; running past it is a bug, never input.
    if (static_cast<size_t>(end_ - p_) < n) std::abort();
  }
  std::string* out_;
  char* p_;
  char* end_;
};

// `,"key":{"node":"reason",...}` with each reason escaped once; `bytes` adds what it writes.
size_t ReasonsBytes(const ExtenderArgs& args, const std::vector<std::pair<int, int>>& failures,
                    const std::vector<std::string>& escaped_reasons) {
  size_t bytes = 32;
  for (const auto& [node, reason] : failures) {
    bytes += args.node_names.Quoted(static_cast<size_t>(node)).size() +
             escaped_reasons[static_cast<size_t>(reason)].size() + 2;
  }
  return bytes;
}

void PutReasons(Writer& w, absl::string_view key, const ExtenderArgs& args,
                const std::vector<std::pair<int, int>>& failures,
                const std::vector<std::string>& escaped_reasons) {
  w.Put(",\"");
  w.Put(key);
  w.Put("\":{");
  for (size_t i = 0; i < failures.size(); ++i) {
    if (i > 0) w.Put(',');
    w.Put(args.node_names.Quoted(static_cast<size_t>(failures[i].first)));
    w.Put(':');
    w.Put(escaped_reasons[static_cast<size_t>(failures[i].second)]);
  }
  w.Put('}');
}

// The Nodes field (a v1.NodeList) into out.node_items and out.node_names.
absl::Status DecodeNodeList(simdjson::ondemand::value& v, const DecodeLimits& limits,
                            ExtenderArgs& out) {
  simdjson::ondemand::object nodes;
  if (v.get_object().get(nodes)) return WrongTypeOf("Nodes", "an object (a v1.NodeList)", v);
  out.full_nodes = true;
  for (auto nf : nodes) {
    std::string_view nkey;
    if (auto e = nf.unescaped_key().get(nkey); e) return BadJson(e);
    if (!KeyIs(nkey, "items")) continue;
    simdjson::ondemand::value items_value;
    if (auto e = nf.value().get(items_value); e) return BadJson(e);
    bool items_null = false;
    if (auto e = items_value.is_null().get(items_null); e) return BadJson(e);
    if (items_null) continue;
    simdjson::ondemand::array items;
    if (items_value.get_array().get(items)) {
      return WrongTypeOf("Nodes.items", "an array", items_value);
    }
    size_t i = 0;
    std::vector<std::string> item_names;
    for (auto element : items) {
      if (static_cast<int64_t>(i) >= limits.max_node_names) {
        return TooManyNames("Nodes.items", limits.max_node_names);
      }
      const std::string path = absl::StrCat("Nodes.items[", i, "]");
      simdjson::ondemand::value item;
      if (auto e = element.get(item); e) return BadJson(e);
      simdjson::ondemand::object obj;
      if (item.get_object().get(obj)) return WrongTypeOf(path, "an object", item);
      std::string_view raw;
      if (auto e = obj.raw_json().get(raw); e) return BadJson(e);
      ACCELSCHED_ASSIGN_OR_RETURN(std::string name, RawNodeName(raw, path));
      item_names.push_back(std::move(name));
      out.node_items.emplace_back(raw);
      ++i;
    }
    out.node_names = NodeNames(std::move(item_names));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(absl::string_view body,
                                                const DecodeLimits& limits) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body.data(), body.size());
  simdjson::ondemand::document doc;
  if (auto e = parser.iterate(padded).get(doc); e) return BadJson(e);
  simdjson::ondemand::json_type root_type;
  if (auto e = doc.type().get(root_type); e) return BadJson(e);
  if (root_type != simdjson::ondemand::json_type::object) {
    return absl::InvalidArgumentError("body: must be an object");
  }
  simdjson::ondemand::object root;
  if (auto e = doc.get_object().get(root); e) return BadJson(e);
  ExtenderArgs out;
  bool have_pod = false, have_names = false, have_nodes = false;
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return BadJson(e);
    simdjson::ondemand::value v;
    if (auto e = field.value().get(v); e) return BadJson(e);
    bool is_null = false;
    if (auto e = v.is_null().get(is_null); e) return BadJson(e);
    if (is_null) continue;
    if (KeyIs(key, "Pod")) {
      simdjson::ondemand::object pod;
      if (v.get_object().get(pod)) return WrongTypeOf("Pod", "an object", v);
      std::string_view raw;
      if (auto e = pod.raw_json().get(raw); e) return BadJson(e);
      ACCELSCHED_RETURN_IF_ERROR(CheckNesting(raw, limits.max_pod_depth, "Pod"));
      const Json parsed = Json::parse(raw, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) return absl::InvalidArgumentError("Pod: not valid JSON");
      ACCELSCHED_ASSIGN_OR_RETURN(out.pod, DecodePod(parsed, "Pod"));
      have_pod = true;
    } else if (KeyIs(key, "NodeNames")) {
      simdjson::ondemand::array names;
      if (v.get_array().get(names)) return WrongTypeOf("NodeNames", "an array of strings", v);
      std::string_view raw;
      if (auto e = names.raw_json().get(raw); e) return BadJson(e);
      ACCELSCHED_ASSIGN_OR_RETURN(out.node_names, NodeNamesOf(raw, limits.max_node_names));
      have_names = true;
    } else if (KeyIs(key, "Nodes")) {
      ACCELSCHED_RETURN_IF_ERROR(DecodeNodeList(v, limits, out));
      have_nodes = true;
    }
  }
  if (!have_pod) return absl::InvalidArgumentError("Pod: required");
  if (have_names && have_nodes) {
    return absl::InvalidArgumentError("Nodes and NodeNames: give one, not both");
  }
  return out;
}

absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(const Json& body) {
  if (!body.is_object()) return WrongType("body", "an object", body);
  return DecodeExtenderArgs(absl::string_view(body.dump()));
}

namespace {

// Bytes that need an escape in a JSON string: control characters, '"' and '\\'.
constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<size_t>(c)] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}();

}  // namespace

void AppendJsonString(std::string* out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  // Runs of characters that need no escaping are appended at once (node names and reasons are
  // almost always one run).
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(s[i]);
    if (!kNeedsEscape[u]) continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default: {
        const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        out->append(esc, sizeof(esc));
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

NodeNames::NodeNames(std::vector<std::string> names) {
  auto data = std::make_shared<Data>();
  size_t bytes = 0;
  for (const std::string& n : names) bytes += n.size() + 2;
  data->quoted.reserve(bytes);
  data->quoted_end.reserve(names.size());
  for (const std::string& n : names) {
    AppendJsonString(&data->quoted, n);
    data->quoted_end.push_back(data->quoted.size());
  }
  data->names = std::move(names);
  data_ = std::move(data);
}

int FilterResult::AddReason(std::string reason) {
  reasons.push_back(std::move(reason));
  return static_cast<int>(reasons.size()) - 1;
}

std::vector<std::pair<std::string, std::string>> FilterResult::Named(const ExtenderArgs& args,
                                                                     bool unresolvable) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [node, reason] : unresolvable ? failed_unresolvable : failed) {
    out.emplace_back(args.node_names[static_cast<size_t>(node)],
                     reasons[static_cast<size_t>(reason)]);
  }
  return out;
}

std::string EncodeFilterResultText(const ExtenderArgs& args, const FilterResult& result) {
  std::vector<std::string> escaped;
  escaped.reserve(result.reasons.size());
  for (const std::string& r : result.reasons) {
    escaped.emplace_back();
    AppendJsonString(&escaped.back(), r);
  }
  std::string error;
  AppendJsonString(&error, result.error);
  static constexpr absl::string_view kListHead =
      R"({"Nodes":{"apiVersion":"v1","kind":"NodeList","metadata":{},"items":[)";
  size_t bytes = kListHead.size() + 64 + error.size() + ReasonsBytes(args, result.failed, escaped) +
                 ReasonsBytes(args, result.failed_unresolvable, escaped);
  for (int k : result.survivors) {
    const size_t i = static_cast<size_t>(k);
    bytes += (args.full_nodes ? args.node_items[i].size() : args.node_names.Quoted(i).size()) + 1;
  }
  std::string out;
  Writer w(&out, bytes);
  if (args.full_nodes) {
    w.Put(kListHead);
    for (size_t k = 0; k < result.survivors.size(); ++k) {
      if (k > 0) w.Put(',');
      w.Put(args.node_items[static_cast<size_t>(result.survivors[k])]);
    }
    w.Put(R"(]},"NodeNames":null)");
  } else {
    w.Put(R"({"Nodes":null,"NodeNames":[)");
    for (size_t k = 0; k < result.survivors.size(); ++k) {
      if (k > 0) w.Put(',');
      w.Put(args.node_names.Quoted(static_cast<size_t>(result.survivors[k])));
    }
    w.Put(']');
  }
  PutReasons(w, "FailedNodes", args, result.failed, escaped);
  PutReasons(w, "FailedAndUnresolvableNodes", args, result.failed_unresolvable, escaped);
  w.Put(",\"Error\":");
  w.Put(error);
  w.Put('}');
  w.Finish();
  return out;
}

Json EncodeFilterResult(const ExtenderArgs& args, const FilterResult& result) {
  return Json::parse(EncodeFilterResultText(args, result));
}

std::string EncodeHostPriorityListText(const std::vector<HostPriority>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(R"({"Host":)");
    AppendJsonString(&out, list[i].host);
    absl::StrAppend(&out, R"(,"Score":)", list[i].score, "}");
  }
  out.push_back(']');
  return out;
}

std::string EncodeHostPriorityListText(const NodeNames& names, const std::vector<int64_t>& scores) {
  static constexpr absl::string_view kHost = R"({"Host":)";
  static constexpr absl::string_view kScore = R"(,"Score":)";
  size_t bytes = 2;
  for (size_t i = 0; i < names.size(); ++i) {
    bytes += names.Quoted(i).size() + kHost.size() + kScore.size() + 24;
  }
  std::string out;
  Writer w(&out, bytes);
  w.Put('[');
  char digits[24];
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) w.Put(',');
    w.Put(kHost);
    w.Put(names.Quoted(i));
    w.Put(kScore);
    const int64_t score = i < scores.size() ? scores[i] : 0;
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), score);
    w.Put(absl::string_view(digits, static_cast<size_t>(end - digits)));
    w.Put('}');
  }
  w.Put(']');
  w.Finish();
  return out;
}

Json EncodeHostPriorityList(const std::vector<HostPriority>& list) {
  return Json::parse(EncodeHostPriorityListText(list));
}

absl::StatusOr<BindingArgs> DecodeBindingArgs(const Json& body) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(body, "body"));
  BindingArgs out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_name, GetString(body, "PodName", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_namespace, GetString(body, "PodNamespace", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod_uid, GetString(body, "PodUID", "", true));
  ACCELSCHED_ASSIGN_OR_RETURN(out.node, GetString(body, "Node", "", true));
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"PodName", &out.pod_name},
        {"PodNamespace", &out.pod_namespace},
        {"PodUID", &out.pod_uid},
        {"Node", &out.node}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
    }
  }
  return out;
}

Json EncodeErrorResult(const std::string& error) { return Json{{"Error", error}}; }

std::string EncodeErrorResultText(absl::string_view error) {
  return Dump(EncodeErrorResult(std::string(error)));
}

absl::StatusOr<BindingArgs> DecodeBindingArgs(absl::string_view body) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json j, ParseJson(body, kBodyNotJson));
  return DecodeBindingArgs(j);
}

absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(absl::string_view body) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json j, ParseJson(body, kBodyNotJson));
  return DecodePreemptionArgs(j);
}

absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(const Json& body) {
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(body, "body"));
  PreemptionArgs out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.pod, RequiredPod(body));
  const Json* meta = Find(body, "NodeNameToMetaVictims");
  const Json* full = Find(body, "NodeNameToVictims");
  const Json* map = meta != nullptr ? meta : full;
  const std::string key = meta != nullptr ? "NodeNameToMetaVictims" : "NodeNameToVictims";
  if (map == nullptr) return out;
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*map, key));
  for (auto it = map->begin(); it != map->end(); ++it) {
    const std::string path = absl::StrCat(key, "[\"", it.key(), "\"]");
    std::vector<std::string>& uids = out.victims[it.key()];
    if (it->is_null()) continue;
    ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*it, path));
    if (const Json* n = Find(*it, "NumPDBViolations"); n != nullptr) {
      if (!n->is_number_integer()) return WrongType(path + ".NumPDBViolations", "an integer", *n);
      out.pdb_violations[it.key()] = n->get<int64_t>();
    }
    const Json* pods = Find(*it, "Pods");
    if (pods == nullptr) continue;
    if (!pods->is_array()) return WrongType(path + ".Pods", "an array", *pods);
    for (size_t i = 0; i < pods->size(); ++i) {
      const std::string ppath = absl::StrCat(path, ".Pods[", i, "]");
      const Json& p = (*pods)[i];
      ACCELSCHED_RETURN_IF_ERROR(ExpectObject(p, ppath));
      std::string uid;
      if (meta != nullptr) {
        ACCELSCHED_ASSIGN_OR_RETURN(uid, GetString(p, "UID", ppath, true));
      } else {
        const Json* metadata = Find(p, "metadata");
        if (metadata == nullptr) return absl::InvalidArgumentError(ppath + ".metadata: required");
        ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, ppath + ".metadata"));
        ACCELSCHED_ASSIGN_OR_RETURN(uid, GetString(*metadata, "uid", ppath + ".metadata", true));
      }
      if (uid.empty()) return absl::InvalidArgumentError(ppath + ": empty UID");
      uids.push_back(std::move(uid));
    }
  }
  return out;
}

Json EncodePreemptionResult(const std::map<std::string, std::vector<std::string>>& victims,
                            const std::map<std::string, int64_t>& pdb_violations) {
  Json map = Json::object();
  for (const auto& [node, uids] : victims) {
    Json pods = Json::array();
    for (const std::string& uid : uids) pods.push_back(Json{{"UID", uid}});
    auto v = pdb_violations.find(node);
    map[node] = Json{{"Pods", std::move(pods)},
                     {"NumPDBViolations", v == pdb_violations.end() ? 0 : v->second}};
  }
  return Json{{"NodeNameToMetaVictims", std::move(map)}};
}

std::string EncodePreemptionResultText(
    const std::map<std::string, std::vector<std::string>>& victims,
    const std::map<std::string, int64_t>& pdb_violations) {
  return Dump(EncodePreemptionResult(victims, pdb_violations));
}

}  // namespace accelsched::scheduler::codec
