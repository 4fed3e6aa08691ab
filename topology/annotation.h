// The node annotation `accelsched.io/topology`: a versioned JSON form of a Topology, written by
// `accelsched-topo publish` on the node and read by the extender.
//
// Format (version 1):
//   {"version": 1, "name": "...", "gpuProduct": "...",
//    "devices": [{"kind": "gpu"|"nvswitch"|"pcieSwitch"|"hostBridge"|"cpuSocket"|"nic",
//                 "name": "GPU0", "numa": 0, "cpuAffinity": "0-55"}, ...],
//    "links":   [{"a": 0, "b": 9, "kind": "nvlink", "count": 18, "gbps": 450},
//                {"a": 0, "b": 12, "kind": "pcie", "level": "PIX", "gbps": 48},
//                {"a": 10, "b": 11, "kind": "interSocket", "gbps": 10},
//                {"a": 0, "b": 10, "kind": "c2c", "gbps": 450}, ...]}
// Devices are referred to by their position in "devices"; devices of one kind are numbered in
// order (the first "gpu" is GPU 0). For "pcie" links `a` is the lower end and `level` the level
// of the upper end. "numa" and "cpuAffinity" are optional; unknown keys are errors.
// Derived matrices are not stored: the reader derives them, so the two can never disagree.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_TOPOLOGY_ANNOTATION_H_
#define ACCELSCHED_TOPOLOGY_ANNOTATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "topology/topology.h"

namespace accelsched::topology {

inline constexpr char kTopologyAnnotation[] = "accelsched.io/topology";
inline constexpr int kAnnotationVersion = 1;
// Kubernetes caps all annotations of an object at 256 KiB together; one annotation must stay
// well below that. A DGX with 17 NICs encodes to about 8 KiB.
inline constexpr size_t kMaxAnnotationBytes = size_t{128} * 1024;

// Compact JSON (one line), deterministic for a given topology.
std::string EncodeTopologyAnnotation(const Topology& topology);

// Strict decoding: InvalidArgument with the JSON path of the first bad field
// (e.g. "links[3].level: ...") for malformed input, wrong types, unknown keys, an unsupported
// version, or input over kMaxAnnotationBytes.
absl::StatusOr<Topology> DecodeTopologyAnnotation(absl::string_view text);

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_ANNOTATION_H_
