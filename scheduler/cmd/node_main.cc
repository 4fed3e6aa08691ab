// accelsched-node: runs on every GPU node (deploy/base/node.yaml; DESIGN section 12).
//
//   accelsched-node serve --node NAME [flags]     the device plugin (and the topology publisher)
//   accelsched-node publish --node NAME [flags]   only publish the accelsched.io/topology
//   annotation
//
// serve: loads NVML, advertises nvidia.com/gpu, nvidia.com/mig-<profile> and
// accelsched.io/gpu-milli to the kubelet, hands each container the devices the extender chose
// (pods of this node, watched), marks GPUs with critical XID events unhealthy, and publishes the
// node's topology from NVML. Without NVML it serves nothing, says why, and waits for SIGTERM
// (exit 1 with --fail-on-init-error).
//
// Exit codes: 0 done (or stopped by SIGTERM), 1 bad flags or input, 2 the API refused.
#include <malloc.h>
#include <signal.h>
#include <stdio.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

#include "scheduler/cmd/cli_flags.h"
#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/kube/publish.h"
#include "scheduler/node/assigner.h"
#include "scheduler/node/dynamic_mig.h"
#include "scheduler/node/health.h"
#include "scheduler/node/inventory.h"
#include "scheduler/node/node_facts.h"
#include "scheduler/node/nvml.h"
#include "scheduler/node/plugin_server.h"
#include "scheduler/node/pod_watch.h"

namespace accelsched::scheduler {
namespace {

constexpr char kHelp[] = R"(usage: accelsched-node serve|publish --node NAME [flags]

serve: the kubelet device plugin that gives each container the GPUs, MIG instance or
GPU share accelsched-extender chose for its pod; also publishes the node's topology.
publish: only publishes the accelsched.io/topology annotation (from nvidia-smi or NVML).

  --node NAME          this node (the DaemonSet passes spec.nodeName)
  --kubeconfig F       use this kubeconfig (default: the pod's service account)
  --context C          kubeconfig context (default: current-context)

serve:
  --nvml PATH          the NVML library (default libnvidia-ml.so.1)
  --plugin-dir DIR     the kubelet's device-plugin directory
                       (default /var/lib/kubelet/device-plugins)
  --device-mode M      cdi (default: CDI names nvidia.com/gpu=<UUID>) or env
                       (NVIDIA_VISIBLE_DEVICES, for runtimes without CDI)
  --sharing M          time-slicing or mps: how GPU shares run here (default: the
                       node label accelsched.io/gpu-sharing, else time-slicing)
  --mps-pipe-dir DIR   the MPS control daemon's pipe directory (default /run/nvidia/mps)
  --mig M              static (hand out the MIG instances that exist) or dynamic (make
                       each at the placement the extender chose, destroy it when no pod
                       holds it; needs root and /dev/nvidia-caps). Default: the node
                       label accelsched.io/mig-mode, else static
  --mig-reconcile-ms N how often dynamic MIG looks for unused instances (default 5000)
  --no-shares          do not advertise accelsched.io/gpu-milli
  --fail-on-init-error exit 1 when NVML cannot be loaded (default: serve nothing, wait)

publish:
  --smi-file FILE      read this `nvidia-smi topo -m` output instead of running nvidia-smi
  --from-nvml          read the topology from NVML (--nvml) instead of nvidia-smi
  --product P          GPU product (e.g. NVIDIA-H100-80GB-HBM3); default: asked from nvidia-smi
  --interval S         check again every S seconds and patch on change (default 0: once)
  --dry-run            print the annotation, do not contact the API server
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

// The API client of the flags: --kubeconfig, else the pod's service account.
absl::StatusOr<std::unique_ptr<kube::KubeClient>> MakeClient(const CliFlags& flags) {
  absl::StatusOr<kube::Endpoint> endpoint;
  if (flags.Get("--kubeconfig").empty()) {
    endpoint = kube::InClusterEndpoint(kube::RealEnv(), kube::RealFileReader());
  } else {
    absl::StatusOr<std::string> text = kube::RealFileReader()(flags.Get("--kubeconfig"));
    if (!text.ok()) return text.status();
    endpoint = kube::KubeconfigEndpoint(*text, flags.Get("--kubeconfig"), flags.Get("--context"),
                                        kube::RealFileReader());
  }
  if (!endpoint.ok()) return endpoint.status();
  return kube::KubeClient::Create(*endpoint);
}

// Sleeps `seconds`, returning early (false) on SIGTERM.
bool SleepUnlessStopped(int seconds) {
  for (int waited = 0; waited < seconds * 10 && !g_stop; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !g_stop;
}

// The annotation from --smi-file, NVML (--from-nvml) or `nvidia-smi topo -m`.
absl::StatusOr<std::string> ReadTopologyAnnotation(const CliFlags& flags, const std::string& node) {
  if (flags.Has("--from-nvml")) {
    absl::StatusOr<std::unique_ptr<node::Nvml>> nvml =
        node::Nvml::Load(flags.Get("--nvml", node::kDefaultNvmlLibrary));
    if (!nvml.ok()) return nvml.status();
    absl::StatusOr<node::NvmlInventory> inv = (*nvml)->Read();
    if (!inv.ok()) return inv.status();
    return node::TopologyAnnotationFromNvml(*inv, node);
  }
  absl::StatusOr<std::string> smi = flags.Get("--smi-file").empty()
                                        ? Run("nvidia-smi topo -m")
                                        : kube::RealFileReader()(flags.Get("--smi-file"));
  if (!smi.ok()) return smi.status();
  std::string product = flags.Get("--product");
  if (product.empty() && flags.Get("--smi-file").empty()) {
    absl::StatusOr<std::string> name = Run("nvidia-smi --query-gpu=name --format=csv,noheader");
    if (name.ok()) {
      product = std::string(absl::StripAsciiWhitespace(name->substr(0, name->find('\n'))));
    }
  }
  return kube::TopologyAnnotationFromSmi(*smi, node, product);
}

int Publish(const CliFlags& flags) {
  const std::string node = flags.Get("--node");
  int interval = 0;
  if (!flags.Get("--interval").empty() &&
      (!absl::SimpleAtoi(flags.Get("--interval"), &interval) || interval < 0 || interval > 86400)) {
    std::cerr << "accelsched-node publish: --interval must be 0..86400 seconds\n";
    return 1;
  }
  std::unique_ptr<kube::KubeClient> client;
  if (!flags.Has("--dry-run")) {
    absl::StatusOr<std::unique_ptr<kube::KubeClient>> c = MakeClient(flags);
    if (!c.ok()) {
      std::cerr << "accelsched-node publish: " << c.status().message() << "\n";
      return 1;
    }
    client = std::move(*c);
  }
  std::string last;
  for (;;) {
    absl::StatusOr<std::string> annotation = ReadTopologyAnnotation(flags, node);
    if (!annotation.ok()) {
      std::cerr << "accelsched-node publish: " << annotation.status().message() << "\n";
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
    if (interval == 0 || !SleepUnlessStopped(interval)) return 0;
  }
}

// The node's label `key` ("" if unset or the node cannot be read: logged).
std::string NodeLabel(const kube::KubeClient& client, const std::string& node,
                      const std::string& key) {
  absl::StatusOr<std::string> text =
      client.Get(absl::StrCat("/api/v1/nodes?fieldSelector=metadata.name%3D", node));
  codec::TopologyCache cache;
  absl::StatusOr<codec::ObjectList<codec::NodeObject>> list =
      text.ok() ? codec::DecodeNodeList(*text, cache)
                : absl::StatusOr<codec::ObjectList<codec::NodeObject>>(text.status());
  if (!list.ok()) {
    spdlog::warn("node {}: cannot read its labels: {}", node, std::string(list.status().message()));
    return "";
  }
  for (const absl::StatusOr<codec::NodeObject>& n : list->items) {
    if (!n.ok() || n->spec.name != node) continue;
    for (const auto& [k, v] : n->spec.labels) {
      if (k == key) return v;
    }
  }
  return "";
}

absl::StatusOr<node::AssignerOptions> ParseServeOptions(const CliFlags& flags) {
  node::AssignerOptions o;
  const std::string mode = flags.Get("--device-mode", "cdi");
  if (mode == "env") {
    o.device_mode = node::DeviceMode::kEnvVar;
  } else if (mode != "cdi") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device-mode must be cdi or env, not '", mode, "'"));
  }
  const std::string sharing = flags.Get("--sharing", "time-slicing");  // Or the node's label.
  if (sharing == "mps") {
    o.sharing = node::SharingMode::kMps;
  } else if (sharing != "time-slicing") {
    return absl::InvalidArgumentError(
        absl::StrCat("--sharing must be time-slicing or mps, not '", sharing, "'"));
  }
  o.mps_pipe_dir = flags.Get("--mps-pipe-dir", o.mps_pipe_dir);
  return o;
}

absl::StatusOr<node::MigMode> ParseMigMode(const CliFlags& flags) {
  const std::string mig = flags.Get("--mig", "static");
  if (mig == "static") return node::MigMode::kStatic;
  if (mig == "dynamic") return node::MigMode::kDynamic;
  return absl::InvalidArgumentError(absl::StrCat("--mig must be static or dynamic, not '", mig,
                                                 "' (from --mig or the node label ", kLabelMigMode,
                                                 ")"));
}

absl::StatusOr<std::shared_ptr<const node::Inventory>> LoadInventory(const CliFlags& flags,
                                                                     node::Nvml& nvml) {
  absl::StatusOr<node::MigMode> mig = ParseMigMode(flags);
  if (!mig.ok()) return mig.status();
  absl::StatusOr<node::NvmlInventory> read = nvml.Read();
  if (!read.ok()) return read.status();
  absl::StatusOr<node::Inventory> inv =
      node::Inventory::Build(*std::move(read), !flags.Has("--no-shares"), *mig);
  if (!inv.ok()) return inv.status();
  for (const node::NvmlGpu& g : inv->nvml().gpus) {
    spdlog::info("GPU {}: {} {} ({} MiB, PCI {}, NUMA {}{})", g.index, g.uuid, g.product,
                 g.memory_mib, g.pci_bus_id, g.numa_node, g.mig_enabled ? ", MIG" : "");
  }
  for (const node::Resource& r : inv->resources()) {
    spdlog::info("resource {}: {} devices", r.name, r.devices.size());
  }
  if (!inv->topology_error().empty()) {
    spdlog::warn(
        "no topology from NVML ({}): GPU sets for other schedulers' pods are not "
        "topology-aware",
        inv->topology_error());
  }
  return std::make_shared<const node::Inventory>(*std::move(inv));
}

// NVML, or why not: logged, then exit 1 (--fail-on-init-error) or nothing served until SIGTERM.
int ServeNothing(const CliFlags& flags, const absl::Status& why) {
  spdlog::error("accelsched-node serve: {}; serving no devices", std::string(why.message()));
  if (flags.Has("--fail-on-init-error")) return 1;
  while (SleepUnlessStopped(1)) {
  }
  return 0;
}

// The flags with the node's labels filled in where a flag is not given: --sharing from
// accelsched.io/gpu-sharing, --mig from accelsched.io/mig-mode. Bad values: InvalidArgument.
absl::StatusOr<CliFlags> WithNodeLabels(const CliFlags& flags, const kube::KubeClient& client,
                                        const std::string& node) {
  CliFlags out = flags;
  for (const auto& [flag, label] :
       {std::pair<const char*, const char*>{"--sharing", kLabelGpuSharing},
        std::pair<const char*, const char*>{"--mig", kLabelMigMode}}) {
    if (flags.Has(flag)) continue;
    const std::string value = NodeLabel(client, node, label);
    if (!value.empty()) out.values[flag] = value;
  }
  if (absl::StatusOr<node::MigMode> mig = ParseMigMode(out); !mig.ok()) return mig.status();
  return out;
}

// Dynamic MIG: instances no pod holds are destroyed every `interval` until SIGTERM.
std::thread RunMigReconcile(node::DynamicMig& mig, const node::Assigner& assigner,
                            absl::Duration interval) {
  return std::thread([&mig, &assigner, interval] {
    while (!g_stop) {
      mig.Reconcile([&assigner] { return assigner.HeldMigSlots(); });
      for (absl::Time until = absl::Now() + interval; !g_stop && absl::Now() < until;) {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
  });
}

// Serves until SIGTERM: the pod watch, the device plugin, dynamic MIG, GPU health.
int ServeDevices(const CliFlags& flags, kube::KubeClient& client, node::Nvml& nvml,
                 const std::shared_ptr<const node::Inventory>& inv,
                 const node::AssignerOptions& options) {
  const std::string node_name = flags.Get("--node");
  std::unique_ptr<node::PodWatch> pods;
  std::unique_ptr<node::DynamicMig> dynamic_mig;
  if (inv->mig_mode() == node::MigMode::kDynamic) {
    dynamic_mig = std::make_unique<node::DynamicMig>(nvml, inv);
  }
  node::Assigner assigner(
      inv, options,
      [&pods](const std::string& uid, const std::string& key,
              const std::set<std::string>& containers) {
        if (pods != nullptr) pods->RecordAllocated(uid, key, containers);
      },
      [&](const node::MigSlot& slot, const std::string& uid) -> absl::StatusOr<std::string> {
        if (dynamic_mig == nullptr) return absl::FailedPreconditionError("MIG is static here");
        return dynamic_mig->Ensure(slot, uid, [&assigner] { return assigner.HeldMigSlots(); });
      });
  pods = std::make_unique<node::PodWatch>(client, node_name, assigner);
  pods->Start();
  if (!pods->WaitSynced(absl::Seconds(10))) {
    spdlog::warn("node {}: pods not listed yet; serving (pods will match once listed)", node_name);
  }
  node::PluginServerOptions server_options;
  server_options.dir = flags.Get("--plugin-dir", server_options.dir);
  node::PluginServer server(assigner, server_options);
  if (absl::Status s = server.Start(); !s.ok()) {
    std::cerr << "accelsched-node serve: " << s.message() << "\n";
    pods->Stop();
    return 1;
  }
  spdlog::info("node {}: serving {} resources in {}", node_name, inv->resources().size(),
               server_options.dir);
  std::thread reconcile;
  if (dynamic_mig != nullptr) {
    int ms = 5000;
    if (!absl::SimpleAtoi(flags.Get("--mig-reconcile-ms", "5000"), &ms) || ms <= 0) ms = 5000;
    reconcile = RunMigReconcile(*dynamic_mig, assigner, absl::Milliseconds(ms));
  }
  node::WatchGpuHealth(nvml, assigner, g_stop, [&](const std::map<int, std::string>& bad) {
    if (absl::Status s = node::PublishUnhealthyGpus(client, node_name, bad); !s.ok()) {
      spdlog::warn("node {}: {} not published: {}", node_name, kAnnotationUnhealthyGpus,
                   std::string(s.message()));
    }
  });
  if (reconcile.joinable()) reconcile.join();
  server.Stop();
  pods->Stop();
  return 0;
}

int Serve(const CliFlags& raw_flags) {
  const std::string node_name = raw_flags.Get("--node");
  absl::StatusOr<std::unique_ptr<kube::KubeClient>> client = MakeClient(raw_flags);
  if (!client.ok()) {
    std::cerr << "accelsched-node serve: " << client.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<CliFlags> flags = WithNodeLabels(raw_flags, **client, node_name);
  absl::StatusOr<node::AssignerOptions> options =
      flags.ok() ? ParseServeOptions(*flags) : flags.status();
  if (!options.ok()) {
    std::cerr << "accelsched-node serve: " << options.status().message() << "\n";
    return 1;
  }
  spdlog::info("node {}: shares run with {}; MIG is {}", node_name,
               options->sharing == node::SharingMode::kMps ? "MPS" : "time slicing",
               flags->Get("--mig", "static"));
  absl::StatusOr<std::unique_ptr<node::Nvml>> nvml =
      node::Nvml::Load(flags->Get("--nvml", node::kDefaultNvmlLibrary));
  if (!nvml.ok()) return ServeNothing(*flags, nvml.status());
  absl::StatusOr<std::shared_ptr<const node::Inventory>> inv = LoadInventory(*flags, **nvml);
  if (!inv.ok()) return ServeNothing(*flags, inv.status());
  node::PublishNodeFacts(**client, node_name, **inv);
  const int code = ServeDevices(*flags, **client, **nvml, *inv, *options);
  spdlog::info("node {}: stopped", node_name);
  return code;
}

}  // namespace
}  // namespace accelsched::scheduler

int main(int argc, char** argv) {
  using accelsched::scheduler::kHelp;
  const std::string verb = argc >= 2 ? argv[1] : "";
  if (verb != "publish" && verb != "serve") {
    std::cout << kHelp;
    return verb == "--help" || verb == "-h" ? 0 : 1;
  }
  absl::StatusOr<accelsched::scheduler::CliFlags> flags = accelsched::scheduler::ParseCliFlags(
      argc, argv, 2,
      {"--node", "--smi-file", "--product", "--interval", "--kubeconfig", "--context", "--nvml",
       "--plugin-dir", "--device-mode", "--sharing", "--mps-pipe-dir", "--mig",
       "--mig-reconcile-ms"},
      {"--dry-run", "--from-nvml", "--no-shares", "--fail-on-init-error"});
  if (!flags.ok()) {
    std::cerr << "accelsched-node " << verb << ": " << flags.status().message() << "\n" << kHelp;
    return 1;
  }
  if (flags->help) {
    std::cout << kHelp;
    return 0;
  }
  if (flags->Get("--node").empty()) {
    std::cerr << "accelsched-node " << verb << ": --node is required\n" << kHelp;
    return 1;
  }
  signal(SIGTERM, accelsched::scheduler::OnSignal);
  signal(SIGINT, accelsched::scheduler::OnSignal);
  // gRPC's threads would each get a malloc arena; two keep the resident size flat (a DaemonSet
  // on every GPU node should be small).
  mallopt(M_ARENA_MAX, 2);  // NOLINT(concurrency-mt-unsafe): before any thread starts.
  return verb == "serve" ? accelsched::scheduler::Serve(*flags)
                         : accelsched::scheduler::Publish(*flags);
}
