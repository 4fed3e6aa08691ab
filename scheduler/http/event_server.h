// The connection side of the extender's server: one thread (Run) owns every socket through
// epoll and reads whole requests without blocking; complete requests go to a fixed pool of
// worker threads, and their answers come back to the loop to be written. A connection costs a
// buffer, never a thread, so slow or idle clients cannot take the workers (issue 14: 8 slowloris
// connections once stopped the service, health checks included).
//
// Bounds, each answered as a client can act on it:
//   - the head must arrive within head_timeout of its first byte (or of the connection), the
//     body within body_timeout of the head, an answer must be taken within write_timeout; an
//     idle keep-alive connection is closed after idle_timeout. Expired: 408 (or closed);
//   - at most max_connections open: an idle keep-alive one is closed to make room, else the new
//     one is closed at once; the listen backlog is `backlog`;
//   - request limits (request.h): 413 for a declared body over the cap before a byte of it is
//     read, 431, 411, 415, 400;
//   - the bodies being read, all connections together, at most max_pending_body_bytes: 503.
// Requests that `inline_handler` answers (the health probes) are answered on the loop thread
// itself, so they answer while every worker is busy.
//
// TLS (OpenSSL) when a certificate is given; with a client CA, clients must present a
// certificate it signed.
//
// Thread-safety: Listen, then Run on one thread; Stop and stats from any thread.
#ifndef ACCELSCHED_SCHEDULER_HTTP_EVENT_SERVER_H_
#define ACCELSCHED_SCHEDULER_HTTP_EVENT_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"

#include "scheduler/http/request.h"

namespace accelsched::scheduler {

struct EventServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 0;  // 0: an ephemeral port.
  int workers = 8;
  int max_connections = 1024;
  int backlog = 1024;
  std::chrono::milliseconds head_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  RequestLimits limits;
  int64_t max_pending_body_bytes = int64_t{256} << 20;
  // TLS: serve HTTPS when set; with client_ca, require client certificates signed by it.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
};

class EventServer {
 public:
  // Runs on a worker thread. Must not throw (an exception becomes a 500 and is logged).
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Runs on the loop thread for every request; an answer, or nullopt to send it to a worker.
  using InlineHandler = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

  struct Stats {
    int64_t open = 0;      // Connections open now.
    int64_t accepted = 0;  // Since start.
    int64_t refused = 0;   // Closed at accept: max_connections reached, none idle.
    int64_t evicted = 0;   // Idle keep-alive connections closed to make room.
    int64_t timed_out = 0;
  };

  EventServer(EventServerOptions options, Handler handler, InlineHandler inline_handler);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Binds and listens. InvalidArgument for TLS files that do not load, Unavailable if the address
  // cannot be bound (in use: no SO_REUSEPORT, so a second server on a port fails here).
  absl::Status Listen();
  int port() const { return port_; }
  // Serves until Stop(): then stops accepting, finishes the requests in progress (each still
  // under its timeouts) and answers them with Connection: close, gives idle keep-alive
  // connections 1 s to bring a last request, and returns once no connection is left.
  void Run();
  void Stop();
  Stats stats() const;

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  int port_ = 0;
};

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_HTTP_EVENT_SERVER_H_
