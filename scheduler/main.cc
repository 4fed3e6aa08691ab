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
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "plugins/policy.h"
#include "scheduler/cli_flags.h"
#include "scheduler/cluster_file.h"
#include "scheduler/config.h"
#include "scheduler/extender.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/kube/sync.h"
#include "scheduler/ledger.h"
#include "scheduler/metrics.h"
#include "scheduler/server.h"
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
  --config FILE        YAML config: policy, weights, urlPrefix, maxBodyBytes, podCacheSize,
                       memoShapes, threads, networkLevels, gangReservationSeconds (see
                       deploy/base/ and README.md)
  --tls-cert FILE      serve HTTPS with this certificate (PEM) ...
  --tls-key FILE       ... and this private key (PEM)
  --client-ca FILE     require client certificates signed by this CA (kube-scheduler's
                       extender tlsConfig can present one)
  --log-level L        trace, debug, info (default), warn, error
  --help               this text

Endpoints: POST <urlPrefix>/{filter,prioritize,bind,preempt}; GET /healthz, /readyz, /metrics,
/debug/state.
)";

struct Flags {
  std::string cluster, kubeconfig, context, config, tls_cert, tls_key, client_ca;
  std::string bind_address = "0.0.0.0";
  std::string log_level = "info";
  int port = 8888;
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
  f.context = cli.Get("--context");
  f.config = cli.Get("--config");
  f.tls_cert = cli.Get("--tls-cert");
  f.tls_key = cli.Get("--tls-key");
  f.client_ca = cli.Get("--client-ca");
  f.bind_address = cli.Get("--bind-address", f.bind_address);
  f.log_level = cli.Get("--log-level", f.log_level);
  if (const std::string port = cli.Get("--port", "8888");
      !absl::SimpleAtoi(port, &f.port) || f.port < 0 || f.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--port: '", port, "' is not 0..65535"));
  }
  return f;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
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
  const spdlog::level::level_enum level = spdlog::level::from_str(flags->log_level);
  if (level == spdlog::level::off && flags->log_level != "off") {
    std::cerr << "accelsched-extender: --log-level: '" << flags->log_level
              << "' is not trace, debug, info, warn, error or off\n";
    return 1;
  }
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  ExtenderConfig config;
  if (!flags->config.empty()) {
    absl::StatusOr<std::string> text = ReadFile(flags->config);
    absl::StatusOr<ExtenderConfig> parsed = text.ok()
                                                ? ParseExtenderConfig(*text, flags->config)
                                                : absl::StatusOr<ExtenderConfig>(text.status());
    if (!parsed.ok()) {
      std::cerr << "accelsched-extender: config: " << parsed.status().message() << "\n";
      return 1;
    }
    config = *parsed;
  }
  Metrics metrics;
  // The cluster: static (a file) or Kubernetes (list+watch).
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<Extender> extender;
  std::unique_ptr<kube::KubeClient> kube_client;
  std::unique_ptr<kube::KubeSync> sync;
  InMemoryBinder memory_binder;
  std::unique_ptr<kube::KubeBinder> kube_binder;
  if (!flags->cluster.empty()) {
    absl::StatusOr<std::string> text = ReadFile(flags->cluster);
    if (!text.ok()) {
      std::cerr << "accelsched-extender: --cluster: " << text.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<StaticCluster> cluster =
        LoadStaticCluster(*text, flags->cluster, config, &memory_binder, &metrics);
    if (!cluster.ok()) {
      std::cerr << "accelsched-extender: " << cluster.status().message() << "\n";
      return 1;
    }
    for (const std::string& w : cluster->warnings) spdlog::warn("{}", w);
    spdlog::info("static cluster {}: {} nodes, {} pods holding resources, policy {}",
                 flags->cluster, cluster->ledger->Snapshot()->num_nodes(),
                 cluster->ledger->num_pods(), config.policy.policy);
    ledger = std::move(cluster->ledger);
    extender = std::move(cluster->extender);
    text->clear();
    text->shrink_to_fit();
    malloc_trim(0);  // The parsed file is garbage now (about 40 MB for 10,000 nodes).
  } else {
    absl::StatusOr<kube::Endpoint> endpoint =
        flags->kubeconfig.empty() ? kube::InClusterEndpoint(kube::RealEnv(), kube::RealFileReader())
                                  : [&]() -> absl::StatusOr<kube::Endpoint> {
      absl::StatusOr<std::string> text = ReadFile(flags->kubeconfig);
      if (!text.ok()) return text.status();
      return kube::KubeconfigEndpoint(*text, flags->kubeconfig, flags->context,
                                      kube::RealFileReader());
    }();
    if (!endpoint.ok()) {
      std::cerr << "accelsched-extender: " << endpoint.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<std::unique_ptr<kube::KubeClient>> client = kube::KubeClient::Create(*endpoint);
    if (!client.ok()) {
      std::cerr << "accelsched-extender: " << client.status().message() << "\n";
      return 1;
    }
    kube_client = std::move(*client);
    absl::StatusOr<std::unique_ptr<Ledger>> empty = Ledger::Create({});
    absl::StatusOr<std::unique_ptr<plugins::Solver>> solver =
        plugins::BuildSolver(config.policy, WorkloadFrom({}));
    if (!empty.ok() || !solver.ok()) {
      std::cerr << "accelsched-extender: "
                << (!empty.ok() ? empty.status() : solver.status()).message() << "\n";
      return 1;
    }
    ledger = std::move(*empty);
    kube_binder = std::make_unique<kube::KubeBinder>(kube_client.get());
    extender = std::make_unique<Extender>(std::move(*solver), ledger.get(), kube_binder.get(),
                                          &metrics, static_cast<size_t>(config.pod_cache_size),
                                          config.memo_shapes, GangOptionsFrom(config));
    sync = std::make_unique<kube::KubeSync>(kube_client.get(), ledger.get(), extender.get());
    spdlog::info("Kubernetes mode: API server {}:{}", endpoint->host, endpoint->port);
  }

  ServerOptions options;
  options.bind_address = flags->bind_address;
  options.port = flags->port;
  options.url_prefix = config.url_prefix;
  options.max_body_bytes = config.max_body_bytes;
  options.threads = config.threads;
  options.tls_cert = flags->tls_cert;
  options.tls_key = flags->tls_key;
  options.client_ca = flags->client_ca;
  Server server(extender.get(), &metrics, options);
  if (absl::Status s = server.Listen(); !s.ok()) {
    std::cerr << "accelsched-extender: " << s.message() << "\n";
    return absl::IsInvalidArgument(s) ? 1 : 2;
  }
  // SIGINT/SIGTERM stop the server; handled on a thread of their own.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> stopping{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    stopping = true;
    spdlog::info("signal {}: stopping", sig);
    if (sync != nullptr) sync->Stop();
    server.Stop();
  });
  // Kubernetes mode: serve (probes) while the initial list runs; ready once it is done.
  std::thread syncer;
  if (sync != nullptr) {
    syncer = std::thread([&] {
      double backoff = 0.5;
      while (!stopping) {
        absl::Status s = sync->Start();
        if (s.ok()) break;
        spdlog::warn("initial sync failed: {}; retrying in {:.1f} s", std::string(s.message()),
                     backoff);
        for (double waited = 0; waited < backoff && !stopping; waited += 0.05) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        backoff = std::min(30.0, backoff * 2);
      }
      if (stopping) return;
      server.SetReady(true);
      sync->Run();
    });
  } else {
    server.SetReady(true);
  }
  // Housekeeping: gang reservations past their deadline, or whose slots the cluster lost, are
  // released (gang filters also do this; this covers gangs whose members stopped coming).
  std::thread housekeeper([&] {
    while (!stopping) {
      for (int i = 0; i < 100 && !stopping; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!stopping) extender->Reconcile();
    }
  });
  spdlog::info("serving {}://{}:{}{} (filter, prioritize, bind, preempt)",
               options.tls_cert.empty() ? "http" : "https", options.bind_address, server.port(),
               options.url_prefix);
  server.Run();
  pthread_kill(waiter.native_handle(), SIGTERM);  // Wakes the waiter if Run ended otherwise.
  waiter.join();
  if (syncer.joinable()) syncer.join();
  stopping = true;
  housekeeper.join();
  return 0;
}

}  // namespace
}  // namespace accelsched::scheduler

int main(int argc, char** argv) { return accelsched::scheduler::Main(argc, argv); }
