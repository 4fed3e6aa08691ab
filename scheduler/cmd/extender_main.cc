// accelsched-extender: the kube-scheduler extender service (DESIGN sections 2-4 and 8).
//
//   accelsched-extender --cluster FILE [--port 8888] [--config FILE] [--tls-cert F --tls-key F
//                       [--client-ca F]] [--bind-address A] [--log-level info]
//
// Exit codes: 0 after SIGINT/SIGTERM, 1 bad flags/config/cluster file, 2 cannot serve.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "plugins/policy.h"
#include "scheduler/cmd/app.h"
#include "scheduler/cmd/cli_flags.h"
#include "scheduler/codec/config.h"
#include "scheduler/http/server.h"
#include "scheduler/kube/backoff.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/kube/leader_label.h"
#include "scheduler/service/extender.h"
#include "scheduler/service/metrics.h"
#include "scheduler/state/clock.h"
#include "scheduler/state/ledger.h"
#include "scheduler/sync/kube_sync.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler {
namespace {

constexpr char kHelp[] = R"(usage: accelsched-extender [flags]

The accelsched scheduler extender: kube-scheduler calls it over HTTP to filter, prioritize, bind
and preempt pods that ask for GPUs, MIG instances or GPU shares.

Cluster state (one of):
  --cluster FILE       static mode: a List of Node and Pod objects, as printed by
                       `kubectl get nodes,pods -A -o json` (or -o yaml). Bound pods keep their
                       devices (from their accelsched.io/* annotations); binds are kept in memory.
  --kubeconfig FILE    Kubernetes mode with this kubeconfig (token, token file or client
                       certificate; --context NAME picks a context). Without --cluster and
                       --kubeconfig, Kubernetes mode uses the pod's service account (in-cluster).
                       Nodes, Pods, Namespaces (tenancy) and PodGroups (gangs) are
                       listed and watched; binds go to the API.

Serving:
  --port N             listen port (default 8888)
  --bind-address A     listen address (default 0.0.0.0)
  --config FILE        YAML config: policy, weights, urlPrefix, maxBodyBytes, maxNodeNames,
                       podCacheSize, memoShapes, threads, maxConnections, networkLevels,
                       gangReservationSeconds, tentativeHoldSeconds, watchFailureSeconds,
                       unresolvableAsFailedNodes (see deploy/base/ and README.md)
  --tls-cert FILE      serve HTTPS with this certificate (PEM) ...
  --tls-key FILE       ... and this private key (PEM)
  --client-ca FILE     require client certificates signed by this CA (kube-scheduler's
                       extender tlsConfig can present one)
  --log-level L        trace, debug, info (default), warn, error
  --help               this text

Endpoints: POST <urlPrefix>/{filter,prioritize,bind,preempt}; GET /healthz, /readyz, /metrics,
/debug/state. /readyz answers 200 on the replica that serves the verbs; /readyz?role=any also
on a synced standby.

Environment: with leaderElection, POD_NAMESPACE and POD_NAME (the downward API) make the leader
label its own pod accelsched.io/leader=true, for a Service that selects the leader by it.
)";

struct Flags {
  std::string cluster, kubeconfig, context, config, tls_cert, tls_key, client_ca;
  std::string bind_address = "0.0.0.0";
  std::string log_level = "info";
  int port = kDefaultPort;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv, bool* help) {
  ACCELSCHED_ASSIGN_OR_RETURN(
      CliFlags cli,
      ParseCliFlags(argc, argv, 1,
                    {"--cluster", "--kubeconfig", "--context", "--config", "--tls-cert",
                     "--tls-key", "--client-ca", "--bind-address", "--log-level", "--port"}));
  Flags f;
  *help = cli.help;
  f.cluster = cli.Get("--cluster");
  f.kubeconfig = cli.Get("--kubeconfig");
  if (cli.Has("--cluster") && (cli.Has("--kubeconfig") || cli.Has("--context"))) {
    return absl::InvalidArgumentError(
        "--cluster (static mode) cannot be combined with --kubeconfig or --context (Kubernetes "
        "mode)");
  }
  f.context = cli.Get("--context");
  f.config = cli.Get("--config");
  f.tls_cert = cli.Get("--tls-cert");
  f.tls_key = cli.Get("--tls-key");
  f.client_ca = cli.Get("--client-ca");
  f.bind_address = cli.Get("--bind-address", f.bind_address);
  f.log_level = cli.Get("--log-level", f.log_level);
  if (const std::string port = cli.Get("--port", std::to_string(kDefaultPort));
      !absl::SimpleAtoi(port, &f.port) || f.port < 0 || f.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--port: '", port, "' is not 0..65535"));
  }
  return f;
}

// A regular file of at most kube::kMaxInputFileBytes; InvalidArgument naming the path otherwise.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = kube::RealFileReader()(path);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return text;
}

// Applies --log-level; false (with a message) for an unknown level.
bool SetUpLogging(const std::string& level_name) {
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    std::cerr << "accelsched-extender: --log-level: '" << level_name
              << "' is not trace, debug, info, warn, error or off\n";
    return false;
  }
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  return true;
}

// The config file's settings, or the defaults without --config. Errors say "config: ...".
absl::StatusOr<ExtenderConfig> LoadConfig(const std::string& path) {
  if (path.empty()) return ExtenderConfig();
  absl::StatusOr<std::string> text = ReadFile(path);
  absl::StatusOr<ExtenderConfig> parsed =
      text.ok() ? ParseExtenderConfig(*text, path) : absl::StatusOr<ExtenderConfig>(text.status());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", parsed.status().message()));
  }
  return parsed;
}

// Static mode from --cluster.
absl::StatusOr<std::unique_ptr<App>> StaticApp(const Flags& flags, const ExtenderConfig& config) {
  absl::StatusOr<std::string> text = ReadFile(flags.cluster);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--cluster: ", text.status().message()));
  }
  ACCELSCHED_ASSIGN_OR_RETURN(std::unique_ptr<App> app, App::Static(*text, flags.cluster, config));
  for (const std::string& w : app->warnings()) spdlog::warn("{}", w);
  spdlog::info("static cluster {}: {} nodes, {} pods holding resources, policy {}", flags.cluster,
               app->ledger().Snapshot()->num_nodes(), app->ledger().num_pods(),
               config.policy.policy);
  text->clear();
  text->shrink_to_fit();
  malloc_trim(0);  // The parsed file is garbage now (about 40 MB for 10,000 nodes).
  return app;
}

// Kubernetes mode: the service account, or --kubeconfig.
absl::StatusOr<std::unique_ptr<App>> KubernetesApp(const Flags& flags,
                                                   const ExtenderConfig& config) {
  absl::StatusOr<kube::Endpoint> endpoint;
  if (flags.kubeconfig.empty()) {
    endpoint = kube::InClusterEndpoint(kube::RealEnv(), kube::RealFileReader());
  } else {
    ACCELSCHED_ASSIGN_OR_RETURN(std::string text, ReadFile(flags.kubeconfig));
    endpoint =
        kube::KubeconfigEndpoint(text, flags.kubeconfig, flags.context, kube::RealFileReader());
  }
  if (!endpoint.ok()) return endpoint.status();
  ACCELSCHED_ASSIGN_OR_RETURN(std::unique_ptr<kube::KubeClient> client,
                              kube::KubeClient::Create(*endpoint));
  spdlog::info("Kubernetes mode: API server {}:{}", endpoint->host, endpoint->port);
  return App::Kubernetes(std::move(client), config);
}

ServerOptions ServerOptionsFrom(const Flags& flags, const ExtenderConfig& config) {
  ServerOptions options;
  options.bind_address = flags.bind_address;
  options.port = flags.port;
  options.url_prefix = config.url_prefix;
  options.max_body_bytes = config.max_body_bytes;
  options.max_node_names = config.max_node_names;
  options.threads = config.threads;
  options.max_connections = config.max_connections;
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  options.client_ca = flags.client_ca;
  return options;
}

// Kubernetes mode: lists the cluster (retrying with backoff; the server answers probes
// meanwhile), marks the server ready, then watches until stopped.
void SyncThenWatch(kube::KubeSync& sync, Server& server, const std::atomic<bool>& stopping) {
  kube::Backoff backoff;
  while (!stopping) {
    absl::Status s = sync.Start();
    if (s.ok()) break;
    spdlog::warn("initial sync failed: {}; retrying in {:.1f} s", std::string(s.message()),
                 backoff.seconds());
    backoff.Wait(stopping);
  }
  if (stopping) return;
  server.SetReady(true);
  sync.Run();
}

// Kubernetes mode: not ready (/readyz and the verbs 503) while a watch has failed for
// `threshold` seconds, ready again once it works; checked every 250 ms.
void WatchHealth(kube::KubeSync& sync, Server& server, double threshold,
                 const std::atomic<bool>& stopping) {
  std::optional<std::string> was;
  while (!stopping) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::optional<std::string> reason =
        DegradedReason(sync.LongestOutage(), SteadySeconds(), threshold);
    if (reason.has_value() == was.has_value()) continue;
    if (reason.has_value()) {
      spdlog::error("not ready: {}", *reason);
    } else {
      spdlog::info("ready again: the API server's watches work");
    }
    server.SetDegraded(reason);
    was = std::move(reason);
  }
}

// Housekeeping: gang reservations past their deadline, or whose slots the cluster lost, are
// released (gang filters also do this; this covers gangs whose members stopped coming), and the
// tenants' GPU-seconds are summed. Once a minute, freed memory goes back to the system: the
// malloc settings keep it for reuse (TuneMallocForLargeBodies) and every thread has an arena of
// its own, so the peak of a relist of a large cluster would otherwise stay in RSS for good
// (bench/RESULTS.md, issue 14: 47.5 MB -> 23.6 MB at one trim).
void Housekeep(Extender& extender, const std::atomic<bool>& stopping) {
  constexpr auto kStep = std::chrono::milliseconds(50);
  constexpr int kStepsPerRound = 100;  // 5 s.
  constexpr int kRoundsPerTrim = 12;   // 1 min.
  for (int round = 1; !stopping; ++round) {
    for (int i = 0; i < kStepsPerRound && !stopping; ++i) std::this_thread::sleep_for(kStep);
    if (stopping) break;
    extender.Reconcile();
    if (round % kRoundsPerTrim == 0) malloc_trim(0);
  }
}

// How long a stop waits for open connections (requests in flight, idle keep-alive clients, slow
// senders) before the process exits anyway.
constexpr auto kDrainBound = std::chrono::seconds(5);

// Leader election (both null without it): the elector, and the label on this replica's pod that
// a Service selects the leader by (null when POD_NAME / POD_NAMESPACE are not set).
struct Leadership {
  kube::LeaderElector* elector = nullptr;
  kube::LeaderLabel* label = nullptr;

  // Gives the Lease back and takes the label off (after the drain; best effort).
  void Release() const {
    if (elector != nullptr) elector->Release();
    if (label != nullptr) label->Sync(false);
  }
};

// Keeps the label in step with the Lease every 250 ms until `stopping`.
void MarkLeader(const Leadership& l, const std::atomic<bool>& stopping) {
  while (!stopping) {
    l.label->Sync(l.elector->IsLeader());
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Waits for SIGINT or SIGTERM (SIGHUP is logged and ignored: there is nothing to reload), then
// stops: /readyz 503, no new connections, the sync stopped, requests in progress answered. If the
// server has not finished its open connections within kDrainBound, exits 0 regardless (a slow
// client must not hold a stop).
void AwaitStopSignal(const sigset_t& signals, App& app, Server& server,
                     const Leadership& leadership, std::atomic<bool>& stopping,
                     std::atomic<bool>& served) {
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    spdlog::info("signal {} (SIGHUP) ignored: accelsched-extender has nothing to reload", sig);
  }
  if (served) return;  // Woken by Serve after Run ended on its own.
  stopping = true;
  spdlog::info("signal {}: stopping (open connections get {} s to finish)", sig,
               std::chrono::seconds(kDrainBound).count());
  server.SetStopping();  // /readyz 503; what still arrives is answered while draining.
  if (app.sync() != nullptr) app.sync()->Stop();
  server.Stop();
  const auto deadline = std::chrono::steady_clock::now() + kDrainBound;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!served) {
    spdlog::warn("connections still open after {} s: exiting without them",
                 std::chrono::seconds(kDrainBound).count());
    leadership.Release();  // A standby takes over without waiting.
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
}

// Serves until SIGINT or SIGTERM (handled on a thread of their own, AwaitStopSignal).
// Serves until SIGINT or SIGTERM; with leader election, campaigns meanwhile (and keeps the
// leader's label in step) and gives the Lease back after the drain.
void Serve(App& app, Server& server, const ServerOptions& options, double watch_failure_seconds,
           const Leadership& leadership) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> stopping{false};
  std::atomic<bool> served{false};
  std::thread waiter([&] { AwaitStopSignal(signals, app, server, leadership, stopping, served); });
  kube::LeaderElector* elector = leadership.elector;
  std::thread campaign, marker;
  if (elector != nullptr) campaign = std::thread([elector] { elector->Run(); });
  if (leadership.label != nullptr) marker = std::thread([&] { MarkLeader(leadership, stopping); });
  std::thread syncer;
  std::thread health;
  if (app.sync() != nullptr) {
    syncer = std::thread([&] { SyncThenWatch(*app.sync(), server, stopping); });
    health =
        std::thread([&] { WatchHealth(*app.sync(), server, watch_failure_seconds, stopping); });
  } else {
    server.SetReady(true);
  }
  std::thread housekeeper([&] { Housekeep(app.extender(), stopping); });
  spdlog::info("serving {}://{}:{}{} (filter, prioritize, bind, preempt)",
               options.tls_cert.empty() ? "http" : "https", options.bind_address, server.port(),
               options.url_prefix);
  server.Run();
  served = true;
  // Wakes the waiter (blocked in sigwait for exactly this signal) if Run ended otherwise.
  pthread_kill(waiter.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
  waiter.join();
  if (syncer.joinable()) syncer.join();
  stopping = true;
  if (health.joinable()) health.join();
  housekeeper.join();
  if (marker.joinable()) marker.join();
  if (elector != nullptr) {
    elector->Stop(/*release=*/true);  // Drained: the Lease goes back (Run releases it).
    campaign.join();
    if (leadership.label != nullptr) leadership.label->Sync(false);
  }
}

// The leader elector when the config asks for one (null otherwise); InvalidArgument in static
// mode.
absl::StatusOr<std::unique_ptr<kube::LeaderElector>> MakeElector(const App& app,
                                                                 const ExtenderConfig& config) {
  if (!config.leader_election.leader_elect) return nullptr;
  if (app.client() == nullptr) {
    return absl::InvalidArgumentError(
        "config: leaderElection.leaderElect needs Kubernetes mode (not --cluster)");
  }
  kube::LeaderElectionOptions o =
      LeaderElectionOptionsFrom(config.leader_election, ReplicaIdentity());
  ACCELSCHED_RETURN_IF_ERROR(kube::ValidateLeaderElection(o));
  spdlog::info("leader election on Lease {}/{} as {} (lease {} s, renew deadline {} s, retry {} s)",
               o.lease_namespace, o.lease_name, o.identity, o.lease_seconds,
               o.renew_deadline_seconds, o.retry_seconds);
  return std::make_unique<kube::LeaderElector>(app.client(), std::move(o));
}

// The leader's label on this replica's pod, named by the downward API's POD_NAMESPACE and
// POD_NAME (deploy/base/extender.yaml); null when they are not set.
std::unique_ptr<kube::LeaderLabel> MakeLeaderLabel(const App& app) {
  const char* ns = std::getenv("POD_NAMESPACE");  // NOLINT(concurrency-mt-unsafe): before threads.
  const char* name = std::getenv("POD_NAME");     // NOLINT(concurrency-mt-unsafe)
  if (ns == nullptr || name == nullptr || *ns == '\0' || *name == '\0') {
    spdlog::info(
        "POD_NAMESPACE / POD_NAME not set: no leader label on the pod (route to the "
        "leader by /readyz)");
    return nullptr;
  }
  spdlog::info("the leader labels its pod {}/{} with {}={}", ns, name, kube::LeaderLabel::kKey,
               kube::LeaderLabel::kValue);
  return std::make_unique<kube::LeaderLabel>(app.client(), ns, name);
}

int Main(int argc, char** argv) {
  TuneMallocForLargeBodies();
  bool help = false;
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv, &help);
  if (help) {
    std::cout << kHelp;
    return 0;
  }
  if (!flags.ok()) {
    std::cerr << "accelsched-extender: " << flags.status().message() << "\n";
    return 1;
  }
  if (!SetUpLogging(flags->log_level)) return 1;
  absl::StatusOr<ExtenderConfig> config = LoadConfig(flags->config);
  absl::StatusOr<std::unique_ptr<App>> app =
      !config.ok()             ? absl::StatusOr<std::unique_ptr<App>>(config.status())
      : flags->cluster.empty() ? KubernetesApp(*flags, *config)
                               : StaticApp(*flags, *config);
  if (!app.ok()) {
    std::cerr << "accelsched-extender: " << app.status().message() << "\n";
    return 1;
  }
  const ServerOptions options = ServerOptionsFrom(*flags, *config);
  Server server(&(*app)->extender(), &(*app)->metrics(), options);
  absl::StatusOr<std::unique_ptr<kube::LeaderElector>> elector = MakeElector(**app, *config);
  if (!elector.ok()) {
    std::cerr << "accelsched-extender: " << elector.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<kube::LeaderLabel> label;
  if (*elector != nullptr) {
    server.SetGate(
        [e = elector->get(), le = config->leader_election] { return StandbyReason(*e, le); });
    label = MakeLeaderLabel(**app);
    if (label != nullptr) {
      server.SetStandbyGate(
          [e = elector->get(), l = label.get()] { return l->StaleReason(e->IsLeader()); });
    }
  }
  if (absl::Status s = server.Listen(); !s.ok()) {
    std::cerr << "accelsched-extender: " << s.message() << "\n";
    return absl::IsInvalidArgument(s) ? 1 : 2;
  }
  Serve(**app, server, options, config->watch_failure_seconds, {elector->get(), label.get()});
  return 0;
}

}  // namespace
}  // namespace accelsched::scheduler

int main(int argc, char** argv) { return accelsched::scheduler::Main(argc, argv); }
