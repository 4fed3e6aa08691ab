#include "scheduler/codec/kube.h"

#include <array>
#include <chrono>
#include <ctime>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "scheduler/codec/json.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::codec {
namespace {

const Json& Null() {
  static const Json* const kNull = new Json();
  return *kNull;
}

// metadata.<key> of `object` when it is a string, else "".
std::string MetadataString(const Json& object, absl::string_view key) {
  const Json* metadata = Find(object, "metadata");
  if (metadata == nullptr || !metadata->is_object()) return "";
  const Json* value = Find(*metadata, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

template <typename T, typename Decode>
absl::StatusOr<ObjectList<T>> DecodeList(absl::string_view text, absl::string_view kind,
                                         const Decode& decode) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json list, ParseJson(text, absl::StrCat(kind, ": not JSON")));
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(list, kind));
  ObjectList<T> out;
  out.resource_version = MetadataString(list, "resourceVersion");
  const Json* items = Find(list, "items");
  if (items == nullptr || !items->is_array()) return out;
  out.items.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    out.items.push_back(decode((*items)[i], absl::StrCat(kind, ".items[", i, "]")));
  }
  return out;
}

absl::StatusOr<WatchEventType> EventType(const Json& event) {
  const Json* type = Find(event, "type");
  if (type == nullptr || !type->is_string()) {
    return absl::InvalidArgumentError("watch event: type must be a string");
  }
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "ADDED") return WatchEventType::kAdded;
  if (t == "MODIFIED") return WatchEventType::kModified;
  if (t == "DELETED") return WatchEventType::kDeleted;
  if (t == "BOOKMARK") return WatchEventType::kBookmark;
  if (t == "ERROR") return WatchEventType::kError;
  return absl::InvalidArgumentError(absl::StrCat("watch event: unknown type '", t, "'"));
}

// The Status object's code of an ERROR event (0 if it has none that fits an int).
int ErrorCode(const Json& object) {
  const Json* code = Find(object, "code");
  if (code == nullptr || !code->is_number_integer()) return 0;
  const int64_t c = code->get<int64_t>();
  return c < 0 || c > std::numeric_limits<int>::max() ? 0 : static_cast<int>(c);
}

template <typename T, typename Decode>
absl::StatusOr<WatchEvent<T>> DecodeEvent(absl::string_view line, absl::string_view what,
                                          const Decode& decode) {
  absl::StatusOr<Json> parsed = ParseJson(line, "");
  if (!parsed.ok() || !parsed->is_object()) {
    return absl::DataLossError("a watch line is not a JSON object");
  }
  const Json& event = *parsed;
  WatchEvent<T> out;
  ACCELSCHED_ASSIGN_OR_RETURN(out.type, EventType(event));
  const Json* found = Find(event, "object");
  const Json& object = found != nullptr ? *found : Null();
  out.resource_version = MetadataString(object, "resourceVersion");
  out.name = MetadataString(object, "name");
  if (out.type == WatchEventType::kError) {
    out.error_code = object.is_object() ? ErrorCode(object) : 0;
    out.error_message = Dump(event);
  } else if (out.type != WatchEventType::kBookmark) {
    out.object = decode(object, what);
  }
  return out;
}

}  // namespace

absl::StatusOr<ObjectList<PodObject>> DecodePodList(absl::string_view text) {
  return DecodeList<PodObject>(text, "pods", DecodePod);
}

absl::StatusOr<ObjectList<NodeObject>> DecodeNodeList(absl::string_view text,
                                                      TopologyCache& topologies) {
  return DecodeList<NodeObject>(text, "nodes", [&](const Json& item, absl::string_view path) {
    return DecodeNode(item, path, topologies);
  });
}

absl::StatusOr<ObjectList<PodGroupObject>> DecodePodGroupList(absl::string_view text) {
  return DecodeList<PodGroupObject>(text, "podgroups", DecodePodGroup);
}

absl::StatusOr<ObjectList<NamespaceObject>> DecodeNamespaceList(absl::string_view text) {
  return DecodeList<NamespaceObject>(text, "namespaces", DecodeNamespace);
}

absl::StatusOr<WatchEvent<PodObject>> DecodePodEvent(absl::string_view line) {
  return DecodeEvent<PodObject>(line, "pod", DecodePod);
}

absl::StatusOr<WatchEvent<NodeObject>> DecodeNodeEvent(absl::string_view line,
                                                       TopologyCache& topologies) {
  return DecodeEvent<NodeObject>(line, "node", [&](const Json& object, absl::string_view path) {
    return DecodeNode(object, path, topologies);
  });
}

absl::StatusOr<WatchEvent<PodGroupObject>> DecodePodGroupEvent(absl::string_view line) {
  return DecodeEvent<PodGroupObject>(line, "podgroup", DecodePodGroup);
}

absl::StatusOr<WatchEvent<NamespaceObject>> DecodeNamespaceEvent(absl::string_view line) {
  return DecodeEvent<NamespaceObject>(line, "namespace", DecodeNamespace);
}

std::string EncodeBinding(const PodObject& pod, const std::string& node,
                          const std::map<std::string, std::string>& annotations) {
  const Json binding = {{"apiVersion", "v1"},
                        {"kind", "Binding"},
                        {"metadata",
                         {{"name", pod.name},
                          {"namespace", pod.namespace_name},
                          {"uid", pod.uid},
                          {"annotations", annotations}}},
                        {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  return Dump(binding);
}

namespace {

// RFC 3339 in UTC to the second, as Kubernetes writes timestamps.
std::string NowRfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 32> text{};
  const size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text.data(), n);
}

}  // namespace

std::string TimestampMicrosNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  const size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  return absl::StrFormat("%s.%06dZ", absl::string_view(text.data(), n), micros);
}

std::string EncodePodEvent(const std::string& ns, const std::string& name, const std::string& uid,
                           const std::string& reason, const std::string& message) {
  const std::string now = NowRfc3339();
  const Json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", name + "."}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", ns}, {"name", name}, {"uid", uid}}},
      {"type", "Warning"},
      {"reason", reason},
      {"message", message},
      {"source", {{"component", "accelsched-extender"}}},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
  return Dump(event);
}

absl::StatusOr<std::string> DecodePodNodeName(absl::string_view text) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json pod, ParseJson(text, "pod: not JSON"));
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(pod, "pod"));
  const Json* spec = Find(pod, "spec");
  if (spec == nullptr) return std::string();
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*spec, "pod.spec"));
  return GetString(*spec, "nodeName", "pod.spec", /*required=*/false);
}

std::string EncodeAnnotationPatch(absl::string_view key, absl::string_view value) {
  return Dump(Json{{"metadata", {{"annotations", {{std::string(key), std::string(value)}}}}}});
}

std::string EncodeAnnotationPatchForUid(absl::string_view uid, absl::string_view key,
                                        absl::string_view value) {
  return Dump(Json{
      {"metadata",
       {{"uid", std::string(uid)}, {"annotations", {{std::string(key), std::string(value)}}}}}});
}

std::string EncodeAnnotationRemovalPatch(absl::string_view key) {
  return Dump(Json{{"metadata", {{"annotations", {{std::string(key), nullptr}}}}}});
}

std::string EncodeLabelPatch(absl::string_view key, std::optional<absl::string_view> value) {
  return Dump(Json{
      {"metadata",
       {{"labels",
         {{std::string(key), value.has_value() ? Json(std::string(*value)) : Json(nullptr)}}}}}});
}

absl::StatusOr<LeaseRecord> DecodeLease(absl::string_view text) {
  ACCELSCHED_ASSIGN_OR_RETURN(Json j, ParseJson(text, "Lease: not valid JSON"));
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(j, "Lease"));
  LeaseRecord r;
  const Json* metadata = Find(j, "metadata");
  if (metadata == nullptr) return absl::InvalidArgumentError("Lease.metadata: required");
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*metadata, "Lease.metadata"));
  ACCELSCHED_ASSIGN_OR_RETURN(r.resource_version,
                              GetString(*metadata, "resourceVersion", "Lease.metadata", true));
  const Json* spec = Find(j, "spec");
  if (spec == nullptr) return r;  // An empty Lease: nobody holds it.
  ACCELSCHED_RETURN_IF_ERROR(ExpectObject(*spec, "Lease.spec"));
  ACCELSCHED_ASSIGN_OR_RETURN(r.holder, GetString(*spec, "holderIdentity", "Lease.spec", false));
  ACCELSCHED_ASSIGN_OR_RETURN(r.acquire_time, GetString(*spec, "acquireTime", "Lease.spec", false));
  ACCELSCHED_ASSIGN_OR_RETURN(r.renew_time, GetString(*spec, "renewTime", "Lease.spec", false));
  for (const auto& [key, out] :
       {std::pair<const char*, int64_t*>{"leaseDurationSeconds", &r.lease_duration_seconds},
        {"leaseTransitions", &r.transitions}}) {
    const Json* n = Find(*spec, key);
    if (n == nullptr) continue;
    if (!n->is_number_integer() || n->get<int64_t>() < 0) {
      return WrongType(absl::StrCat("Lease.spec.", key), "a non-negative integer", *n);
    }
    *out = n->get<int64_t>();
  }
  return r;
}

std::string EncodeLease(const std::string& ns, const std::string& name, const LeaseRecord& record) {
  Json metadata = {{"name", name}, {"namespace", ns}};
  if (!record.resource_version.empty()) metadata["resourceVersion"] = record.resource_version;
  Json spec = {{"holderIdentity", record.holder},
               {"leaseDurationSeconds", record.lease_duration_seconds},
               {"leaseTransitions", record.transitions}};
  if (!record.acquire_time.empty()) spec["acquireTime"] = record.acquire_time;
  if (!record.renew_time.empty()) spec["renewTime"] = record.renew_time;
  return Dump(Json{{"apiVersion", "coordination.k8s.io/v1"},
                   {"kind", "Lease"},
                   {"metadata", std::move(metadata)},
                   {"spec", std::move(spec)}});
}

}  // namespace accelsched::scheduler::codec
