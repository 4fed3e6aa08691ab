// accelsched-agent: runs on every GPU node (deploy/base/topology-agent.yaml).
//
//   accelsched-agent publish --node NAME [--smi-file FILE] [--product P] [--interval S]
//                            [--kubeconfig F [--context C]] [--dry-run]
//
// Reads the node's topology (`nvidia-smi topo -m`, or --smi-file), encodes it as the
// accelsched.io/topology annotation and writes it onto the Node (in-cluster service account, or
// --kubeconfig). With --interval S it checks again every S seconds and patches only on change.
// Exit codes: 0 done (or stopped by SIGTERM), 1 bad flags or input, 2 the API refused.
#include <signal.h>
#include <stdio.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "spdlog/spdlog.h"

#include "scheduler/cmd/cli_flags.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/kube/publish.h"

namespace accelsched::scheduler {
namespace {

constexpr char kHelp[] = R"(usage: accelsched-agent publish --node NAME [flags]

Publishes the node's GPU topology as the accelsched.io/topology annotation, which
accelsched-extender reads to choose well-connected GPU sets.

  --node NAME        the Node to annotate (the DaemonSet passes spec.nodeName)
  --smi-file FILE    read this `nvidia-smi topo -m` output instead of running nvidia-smi
  --product P        GPU product (e.g. NVIDIA-H100-80GB-HBM3); default: asked from nvidia-smi
  --interval S       check again every S seconds and patch on change (default 0: once)
  --kubeconfig F     use this kubeconfig (default: the pod's service account)
  --context C        kubeconfig context (default: current-context)
  --dry-run          print the annotation, do not contact the API server
)";

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// stdout of `command`, or Unavailable.
absl::StatusOr<std::string> Run(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");  // NOLINT(cert-env33-c): fixed commands only.
  if (pipe == nullptr) return absl::UnavailableError(absl::StrCat("cannot run ", command));
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::UnavailableError(absl::StrCat(command, " failed (status ", status, ")"));
  }
  return out;
}

int Publish(const CliFlags& flags) {
  auto get = [&](const std::string& k) { return flags.Get(k); };
  const std::string node = get("--node");
  if (node.empty()) {
    std::cerr << "accelsched-agent publish: --node is required\n" << kHelp;
    return 1;
  }
  int interval = 0;
  if (!get("--interval").empty() &&
      (!absl::SimpleAtoi(get("--interval"), &interval) || interval < 0 || interval > 86400)) {
    std::cerr << "accelsched-agent publish: --interval must be 0..86400 seconds\n";
    return 1;
  }
  std::unique_ptr<kube::KubeClient> client;
  if (!flags.Has("--dry-run")) {
    absl::StatusOr<kube::Endpoint> endpoint;
    if (get("--kubeconfig").empty()) {
      endpoint = kube::InClusterEndpoint(kube::RealEnv(), kube::RealFileReader());
    } else {
      absl::StatusOr<std::string> text = kube::RealFileReader()(get("--kubeconfig"));
      endpoint = text.ok() ? kube::KubeconfigEndpoint(*text, get("--kubeconfig"), get("--context"),
                                                      kube::RealFileReader())
                           : absl::StatusOr<kube::Endpoint>(text.status());
    }
    absl::StatusOr<std::unique_ptr<kube::KubeClient>> c =
        endpoint.ok() ? kube::KubeClient::Create(*endpoint)
                      : absl::StatusOr<std::unique_ptr<kube::KubeClient>>(endpoint.status());
    if (!c.ok()) {
      std::cerr << "accelsched-agent publish: " << c.status().message() << "\n";
      return 1;
    }
    client = std::move(*c);
  }
  std::string last;
  for (;;) {
    absl::StatusOr<std::string> smi = get("--smi-file").empty()
                                          ? Run("nvidia-smi topo -m")
                                          : kube::RealFileReader()(get("--smi-file"));
    std::string product = get("--product");
    if (product.empty() && get("--smi-file").empty()) {
      absl::StatusOr<std::string> name = Run("nvidia-smi --query-gpu=name --format=csv,noheader");
      if (name.ok()) {
        product = std::string(absl::StripAsciiWhitespace(name->substr(0, name->find('\n'))));
      }
    }
    absl::StatusOr<std::string> annotation =
        smi.ok() ? kube::TopologyAnnotationFromSmi(*smi, node, product) : smi.status();
    if (!annotation.ok()) {
      std::cerr << "accelsched-agent publish: " << annotation.status().message() << "\n";
      if (interval == 0) return 1;
    } else if (client == nullptr) {
      std::cout << *annotation << "\n";
      return 0;
    } else if (*annotation != last) {
      if (absl::Status s = kube::PublishTopology(*client, node, *annotation); !s.ok()) {
        spdlog::error("node {}: publishing the topology failed: {}", node,
                      std::string(s.message()));
        if (interval == 0) return 2;
      } else {
        spdlog::info("node {}: published accelsched.io/topology ({} bytes)", node,
                     annotation->size());
        last = *annotation;
      }
    }
    if (interval == 0) return 0;
    for (int waited = 0; waited < interval * 10 && !g_stop; ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (g_stop) return 0;
  }
}

}  // namespace
}  // namespace accelsched::scheduler

int main(int argc, char** argv) {
  using accelsched::scheduler::kHelp;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) != "publish") {
    std::cout << kHelp;
    return argc >= 2 && std::string(argv[1]) == "--help" ? 0 : 1;
  }
  absl::StatusOr<accelsched::scheduler::CliFlags> flags = accelsched::scheduler::ParseCliFlags(
      argc, argv, 2,
      {"--node", "--smi-file", "--product", "--interval", "--kubeconfig", "--context"},
      {"--dry-run"});
  if (!flags.ok()) {
    std::cerr << "accelsched-agent publish: " << flags.status().message() << "\n" << kHelp;
    return 1;
  }
  if (flags->help) {
    std::cout << kHelp;
    return 0;
  }
  signal(SIGTERM, accelsched::scheduler::OnSignal);
  signal(SIGINT, accelsched::scheduler::OnSignal);
  return accelsched::scheduler::Publish(*flags);
}
