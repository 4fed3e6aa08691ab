// Tests of scheduler/http/event_server.h over raw sockets: slow and idle clients leave the
// workers free (issue 14: 8 such connections once stopped the service), deadlines, the
// connection budget, bodies refused before they are read, pipelining, 100-continue, drain.
#include "scheduler/http/event_server.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

#include "tests/testing/raw_http.h"

namespace accelsched::scheduler {
namespace {

using ::accelsched::testing::RawConnection;
using ::accelsched::testing::RawResponse;
using std::chrono::milliseconds;

// An EventServer on 127.0.0.1 whose handler echoes "METHOD PATH BODY"; "/block" waits until
// Release().
class EventServerTest : public ::testing::Test {
 protected:
  void Start(EventServerOptions options) {
    options.bind_address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<EventServer>(
        options,
        [this](const HttpRequest& req) {
          if (req.path == "/block") {
            ++blocked_;
            release_.WaitForNotification();
          }
          HttpResponse r;
          r.content_type = "text/plain";
          r.body = req.method + " " + req.path + " " + req.body;
          return r;
        },
        [](const HttpRequest& req) -> std::optional<HttpResponse> {
          if (req.path != "/healthz") return std::nullopt;
          HttpResponse r;
          r.body = "ok";
          return r;
        });
    ASSERT_TRUE(server_->Listen().ok());
    thread_ = std::thread([this] { server_->Run(); });
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  void TearDown() override {
    Release();
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
  }
  int port() const { return server_->port(); }
  // Waits (bounded) until `n` handlers are blocked in /block.
  void AwaitBlocked(int n) const {
    for (int i = 0; i < 500 && blocked_ < n; ++i) std::this_thread::sleep_for(milliseconds(10));
    ASSERT_EQ(blocked_, n);
  }

  std::unique_ptr<EventServer> server_;
  std::thread thread_;
  absl::Notification release_;
  std::atomic<int> blocked_{0};
};

const char kHealthz[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// Issue 14: with a thread per connection, 2 workers and 100 silent or trickling clients meant no
// answer at all. Every worker is also kept busy here, so the probe answers from the loop thread.
TEST_F(EventServerTest, SlowIdleClientsAndBusyWorkersLeaveTheServiceAnswering) {
  EventServerOptions options;
  options.workers = 2;
  Start(options);
  std::vector<std::unique_ptr<RawConnection>> hogs;
  for (int i = 0; i < 100; ++i) {
    hogs.push_back(std::make_unique<RawConnection>(port()));
    ASSERT_TRUE(hogs.back()->connected());
    // Half send nothing, half half a head.
    if (i % 2 == 1) {
      ASSERT_TRUE(hogs.back()->Send("POST /x HTTP/1.1\r\nHost: t\r\nCont"));
    }
  }
  RawConnection busy1(port()), busy2(port());
  ASSERT_TRUE(busy1.Send(Post("/block", "")));
  ASSERT_TRUE(busy2.Send(Post("/block", "")));
  AwaitBlocked(2);
  RawConnection probe(port());
  ASSERT_TRUE(probe.Send(kHealthz));
  EXPECT_EQ(probe.ReadResponse().body, "ok");
  Release();
  EXPECT_EQ(busy1.ReadResponse().body, "POST /block ");
  RawConnection verb(port());
  ASSERT_TRUE(verb.Send(Post("/v", "{}")));
  EXPECT_EQ(verb.ReadResponse().body, "POST /v {}");
  EXPECT_EQ(server_->stats().open, 100 + 2 + 2);
}

// A declared length over the cap is answered 413 before any of the body is sent (httplib read
// or waited for the whole declared body first: 30 s for a client that sends none).
TEST_F(EventServerTest, OversizedDeclaredBodyIsRefusedUnread) {
  EventServerOptions options;
  options.limits.max_body_bytes = 1000;
  Start(options);
  RawConnection c(port());
  ASSERT_TRUE(c.Send("POST /v HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"));
  const RawResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.ClosedByServer());
}

TEST_F(EventServerTest, LateHeadsAndBodiesGet408AndIdleConnectionsClose) {
  EventServerOptions options;
  options.head_timeout = milliseconds(200);
  options.body_timeout = milliseconds(200);
  options.idle_timeout = milliseconds(200);
  Start(options);
  RawConnection slow_head(port()), short_body(port()), idle(port());
  ASSERT_TRUE(slow_head.Send("GET /x HTTP/1.1\r\n"));
  ASSERT_TRUE(short_body.Send("POST /v HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345"));
  ASSERT_TRUE(idle.Send(kHealthz));
  EXPECT_EQ(idle.ReadResponse().status, 200);
  // The slowloris keeps trickling, but the head's deadline counts from its first byte.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    slow_head.Send("A");
  }
  EXPECT_EQ(slow_head.ReadResponse().status, 408);
  EXPECT_EQ(short_body.ReadResponse().status, 408);
  EXPECT_TRUE(slow_head.ClosedByServer());
  EXPECT_TRUE(idle.ClosedByServer());  // Kept alive, then idle past idle_timeout.
  EXPECT_GE(server_->stats().timed_out, 2);
}

TEST_F(EventServerTest, FullBudgetEvictsTheLeastRecentlyActiveIdleElseRefuses) {
  EventServerOptions options;
  options.max_connections = 3;
  Start(options);
  RawConnection idle(port());
  ASSERT_TRUE(idle.Send(kHealthz));
  ASSERT_EQ(idle.ReadResponse().status, 200);  // Now an idle keep-alive connection.
  RawConnection mid1(port()), mid2(port());
  ASSERT_TRUE(mid1.Send("GET /x HTTP/1.1\r\n"));  // Mid-request: never evicted.
  ASSERT_TRUE(mid2.Send("GET /x HTTP/1.1\r\n"));
  RawConnection fourth(port());
  ASSERT_TRUE(fourth.Send(kHealthz));
  EXPECT_EQ(fourth.ReadResponse().status, 200);
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_EQ(server_->stats().evicted, 1);
  ASSERT_TRUE(fourth.Send("GET /y HTTP/1.1\r\n"));
  // Let the loop read it; until then the fourth would count as idle and be evicted instead.
  std::this_thread::sleep_for(milliseconds(200));
  RawConnection fifth(port());  // Three connections mid-request: no room.
  fifth.Send(kHealthz);
  EXPECT_TRUE(fifth.ClosedByServer());
  EXPECT_EQ(server_->stats().refused, 1);
  ASSERT_TRUE(mid1.Send("Host: t\r\n\r\n"));
  EXPECT_EQ(mid1.ReadResponse().body, "GET /x ");
}

TEST_F(EventServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start({});
  RawConnection c(port());
  ASSERT_TRUE(c.Send(Post("/a", "1") + kHealthz + Post("/b", "22") +
                     "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().body, "POST /a 1");
  EXPECT_EQ(c.ReadResponse().body, "ok");
  EXPECT_EQ(c.ReadResponse().body, "POST /b 22");
  const RawResponse last = c.ReadResponse();
  EXPECT_EQ(last.body, "GET /c ");
  EXPECT_NE(last.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.ClosedByServer());
}

// A burst of pipelined probes (answered on the loop thread) is served one per connection per
// round: once, each answer called the next request's parse, about 5 stack frames per request.
TEST_F(EventServerTest, ABurstOfPipelinedProbesIsServedWhole) {
  Start({});
  RawConnection c(port());
  constexpr int kBurst = 5000;
  std::string burst;
  for (int i = 0; i < kBurst; ++i) burst += kHealthz;
  ASSERT_TRUE(c.Send(burst));
  int answered = 0;
  while (answered < kBurst && c.ReadResponse().body == "ok") ++answered;
  EXPECT_EQ(answered, kBurst);
}

TEST_F(EventServerTest, HeadAnswersCarryNoBody) {
  Start({});
  RawConnection c(port());
  ASSERT_TRUE(c.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + std::string(kHealthz)));
  // A HEAD answer's Content-Length is the GET answer's (2) with no body after the head, so this
  // reader, which knows nothing of HEAD, takes the next answer's first two bytes for its body.
  const RawResponse head = c.ReadResponse();
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.head.find("Content-Length: 2\r\n"), std::string::npos) << head.head;
  EXPECT_EQ(head.body, "HT") << "the HEAD answer carried a body";
}

// An error answer, then the close, with the request's body unread: the server shuts its write
// side and drains before closing (RFC 9112 section 9.6), so that the close is not a reset that
// can discard the answer on a real network. (On loopback the answer arrived even with an
// immediate close in 20 of 20 tries, so this checks the answer and the close, not the reset.)
TEST_F(EventServerTest, ErrorAnswersSurviveTheCloseOfAnUnreadBody) {
  EventServerOptions options;
  options.limits.max_body_bytes = 1000;
  Start(options);
  for (int i = 0; i < 20; ++i) {
    RawConnection c(port());
    ASSERT_TRUE(c.Send(Post("/v", std::string(200000, 'x'))));
    EXPECT_EQ(c.ReadResponse().status, 413) << "attempt " << i;
    EXPECT_TRUE(c.ClosedByServer());
  }
}

TEST_F(EventServerTest, ExpectContinueGets100BeforeTheBody) {
  Start({});
  RawConnection c(port());
  ASSERT_TRUE(c.Send("POST /v HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  const RawResponse go_on = c.ReadResponse();
  EXPECT_EQ(go_on.status, 100);
  ASSERT_TRUE(c.Send("abc"));
  EXPECT_EQ(c.ReadResponse().body, "POST /v abc");
}

TEST_F(EventServerTest, BodiesInProgressHaveABudget) {
  EventServerOptions options;
  options.max_pending_body_bytes = 100;
  Start(options);
  RawConnection first(port()), second(port());
  ASSERT_TRUE(first.Send("POST /v HTTP/1.1\r\nContent-Length: 80\r\n\r\n"));
  std::this_thread::sleep_for(milliseconds(50));  // Let the loop read the first head.
  ASSERT_TRUE(second.Send("POST /v HTTP/1.1\r\nContent-Length: 80\r\n\r\n"));
  EXPECT_EQ(second.ReadResponse().status, 503);
  ASSERT_TRUE(first.Send(std::string(80, 'x')));
  EXPECT_EQ(first.ReadResponse().status, 200);
  RawConnection third(port());  // The first body's share was given back.
  ASSERT_TRUE(third.Send(Post("/v", std::string(80, 'y'))));
  EXPECT_EQ(third.ReadResponse().status, 200);
}

// Stop: a request in progress still gets its answer, with Connection: close; idle connections
// close within the drain grace (1 s); no new connection is taken; Run returns once all are gone.
TEST_F(EventServerTest, StopDrainsRequestsInProgress) {
  Start({});
  RawConnection idle(port()), working(port());
  ASSERT_TRUE(idle.Send(kHealthz));
  ASSERT_EQ(idle.ReadResponse().status, 200);
  ASSERT_TRUE(working.Send(Post("/block", "")));
  AwaitBlocked(1);
  server_->Stop();
  EXPECT_TRUE(idle.ClosedByServer());
  RawConnection late(port());  // The listener is closed: refused, or closed unanswered.
  if (late.connected()) {
    late.Send(kHealthz);
    EXPECT_EQ(late.ReadResponse().status, 0);
  }
  Release();
  const RawResponse r = working.ReadResponse();
  EXPECT_EQ(r.body, "POST /block ");
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  thread_.join();  // Run returned.
}

// Issue 14, item 10: an idle keep-alive connection closed at the moment of Stop cut the request
// its client was sending then. During the drain grace it is answered, with Connection: close.
TEST_F(EventServerTest, StopStillAnswersALastRequestOnAnIdleConnection) {
  Start({});
  RawConnection idle(port()), working(port());
  ASSERT_TRUE(idle.Send(kHealthz));
  ASSERT_EQ(idle.ReadResponse().status, 200);
  ASSERT_TRUE(working.Send(Post("/block", "")));
  AwaitBlocked(1);  // Keeps Run from returning while the idle connection sends.
  server_->Stop();
  std::this_thread::sleep_for(milliseconds(100));  // The loop has begun draining.
  ASSERT_TRUE(idle.Send(Post("/last", "x")));
  const RawResponse r = idle.ReadResponse();
  EXPECT_EQ(r.body, "POST /last x");
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(idle.ClosedByServer());
}

TEST_F(EventServerTest, ASecondServerCannotListenOnTheSamePort) {
  Start({});
  EventServerOptions options;
  options.bind_address = "127.0.0.1";
  options.port = port();
  EventServer second(options, nullptr, nullptr);
  const absl::Status s = second.Listen();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

}  // namespace
}  // namespace accelsched::scheduler
