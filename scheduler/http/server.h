// The HTTP(S) front of the extender: the endpoints below on an event-driven connection loop
// (event_server.h: slow or idle clients cost a buffer, never a worker; timeouts, a connection
// budget, the probes answered on the loop thread). One named handler per endpoint (server.cc,
// Handlers); the routes are registered in one place.
//
//   POST <prefix>/filter | prioritize | bind | preempt   the extender verbs (DESIGN section 3)
//   GET  /healthz                                        200 while the process serves
//   GET  /readyz                                         503 until SetReady(true), and
//                                                        once Stop() began (the verbs are still
//                                                        answered while draining), and while
//                                                        the gate says not to serve (standby)
//   GET  /readyz?role=any                                the same, but a standby counts as
//                                                        ready unless its standby gate objects
//   GET  /metrics                                        Prometheus text (metrics.h)
//   GET  /debug/state                                    JSON: nodes, devices, free, placed pods
//   POST /debug/noop                                     reads the body, answers {} (the
//                                                        transport baseline of load tests)
//
// Errors are JSON {"Error": "..."} with 400 (bad input: not JSON, wrong types, missing Pod),
// 404 (unknown path), 405 (wrong method), 413 (body over the cap, answered before the body is
// read), 408 (request too slow), 411/415/431 (request.h), 503 (not ready, or too many bodies
// in progress), 500 (bug).
// Infeasible pods are not errors: they are 200 answers listing why each node failed. Bind
// errors are answered as kube-scheduler expects, 200 with a non-empty Error.
//
// Thread-safety: Run() blocks in the connection loop; Stop() and SetReady() may be called from
// any thread. Handlers run on the worker threads and touch only thread-safe objects.
#ifndef ACCELSCHED_SCHEDULER_HTTP_SERVER_H_
#define ACCELSCHED_SCHEDULER_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/config.h"
#include "scheduler/service/extender.h"
#include "scheduler/service/metrics.h"

namespace accelsched::scheduler {

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = kDefaultPort;  // 0: an ephemeral port (tests).
  std::string url_prefix = kDefaultUrlPrefix;
  int64_t max_body_bytes = kDefaultMaxBodyBytes;
  int64_t max_node_names = kDefaultMaxNodeNames;  // Per filter/prioritize request.
  int threads = kDefaultThreads;                  // Workers running the verbs.
  int max_connections = kDefaultMaxConnections;
  // TLS: serve HTTPS when both are set; with client_ca, require client certificates signed by it.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
};

class Server {
 public:
  // `extender` and `metrics` are not owned and must outlive the server.
  Server(Extender* extender, Metrics* metrics, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket. InvalidArgument for unreadable TLS files, Unavailable if the
  // address cannot be bound.
  absl::Status Listen();
  int port() const { return port_; }
  // Serves until Stop(), then finishes the requests in progress and returns. Call after Listen().
  void Run();
  void Stop();
  // Ready: the cluster state is synced, the verbs are answered. Not ready: they get 503.
  void SetReady(bool ready) { ready_ = ready; }
  // Degraded: the cluster state can no longer be trusted (the watches have failed too long):
  // /readyz and the verbs answer 503 with `reason` until SetDegraded(nullopt).
  void SetDegraded(std::optional<std::string> reason) { degraded_.Set(std::move(reason)); }
  // Asked on every /readyz and verb: a reason not to serve (e.g. "standby: the leader is x"), or
  // nullopt to serve. Set before Listen(); it must be thread-safe and fast (it runs on the
  // connection thread for /readyz).
  using Gate = std::function<std::optional<std::string>()>;
  void SetGate(Gate gate) { gates_.serve = std::move(gate); }
  // Asked by /readyz?role=any instead of the gate: a reason a synced replica cannot even stand
  // by (e.g. it may still carry the leader's label), or nullopt. Same rules as SetGate.
  void SetStandbyGate(Gate gate) { gates_.standby = std::move(gate); }
  struct Gates {
    Gate serve;
    Gate standby;
  };

  // Why a synced server does not serve (Server::SetDegraded); thread-safe.
  class Degraded {
   public:
    void Set(std::optional<std::string> reason) ABSL_LOCKS_EXCLUDED(mu_) {
      absl::MutexLock lock(&mu_);
      on_ = reason.has_value();
      reason_ = reason.has_value() ? std::move(*reason) : std::string();
    }
    // The reason, or nullopt when serving normally.
    std::optional<std::string> Get() const ABSL_LOCKS_EXCLUDED(mu_) {
      if (!on_) return std::nullopt;
      absl::MutexLock lock(&mu_);
      if (!on_) return std::nullopt;
      return reason_;
    }

   private:
    mutable absl::Mutex mu_;
    std::atomic<bool> on_{false};
    std::string reason_ ABSL_GUARDED_BY(mu_);
  };
  // Stopping: /readyz answers 503 so that traffic moves elsewhere, while the verbs still answer
  // what reaches them until Stop() has drained the connections.
  void SetStopping() { stopping_ = true; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Extender* extender_;
  Metrics* metrics_;
  ServerOptions options_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  Degraded degraded_;
  Gates gates_;
};

// Keeps large blocks on glibc's heap: request bodies (a 500-node NodeList is about 3 MB), their
// copies and the per-request vectors are above the default mmap and trim thresholds, so every
// request would map, fault in and unmap fresh pages, which cost more than decoding them
// (bench/RESULTS.md, issue 4). Call once at start-up, before serving (the benchmark does too).
void TuneMallocForLargeBodies();

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_HTTP_SERVER_H_
