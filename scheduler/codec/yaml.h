// YAML documents -> JSON values, so that `kubectl ... -o yaml` output and YAML config files go
// through the same JSON decoders. Scalars keep YAML's types: quoted scalars are strings; plain
// ones become null, booleans, integers or floats when they read as such (YAML 1.2 core schema),
// else strings.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_YAML_H_
#define ACCELSCHED_SCHEDULER_CODEC_YAML_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "scheduler/codec/json_util.h"

namespace accelsched::scheduler::codec {

// Every document of `text`. InvalidArgument naming `file` and the line for malformed YAML.
absl::StatusOr<std::vector<Json>> YamlToJson(absl::string_view text, absl::string_view file);

// A JSON or YAML file's text as one value: JSON if it parses as JSON, else YAML. Several YAML
// documents become {"kind": "List", "items": [...]}.
absl::StatusOr<Json> ParseJsonOrYaml(absl::string_view text, absl::string_view file);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_YAML_H_
