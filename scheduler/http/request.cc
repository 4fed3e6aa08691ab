#include "scheduler/http/request.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace accelsched::scheduler {
namespace {

constexpr absl::string_view kCrlf = "\r\n";
constexpr size_t kMaxContentLengthDigits = 18;  // Below 2^63.

// RFC 9110 section 5.6.2: tchar.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::StrContains("!#$%&'*+-.^_`|~", c);
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Field values: visible characters, space, tab and obs-text; no other control character.
bool IsFieldValue(absl::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

RequestHead Refuse(int status, std::string error) {
  RequestHead head;
  head.outcome = RequestHead::Outcome::kRefused;
  head.status = status;
  head.error = std::move(error);
  return head;
}

// "METHOD /target HTTP/1.x" into `head`; a refusal, or nullopt when it reads.
std::optional<RequestHead> ParseRequestLine(absl::string_view line, RequestHead& head) {
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty() || parts[1][0] != '/') {
    return Refuse(400, "malformed request line (want: METHOD /path HTTP/1.1)");
  }
  for (char c : parts[1]) {
    if (!IsTargetChar(c)) return Refuse(400, "request target: invalid character");
  }
  if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
    if (absl::StartsWith(parts[2], "HTTP/")) {
      return Refuse(505, absl::StrCat(parts[2], ": only HTTP/1.0 and HTTP/1.1 are served"));
    }
    return Refuse(400, "malformed request line: no HTTP version");
  }
  HttpRequest& r = head.request;
  r.method = std::string(parts[0]);
  const size_t q = parts[1].find('?');
  r.path = std::string(parts[1].substr(0, q));
  if (q != absl::string_view::npos) r.query = std::string(parts[1].substr(q + 1));
  head.minor_version = parts[2] == "HTTP/1.1" ? 1 : 0;
  r.keep_alive = head.minor_version == 1;
  return std::nullopt;
}

// Content-Length: digits, possibly repeated as "n, n" (RFC 9112 section 6.3), into `length`.
std::optional<RequestHead> ReadContentLength(absl::string_view value, int64_t& length, bool& seen) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    int64_t n = 0;
    const bool digits = !part.empty() && part.size() <= kMaxContentLengthDigits &&
                        part.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!digits || !absl::SimpleAtoi(part, &n)) {
      return Refuse(400, "Content-Length: not a decimal length");
    }
    if (seen && n != length) return Refuse(400, "Content-Length: differing values");
    length = n;
    seen = true;
  }
  return std::nullopt;
}

// What the fields say about framing, encoding and the connection; a refusal or nullopt.
std::optional<RequestHead> ApplyFields(RequestHead& head, const RequestLimits& limits) {
  bool seen_length = false;
  for (const auto& [name, value] : head.request.headers) {
    if (name == "content-length") {
      if (auto refused = ReadContentLength(value, head.content_length, seen_length)) {
        return refused;
      }
    } else if (name == "transfer-encoding") {
      return Refuse(411, "Transfer-Encoding is not accepted: send the body with Content-Length");
    } else if (name == "content-encoding" && !value.empty() &&
               !absl::EqualsIgnoreCase(value, "identity")) {
      return Refuse(415,
                    "Content-Encoding: compressed request bodies are not accepted; send the "
                    "body uncompressed");
    } else if (name == "expect") {
      // RFC 9110 section 10.1.1: ignored in an HTTP/1.0 request (which closes after one).
      head.expect_continue =
          head.minor_version == 1 && absl::EqualsIgnoreCase(value, "100-continue");
    } else if (name == "connection") {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(token), "close")) {
          head.request.keep_alive = false;
        }
      }
    }
  }
  if (head.content_length > limits.max_body_bytes) {
    return Refuse(413, absl::StrCat("request body of ", head.content_length,
                                    " bytes is larger than the configured maximum (maxBodyBytes ",
                                    limits.max_body_bytes, ")"));
  }
  return std::nullopt;
}

// One "name: value" line into `head`'s fields; a refusal or nullopt.
std::optional<RequestHead> ParseField(absl::string_view line, RequestHead& head) {
  if (line.front() == ' ' || line.front() == '\t') {
    return Refuse(400, "header field folded over lines (obsolete line folding)");
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
    return Refuse(400, "malformed header field (want: name: value)");
  }
  const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (!IsFieldValue(value)) return Refuse(400, "header field value: invalid character");
  head.request.headers.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                                    std::string(value));
  return std::nullopt;
}

}  // namespace

absl::string_view HttpRequest::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

std::optional<std::string> HttpRequest::QueryParam(absl::string_view name) const {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return std::string(eq == absl::string_view::npos ? "" : pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

RequestHead ParseRequestHead(absl::string_view buffer, const RequestLimits& limits,
                             size_t searched) {
  size_t start = 0;  // RFC 9112 section 2.2: empty lines before a request line are ignored.
  while (buffer.substr(start, 2) == kCrlf) start += 2;
  // The blank line may straddle what was searched before: back up three bytes.
  const size_t from = std::max(start, searched >= 3 ? searched - 3 : 0);
  const size_t end = buffer.find("\r\n\r\n", from);
  if (end == absl::string_view::npos || end + 4 > limits.max_head_bytes) {
    if (buffer.size() > limits.max_head_bytes) {
      return Refuse(431,
                    absl::StrCat("request head is larger than ", limits.max_head_bytes, " bytes"));
    }
    return {};
  }
  RequestHead head;
  std::vector<absl::string_view> lines = absl::StrSplit(buffer.substr(start, end - start), kCrlf);
  if (auto refused = ParseRequestLine(lines[0], head)) return *refused;
  if (lines.size() - 1 > limits.max_fields) {
    return Refuse(431, absl::StrCat("more than ", limits.max_fields, " header fields"));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) return Refuse(400, "empty header line");
    if (auto refused = ParseField(lines[i], head)) return *refused;
  }
  if (auto refused = ApplyFields(head, limits)) return *refused;
  head.outcome = RequestHead::Outcome::kComplete;
  head.head_bytes = end + 4;
  return head;
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SerializeResponse(const HttpResponse& response, bool with_body) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status), "\r\n");
  if (!response.content_type.empty()) {
    absl::StrAppend(&out, "Content-Type: ", response.content_type, "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  if (response.close) out += "Connection: close\r\n";
  out += "\r\n";
  if (with_body) out += response.body;
  return out;
}

}  // namespace accelsched::scheduler
