// kube-scheduler's extender wire types (k8s.io/kube-scheduler/extender/v1; DESIGN section 3),
// decoded into typed values and encoded back, with the exact PascalCase keys.
//
//   ExtenderArgs             {Pod, Nodes (v1.NodeList, nodeCacheCapable false) | NodeNames}
//   ExtenderFilterResult     {Nodes | NodeNames, FailedNodes, FailedAndUnresolvableNodes, Error}
//   HostPriorityList         [{Host, Score}]
//   ExtenderBindingArgs      {PodName, PodNamespace, PodUID, Node} -> ExtenderBindingResult {Error}
//   ExtenderPreemptionArgs   {Pod, NodeNameToVictims | NodeNameToMetaVictims}
//                            -> ExtenderPreemptionResult {NodeNameToMetaVictims}
//
// Keys are matched case-insensitively on input and `null` is accepted for every optional field,
// as Go's encoding/json does for these untagged types.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_EXTENDER_H_
#define ACCELSCHED_SCHEDULER_CODEC_EXTENDER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

#include "scheduler/codec/json_util.h"
#include "scheduler/codec/k8s.h"

namespace accelsched::scheduler::codec {

struct ExtenderArgs {
  PodObject pod;
  // The candidate node names, in input order (from NodeNames, or from
  // Nodes.items[*].metadata.name).
  std::vector<std::string> node_names;
  // nodeCacheCapable false: the Nodes items as sent (raw JSON text), echoed for the survivors.
  bool full_nodes = false;
  std::vector<std::string> node_items;
};

// The request body as received. The envelope is read with simdjson's on-demand parser, which
// validates UTF-8 and never builds a DOM for the node list (5,000 names or 500 full Node objects
// would otherwise cost thousands of allocations per request); the Pod, which is small and needs
// the full decoder, is parsed with nlohmann. Neither Nodes nor NodeNames (both absent or null)
// is an empty candidate list; both present is an error.
absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(absl::string_view body);
// The same for an already parsed body (tests).
absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(const Json& body);

struct FilterResult {
  std::vector<int> survivors;  // Indices into ExtenderArgs::node_names.
  // Failing nodes as (index into ExtenderArgs::node_names, index into `reasons`), in candidate
  // order. Thousands of failing nodes share a few reasons, so each text is kept (and escaped
  // when encoded) once.
  std::vector<std::pair<int, int>> failed;               // FailedNodes.
  std::vector<std::pair<int, int>> failed_unresolvable;  // FailedAndUnresolvableNodes.
  std::vector<std::string> reasons;
  std::string error;

  // Appends `reason` to `reasons`; returns its index.
  int AddReason(std::string reason);
  // (node name, reason) of `failed` (or of `failed_unresolvable`), e.g. for logs and tests.
  std::vector<std::pair<std::string, std::string>> Named(const ExtenderArgs& args,
                                                         bool unresolvable) const;
};
// Survivors in the input's form (NodeNames, or Nodes with the original items). The text form is
// written directly (no DOM); the Json form parses it.
std::string EncodeFilterResultText(const ExtenderArgs& args, const FilterResult& result);
Json EncodeFilterResult(const ExtenderArgs& args, const FilterResult& result);

struct HostPriority {
  std::string host;
  int64_t score = 0;  // 0..10.
};
std::string EncodeHostPriorityListText(const std::vector<HostPriority>& list);
Json EncodeHostPriorityList(const std::vector<HostPriority>& list);

// Appends `s` as a JSON string literal (quoted, escaped) to `out`. `s` must be UTF-8.
void AppendJsonString(std::string* out, absl::string_view s);

struct BindingArgs {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string node;
};
absl::StatusOr<BindingArgs> DecodeBindingArgs(const Json& body);
// {"Error": error}.
Json EncodeErrorResult(const std::string& error);

struct PreemptionArgs {
  PodObject pod;
  // Node -> victim pod UIDs, from NodeNameToMetaVictims or NodeNameToVictims (full pods).
  std::map<std::string, std::vector<std::string>> victims;
  std::map<std::string, int64_t> pdb_violations;
};
absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(const Json& body);

// {"NodeNameToMetaVictims": {node: {"Pods": [{"UID": uid}], "NumPDBViolations": n}}}.
Json EncodePreemptionResult(const std::map<std::string, std::vector<std::string>>& victims,
                            const std::map<std::string, int64_t>& pdb_violations);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_EXTENDER_H_
