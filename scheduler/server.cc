#include "scheduler/server.h"

#include <malloc.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/extender.h"
#include "scheduler/codec/json_util.h"
#include "scheduler/http_status.h"

namespace accelsched::scheduler {
namespace {

using codec::Json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

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

void ReplyJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

// Verb answers go out uncompressed even when the client accepts gzip, as kube-scheduler's Go
// client does by default: gzip of a 5,000-node filter answer (185 KB) costs about 0.7 ms, more
// than the verb itself, to save bytes on the cluster network. httplib compresses only the exact
// type "application/json"; the charset parameter (JSON is always UTF-8) keeps it out.
constexpr char kVerbContentType[] = "application/json; charset=utf-8";

void ReplyVerb(httplib::Response& res, std::string body) {
  res.body = std::move(body);
  res.set_header("Content-Type", kVerbContentType);
}

void ReplyError(httplib::Response& res, const absl::Status& s) {
  ReplyJson(res, HttpStatusFor(s), Json{{"Error", std::string(s.message())}});
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

Json DebugState(const plugins::ClusterSnapshot& snapshot, const std::vector<PlacedPod>& pods) {
  Json nodes = Json::array();
  for (const plugins::NodeInfo& n : snapshot.nodes()) {
    Json gpus = Json::array();
    for (int g = 0; g < n.gpu_count; ++g) {
      const size_t i = static_cast<size_t>(g);
      Json gpu = {{"index", g}, {"freeMilli", n.gpu_free_milli[i]}};
      if (n.gpu_memory_mib > 0) gpu["freeMemoryMiB"] = n.gpu_free_memory_mib[i];
      if ((n.mig_enabled >> g) & 1u) {
        gpu["mig"] = true;
        gpu["migUsedSlots"] = n.mig_used_slots[i];
      }
      gpus.push_back(std::move(gpu));
    }
    Json node = {{"name", n.name},
                 {"cpuMilli", {{"capacity", n.cpu_capacity_milli}, {"free", n.cpu_free_milli}}},
                 {"memoryMiB", {{"capacity", n.memory_capacity_mib}, {"free", n.memory_free_mib}}},
                 {"pods", n.pods},
                 {"gpus", std::move(gpus)}};
    if (n.model != plugins::kNoModel) {
      node["gpuModel"] = snapshot.models()[static_cast<size_t>(n.model)];
    }
    if (n.topology != nullptr) node["topology"] = n.topology->topology.name();
    nodes.push_back(std::move(node));
  }
  Json placed = Json::array();
  for (const PlacedPod& p : pods) {
    placed.push_back(Json{{"uid", p.uid},
                          {"pod", p.key},
                          {"node", p.node},
                          {"annotations", p.annotations},
                          {"assignment", plugins::DebugString(p.assignment)}});
  }
  return Json{{"nodes", std::move(nodes)}, {"pods", std::move(placed)}};
}

}  // namespace

struct Server::Impl {
  std::unique_ptr<httplib::Server> http;
};

Server::Server(Extender* extender, Metrics* metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>()),
      extender_(extender),
      metrics_(metrics),
      options_(std::move(options)) {}

Server::~Server() { Stop(); }

absl::Status Server::Listen() {
  const bool tls = !options_.tls_cert.empty() || !options_.tls_key.empty();
  if (tls) {
    if (options_.tls_cert.empty() || options_.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
    }
    for (const std::string* f : {&options_.tls_cert, &options_.tls_key, &options_.client_ca}) {
      if (!f->empty() && !Readable(*f)) {
        return absl::InvalidArgumentError(absl::StrCat(*f, ": cannot read"));
      }
    }
    auto ssl = std::make_unique<httplib::SSLServer>(
        options_.tls_cert.c_str(), options_.tls_key.c_str(),
        options_.client_ca.empty() ? nullptr : options_.client_ca.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TLS: cannot load the certificate ", options_.tls_cert, ", key ", options_.tls_key,
          options_.client_ca.empty() ? "" : absl::StrCat(" or client CA ", options_.client_ca)));
    }
    impl_->http = std::move(ssl);
  } else {
    if (!options_.client_ca.empty()) {
      return absl::InvalidArgumentError("--client-ca needs --tls-cert and --tls-key");
    }
    impl_->http = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *impl_->http;
  const int threads = options_.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_tcp_nodelay(true);  // DESIGN section 10: else keep-alive replies wait ~40 ms.
  // Accepted sockets inherit the listener's buffers. With the kernel's initial 16 KB send
  // buffer, a 185 KB filter answer (5,000 nodes) is written in many rounds, each waiting for the
  // client to drain; 1 MiB takes a whole answer at once.
  http.set_socket_options([](socket_t sock) {
    httplib::default_socket_options(sock);
    const int bytes = 1 << 20;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  });
  http.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  http.set_keep_alive_max_count(100000);
  http.set_read_timeout(30, 0);

  // Error replies that the library makes itself (404, 413, ...) get a JSON body too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
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
    res.set_content(Dump(Json{{"Error", why}}), "application/json");
  });
  http.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("internal error serving {} {}: {}", req.method, req.path, what);
        ReplyJson(res, 500, Json{{"Error", absl::StrCat("internal error: ", what)}});
      });

  // One wrapper for every verb: readiness, timing, metrics. Filter and prioritize decode the
  // raw body themselves (codec::DecodeExtenderArgs: simdjson for the envelope, which also
  // validates JSON and UTF-8); the other verbs take it parsed (`verb`).
  auto raw_verb = [this](std::string name, auto&& handle) {
    return [this, name, handle](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      if (!ready_) {
        ReplyError(res, absl::UnavailableError("not ready: the cluster state is not synced yet"));
      } else {
        handle(req.body, res);
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_->ObserveRequest(name, res.status, seconds);
      // W3C Server-Timing: the server's own time (decode, verb, encode) in milliseconds, for
      // load tools and for debugging slow cycles from the client side.
      res.set_header("Server-Timing", absl::StrFormat("%s;dur=%.3f", name, seconds * 1e3));
    };
  };
  auto verb = [raw_verb](std::string name, auto&& handle) {
    return raw_verb(std::move(name), [handle](const std::string& text, httplib::Response& res) {
      const Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) {
        return ReplyError(
            res, absl::InvalidArgumentError("request body is not valid JSON (or not UTF-8)"));
      }
      handle(body, res);
    });
  };
  const std::string& prefix = options_.url_prefix;
  http.Post(prefix + "/filter",
            raw_verb("filter", [this](const std::string& body, httplib::Response& res) {
              absl::StatusOr<codec::ExtenderArgs> args =
                  codec::DecodeExtenderArgs(absl::string_view(body));
              if (!args.ok()) return ReplyError(res, args.status());
              absl::StatusOr<codec::FilterResult> r = extender_->Filter(*args);
              if (!r.ok()) return ReplyError(res, r.status());
              spdlog::debug("filter pod={} candidates={} feasible={}", args->pod.Key(),
                            args->node_names.size(), r->survivors.size());
              ReplyVerb(res, codec::EncodeFilterResultText(*args, *r));
            }));
  http.Post(prefix + "/prioritize",
            raw_verb("prioritize", [this](const std::string& body, httplib::Response& res) {
              absl::StatusOr<codec::ExtenderArgs> args =
                  codec::DecodeExtenderArgs(absl::string_view(body));
              if (!args.ok()) return ReplyError(res, args.status());
              absl::StatusOr<std::vector<int64_t>> r = extender_->Prioritize(*args);
              if (!r.ok()) return ReplyError(res, r.status());
              ReplyVerb(res, codec::EncodeHostPriorityListText(args->node_names, *r));
            }));
  http.Post(prefix + "/bind", verb("bind", [this](const Json& body, httplib::Response& res) {
              absl::StatusOr<codec::BindingArgs> args = codec::DecodeBindingArgs(body);
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
              ReplyJson(res, 200, codec::EncodeErrorResult(std::string(s.message())));
            }));
  http.Post(prefix + "/preempt", verb("preempt", [this](const Json& body, httplib::Response& res) {
              absl::StatusOr<codec::PreemptionArgs> args = codec::DecodePreemptionArgs(body);
              if (!args.ok()) return ReplyError(res, args.status());
              absl::StatusOr<Extender::PreemptOutcome> r = extender_->Preempt(*args);
              if (!r.ok()) return ReplyError(res, r.status());
              ReplyVerb(res, Dump(codec::EncodePreemptionResult(r->victims, r->pdb_violations)));
            }));
  http.Get(prefix + "/(filter|prioritize|bind|preempt)",
           [](const httplib::Request& req, httplib::Response& res) {
             ReplyJson(res, 405, Json{{"Error", absl::StrCat(req.path, ": use POST")}});
           });
  // The transport baseline for load tests: reads the body like the verbs, does nothing, and
  // answers {} or, with ?bytes=N, a canned JSON answer of N bytes (N <= the body cap), to time
  // the transfer of an answer as large as a verb's.
  http.Post("/debug/noop", [this](const httplib::Request& req, httplib::Response& res) {
    int64_t bytes = 0;
    if (req.has_param("bytes")) {
      if (!absl::SimpleAtoi(req.get_param_value("bytes"), &bytes) || bytes < 0 ||
          bytes > options_.max_body_bytes) {
        return ReplyJson(res, 400,
                         Json{{"Error", absl::StrCat("bytes: must be an integer in [0, ",
                                                     options_.max_body_bytes, "]")}});
      }
    }
    if (bytes < 8) return ReplyVerb(res, "{}");
    std::string body = R"({"x":")";
    body.append(static_cast<size_t>(bytes) - 8, 'x');
    body.append(R"("})");
    ReplyVerb(res, std::move(body));
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (ready_) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: the cluster state is not synced yet\n", "text/plain");
    }
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        metrics_->Render(*extender_->ledger().Snapshot(), extender_->ledger().num_pods(),
                         GangFigures(extender_->gang_stats()), extender_->TenantGpuMilli()),
        "text/plain; version=0.0.4");
  });
  http.Get("/debug/state", [this](const httplib::Request&, httplib::Response& res) {
    ReplyJson(res, 200, DebugState(*extender_->ledger().Snapshot(), extender_->ledger().Pods()));
    // The JSON tree of a large cluster is tens of MB (about 58 MB for 10,000 nodes), freed by
    // now. The malloc settings keep freed memory for reuse (TuneMallocForLargeBodies), and each
    // worker thread has its own arena, so without this every thread that ever served this page
    // would hold its own copy of that peak. Give it back.
    malloc_trim(0);
  });

  if (options_.port == 0) {
    port_ = http.bind_to_any_port(options_.bind_address);
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind ", options_.bind_address, ":0"));
    }
  } else {
    if (!http.bind_to_port(options_.bind_address, options_.port)) {
      return absl::UnavailableError(absl::StrCat("cannot bind ", options_.bind_address, ":",
                                                 options_.port, " (in use, or not allowed)"));
    }
    port_ = options_.port;
  }
  return absl::OkStatus();
}

void Server::Run() {
  if (impl_->http != nullptr) impl_->http->listen_after_bind();
}

void Server::Stop() {
  if (impl_ != nullptr && impl_->http != nullptr) impl_->http->stop();
}

void TuneMallocForLargeBodies() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace accelsched::scheduler
