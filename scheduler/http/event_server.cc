#include "scheduler/http/event_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/extender.h"

namespace accelsched::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;
constexpr size_t kReadChunk = size_t{64} << 10;
constexpr int kMaxEvents = 256;
constexpr int kTickMillis = 50;  // How often deadlines are checked.
// A whole filter answer for 5,000 nodes (185 KB) fits the socket's send buffer at once.
constexpr int kSendBufferBytes = 1 << 20;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

// How long, and how much, a connection closed after an error answer is still read and discarded
// so that the close does not reset the answer away (RFC 9112 section 9.6).
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = size_t{256} << 10;
// Buffers above this are given back after each request (a 16 MB body, a 58 MB /debug/state).
constexpr size_t kKeptBufferBytes = size_t{64} << 10;
// At Stop, how long an idle keep-alive connection may still bring one last request.
constexpr auto kDrainIdleGrace = std::chrono::milliseconds(1000);

// kLinger: the answer is out and the write side shut; reading until EOF, then closing.
enum class Phase { kHandshake, kHead, kBody, kWorking, kWriting, kLinger };

struct Connection {
  uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  Phase phase = Phase::kHead;
  bool head_started = false;  // kHead: a byte of the next request has arrived.
  bool peer_closed = false;   // The client sent EOF.
  bool close_after_write = false;
  bool head_only = false;   // The request was HEAD: the answer goes without its body.
  bool want_write = false;  // TLS: OpenSSL needs the socket writable to go on.
  std::string in;           // Received; consumed up to in_offset.
  size_t in_offset = 0;
  size_t head_scanned = 0;  // kHead: bytes of in (from in_offset) searched for the blank line.
  size_t lingered = 0;      // kLinger: bytes discarded.
  std::string out;
  size_t out_offset = 0;
  RequestHead head;            // kBody: the head read.
  int64_t reserved_body = 0;   // Counted in Loop::pending_body_bytes.
  Clock::time_point deadline;  // Of the current phase.
  Clock::time_point active;    // When a byte last moved, or it was accepted.
  uint32_t interest = 0;       // The epoll events asked for.
};

struct Job {
  uint64_t connection = 0;
  HttpRequest request;
};

struct Done {
  uint64_t connection = 0;
  HttpResponse response;
};

// strerror, thread-safe (GNU strerror_r).
std::string ErrnoText(int error) {
  std::array<char, 128> text{};
  return strerror_r(error, text.data(), text.size());
}

HttpResponse ErrorResponse(int status, const std::string& why) {
  HttpResponse r;
  r.status = status;
  r.body = codec::EncodeErrorResultText(why);
  r.close = true;
  return r;
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type.
  if (code == 0) return "unknown error";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

// The TLS context for `options`, or an error naming the files.
absl::StatusOr<SSL_CTX*> MakeTlsContext(const EventServerOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("TLS: cannot create a context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  bool ok = SSL_CTX_use_certificate_chain_file(ctx, options.tls_cert.c_str()) == 1 &&
            SSL_CTX_use_PrivateKey_file(ctx, options.tls_key.c_str(), SSL_FILETYPE_PEM) == 1 &&
            SSL_CTX_check_private_key(ctx) == 1;
  if (ok && !options.client_ca.empty()) {
    ok = SSL_CTX_load_verify_locations(ctx, options.client_ca.c_str(), nullptr) == 1;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (!ok) {
    const std::string why = OpenSslError();
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS: cannot load the certificate ", options.tls_cert, ", key ", options.tls_key,
        options.client_ca.empty() ? "" : absl::StrCat(" or client CA ", options.client_ca), " (",
        why, ")"));
  }
  return ctx;
}

// A listening, non-blocking socket on `address`:`port` (SO_REUSEADDR only), or an error.
absl::StatusOr<int> ListenOn(const std::string& address, int port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(address.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", address, ":", port, " (not an address of this host)"));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: a restart may bind while old connections linger in TIME_WAIT. Never
    // SO_REUSEPORT, which let a second extender bind the same port and split the connections
    // between two ledgers that both gave out the same GPUs (issue 14).
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", address, ":", port, " (in use, or not allowed)"));
  }
  return fd;
}

// Every connection is a file descriptor: the soft limit (often 1024) goes up to the hard one, as
// Go programs do at start.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

// Everything Run touches; the loop thread owns the connections, the workers share two queues.
struct EventServer::Loop {
  EventServerOptions options;
  Handler handler;
  InlineHandler inline_handler;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  SSL_CTX* tls = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = kFirstConnectionId;
  int64_t pending_body_bytes = 0;
  bool draining = false;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable work_ready;
  std::deque<Job> jobs;       // Guarded by mu.
  std::vector<Done> done;     // Guarded by mu.
  bool quit_workers = false;  // Guarded by mu.
  std::vector<std::thread> workers;

  std::string read_buffer = std::string(kReadChunk, '\0');
  std::vector<uint64_t> ready_ids;  // Connections with a pipelined request to parse next round.
  Clock::time_point accept_paused_until;  // Out of file descriptors: accept again after this.

  std::atomic<int64_t> open{0}, accepted{0}, refused{0}, evicted{0}, timed_out{0};

  Loop() = default;
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  Loop(Loop&&) = delete;
  Loop& operator=(Loop&&) = delete;
  void Serve();
  void Work();
  void Wake() const;
  void Accept();
  void Admit(int fd);
  void PauseAccept();
  void ResumeAccept(Clock::time_point now);
  bool EvictIdle();
  void OnEvent(Connection& c, uint32_t events);
  void Handshake(Connection& c);
  void Read(Connection& c);
  void Advance(Connection& c);
  bool StartBody(Connection& c, RequestHead head);
  void Dispatch(Connection& c, HttpRequest request);
  void Respond(Connection& c, HttpResponse response);
  void Flush(Connection& c);
  void AfterWrite(Connection& c);
  void Linger(Connection& c);
  void RunReady();
  void SetInterest(Connection& c) const;
  void Close(Connection& c);
  void CollectDone();
  void Expire(Clock::time_point now);
  void BeginDrain();
  void Finish();
};

EventServer::Loop::~Loop() {
  for (auto& [id, c] : connections) {
    if (c->ssl != nullptr) SSL_free(c->ssl);
    close(c->fd);
  }
  for (int fd : {listen_fd, epoll_fd, wake_fd}) {
    if (fd >= 0) close(fd);
  }
  if (tls != nullptr) SSL_CTX_free(tls);
}

void EventServer::Loop::Wake() const {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_fd, &one, sizeof(one));
}

void EventServer::Loop::Work() {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu);
      work_ready.wait(lock, [this] { return quit_workers || !jobs.empty(); });
      if (jobs.empty()) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    HttpResponse response;
    try {
      response = handler(job.request);
    } catch (const std::exception& e) {
      spdlog::error("internal error serving {} {}: {}", job.request.method, job.request.path,
                    e.what());
      response = ErrorResponse(500, absl::StrCat("internal error: ", e.what()));
    } catch (...) {
      response = ErrorResponse(500, "internal error: unknown exception");
    }
    {
      std::lock_guard lock(mu);
      done.push_back({job.connection, std::move(response)});
    }
    Wake();
  }
}

void EventServer::Loop::Serve() {
  for (int i = 0; i < options.workers; ++i) workers.emplace_back([this] { Work(); });
  std::array<epoll_event, kMaxEvents> events{};
  while (!draining || !connections.empty()) {
    if (stopping && !draining) BeginDrain();
    const int n =
        epoll_wait(epoll_fd, events.data(), kMaxEvents, ready_ids.empty() ? kTickMillis : 0);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[static_cast<size_t>(i)].data.u64;
      if (id == kListenerId) {
        Accept();
      } else if (id == kWakeId) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = read(wake_fd, &count, sizeof(count));
      } else if (auto it = connections.find(id); it != connections.end()) {
        OnEvent(*it->second, events[static_cast<size_t>(i)].events);
      }
    }
    CollectDone();
    RunReady();
    Expire(Clock::now());
    ResumeAccept(Clock::now());
  }
  Finish();
}

// One request per pipelining connection per round: a burst of them cannot recurse or starve
// the other connections.
void EventServer::Loop::RunReady() {
  std::vector<uint64_t> now;
  now.swap(ready_ids);
  for (uint64_t id : now) {
    auto it = connections.find(id);
    if (it == connections.end() || it->second->phase != Phase::kHead) continue;
    Connection& c = *it->second;
    if (c.ssl != nullptr && SSL_pending(c.ssl) > 0) {
      Read(c);  // Not signalled by epoll.
    } else {
      Advance(c);
    }
  }
}

void EventServer::Loop::Finish() {
  {
    std::lock_guard lock(mu);
    quit_workers = true;
  }
  work_ready.notify_all();
  for (std::thread& t : workers) t.join();
  workers.clear();
}

void EventServer::Loop::Accept() {
  while (!draining) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) PauseAccept();
      return;
    }
    if (std::ssize(connections) >= options.max_connections && !EvictIdle()) {
      ++refused;  // Counted first: a test may look as soon as it sees the close.
      close(fd);
      continue;
    }
    Admit(fd);
  }
}

// Out of file descriptors (EMFILE) or memory: the listener would wake the loop at once again, so
// it leaves epoll for a while; pending connections wait in the backlog.
void EventServer::Loop::PauseAccept() {
  spdlog::warn("accept: {}; accepting again in 100 ms", ErrnoText(errno));
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
  accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
}

void EventServer::Loop::ResumeAccept(Clock::time_point now) {
  if (accept_paused_until == Clock::time_point{} || now < accept_paused_until || draining) return;
  accept_paused_until = {};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerId;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
}

// Closes the idle connection (no request begun, or a TLS handshake) least recently active; false
// if none is idle.
bool EventServer::Loop::EvictIdle() {
  Connection* oldest = nullptr;
  for (auto& [id, c] : connections) {
    const bool idle =
        c->phase == Phase::kHandshake || (c->phase == Phase::kHead && !c->head_started);
    if (idle && (oldest == nullptr || c->active < oldest->active)) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  ++evicted;
  Close(*oldest);
  return true;
}

void EventServer::Loop::Admit(int fd) {
  const int yes = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));  // DESIGN section 10.
  const int bytes = kSendBufferBytes;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  auto c = std::make_unique<Connection>();
  c->id = next_id++;
  c->fd = fd;
  c->active = Clock::now();
  c->deadline = c->active + options.head_timeout;
  if (tls != nullptr) {
    c->ssl = SSL_new(tls);
    if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
      if (c->ssl != nullptr) SSL_free(c->ssl);
      close(fd);
      return;
    }
    SSL_set_accept_state(c->ssl);
    c->phase = Phase::kHandshake;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = c->id;
  c->interest = EPOLLIN;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  ++accepted;
  ++open;
  connections.emplace(c->id, std::move(c));
}

void EventServer::Loop::OnEvent(Connection& c, uint32_t events) {
  if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLIN) == 0) return Close(c);
  switch (c.phase) {
    case Phase::kHandshake:
      return Handshake(c);
    case Phase::kHead:
    case Phase::kBody: {
      const uint64_t id = c.id;
      if ((events & EPOLLOUT) != 0) Flush(c);  // A 100 Continue still going out; may close c.
      if (connections.contains(id) && (events & EPOLLIN) != 0) Read(c);
      return;
    }
    case Phase::kWriting:
      return Flush(c);
    case Phase::kWorking:  // Only a 100 Continue may still be going out.
      if ((events & EPOLLOUT) != 0) Flush(c);
      return;
    case Phase::kLinger:
      return Linger(c);
  }
}

void EventServer::Loop::Handshake(Connection& c) {
  ERR_clear_error();  // SSL_get_error reads the queue: nothing stale may be on it.
  const int r = SSL_do_handshake(c.ssl);
  if (r == 1) {
    c.phase = Phase::kHead;
    c.deadline = Clock::now() + options.head_timeout;
    SetInterest(c);
    return Read(c);  // The handshake may have buffered the first request already.
  }
  const int err = SSL_get_error(c.ssl, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    c.interest = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
    epoll_event ev{};
    ev.events = c.interest;
    ev.data.u64 = c.id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
    return;
  }
  spdlog::debug("TLS handshake failed: {}", OpenSslError());
  ERR_clear_error();
  Close(c);
}

// Reads what has arrived (at most a head and a body past what the current request needs), then
// advances the request.
void EventServer::Loop::Read(Connection& c) {
  std::string& chunk = read_buffer;
  if (c.in_offset > 0) {  // Once per read, not per request.
    c.in.erase(0, c.in_offset);
    c.in_offset = 0;
  }
  const size_t cap = options.limits.max_head_bytes + kReadChunk +
                     static_cast<size_t>(c.phase == Phase::kBody ? c.head.content_length : 0);
  c.want_write = false;
  while (c.in.size() < cap) {
    ssize_t n = 0;
    if (c.ssl != nullptr) {
      ERR_clear_error();
      n = SSL_read(c.ssl, chunk.data(), static_cast<int>(chunk.size()));
      if (n <= 0) {
        const int err = SSL_get_error(c.ssl, static_cast<int>(n));
        ERR_clear_error();
        c.want_write = err == SSL_ERROR_WANT_WRITE;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        c.peer_closed = true;
        break;
      }
    } else {
      n = recv(c.fd, chunk.data(), chunk.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n <= 0) {
        c.peer_closed = true;
        break;
      }
    }
    if (c.phase == Phase::kHead && !c.head_started) {
      c.head_started = true;
      c.deadline = Clock::now() + options.head_timeout;
    }
    c.in.append(chunk.data(), static_cast<size_t>(n));
    c.active = Clock::now();
  }
  Advance(c);
}

// Parses what the buffer holds: refuses a bad head, starts a body, dispatches a whole request.
void EventServer::Loop::Advance(Connection& c) {
  const auto pending = [&c] { return c.in.size() - c.in_offset; };
  if (c.phase == Phase::kHead && pending() > 0) {
    RequestHead head = ParseRequestHead(absl::string_view(c.in).substr(c.in_offset), options.limits,
                                        c.head_scanned);
    c.head_scanned = pending();
    if (head.outcome == RequestHead::Outcome::kRefused) {
      return Respond(c, ErrorResponse(head.status, head.error));
    }
    if (head.outcome == RequestHead::Outcome::kComplete && !StartBody(c, std::move(head))) {
      return;
    }
  }
  const auto length = static_cast<size_t>(c.head.content_length);
  if (c.phase == Phase::kBody && pending() >= length) {
    HttpRequest request = std::move(c.head.request);
    if (c.in_offset == 0 && c.in.size() == length) {
      request.body = std::move(c.in);  // The usual case: no copy of a large body.
      c.in = std::string();
    } else {
      request.body = c.in.substr(c.in_offset, length);
      c.in_offset += length;
    }
    return Dispatch(c, std::move(request));
  }
  if (c.peer_closed) Close(c);  // More is needed and none will come.
}

// Moves `c` to reading the body of `head`; false if it was refused instead (answer under way).
bool EventServer::Loop::StartBody(Connection& c, RequestHead head) {
  c.in_offset += head.head_bytes;
  c.head_scanned = 0;
  if (pending_body_bytes + head.content_length > options.max_pending_body_bytes) {
    Respond(c, ErrorResponse(503, "too many request bodies in progress; retry"));
    return false;
  }
  c.reserved_body = head.content_length;
  pending_body_bytes += c.reserved_body;
  const size_t pending = c.in.size() - c.in_offset;
  if (head.expect_continue && pending < static_cast<size_t>(head.content_length)) {
    const uint64_t id = c.id;
    c.out.append(kContinue);
    Flush(c);  // May close c.
    if (!connections.contains(id)) return false;
  }
  c.head = std::move(head);
  c.phase = Phase::kBody;
  c.deadline = Clock::now() + options.body_timeout;
  return true;
}

void EventServer::Loop::Dispatch(Connection& c, HttpRequest request) {
  c.head_only = request.method == "HEAD";
  if (std::optional<HttpResponse> now = inline_handler(request)) {
    if (!request.keep_alive) now->close = true;
    return Respond(c, std::move(*now));
  }
  c.close_after_write = !request.keep_alive;
  c.phase = Phase::kWorking;
  SetInterest(c);
  {
    std::lock_guard lock(mu);
    jobs.push_back({c.id, std::move(request)});
  }
  work_ready.notify_one();
}

void EventServer::Loop::Respond(Connection& c, HttpResponse response) {
  pending_body_bytes -= c.reserved_body;
  c.reserved_body = 0;
  response.close = response.close || c.close_after_write || draining;
  c.close_after_write = response.close;
  c.out.append(SerializeResponse(response, /*with_body=*/!c.head_only));
  c.head_only = false;
  c.phase = Phase::kWriting;
  c.deadline = Clock::now() + options.write_timeout;
  Flush(c);
}

// Writes what is pending; once a whole answer is out, closes or waits for the next request.
void EventServer::Loop::Flush(Connection& c) {
  while (c.out_offset < c.out.size()) {
    const char* data = c.out.data() + c.out_offset;
    const size_t left = c.out.size() - c.out_offset;
    ssize_t n = 0;
    if (c.ssl != nullptr) {
      ERR_clear_error();
      n = SSL_write(c.ssl, data, static_cast<int>(std::min<size_t>(left, INT32_MAX)));
      if (n <= 0) {
        const int err = SSL_get_error(c.ssl, static_cast<int>(n));
        ERR_clear_error();
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        return Close(c);
      }
    } else {
      n = send(c.fd, data, left, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n <= 0) return Close(c);
    }
    c.out_offset += static_cast<size_t>(n);
  }
  if (c.out_offset < c.out.size()) return SetInterest(c);
  if (c.out.capacity() > kKeptBufferBytes) {
    c.out = std::string();
  } else {
    c.out.clear();
  }
  c.out_offset = 0;
  if (c.phase == Phase::kWriting) return AfterWrite(c);
  SetInterest(c);
}

// The answer is out: close (lingering if the request may be unread), or wait for the next
// request, which may be in the buffer already (pipelined: parsed next round, see RunReady).
void EventServer::Loop::AfterWrite(Connection& c) {
  if (c.close_after_write || draining) {
    if (c.ssl != nullptr || c.peer_closed) return Close(c);
    shutdown(c.fd, SHUT_WR);
    c.phase = Phase::kLinger;
    c.deadline = Clock::now() + kLingerTime;
    return SetInterest(c);
  }
  c.active = Clock::now();
  c.phase = Phase::kHead;
  c.head_scanned = 0;
  if (c.in_offset == c.in.size()) {
    c.in_offset = 0;
    if (c.in.capacity() > kKeptBufferBytes) {
      c.in = std::string();
    } else {
      c.in.clear();
    }
  }
  c.head_started = c.in_offset < c.in.size();
  c.deadline = c.active + (c.head_started ? options.head_timeout : options.idle_timeout);
  SetInterest(c);
  if (c.head_started || c.peer_closed || (c.ssl != nullptr && SSL_pending(c.ssl) > 0)) {
    ready_ids.push_back(c.id);
  }
}

// Reads and drops what the client still sends after an error answer, until EOF, a bound or the
// deadline (Expire), then closes.
void EventServer::Loop::Linger(Connection& c) {
  ssize_t n = 0;
  while ((n = recv(c.fd, read_buffer.data(), read_buffer.size(), 0)) > 0) {
    c.lingered += static_cast<size_t>(n);
    if (c.lingered > kLingerBytes) return Close(c);
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) Close(c);
}

void EventServer::Loop::SetInterest(Connection& c) const {
  uint32_t want = 0;
  if (c.phase == Phase::kHead || c.phase == Phase::kBody || c.phase == Phase::kLinger) {
    want |= EPOLLIN;
  }
  if (c.out_offset < c.out.size() || c.want_write) want |= EPOLLOUT;
  if (want == c.interest) return;
  c.interest = want;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
}

void EventServer::Loop::Close(Connection& c) {
  pending_body_bytes -= c.reserved_body;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
  if (c.ssl != nullptr) SSL_free(c.ssl);
  close(c.fd);
  --open;
  connections.erase(c.id);  // Destroys c.
}

void EventServer::Loop::CollectDone() {
  std::vector<Done> ready;
  {
    std::lock_guard lock(mu);
    ready.swap(done);
  }
  for (Done& d : ready) {
    auto it = connections.find(d.connection);
    if (it != connections.end()) Respond(*it->second, std::move(d.response));
  }
}

// Closes connections past their phase's deadline: a late head or body gets 408 first.
void EventServer::Loop::Expire(Clock::time_point now) {
  std::vector<Connection*> late;
  for (auto& [id, c] : connections) {
    if (c->phase != Phase::kWorking && now > c->deadline) late.push_back(c.get());
  }
  for (Connection* c : late) {
    const bool mid_request =
        (c->phase == Phase::kHead && c->head_started) || c->phase == Phase::kBody;
    if (c->phase != Phase::kLinger && (c->phase != Phase::kHead || c->head_started)) {
      ++timed_out;
    }
    if (mid_request && c->out.empty()) {
      // One attempt, best effort: the client is slow and the connection closes either way.
      c->out = SerializeResponse(ErrorResponse(408, "request not received in time"));
      c->close_after_write = true;
      c->phase = Phase::kWriting;
      const uint64_t id = c->id;
      Flush(*c);  // Closes c once written.
      if (auto it = connections.find(id); it != connections.end()) Close(*it->second);
      continue;
    }
    Close(*c);
  }
}

// Stop: no new connections. An idle keep-alive connection gets kDrainIdleGrace to send a last
// request, answered with Connection: close, before it closes: closing it at once would cut a
// request its client is sending at that moment (kube-scheduler's POSTs are not retried). A
// connection in a TLS handshake closes now.
void EventServer::Loop::BeginDrain() {
  draining = true;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
  close(listen_fd);
  listen_fd = -1;
  const Clock::time_point last_call = Clock::now() + kDrainIdleGrace;
  std::vector<Connection*> handshaking;
  for (auto& [id, c] : connections) {
    if (c->phase == Phase::kHandshake) handshaking.push_back(c.get());
    if (c->phase == Phase::kHead && !c->head_started) {
      c->deadline = std::min(c->deadline, last_call);
    }
  }
  for (Connection* c : handshaking) Close(*c);
}

EventServer::EventServer(EventServerOptions options, Handler handler, InlineHandler inline_handler)
    : loop_(std::make_unique<Loop>()) {
  loop_->options = std::move(options);
  loop_->handler = std::move(handler);
  loop_->inline_handler = std::move(inline_handler);
}

EventServer::~EventServer() = default;

absl::Status EventServer::Listen() {
  Loop& l = *loop_;
  if (!l.options.tls_cert.empty()) {
    absl::StatusOr<SSL_CTX*> ctx = MakeTlsContext(l.options);
    if (!ctx.ok()) return ctx.status();
    l.tls = *ctx;
  }
  absl::StatusOr<int> fd = ListenOn(l.options.bind_address, l.options.port, l.options.backlog);
  if (!fd.ok()) return fd.status();
  l.listen_fd = *fd;
  port_ = LocalPort(l.listen_fd);
  l.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  l.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l.epoll_fd < 0 || l.wake_fd < 0) {
    return absl::InternalError(absl::StrCat("epoll/eventfd: ", ErrnoText(errno)));
  }
  for (auto [fd_, id] : {std::pair{l.listen_fd, kListenerId}, std::pair{l.wake_fd, kWakeId}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    epoll_ctl(l.epoll_fd, EPOLL_CTL_ADD, fd_, &ev);
  }
  RaiseFileLimit();
  // SSL_write reports a closed peer with SIGPIPE; the error return is enough.
  std::signal(SIGPIPE, SIG_IGN);  // NOLINT(concurrency-mt-unsafe): before any worker starts.
  return absl::OkStatus();
}

void EventServer::Run() {
  if (loop_->epoll_fd >= 0) loop_->Serve();
}

void EventServer::Stop() {
  loop_->stopping = true;
  if (loop_->wake_fd >= 0) loop_->Wake();
}

EventServer::Stats EventServer::stats() const {
  return {loop_->open.load(), loop_->accepted.load(), loop_->refused.load(), loop_->evicted.load(),
          loop_->timed_out.load()};
}

}  // namespace accelsched::scheduler
