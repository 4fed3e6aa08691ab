// accelsched-node-load: what the kubelet waits for on accelsched-node (issue 15). The real
// binary serves a node of 8 H100s (fake NVML) with `--pods` Pending pods bound to it (fake API
// server); this tool calls GetPreferredAllocation and Allocate over gRPC on the plugin's unix
// socket, container after container, as the kubelet's device manager does, and checks every
// answer. Then it reports the latency of each RPC (client side, including the pod lookup), the
// ListAndWatch message size per resource and the plugin process's resident memory.
//
//   accelsched-node-load --node-binary B --fake-nvml L [--pods 110] [--rounds 10]
//
// Each round puts fresh pods (new UIDs) in place of the last round's, so every Allocate is
// matched against `--pods` pods on the node.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"

#include "scheduler/node/deviceplugin.grpc.pb.h"
#include "tests/node/fake_kubelet.h"
#include "tests/node/fake_nvml_config.h"
#include "tests/node/node_process.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kNode[] = "bench-node";

// Pod `i` of round `round`: every fourth a 100-milli share, the others one whole GPU; GPU i % 8.
Json BenchPod(int round, int i) {
  const std::string gpu = std::to_string(i % 8);
  const bool share = i % 4 == 0;
  Json annotations = {{"accelsched.io/gpu-ids", gpu}};
  if (share) annotations["accelsched.io/gpu-share"] = gpu + "@100";
  char at[64];
  snprintf(at, sizeof(at), "2026-01-01T00:%02d:00.%06dZ", round, i);
  annotations["accelsched.io/bound-at"] = at;
  const std::string name = "p" + std::to_string(round) + "-" + std::to_string(i);
  Json limits = share ? Json{{"accelsched.io/gpu-milli", 100}} : Json{{"nvidia.com/gpu", 1}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "bench"},
            {"uid", "uid-" + name},
            {"annotations", annotations}}},
          {"spec",
           {{"nodeName", kNode},
            {"containers", {{{"name", "main"}, {"resources", {{"limits", limits}}}}}}}},
          {"status", {{"phase", "Pending"}}}};
}

struct Latencies {
  std::vector<double> control_us;  // GetDevicePluginOptions: the RPC floor in the same run.
  std::vector<double> preferred_us, allocate_us;
  std::vector<double> allocate_gpu_us, allocate_milli_us;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

long StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (absl::StartsWith(line, field + ":")) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// One container's GetPreferredAllocation + Allocate; false if the answer is not pod i's GPU.
bool AdmitOne(v1beta1::DevicePlugin::Stub& stub, const std::vector<std::string>& available,
              int count, int gpu, Latencies& out) {
  v1beta1::Empty empty;
  v1beta1::DevicePluginOptions options;
  grpc::ClientContext octx;
  auto c0 = Clock::now();
  if (!stub.GetDevicePluginOptions(&octx, empty, &options).ok()) return false;
  out.control_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - c0).count());
  v1beta1::PreferredAllocationRequest preq;
  auto* c = preq.add_container_requests();
  for (const std::string& id : available) c->add_available_deviceids(id);
  c->set_allocation_size(count);
  v1beta1::PreferredAllocationResponse pres;
  grpc::ClientContext pctx;
  auto t0 = Clock::now();
  grpc::Status s = stub.GetPreferredAllocation(&pctx, preq, &pres);
  auto t1 = Clock::now();
  if (!s.ok()) return false;
  v1beta1::AllocateRequest areq;
  auto* ac = areq.add_container_requests();
  for (const std::string& id : pres.container_responses(0).deviceids()) ac->add_devices_ids(id);
  v1beta1::AllocateResponse ares;
  grpc::ClientContext actx;
  auto t2 = Clock::now();
  s = stub.Allocate(&actx, areq, &ares);
  auto t3 = Clock::now();
  out.preferred_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  out.allocate_us.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
  return s.ok() && ares.container_responses(0).cdi_devices_size() == 1 &&
         ares.container_responses(0).cdi_devices(0).name() ==
             "nvidia.com/gpu=GPU-h100-" + std::to_string(gpu);
}

struct Options {
  std::string binary, nvml;
  int pods = 110;
  int rounds = 10;
};

bool ParseOptions(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--node-binary") o.binary = argv[i + 1];
    if (flag == "--fake-nvml") o.nvml = argv[i + 1];
    if (flag == "--pods") o.pods = std::atoi(argv[i + 1]);
    if (flag == "--rounds") o.rounds = std::atoi(argv[i + 1]);
  }
  return !o.binary.empty() && !o.nvml.empty() && o.pods >= 1 && o.rounds >= 1 && o.rounds <= 59;
}

std::vector<std::string> Ids(const std::map<std::string, std::string>& devices) {
  std::vector<std::string> out;
  out.reserve(devices.size());
  for (const auto& [id, health] : devices) out.push_back(id);
  return out;
}

// The rounds against the plugin in `dir`; the number of wrong answers.
int RunRounds(const Options& o, const std::string& dir, FakeApiServer& api, FakeKubelet& kubelet,
              Latencies& lat) {
  const std::vector<std::string> gpu_ids = Ids(kubelet.WaitForDevices("nvidia.com/gpu"));
  const std::vector<std::string> milli_ids = Ids(kubelet.WaitForDevices("accelsched.io/gpu-milli"));
  auto channel = [&](const char* socket) {
    return v1beta1::DevicePlugin::NewStub(
        grpc::CreateChannel("unix:" + dir + "/" + socket, grpc::InsecureChannelCredentials()));
  };
  auto gpu_stub = channel("accelsched-gpu.sock");
  auto milli_stub = channel("accelsched-gpu-milli.sock");
  int wrong = 0;
  for (int r = 0; r < o.rounds; ++r) {
    for (int i = 0; i < o.pods; ++i) {
      if (r > 0) api.DeletePod("bench/p" + std::to_string(r - 1) + "-" + std::to_string(i));
      api.PutPod(BenchPod(r, i));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));  // The node's watch catches up.
    for (int i = 0; i < o.pods; ++i) {
      const bool share = i % 4 == 0;
      const bool ok = AdmitOne(share ? *milli_stub : *gpu_stub, share ? milli_ids : gpu_ids,
                               share ? 100 : 1, i % 8, lat);
      wrong += ok ? 0 : 1;
      (share ? lat.allocate_milli_us : lat.allocate_gpu_us).push_back(lat.allocate_us.back());
    }
  }
  return wrong;
}

void Report(const Options& o, int wrong, const Latencies& lat, FakeKubelet& kubelet, pid_t pid,
            long rss_at_start) {
  printf("accelsched-node, %d pods on the node, %d rounds: %zu containers, %d wrong answers\n",
         o.pods, o.rounds, lat.allocate_us.size(), wrong);
  auto line = [](const char* what, const std::vector<double>& v) {
    printf("  %-40s p50 %7.0f us  p99 %7.0f us  max %7.0f us\n", what, Percentile(v, 0.5),
           Percentile(v, 0.99), Percentile(v, 1.0));
  };
  line("Allocate", lat.allocate_us);
  line("  nvidia.com/gpu x1", lat.allocate_gpu_us);
  line("  accelsched.io/gpu-milli x100", lat.allocate_milli_us);
  line("GetPreferredAllocation", lat.preferred_us);
  line("control: GetDevicePluginOptions (no work)", lat.control_us);
  for (const char* r : {"nvidia.com/gpu", "accelsched.io/gpu-milli"}) {
    printf("  ListAndWatch %-24s %5d devices, %8zu bytes\n", r, kubelet.LastList(r).devices_size(),
           kubelet.LastList(r).ByteSizeLong());
  }
  printf(
      "  plugin RSS %ld kB now, %ld kB peak (VmRSS, VmHWM): %ld kB anonymous, %ld kB "
      "file-backed (shared libraries); %ld threads\n",
      StatusKb(pid, "VmRSS"), StatusKb(pid, "VmHWM"), StatusKb(pid, "RssAnon"),
      StatusKb(pid, "RssFile"), StatusKb(pid, "Threads"));
  printf("  plugin RSS when registered, before the first Allocate: %ld kB\n", rss_at_start);
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, o)) {
    std::cerr << "usage: accelsched-node-load --node-binary B --fake-nvml L [--pods 110] "
                 "[--rounds 10]\n";
    return 2;
  }
  char tmp[] = "/tmp/accelsched-node-load-XXXXXX";
  const std::string dir = mkdtemp(tmp);
  UseFakeNvml(HgxH100(8));
  FakeApiServer api;
  api.PutNode({{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", kNode}}}});
  WriteKubeconfig(api.port(), dir);
  FakeKubelet kubelet(dir);
  const pid_t pid = StartNodeProcess(o.binary, o.nvml, kNode, dir);
  if (kubelet.WaitForDevices("nvidia.com/gpu", std::chrono::seconds(30)).size() != 8 ||
      kubelet.WaitForDevices("accelsched.io/gpu-milli", std::chrono::seconds(30)).size() != 8000) {
    std::cerr << "accelsched-node did not register (" << dir << "/node.log)\n";
    StopNodeProcess(pid);
    return 1;
  }
  const long rss_at_start = StatusKb(pid, "VmRSS");
  Latencies lat;
  const int wrong = RunRounds(o, dir, api, kubelet, lat);
  Report(o, wrong, lat, kubelet, pid, rss_at_start);
  StopNodeProcess(pid);
  return wrong == 0 ? 0 : 1;
}

}  // namespace
}  // namespace accelsched::testing

int main(int argc, char** argv) {
  try {
    return accelsched::testing::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "accelsched-node-load: " << e.what() << "\n";
    return 1;
  }
}
