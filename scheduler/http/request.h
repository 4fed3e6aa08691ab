// HTTP/1.1 requests as the extender's server reads them (RFC 9112), and the answers it writes.
// ParseRequestHead reads a request line and header fields from the start of a connection's
// buffer; it is pure, so the event loop (event_server.h) and the fuzzer share it.
//
// What is accepted: GET/POST/anything as a token, origin-form targets, HTTP/1.0 and 1.1,
// bodies framed by Content-Length. What is refused, with the status a client can act on:
//   400  malformed request line or field, several differing Content-Length values
//   411  Transfer-Encoding (chunked bodies; kube-scheduler always sends Content-Length)
//   413  a Content-Length above the body cap, refused before a byte of the body is read
//   415  Content-Encoding other than identity (a gzip body once inflated to 2.4 GB)
//   431  a head larger than the head cap
//   505  an HTTP version other than 1.0 or 1.1
//
// Thread-safety: plain values and pure functions.
#ifndef ACCELSCHED_SCHEDULER_HTTP_REQUEST_H_
#define ACCELSCHED_SCHEDULER_HTTP_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace accelsched::scheduler {

struct HttpRequest {
  std::string method;
  std::string path;                                          // The target up to '?'.
  std::string query;                                         // After '?', raw.
  std::vector<std::pair<std::string, std::string>> headers;  // Names lower-cased.
  std::string body;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 closes.

  // The first field named `lower_name`, or "".
  absl::string_view Header(absl::string_view lower_name) const;
  // The value of `name` in the query (no percent-decoding: our parameters are plain), if given.
  std::optional<std::string> QueryParam(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Extra fields.
  bool close = false;  // Close the connection after this answer.
};

struct RequestLimits {
  size_t max_head_bytes = size_t{64} << 10;
  int64_t max_body_bytes = int64_t{16} << 20;
  size_t max_fields = 100;
};

struct RequestHead {
  enum class Outcome { kIncomplete, kComplete, kRefused };
  Outcome outcome = Outcome::kIncomplete;
  size_t head_bytes = 0;         // kComplete: bytes of the head, its blank line included.
  int64_t content_length = 0;    // kComplete.
  bool expect_continue = false;  // HTTP/1.1 only (RFC 9110 section 10.1.1).
  int minor_version = 1;         // HTTP/1.x.
  HttpRequest request;           // kComplete: all but the body.
  int status = 0;                // kRefused: the HTTP status to answer with.
  std::string error;             // kRefused: why, for the answer's body.
};

// Reads the head at the start of `buffer`. kIncomplete until the blank line has arrived (and the
// buffer is under limits.max_head_bytes). `searched`: how many bytes of `buffer` an earlier call
// already searched for the blank line (so that a head trickling in is not rescanned each time).
RequestHead ParseRequestHead(absl::string_view buffer, const RequestLimits& limits,
                             size_t searched = 0);

// The bytes of `response` on the wire, with Content-Length and, when `response.close`,
// "Connection: close"; without the body when answering HEAD.
std::string SerializeResponse(const HttpResponse& response, bool with_body = true);

// "OK", "Not Found", ...: the reason phrase of `status` ("Unknown" for others).
absl::string_view ReasonPhrase(int status);

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_HTTP_REQUEST_H_
