// The JSON forms of the codec's decoders and encoders: the same functions as k8s.h, extender.h
// and yaml.h, on nlohmann::json values instead of text. Internal to scheduler/codec (and its
// tests and benchmarks, which link nlohmann themselves): no header outside codec/ includes
// nlohmann/json, so that every other target sees only typed values and text.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_JSON_H_
#define ACCELSCHED_SCHEDULER_CODEC_JSON_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "scheduler/codec/extender.h"
#include "scheduler/codec/json_util.h"
#include "scheduler/codec/k8s.h"
#include "scheduler/codec/yaml.h"

namespace accelsched::scheduler::codec {

// `j` as compact text; invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string Dump(const Json& j);

// Parses `text`; InvalidArgument `what` if it is not JSON (or not UTF-8).
absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what);

// Kubernetes objects (k8s.h). `path` prefixes error messages ("Pod", "items[3]").
absl::StatusOr<PodObject> DecodePod(const Json& pod, absl::string_view path);
absl::StatusOr<NodeObject> DecodeNode(const Json& node, absl::string_view path,
                                      TopologyCache& topologies);
absl::StatusOr<PodGroupObject> DecodePodGroup(const Json& group, absl::string_view path);
absl::StatusOr<NamespaceObject> DecodeNamespace(const Json& ns, absl::string_view path);
absl::StatusOr<ClusterObjects> DecodeClusterList(const Json& list);

// The extender wire types (extender.h).
absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(const Json& body);
Json EncodeFilterResult(const ExtenderArgs& args, const FilterResult& result);
Json EncodeHostPriorityList(const std::vector<HostPriority>& list);
absl::StatusOr<BindingArgs> DecodeBindingArgs(const Json& body);
Json EncodeErrorResult(const std::string& error);
absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(const Json& body);
Json EncodePreemptionResult(const std::map<std::string, std::vector<std::string>>& victims,
                            const std::map<std::string, int64_t>& pdb_violations);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_JSON_H_
