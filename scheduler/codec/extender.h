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
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "scheduler/codec/config.h"
#include "scheduler/codec/k8s.h"

namespace accelsched::scheduler::codec {

// The candidate node names of a request: immutable, shared, with each name also kept as a JSON
// string literal for the answers. DecodeExtenderArgs keeps the last few NodeNames arrays it
// decoded and gives identical arrays (the same JSON text) the same list, which kube-scheduler
// sends cycle after cycle; per-list work (name resolution) can then be remembered by identity().
class NodeNames {
 public:
  NodeNames() : NodeNames(std::vector<std::string>()) {}
  NodeNames(std::vector<std::string> names);  // NOLINT(google-explicit-constructor)
  NodeNames(std::initializer_list<std::string> names)
      : NodeNames(std::vector<std::string>(names)) {}

  size_t size() const { return data_->names.size(); }
  bool empty() const { return data_->names.empty(); }
  const std::string& operator[](size_t i) const { return data_->names[i]; }
  std::vector<std::string>::const_iterator begin() const { return data_->names.begin(); }
  std::vector<std::string>::const_iterator end() const { return data_->names.end(); }
  const std::vector<std::string>& names() const { return data_->names; }
  // Name i as a JSON string literal, quoted and escaped.
  absl::string_view Quoted(size_t i) const {
    const size_t begin = i == 0 ? 0 : data_->quoted_end[i - 1];
    return absl::string_view(data_->quoted).substr(begin, data_->quoted_end[i] - begin);
  }
  // The same for copies of this list and for lists decoded from the same text; `keep_alive()`
  // holds the list so that the identity is not reused while it is held.
  const void* identity() const { return data_.get(); }
  std::shared_ptr<const void> keep_alive() const { return data_; }

  friend bool operator==(const NodeNames& a, const NodeNames& b) { return a.names() == b.names(); }

 private:
  struct Data {
    std::vector<std::string> names;
    std::string quoted;              // Every literal, one after the other.
    std::vector<size_t> quoted_end;  // End of literal i in `quoted`.
  };
  std::shared_ptr<const Data> data_;
};

struct ExtenderArgs {
  PodObject pod;
  // The candidate node names, in input order (from NodeNames, or from
  // Nodes.items[*].metadata.name).
  NodeNames node_names;
  // nodeCacheCapable false: the Nodes items as sent (raw JSON text), echoed for the survivors.
  bool full_nodes = false;
  std::vector<std::string> node_items;
};

// The request body as received. The envelope is read with simdjson's on-demand parser, which
// validates UTF-8 and never builds a DOM for the node list (5,000 names or 500 full Node objects
// would otherwise cost thousands of allocations per request); the Pod, which is small and needs
// the full decoder, is parsed with nlohmann. Neither Nodes nor NodeNames (both absent or null)
// is an empty candidate list; both present is an error.
//
// `limits` bound what one request may make the service do; beyond them it is refused
// (InvalidArgument naming the field) before that work.
struct DecodeLimits {
  int64_t max_node_names = kDefaultMaxNodeNames;  // NodeNames entries or Nodes.items.
  // Nesting of the Pod object (arrays and objects). Real pods stay below 20; 5 million nested
  // arrays in an unused field once took 0.5 GB and seconds to decode.
  int max_pod_depth = 100;
};
absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(absl::string_view body,
                                                const DecodeLimits& limits = {});

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
// Survivors in the input's form (NodeNames, or Nodes with the original items), written directly
// (no DOM).
std::string EncodeFilterResultText(const ExtenderArgs& args, const FilterResult& result);

struct HostPriority {
  std::string host;
  int64_t score = 0;  // 0..10.
};
std::string EncodeHostPriorityListText(const std::vector<HostPriority>& list);
// The same for `scores[i]` of `names[i]` (what the extender's prioritize returns), written from
// the names' ready literals.
std::string EncodeHostPriorityListText(const NodeNames& names, const std::vector<int64_t>& scores);

// Appends `s` as a JSON string literal (quoted, escaped) to `out`. `s` must be UTF-8.
void AppendJsonString(std::string* out, absl::string_view s);

struct BindingArgs {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string node;
};
// The request body as received; InvalidArgument for text that is not JSON (or not UTF-8).
absl::StatusOr<BindingArgs> DecodeBindingArgs(absl::string_view body);
// {"Error": error}: the ExtenderBindingResult, and the body of every error answer. Invalid UTF-8
// in `error` is replaced.
std::string EncodeErrorResultText(absl::string_view error);

struct PreemptionArgs {
  PodObject pod;
  // Node -> victim pod UIDs, from NodeNameToMetaVictims or NodeNameToVictims (full pods).
  std::map<std::string, std::vector<std::string>> victims;
  std::map<std::string, int64_t> pdb_violations;
};
// The request body as received; InvalidArgument for text that is not JSON (or not UTF-8).
absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(absl::string_view body);

// {"NodeNameToMetaVictims": {node: {"Pods": [{"UID": uid}], "NumPDBViolations": n}}}.
std::string EncodePreemptionResultText(
    const std::map<std::string, std::vector<std::string>>& victims,
    const std::map<std::string, int64_t>& pdb_violations);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_EXTENDER_H_
