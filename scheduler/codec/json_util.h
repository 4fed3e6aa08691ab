// Small helpers for reading untrusted JSON with errors that name the field path
// ("Pod.spec.containers[0].resources.requests.cpu: ..."). Internal to scheduler/codec (and its
// tests): no header outside codec/ includes nlohmann/json; the rest of the service sees typed
// values and text. None of these throws: a value of the wrong type is an InvalidArgument.
//
// Keys: Kubernetes objects use exact camelCase keys; the extender types have no JSON tags, so Go
// matches their keys case-insensitively. Find() tries the exact key first, then a
// case-insensitive match, which serves both. `null` counts as absent everywhere.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_JSON_UTIL_H_
#define ACCELSCHED_SCHEDULER_CODEC_JSON_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace accelsched::scheduler::codec {

using Json = nlohmann::json;

// The member `key` of `object` (exact, else case-insensitive), or null if absent or JSON null.
// `object` must be an object (callers check with ExpectObject).
const Json* Find(const Json& object, absl::string_view key);

// InvalidArgument "<path>: must be <what>, got <type>".
absl::Status WrongType(absl::string_view path, absl::string_view what, const Json& got);

// OK iff `j` is an object.
absl::Status ExpectObject(const Json& j, absl::string_view path);

// A string member; nullopt-like "" with `required` false when absent. Numbers and booleans are
// not strings (error).
absl::StatusOr<std::string> GetString(const Json& object, absl::string_view key,
                                      absl::string_view path, bool required);

// A map of string values (labels, annotations). Numbers and booleans are converted to their
// text, as YAML may type unquoted label values; anything else is an error.
absl::StatusOr<std::map<std::string, std::string>> GetStringMap(const Json& object,
                                                                absl::string_view key,
                                                                absl::string_view path);

// A quantity given as a JSON string or number (YAML may type "8" as a number).
absl::StatusOr<std::string> QuantityText(const Json& value, absl::string_view path);

// path + "." + key.
std::string Join(absl::string_view path, absl::string_view key);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_JSON_UTIL_H_
