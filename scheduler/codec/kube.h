// The Kubernetes API's own envelopes, text in, typed values out (DESIGN section 8): lists of
// objects (GET /api/v1/pods, ...), watch events (one JSON object per line), the Binding that bind
// POSTs, and the merge patch that publishes an annotation.
//
// Decoding never throws and never trusts the server: a line that is not a JSON object is an error
// (the watch is then reconnected), an event without a known type is skipped; an object that does
// not decode is reported per item or per event (logged and skipped by the informers), with its
// field path.
//
// Thread-safety: pure functions, except that node decoding fills the caller's TopologyCache.
#ifndef ACCELSCHED_SCHEDULER_CODEC_KUBE_H_
#define ACCELSCHED_SCHEDULER_CODEC_KUBE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "scheduler/codec/k8s.h"

namespace accelsched::scheduler::codec {

// The items of a list answer, each decoded or with its error ("pods.items[3].spec...: ..."), and
// the list's resourceVersion (where a watch continues).
template <typename T>
struct ObjectList {
  std::string resource_version;
  std::vector<absl::StatusOr<T>> items;
};

// `kind` names the items in errors ("pods" -> "pods.items[3]"). InvalidArgument if `text` is not
// a JSON object; a missing or non-array "items" is an empty list.
absl::StatusOr<ObjectList<PodObject>> DecodePodList(absl::string_view text);
absl::StatusOr<ObjectList<NodeObject>> DecodeNodeList(absl::string_view text,
                                                      TopologyCache& topologies);
absl::StatusOr<ObjectList<PodGroupObject>> DecodePodGroupList(absl::string_view text);
absl::StatusOr<ObjectList<NamespaceObject>> DecodeNamespaceList(absl::string_view text);

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// One line of a watch stream.
template <typename T>
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  std::string resource_version;  // object.metadata.resourceVersion, if any.
  std::string name;              // object.metadata.name, if any (also for undecodable objects).
  // kAdded, kModified, kDeleted: the object, or why it does not decode. kBookmark and kError:
  // not decoded (an error status).
  absl::StatusOr<T> object = absl::UnknownError("not decoded");
  int error_code = 0;         // kError: the Status object's code (410: resourceVersion too old).
  std::string error_message;  // kError: its message, or the object's text.
};

// DataLoss if the line is not a JSON object (the stream is broken: reconnect); InvalidArgument if
// it has no string "type" of ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (skip the event).
absl::StatusOr<WatchEvent<PodObject>> DecodePodEvent(absl::string_view line);
absl::StatusOr<WatchEvent<NodeObject>> DecodeNodeEvent(absl::string_view line,
                                                       TopologyCache& topologies);
absl::StatusOr<WatchEvent<PodGroupObject>> DecodePodGroupEvent(absl::string_view line);
absl::StatusOr<WatchEvent<NamespaceObject>> DecodeNamespaceEvent(absl::string_view line);

// The v1 Binding of pod `pod` to `node`, with `annotations` in its metadata (the API server copies
// them onto the pod).
std::string EncodeBinding(const PodObject& pod, const std::string& node,
                          const std::map<std::string, std::string>& annotations);

// Now in UTC, RFC 3339 with microseconds ("2026-12-07T14:16:06.123456Z"): strings of this form
// sort in time order (accelsched.io/bound-at).
std::string TimestampMicrosNow();

// A core/v1 Event of type Warning about pod `ns`/`name` (`uid`), from component
// accelsched-extender, stamped now (UTC): what `kubectl describe pod` lists.
std::string EncodePodEvent(const std::string& ns, const std::string& name, const std::string& uid,
                           const std::string& reason, const std::string& message);

// spec.nodeName of a v1.Pod's text ("" while pending). InvalidArgument if it is not a JSON object
// or spec.nodeName is not a string.
absl::StatusOr<std::string> DecodePodNodeName(absl::string_view text);

// The JSON merge patch (RFC 7386) that sets annotation `key` to `value`.
std::string EncodeAnnotationPatch(absl::string_view key, absl::string_view value);
// The merge patch that removes annotation `key` (null).
std::string EncodeAnnotationRemovalPatch(absl::string_view key);
// The merge patch that sets label `key` to `value`, or removes it (null) without a value.
std::string EncodeLabelPatch(absl::string_view key, std::optional<absl::string_view> value);
// The merge patch that sets annotation `key` on the object with metadata.uid `uid` only: the API
// server refuses it (409 Conflict) if the object was replaced by one of the same name.
std::string EncodeAnnotationPatchForUid(absl::string_view uid, absl::string_view key,
                                        absl::string_view value);

// A coordination.k8s.io/v1 Lease as leader election uses it (spec.holderIdentity,
// leaseDurationSeconds, acquireTime, renewTime, leaseTransitions; times are MicroTime text as
// TimestampMicrosNow gives them) and the metadata.resourceVersion it was read at.
struct LeaseRecord {
  std::string holder;  // "" = released.
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t transitions = 0;
  std::string resource_version;  // Empty for a Lease to create.
  friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};
// A Lease's text; InvalidArgument naming the field for anything malformed.
absl::StatusOr<LeaseRecord> DecodeLease(absl::string_view text);
// The Lease `ns`/`name` holding `record` (with metadata.resourceVersion when it has one: the API
// server then refuses the update with 409 if the Lease changed since).
std::string EncodeLease(const std::string& ns, const std::string& name, const LeaseRecord& record);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_KUBE_H_
