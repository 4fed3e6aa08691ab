// libFuzzer target: the HTTP/1.1 request head reader of the extender's server. A complete head
// lies within the input and within the limits; a search resumed after an incomplete prefix (as
// the server does while a head trickles in) reaches the same verdict as one from the start.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "scheduler/http/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace s = accelsched::scheduler;
  s::RequestLimits limits;
  limits.max_head_bytes = 2048;
  limits.max_body_bytes = 4096;
  limits.max_fields = 20;
  const s::RequestHead whole = s::ParseRequestHead(text, limits);
  if (whole.outcome == s::RequestHead::Outcome::kComplete &&
      (whole.head_bytes > size || whole.head_bytes > limits.max_head_bytes ||
       whole.content_length < 0 || whole.content_length > limits.max_body_bytes)) {
    __builtin_trap();
  }
  const size_t half = size / 2;
  if (s::ParseRequestHead(text.substr(0, half), limits).outcome !=
      s::RequestHead::Outcome::kIncomplete) {
    return 0;  // The server resumes only after an incomplete head.
  }
  const s::RequestHead resumed = s::ParseRequestHead(text, limits, half);
  if (resumed.outcome != whole.outcome || resumed.head_bytes != whole.head_bytes) __builtin_trap();
  return 0;
}
