// The extender's HTTP server (scheduler/http/server.h) for tests: plain HTTP on 127.0.0.1 and an
// ephemeral port, served from a background thread, with a client connected to it.
//
//   HttpTestServer server(cluster.extender.get(), &metrics, options);
//   ASSERT_TRUE(server.Start().ok());  // Listening and serving when it returns OK.
//   server.client().Get("/healthz");
//   // The destructor stops the server and joins its thread.
//
// Thread-safety: Start() and the destructor run on the thread that owns the object (the test's);
// SetReady() may be called from any thread, as Server::SetReady. client() is one httplib::Client:
// use it from one thread at a time. The background thread only runs Server::Run() and never
// lets an exception escape.
//
// Ownership: owns the Server, its thread and the client. The extender and the metrics are not
// owned and must outlive this object (declare it after them in a fixture).
#ifndef ACCELSCHED_TESTS_TESTING_HTTP_TEST_SERVER_H_
#define ACCELSCHED_TESTS_TESTING_HTTP_TEST_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

#include "scheduler/http/server.h"

namespace accelsched::testing {

class HttpTestServer {
 public:
  static constexpr char kHost[] = "127.0.0.1";
  // The read timeout of client() and the bound on Start()'s wait for the first answer.
  static constexpr int kTimeoutSeconds = 10;

  // `options` as the test wants them (threads, body cap, URL prefix, ...); the bind address and
  // the port are overridden with kHost and an ephemeral port. Nothing is bound until Start().
  HttpTestServer(scheduler::Extender* extender, scheduler::Metrics* metrics,
                 scheduler::ServerOptions options = {}) {
    options.bind_address = kHost;
    options.port = 0;
    server_ = std::make_unique<scheduler::Server>(extender, metrics, std::move(options));
  }
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;
  HttpTestServer(HttpTestServer&&) = delete;
  HttpTestServer& operator=(HttpTestServer&&) = delete;
  // Stops the server and joins its thread. Start() returning OK means the accept loop was
  // running, so Stop() reaches it (httplib ignores a stop() that comes before its loop starts).
  ~HttpTestServer() {
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
  }

  // Binds, serves on the background thread, and waits until the server answers GET /healthz:
  // the socket listens from Listen() on, so the probe waits in the backlog until Run() accepts
  // it, with no sleep, at most kTimeoutSeconds. Call once. The readiness of the verbs
  // (/readyz) is not changed: see SetReady().
  absl::Status Start() {
    if (thread_.joinable()) {
      return absl::FailedPreconditionError("HttpTestServer::Start() called twice");
    }
    absl::Status listened = server_->Listen();
    if (!listened.ok()) {
      return listened;
    }
    thread_ = std::thread([this] {
      try {
        server_->Run();
      } catch (...) {  // An exception escaping a thread would end the test binary.
        run_failed_ = true;
      }
    });
    client_ = std::make_unique<httplib::Client>(kHost, server_->port());
    client_->set_read_timeout(kTimeoutSeconds, 0);
    return WaitUntilServing();
  }

  int port() const { return server_->port(); }
  // A client of this server (read timeout kTimeoutSeconds). Valid after Start().
  httplib::Client& client() { return *client_; }
  // As Server::SetReady: the verbs answer 503 until SetReady(true).
  void SetReady(bool ready) { server_->SetReady(ready); }
  void SetStopping() { server_->SetStopping(); }
  void SetDegraded(std::optional<std::string> reason) { server_->SetDegraded(std::move(reason)); }
  // As Server::SetGate; call before Start().
  void SetGate(scheduler::Server::Gate gate) { server_->SetGate(std::move(gate)); }
  // As Server::SetStandbyGate; call before Start().
  void SetStandbyGate(scheduler::Server::Gate gate) { server_->SetStandbyGate(std::move(gate)); }

 private:
  absl::Status WaitUntilServing() {
    httplib::Client probe(kHost, server_->port());
    probe.set_connection_timeout(kTimeoutSeconds, 0);
    probe.set_read_timeout(kTimeoutSeconds, 0);
    httplib::Result r = probe.Get("/healthz");
    if (r && r->status == 200) {
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat(
        "the server on ", kHost, ":", server_->port(), " did not answer GET /healthz: ",
        r ? absl::StrCat("HTTP ", r->status) : httplib::to_string(r.error()),
        run_failed_ ? " (Server::Run() threw)" : ""));
  }

  std::unique_ptr<scheduler::Server> server_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<bool> run_failed_{false};
  std::thread thread_;  // Runs server_->Run() from Start() until the destructor.
};

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_HTTP_TEST_SERVER_H_
