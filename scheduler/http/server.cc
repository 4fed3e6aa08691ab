#include "scheduler/http/server.h"

#include <malloc.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/debug_state.h"
#include "scheduler/codec/extender.h"
#include "scheduler/http/http_status.h"

namespace accelsched::scheduler {
namespace {

// Verb answers go out uncompressed even when the client accepts gzip, as kube-scheduler's Go
// client does by default: gzip of a 5,000-node filter answer (185 KB) costs about 0.7 ms, more
// than the verb itself, to save bytes on the cluster network. httplib compresses only the exact
// type "application/json"; the charset parameter (JSON is always UTF-8) keeps it out.
constexpr char kVerbContentType[] = "application/json; charset=utf-8";

// The socket send buffer of accepted connections. With the kernel's initial 16 KB, a 185 KB
// filter answer (5,000 nodes) is written in many rounds, each waiting for the client to drain;
// 1 MiB takes a whole answer at once.
constexpr int kSendBufferBytes = 1 << 20;
constexpr int kReadTimeoutSeconds = 30;
constexpr size_t kKeepAliveMaxRequests = 100000;

Metrics::GangFigures GangFigures(const GangCoordinator::Stats& s) {
  Metrics::GangFigures f;
  f.reservations = s.reservations;
  f.slots_held = s.slots_held;
  f.events = {{"planned", s.planned},
              {"unplaceable", s.unplaceable},
              {"waiting", s.waiting},
              {"expired", s.expired},
              {"dropped", s.dropped}};
  return f;
}

void ReplyJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void ReplyVerb(httplib::Response& res, std::string body) {
  res.body = std::move(body);
  res.set_header("Content-Type", kVerbContentType);
}

void ReplyError(httplib::Response& res, const absl::Status& s) {
  ReplyJson(res, HttpStatusFor(s), codec::EncodeErrorResultText(s.message()));
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// The placed pods as GET /debug/state shows them, with their annotations derived from the node
// in `snapshot`.
std::vector<codec::DebugPod> DebugPods(const std::vector<PlacedPod>& pods,
                                       const plugins::ClusterSnapshot& snapshot) {
  std::vector<codec::DebugPod> out;
  out.reserve(pods.size());
  for (const PlacedPod& p : pods) {
    out.push_back({p.uid, p.key, p.node, AssignmentAnnotationsOf(p, snapshot),
                   plugins::DebugString(p.assignment)});
  }
  return out;
}

// The handlers of every endpoint, one per verb or page. Each answers one request; they touch
// only thread-safe objects.
class Handlers {
 public:
  Handlers(Extender* extender, Metrics* metrics, const ServerOptions* options,
           const std::atomic<bool>* ready)
      : extender_(extender), metrics_(metrics), options_(options), ready_(ready) {}

  using VerbHandler = void (Handlers::*)(const std::string& body, httplib::Response& res) const;
  // `handle` behind what every verb shares: readiness, timing, metrics, Server-Timing.
  httplib::Server::Handler Verb(std::string name, VerbHandler handle) const;

  void Filter(const std::string& body, httplib::Response& res) const;
  void Prioritize(const std::string& body, httplib::Response& res) const;
  void Bind(const std::string& body, httplib::Response& res) const;
  void Preempt(const std::string& body, httplib::Response& res) const;
  void Noop(const httplib::Request& req, httplib::Response& res) const;
  void Readyz(httplib::Response& res) const;
  void MetricsPage(httplib::Response& res) const;
  void DebugState(httplib::Response& res) const;

 private:
  Extender* extender_;
  Metrics* metrics_;
  const ServerOptions* options_;
  const std::atomic<bool>* ready_;
};

httplib::Server::Handler Handlers::Verb(std::string name, VerbHandler handle) const {
  return
      [this, name = std::move(name), handle](const httplib::Request& req, httplib::Response& res) {
        const auto start = std::chrono::steady_clock::now();
        if (!*ready_) {
          ReplyError(res, absl::UnavailableError("not ready: the cluster state is not synced yet"));
        } else {
          (this->*handle)(req.body, res);
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        metrics_->ObserveRequest(name, res.status, seconds);
        // W3C Server-Timing: the server's own time (decode, verb, encode) in milliseconds, for
        // load tools and for debugging slow cycles from the client side.
        res.set_header("Server-Timing", absl::StrFormat("%s;dur=%.3f", name, seconds * 1e3));
      };
}

// Filter and prioritize decode the raw body with codec::DecodeExtenderArgs (simdjson for the
// envelope, which also validates JSON and UTF-8).
void Handlers::Filter(const std::string& body, httplib::Response& res) const {
  absl::StatusOr<codec::ExtenderArgs> args = codec::DecodeExtenderArgs(
      absl::string_view(body), {.max_node_names = options_->max_node_names});
  if (!args.ok()) return ReplyError(res, args.status());
  absl::StatusOr<codec::FilterResult> r = extender_->Filter(*args);
  if (!r.ok()) return ReplyError(res, r.status());
  spdlog::debug("filter pod={} candidates={} feasible={}", args->pod.Key(), args->node_names.size(),
                r->survivors.size());
  ReplyVerb(res, codec::EncodeFilterResultText(*args, *r));
}

void Handlers::Prioritize(const std::string& body, httplib::Response& res) const {
  absl::StatusOr<codec::ExtenderArgs> args = codec::DecodeExtenderArgs(
      absl::string_view(body), {.max_node_names = options_->max_node_names});
  if (!args.ok()) return ReplyError(res, args.status());
  absl::StatusOr<std::vector<int64_t>> r = extender_->Prioritize(*args);
  if (!r.ok()) return ReplyError(res, r.status());
  ReplyVerb(res, codec::EncodeHostPriorityListText(args->node_names, *r));
}

void Handlers::Bind(const std::string& body, httplib::Response& res) const {
  absl::StatusOr<codec::BindingArgs> args = codec::DecodeBindingArgs(absl::string_view(body));
  if (!args.ok()) return ReplyError(res, args.status());
  const absl::Status s = extender_->Bind(*args);
  const std::string pod = absl::StrCat(args->pod_namespace, "/", args->pod_name);
  if (s.ok()) {
    std::optional<PlacedPod> placed = extender_->ledger().Find(args->pod_uid);
    spdlog::info("bind pod={} node={} decision=bound assignment={}", pod, args->node,
                 placed ? plugins::DebugString(placed->assignment) : "");
  } else {
    spdlog::warn("bind pod={} node={} decision=refused reason={}", pod, args->node,
                 std::string(s.message()));
  }
  // kube-scheduler reads the Error field of a 200 answer.
  if (absl::IsInternal(s)) return ReplyError(res, s);
  ReplyJson(res, 200, codec::EncodeErrorResultText(s.message()));
}

void Handlers::Preempt(const std::string& body, httplib::Response& res) const {
  absl::StatusOr<codec::PreemptionArgs> args = codec::DecodePreemptionArgs(absl::string_view(body));
  if (!args.ok()) return ReplyError(res, args.status());
  absl::StatusOr<Extender::PreemptOutcome> r = extender_->Preempt(*args);
  if (!r.ok()) return ReplyError(res, r.status());
  ReplyVerb(res, codec::EncodePreemptionResultText(r->victims, r->pdb_violations));
}

// The transport baseline for load tests: reads the body like the verbs, does nothing, and
// answers {} or, with ?bytes=N, a canned JSON answer of N bytes (N <= the body cap), to time
// the transfer of an answer as large as a verb's.
void Handlers::Noop(const httplib::Request& req, httplib::Response& res) const {
  int64_t bytes = 0;
  if (req.has_param("bytes")) {
    if (!absl::SimpleAtoi(req.get_param_value("bytes"), &bytes) || bytes < 0 ||
        bytes > options_->max_body_bytes) {
      return ReplyJson(res, 400,
                       codec::EncodeErrorResultText(absl::StrCat(
                           "bytes: must be an integer in [0, ", options_->max_body_bytes, "]")));
    }
  }
  if (bytes < 8) return ReplyVerb(res, "{}");
  std::string body = R"({"x":")";
  body.append(static_cast<size_t>(bytes) - 8, 'x');
  body.append(R"("})");
  ReplyVerb(res, std::move(body));
}

void Handlers::Readyz(httplib::Response& res) const {
  if (*ready_) {
    res.set_content("ok\n", "text/plain");
  } else {
    res.status = 503;
    res.set_content("not ready: the cluster state is not synced yet\n", "text/plain");
  }
}

void Handlers::MetricsPage(httplib::Response& res) const {
  res.set_content(
      metrics_->Render(*extender_->ledger().Snapshot(), extender_->ledger().num_pods(),
                       GangFigures(extender_->gang_stats()), extender_->TenantGpuMilli()),
      "text/plain; version=0.0.4");
}

void Handlers::DebugState(httplib::Response& res) const {
  std::shared_ptr<const plugins::ClusterSnapshot> snapshot = extender_->ledger().Snapshot();
  ReplyJson(res, 200,
            codec::EncodeDebugState(*snapshot, DebugPods(extender_->ledger().Pods(), *snapshot)));
  // The JSON tree of a large cluster is tens of MB (about 58 MB for 10,000 nodes), freed by
  // now. The malloc settings keep freed memory for reuse (TuneMallocForLargeBodies), and each
  // worker thread has its own arena, so without this every thread that ever served this page
  // would hold its own copy of that peak. Give it back.
  malloc_trim(0);
}

// Error replies that the library makes itself (404, 413, ...) get a JSON body too.
void ReplyLibraryError(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return;
  std::string why;
  switch (res.status) {
    case 404:
      why = absl::StrCat("no such endpoint: ", req.method, " ", req.path);
      break;
    case 413:
      why = "request body is larger than the configured maximum (maxBodyBytes)";
      break;
    default:
      why = absl::StrCat("HTTP ", res.status);
  }
  res.set_content(codec::EncodeErrorResultText(why), "application/json");
}

void ReplyException(const httplib::Request& req, httplib::Response& res,
                    const std::exception_ptr& ep) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  spdlog::error("internal error serving {} {}: {}", req.method, req.path, what);
  ReplyJson(res, 500, codec::EncodeErrorResultText(absl::StrCat("internal error: ", what)));
}

// Before a body is read: a compressed one (Content-Encoding other than identity) is refused with
// 415. httplib inflates such bodies without a limit (the body cap counts compressed bytes), so a
// 1 MB gzip request once took 2.4 GB; kube-scheduler never compresses what it sends. The
// connection is closed after the answer, since the body was not read.
httplib::Server::HandlerResponse RefuseCompressedBodies(const httplib::Request& req,
                                                        httplib::Response& res) {
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (encoding.empty() || absl::EqualsIgnoreCase(encoding, "identity")) {
    return httplib::Server::HandlerResponse::Unhandled;
  }
  res.set_header("Connection", "close");
  ReplyJson(res, 415,
            codec::EncodeErrorResultText("Content-Encoding: compressed request bodies are not "
                                         "accepted; send the body uncompressed"));
  return httplib::Server::HandlerResponse::Handled;
}

// Threads, socket options, limits and the library's own error replies.
void Configure(httplib::Server& http, const ServerOptions& options) {
  const int threads = options.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_tcp_nodelay(true);  // DESIGN section 10: else keep-alive replies wait ~40 ms.
  http.set_socket_options([](socket_t sock) {
    // SO_REUSEADDR only: a restart may bind while old connections linger in TIME_WAIT. Not
    // httplib's default SO_REUSEPORT, which let a second extender bind the same port: the kernel
    // then split connections between two ledgers and both gave out the same GPUs (issue 14).
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    const int bytes = kSendBufferBytes;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  });
  http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  http.set_keep_alive_max_count(kKeepAliveMaxRequests);
  http.set_read_timeout(kReadTimeoutSeconds, 0);
  http.set_error_handler(ReplyLibraryError);
  http.set_exception_handler(ReplyException);
  http.set_pre_routing_handler(RefuseCompressedBodies);
}

// `path` as a regular expression that matches only itself (httplib's routes are regexes; the
// config allows '.' in a prefix, which would otherwise match any character).
std::string RegexLiteral(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (absl::StrContains(R"(\.^$|()[]{}*+?)", c)) out += '\\';
    out += c;
  }
  return out;
}

void RegisterRoutes(httplib::Server& http, const Handlers& h, const std::string& url_prefix) {
  const std::string prefix = RegexLiteral(url_prefix);
  http.Post(prefix + "/filter", h.Verb("filter", &Handlers::Filter));
  http.Post(prefix + "/prioritize", h.Verb("prioritize", &Handlers::Prioritize));
  http.Post(prefix + "/bind", h.Verb("bind", &Handlers::Bind));
  http.Post(prefix + "/preempt", h.Verb("preempt", &Handlers::Preempt));
  http.Get(prefix + "/(filter|prioritize|bind|preempt)", [](const httplib::Request& req,
                                                            httplib::Response& res) {
    ReplyJson(res, 405, codec::EncodeErrorResultText(absl::StrCat(req.path, ": use POST")));
  });
  http.Post("/debug/noop",
            [&h](const httplib::Request& req, httplib::Response& res) { h.Noop(req, res); });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [&h](const httplib::Request&, httplib::Response& res) { h.Readyz(res); });
  http.Get("/metrics",
           [&h](const httplib::Request&, httplib::Response& res) { h.MetricsPage(res); });
  http.Get("/debug/state",
           [&h](const httplib::Request&, httplib::Response& res) { h.DebugState(res); });
}

// An HTTPS server with `options`' certificate (and client CA), or plain HTTP.
absl::StatusOr<std::unique_ptr<httplib::Server>> MakeHttpServer(const ServerOptions& options) {
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (!tls) {
    if (!options.client_ca.empty()) {
      return absl::InvalidArgumentError("--client-ca needs --tls-cert and --tls-key");
    }
    return std::make_unique<httplib::Server>();
  }
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  for (const std::string* f : {&options.tls_cert, &options.tls_key, &options.client_ca}) {
    if (!f->empty() && !Readable(*f)) {
      return absl::InvalidArgumentError(absl::StrCat(*f, ": cannot read"));
    }
  }
  auto ssl = std::make_unique<httplib::SSLServer>(
      options.tls_cert.c_str(), options.tls_key.c_str(),
      options.client_ca.empty() ? nullptr : options.client_ca.c_str());
  if (!ssl->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS: cannot load the certificate ", options.tls_cert, ", key ", options.tls_key,
        options.client_ca.empty() ? "" : absl::StrCat(" or client CA ", options.client_ca)));
  }
  return std::unique_ptr<httplib::Server>(std::move(ssl));
}

}  // namespace

struct Server::Impl {
  std::unique_ptr<Handlers> handlers;
  std::unique_ptr<httplib::Server> http;
};

Server::Server(Extender* extender, Metrics* metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>()),
      extender_(extender),
      metrics_(metrics),
      options_(std::move(options)) {}

Server::~Server() { Stop(); }

absl::Status Server::Listen() {
  absl::StatusOr<std::unique_ptr<httplib::Server>> made = MakeHttpServer(options_);
  if (!made.ok()) return made.status();
  impl_->http = std::move(*made);
  impl_->handlers = std::make_unique<Handlers>(extender_, metrics_, &options_, &ready_);
  httplib::Server& http = *impl_->http;
  Configure(http, options_);
  RegisterRoutes(http, *impl_->handlers, options_.url_prefix);
  if (options_.port == 0) {
    port_ = http.bind_to_any_port(options_.bind_address);
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind ", options_.bind_address, ":0"));
    }
    return absl::OkStatus();
  }
  if (!http.bind_to_port(options_.bind_address, options_.port)) {
    return absl::UnavailableError(absl::StrCat("cannot bind ", options_.bind_address, ":",
                                               options_.port, " (in use, or not allowed)"));
  }
  port_ = options_.port;
  return absl::OkStatus();
}

void Server::Run() {
  if (impl_->http != nullptr) impl_->http->listen_after_bind();
}

void Server::Stop() {
  if (impl_ != nullptr && impl_->http != nullptr) impl_->http->stop();
}

void TuneMallocForLargeBodies() {
  // Called once at start-up, before any thread (the header says so).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);   // NOLINT(concurrency-mt-unsafe)
  mallopt(M_TRIM_THRESHOLD, 256 << 20);  // NOLINT(concurrency-mt-unsafe)
}

}  // namespace accelsched::scheduler
