// UTF-8 validation for text that ends up in JSON (the topology annotation): nlohmann's dump
// throws on invalid UTF-8, so inputs are checked where they enter (the nvidia-smi matrix, the
// GPU product and the topology name) and refused with a message naming where.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_TOPOLOGY_UTF8_H_
#define ACCELSCHED_TOPOLOGY_UTF8_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace accelsched::topology {

// The offset of the first byte of `text` that does not start or continue a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); nullopt if
// `text` is valid.
std::optional<size_t> FirstInvalidUtf8(absl::string_view text);

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_UTF8_H_
