#include "scheduler/http/server.h"

#include <malloc.h>
#include <zlib.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/debug_state.h"
#include "scheduler/codec/extender.h"
#include "scheduler/http/event_server.h"
#include "scheduler/http/http_status.h"

namespace accelsched::scheduler {
namespace {

// Verb answers go out uncompressed even when the client accepts gzip, as kube-scheduler's Go
// client does by default: gzip of a 5,000-node filter answer (185 KB) costs about 0.7 ms, more
// than the verb itself, to save bytes on the cluster network. The pages (/debug/state,
// /metrics) are compressed when asked.
constexpr char kVerbContentType[] = "application/json; charset=utf-8";
constexpr size_t kCompressFromBytes = 128;  // Below, gzip costs more bytes than it saves.

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

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse VerbAnswer(std::string body) {
  HttpResponse r = Json(200, std::move(body));
  r.content_type = kVerbContentType;
  return r;
}

HttpResponse ErrorAnswer(int status, absl::string_view why) {
  return Json(status, codec::EncodeErrorResultText(why));
}

HttpResponse ErrorAnswer(const absl::Status& s) {
  return ErrorAnswer(HttpStatusFor(s), s.message());
}

HttpResponse Text(int status, std::string body, std::string content_type = "text/plain") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

// `body` in gzip format (zlib's fastest level: /debug/state of 10,000 nodes is tens of MB), or
// nullopt if zlib fails.
std::optional<std::string> Gzip(const std::string& body) {
  z_stream z{};
  constexpr int kGzipWindowBits = 15 + 16;  // 16: a gzip header, not zlib's.
  constexpr int kMemLevel = 8;
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&z, body.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int r = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (r != Z_STREAM_END) return std::nullopt;
  return out;
}

// Compresses a page's answer when the client accepts gzip (never a verb's: see kVerbContentType).
void CompressIfAccepted(const HttpRequest& req, HttpResponse& res) {
  const bool page =
      res.content_type == "application/json" || absl::StartsWith(res.content_type, "text/plain");
  if (!page || res.body.size() < kCompressFromBytes ||
      !absl::StrContains(req.Header("accept-encoding"), "gzip") ||
      res.body.size() > std::numeric_limits<uInt>::max() / 2) {
    return;
  }
  if (std::optional<std::string> z = Gzip(res.body)) {
    res.body = std::move(*z);
    res.headers.emplace_back("Content-Encoding", "gzip");
  }
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

// The handlers of every endpoint, one per verb or page, and the routes to them. Each answers one
// request; they touch only thread-safe objects.
class Handlers {
 public:
  Handlers(Extender* extender, Metrics* metrics, const ServerOptions* options,
           const std::atomic<bool>* ready, const std::atomic<bool>* stopping,
           const Server::Degraded* degraded, const Server::Gates* gates,
           const EventServer* connections);

  // Every request but the probes, on a worker thread.
  HttpResponse Route(const HttpRequest& req) const;
  // The probes, answered on the connection thread so that busy workers cannot delay them.
  std::optional<HttpResponse> Probe(const HttpRequest& req) const;

 private:
  using VerbHandler = HttpResponse (Handlers::*)(const std::string& body) const;
  using PageHandler = HttpResponse (Handlers::*)(const HttpRequest& req) const;
  struct Endpoint {
    std::string method;
    std::string verb;  // Verbs: the metric's name.
    VerbHandler verb_handler = nullptr;
    PageHandler page_handler = nullptr;
  };

  // `handle` behind what every verb shares: readiness, timing, metrics, Server-Timing.
  HttpResponse Verb(const std::string& name, VerbHandler handle, const HttpRequest& req) const;
  HttpResponse Filter(const std::string& body) const;
  HttpResponse Prioritize(const std::string& body) const;
  HttpResponse Bind(const std::string& body) const;
  HttpResponse Preempt(const std::string& body) const;
  HttpResponse Noop(const HttpRequest& req) const;
  HttpResponse MetricsPage(const HttpRequest& req) const;
  // Why a synced server does not serve: degraded (SetDegraded), or its gate (SetGate).
  std::optional<std::string> Unavailable() const {
    if (std::optional<std::string> why = degraded_->Get()) return why;
    if (gates_->serve) return gates_->serve();
    return std::nullopt;
  }
  HttpResponse DebugState(const HttpRequest& req) const;

  Extender* extender_;
  Metrics* metrics_;
  const ServerOptions* options_;
  const std::atomic<bool>* ready_;
  const std::atomic<bool>* stopping_;
  const Server::Degraded* degraded_;
  const Server::Gates* gates_;
  const EventServer* connections_;
  absl::flat_hash_map<std::string, Endpoint> endpoints_;  // By exact path.
};

Handlers::Handlers(Extender* extender, Metrics* metrics, const ServerOptions* options,
                   const std::atomic<bool>* ready, const std::atomic<bool>* stopping,
                   const Server::Degraded* degraded, const Server::Gates* gates,
                   const EventServer* connections)
    : extender_(extender),
      metrics_(metrics),
      options_(options),
      ready_(ready),
      stopping_(stopping),
      degraded_(degraded),
      gates_(gates),
      connections_(connections) {
  // The URL prefix is a literal path (config validation keeps it one): matched exactly.
  const std::string& prefix = options->url_prefix;
  endpoints_[prefix + "/filter"] = {"POST", "filter", &Handlers::Filter, nullptr};
  endpoints_[prefix + "/prioritize"] = {"POST", "prioritize", &Handlers::Prioritize, nullptr};
  endpoints_[prefix + "/bind"] = {"POST", "bind", &Handlers::Bind, nullptr};
  endpoints_[prefix + "/preempt"] = {"POST", "preempt", &Handlers::Preempt, nullptr};
  endpoints_["/debug/noop"] = {"POST", "", nullptr, &Handlers::Noop};
  endpoints_["/metrics"] = {"GET", "", nullptr, &Handlers::MetricsPage};
  endpoints_["/debug/state"] = {"GET", "", nullptr, &Handlers::DebugState};
}

std::optional<HttpResponse> Handlers::Probe(const HttpRequest& req) const {
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;
  if (req.path == "/healthz") return Text(200, "ok\n");
  if (req.path != "/readyz") return std::nullopt;
  if (*stopping_) return Text(503, "stopping\n");
  // role=any: ready to serve or to stand by (the pod readiness when a label picks the leader).
  const bool any_role = req.QueryParam("role") == "any";
  std::optional<std::string> why = degraded_->Get();
  if (!why && any_role && gates_->standby) why = gates_->standby();
  if (!why && !any_role && gates_->serve) why = gates_->serve();
  if (why) return Text(503, absl::StrCat("not ready: ", *why, "\n"));
  if (*ready_) return Text(200, "ok\n");
  return Text(503, "not ready: the cluster state is not synced yet\n");
}

HttpResponse Handlers::Route(const HttpRequest& req) const {
  auto it = endpoints_.find(req.path);
  if (it == endpoints_.end()) {
    return ErrorAnswer(404, absl::StrCat("no such endpoint: ", req.method, " ", req.path));
  }
  const Endpoint& e = it->second;
  if (req.method != e.method) {
    return ErrorAnswer(405, absl::StrCat(req.path, ": use ", e.method));
  }
  if (e.verb_handler != nullptr) return Verb(e.verb, e.verb_handler, req);
  HttpResponse res = (this->*e.page_handler)(req);
  CompressIfAccepted(req, res);
  return res;
}

HttpResponse Handlers::Verb(const std::string& name, VerbHandler handle,
                            const HttpRequest& req) const {
  const auto start = std::chrono::steady_clock::now();
  HttpResponse res;
  if (!*ready_) {
    res = ErrorAnswer(absl::UnavailableError("not ready: the cluster state is not synced yet"));
  } else if (std::optional<std::string> why = Unavailable()) {
    res = ErrorAnswer(absl::UnavailableError(absl::StrCat("not ready: ", *why)));
  } else {
    res = (this->*handle)(req.body);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_->ObserveRequest(name, res.status, seconds);
  // W3C Server-Timing: the server's own time (decode, verb, encode) in milliseconds, for load
  // tools and for debugging slow cycles from the client side.
  res.headers.emplace_back("Server-Timing", absl::StrFormat("%s;dur=%.3f", name, seconds * 1e3));
  return res;
}

// Filter and prioritize decode the raw body with codec::DecodeExtenderArgs (simdjson for the
// envelope, which also validates JSON and UTF-8).
HttpResponse Handlers::Filter(const std::string& body) const {
  absl::StatusOr<codec::ExtenderArgs> args = codec::DecodeExtenderArgs(
      absl::string_view(body), {.max_node_names = options_->max_node_names});
  if (!args.ok()) return ErrorAnswer(args.status());
  absl::StatusOr<codec::FilterResult> r = extender_->Filter(*args);
  if (!r.ok()) return ErrorAnswer(r.status());
  spdlog::debug("filter pod={} candidates={} feasible={}", args->pod.Key(), args->node_names.size(),
                r->survivors.size());
  return VerbAnswer(codec::EncodeFilterResultText(*args, *r));
}

HttpResponse Handlers::Prioritize(const std::string& body) const {
  absl::StatusOr<codec::ExtenderArgs> args = codec::DecodeExtenderArgs(
      absl::string_view(body), {.max_node_names = options_->max_node_names});
  if (!args.ok()) return ErrorAnswer(args.status());
  absl::StatusOr<std::vector<int64_t>> r = extender_->Prioritize(*args);
  if (!r.ok()) return ErrorAnswer(r.status());
  return VerbAnswer(codec::EncodeHostPriorityListText(args->node_names, *r));
}

HttpResponse Handlers::Bind(const std::string& body) const {
  absl::StatusOr<codec::BindingArgs> args = codec::DecodeBindingArgs(absl::string_view(body));
  if (!args.ok()) return ErrorAnswer(args.status());
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
  if (absl::IsInternal(s)) return ErrorAnswer(s);
  return Json(200, codec::EncodeErrorResultText(s.message()));
}

HttpResponse Handlers::Preempt(const std::string& body) const {
  absl::StatusOr<codec::PreemptionArgs> args = codec::DecodePreemptionArgs(absl::string_view(body));
  if (!args.ok()) return ErrorAnswer(args.status());
  absl::StatusOr<Extender::PreemptOutcome> r = extender_->Preempt(*args);
  if (!r.ok()) return ErrorAnswer(r.status());
  return VerbAnswer(codec::EncodePreemptionResultText(r->victims, r->pdb_violations));
}

// The transport baseline for load tests: reads the body like the verbs, does nothing, and
// answers {} or, with ?bytes=N, a canned JSON answer of N bytes (N <= the body cap), to time
// the transfer of an answer as large as a verb's.
HttpResponse Handlers::Noop(const HttpRequest& req) const {
  int64_t bytes = 0;
  if (std::optional<std::string> asked = req.QueryParam("bytes")) {
    if (!absl::SimpleAtoi(*asked, &bytes) || bytes < 0 || bytes > options_->max_body_bytes) {
      return ErrorAnswer(
          400, absl::StrCat("bytes: must be an integer in [0, ", options_->max_body_bytes, "]"));
    }
  }
  if (bytes < 8) return VerbAnswer("{}");
  std::string body = R"({"x":")";
  body.append(static_cast<size_t>(bytes) - 8, 'x');
  body.append(R"("})");
  return VerbAnswer(std::move(body));
}

HttpResponse Handlers::MetricsPage(const HttpRequest& /*req*/) const {
  const EventServer::Stats c = connections_->stats();
  std::string page =
      metrics_->Render(*extender_->ledger().Snapshot(), extender_->ledger().num_pods(),
                       GangFigures(extender_->gang_stats()), extender_->TenantGpuMilli());
  page += Metrics::RenderConflicts(extender_->conflicts().size());
  const TentativeHolds::Counts h = extender_->holds().counts();
  page += Metrics::RenderTentativeHolds({.held = extender_->holds().size(),
                                         .made = h.made,
                                         .bound = h.bound,
                                         .dropped = h.dropped,
                                         .expired = h.expired});
  page += Metrics::RenderConnections({.open = c.open,
                                      .accepted = c.accepted,
                                      .refused = c.refused,
                                      .evicted = c.evicted,
                                      .timed_out = c.timed_out});
  return Text(200, std::move(page), "text/plain; version=0.0.4");
}

HttpResponse Handlers::DebugState(const HttpRequest& /*req*/) const {
  std::shared_ptr<const plugins::ClusterSnapshot> snapshot = extender_->ledger().Snapshot();
  std::vector<codec::DebugConflict> conflicts;
  for (const Conflict& c : extender_->conflicts()) {
    conflicts.push_back({c.uid, c.pod, c.node, c.devices, c.reason});
  }
  HttpResponse res =
      Json(200, codec::EncodeDebugState(*snapshot, DebugPods(extender_->ledger().Pods(), *snapshot),
                                        conflicts));
  // The JSON tree of a large cluster is tens of MB (about 58 MB for 10,000 nodes), freed by
  // now. The malloc settings keep freed memory for reuse (TuneMallocForLargeBodies), and each
  // worker thread has its own arena, so without this every thread that ever served this page
  // would hold its own copy of that peak. Give it back.
  malloc_trim(0);
  return res;
}

// The connection side's settings from the server's.
absl::StatusOr<EventServerOptions> ConnectionOptions(const ServerOptions& options) {
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (!tls && !options.client_ca.empty()) {
    return absl::InvalidArgumentError("--client-ca needs --tls-cert and --tls-key");
  }
  if (tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  for (const std::string* f : {&options.tls_cert, &options.tls_key, &options.client_ca}) {
    if (!f->empty() && !Readable(*f)) {
      return absl::InvalidArgumentError(absl::StrCat(*f, ": cannot read"));
    }
  }
  EventServerOptions o;
  o.bind_address = options.bind_address;
  o.port = options.port;
  o.workers = options.threads;
  o.max_connections = options.max_connections;
  o.limits.max_body_bytes = options.max_body_bytes;
  o.max_pending_body_bytes = std::max(o.max_pending_body_bytes, 4 * options.max_body_bytes);
  o.tls_cert = options.tls_cert;
  o.tls_key = options.tls_key;
  o.client_ca = options.client_ca;
  return o;
}

}  // namespace

struct Server::Impl {
  std::unique_ptr<EventServer> connections;
  std::unique_ptr<Handlers> handlers;
};

Server::Server(Extender* extender, Metrics* metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>()),
      extender_(extender),
      metrics_(metrics),
      options_(std::move(options)) {}

Server::~Server() { Stop(); }

absl::Status Server::Listen() {
  absl::StatusOr<EventServerOptions> o = ConnectionOptions(options_);
  if (!o.ok()) return o.status();
  Impl& impl = *impl_;
  impl.connections = std::make_unique<EventServer>(
      std::move(*o), [&impl](const HttpRequest& req) { return impl.handlers->Route(req); },
      [&impl](const HttpRequest& req) { return impl.handlers->Probe(req); });
  impl.handlers = std::make_unique<Handlers>(extender_, metrics_, &options_, &ready_, &stopping_,
                                             &degraded_, &gates_, impl.connections.get());
  if (absl::Status s = impl.connections->Listen(); !s.ok()) return s;
  port_ = impl.connections->port();
  return absl::OkStatus();
}

void Server::Run() {
  if (impl_->connections != nullptr) impl_->connections->Run();
}

void Server::Stop() {
  if (impl_ != nullptr && impl_->connections != nullptr) impl_->connections->Stop();
}

void TuneMallocForLargeBodies() {
  // Called once at start-up, before any thread (the header says so).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);   // NOLINT(concurrency-mt-unsafe)
  mallopt(M_TRIM_THRESHOLD, 256 << 20);  // NOLINT(concurrency-mt-unsafe)
}

}  // namespace accelsched::scheduler
