// Tests of scheduler/http/request.h: heads as Go's client and curl send them, and the refusals,
// each expected status taken from RFC 9110/9112 by hand.
#include "scheduler/http/request.h"

#include <string>

#include "gtest/gtest.h"

namespace accelsched::scheduler {
namespace {

using Outcome = RequestHead::Outcome;

TEST(RequestHeadTest, GoClientPostIsReadWhole) {
  // As Go's net/http writes a kube-scheduler extender call.
  const std::string head =
      "POST /v1/extender/filter?x=1&bytes=20 HTTP/1.1\r\nHost: 10.0.0.1:8888\r\n"
      "User-Agent: Go-http-client/1.1\r\nContent-Length: 42\r\n"
      "Content-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n";
  const RequestHead h = ParseRequestHead(head + "{\"body\"", {});
  ASSERT_EQ(h.outcome, Outcome::kComplete) << h.error;
  EXPECT_EQ(h.head_bytes, head.size());
  EXPECT_EQ(h.content_length, 42);
  EXPECT_EQ(h.request.method, "POST");
  EXPECT_EQ(h.request.path, "/v1/extender/filter");
  EXPECT_EQ(h.request.QueryParam("bytes"), "20");
  EXPECT_EQ(h.request.QueryParam("y"), std::nullopt);
  EXPECT_EQ(h.request.Header("accept-encoding"), "gzip");  // Names are case-insensitive.
  EXPECT_EQ(h.request.Header("content-type"), "application/json");
  EXPECT_TRUE(h.request.keep_alive);
  EXPECT_FALSE(h.expect_continue);
}

TEST(RequestHeadTest, IncompleteUntilTheBlankLine) {
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(ParseRequestHead(head.substr(0, n), {}).outcome, Outcome::kIncomplete) << n;
  }
  EXPECT_EQ(ParseRequestHead(head, {}).outcome, Outcome::kComplete);
}

TEST(RequestHeadTest, ConnectionAndVersionDecideKeepAlive) {
  EXPECT_FALSE(
      ParseRequestHead("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", {}).request.keep_alive);
  EXPECT_FALSE(
      ParseRequestHead("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n", {}).request.keep_alive);
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n", {}).request.keep_alive);
  const RequestHead curl = ParseRequestHead(
      "POST /x HTTP/1.1\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n", {});
  EXPECT_TRUE(curl.request.keep_alive);
  EXPECT_TRUE(curl.expect_continue);
  // RFC 9112 section 2.2: empty lines before the request line are ignored (and counted).
  const RequestHead lead = ParseRequestHead("\r\n\r\nGET /a HTTP/1.1\r\n\r\n", {});
  ASSERT_EQ(lead.outcome, Outcome::kComplete) << lead.error;
  EXPECT_EQ(lead.head_bytes, 4u + 15u + 4u);  // Empty lines, request line, CRLF CRLF.
  // Repeated equal lengths are one length (RFC 9112 section 6.3).
  EXPECT_EQ(ParseRequestHead("POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", {}).content_length,
            5);
}

TEST(RequestHeadTest, RefusalsCarryTheStatusAClientCanActOn) {
  RequestLimits limits;
  limits.max_body_bytes = 1000;
  limits.max_head_bytes = 200;
  limits.max_fields = 3;
  const struct {
    std::string name;
    std::string bytes;
    int status;
  } cases[] = {
      {"no version", "GET /\r\n\r\n", 400},
      {"absolute form", "GET http://x/ HTTP/1.1\r\n\r\n", 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"control in target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"HTTP/2", "GET / HTTP/2.0\r\n\r\n", 505},
      {"folded field", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nAb\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nA : b\r\n\r\n", 400},
      {"control in value", "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400},
      {"bare LF line", "GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", 400},
      {"negative length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"hex length", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"differing lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
       400},
      {"huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"over the cap", "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413},
      {"chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"gzip body", "POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n", 415},
      {"too many fields", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
      {"head too large", "GET / HTTP/1.1\r\nA: " + std::string(300, 'a'), 431},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    const RequestHead h = ParseRequestHead(tc.bytes, limits);
    ASSERT_EQ(h.outcome, Outcome::kRefused);
    EXPECT_EQ(h.status, tc.status) << h.error;
    EXPECT_FALSE(h.error.empty());
  }
  // At the cap exactly: accepted.
  EXPECT_EQ(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", limits).outcome,
            Outcome::kComplete);
  EXPECT_EQ(
      ParseRequestHead("POST / HTTP/1.1\r\nContent-Encoding: identity\r\n\r\n", limits).outcome,
      Outcome::kComplete);
}

TEST(RequestHeadTest, HeadLimitCountsTheBlankLine) {
  RequestLimits limits;
  const std::string head = "GET / HTTP/1.1\r\nA: b\r\n\r\n";  // 24 bytes.
  ASSERT_EQ(head.size(), 24u);
  limits.max_head_bytes = 24;
  EXPECT_EQ(ParseRequestHead(head, limits).outcome, Outcome::kComplete);
  limits.max_head_bytes = 23;
  EXPECT_EQ(ParseRequestHead(head, limits).outcome, Outcome::kRefused);
}

TEST(ResponseTest, SerializedAsHttp11) {
  HttpResponse r;
  r.status = 413;
  r.body = "{}";
  r.headers = {{"Server-Timing", "filter;dur=1"}};
  r.close = true;
  EXPECT_EQ(SerializeResponse(r),
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\nServer-Timing: filter;dur=1\r\nConnection: close\r\n\r\n{}");
}

}  // namespace
}  // namespace accelsched::scheduler
