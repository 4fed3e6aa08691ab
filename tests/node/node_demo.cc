// accelsched-node-demo: the node act of `make demo` (bench/load/demo.sh). After the extender has
// scheduled the demo workload, for each chosen node: the pods the extender placed there (from
// its /debug/state) go into a fake API server as bound, Pending pods; the real accelsched-node
// binary serves that node over a fake NVML with the node's GPUs; a fake kubelet admits each
// pod's container as the device manager would and prints what it receives. Exit 1 if any
// container receives other devices than the extender chose.
//
//   accelsched-node-demo --extender URL --node-binary PATH --fake-nvml LIB NODE...
//
// The fake NVML holds MIG instances at the placements the extender chose (as a MIG layout made
// for them would); creating them is not the demo's business.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

#include "tests/node/fake_kubelet.h"
#include "tests/node/node_process.h"
#include "tests/testing/fake_apiserver.h"

namespace accelsched::testing {
namespace {

using Json = nlohmann::json;

struct Args {
  std::string extender, node_binary, fake_nvml;
  std::vector<std::string> nodes;
};

bool ParseArgs(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--extender" || arg == "--node-binary" || arg == "--fake-nvml") && i + 1 < argc) {
      (arg == "--extender"      ? a.extender
       : arg == "--node-binary" ? a.node_binary
                                : a.fake_nvml) = argv[++i];
    } else if (absl::StartsWith(arg, "--")) {
      return false;
    } else {
      a.nodes.push_back(arg);
    }
  }
  return !a.extender.empty() && !a.node_binary.empty() && !a.fake_nvml.empty() && !a.nodes.empty();
}

// The NVML product name of a canonical model (the demo cluster's kinds).
std::string Product(const std::string& model) {
  if (absl::StartsWith(model, "H100")) return "NVIDIA H100 80GB HBM3";
  if (absl::StartsWith(model, "A100")) return "NVIDIA A100-SXM4-80GB";
  if (absl::StartsWith(model, "V100")) return "Tesla V100-SXM2-32GB";
  return "NVIDIA " + model;
}

// MIG profile name -> NVIDIA GPU-instance profile id and memory slots on A100-80GB.
const std::map<std::string, std::pair<int, int>> kA100Profiles = {
    {"1g.10gb", {19, 1}}, {"1g.20gb", {15, 2}}, {"2g.20gb", {14, 2}},
    {"3g.40gb", {9, 4}},  {"4g.40gb", {5, 4}},  {"7g.80gb", {0, 8}}};

Json FakeNvmlConfig(const Json& node, const std::vector<Json>& pods) {
  Json config = {{"driver", "550.54.15"}, {"ancestor", 30}, {"gpus", Json::array()}};
  const std::string name = node["name"];
  for (size_t i = 0; i < node["gpus"].size(); ++i) {
    config["gpus"].push_back({{"uuid", "GPU-" + name + "-" + std::to_string(i)},
                              {"name", Product(node.value("gpuModel", ""))},
                              {"memory_mib", 81920},
                              {"pci", "00000000:" + std::to_string(10 + i) + ":00.0"},
                              {"numa", static_cast<int>(i * 2 / node["gpus"].size())},
                              {"mig", node["gpus"][i].value("mig", false)}});
  }
  int gi = 1;
  for (const Json& p : pods) {
    const std::string placement = p["annotations"].value("accelsched.io/mig-placement", "");
    if (placement.empty()) continue;
    const int gpu = std::stoi(placement.substr(0, placement.find(':')));
    const std::string profile =
        placement.substr(placement.find(':') + 1, placement.find('@') - placement.find(':') - 1);
    const int start = std::stoi(placement.substr(placement.find('@') + 1));
    auto [id, size] = kA100Profiles.at(profile);
    config["migs"].push_back({{"parent", gpu},
                              {"uuid", "MIG-" + name + "-" + std::to_string(gi)},
                              {"gi", gi},
                              {"profile", id},
                              {"start", start},
                              {"size", size}});
    ++gi;
  }
  return config;
}

// A demo pod as the API server would hold it after the bind: one container asking for what
// the assignment annotations say, Pending, bound to `node` at `at`.
Json BoundPod(const Json& placed, const std::string& node, const std::string& at,
              std::string& resource, int& count) {
  const Json& a = placed["annotations"];
  const std::string ids = a.value("accelsched.io/gpu-ids", "");
  if (a.contains("accelsched.io/mig-placement")) {
    const std::string p = a["accelsched.io/mig-placement"];
    resource = "nvidia.com/mig-" + p.substr(p.find(':') + 1, p.find('@') - p.find(':') - 1);
    count = 1;
  } else if (a.contains("accelsched.io/gpu-share")) {
    const std::string s = a["accelsched.io/gpu-share"];
    resource = "accelsched.io/gpu-milli";
    count = std::stoi(s.substr(s.find('@') + 1));
  } else {
    resource = "nvidia.com/gpu";
    count = static_cast<int>(std::count(ids.begin(), ids.end(), ',')) + 1;
  }
  const std::string key = placed["pod"];
  Json annotations = a;
  annotations["accelsched.io/bound-at"] = at;
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", key.substr(key.find('/') + 1)},
        {"namespace", key.substr(0, key.find('/'))},
        {"uid", placed["uid"]},
        {"annotations", annotations}}},
      {"spec",
       {{"nodeName", node},
        {"schedulerName", "accelsched"},
        {"containers", {{{"name", "main"}, {"resources", {{"limits", {{resource, count}}}}}}}}}},
      {"status", {{"phase", "Pending"}}}};
}

// What the extender chose for `placed`, as device UUIDs of the fake NVML (`mig_index`: this
// pod's position among the node's MIG pods, 1-based, as FakeNvmlConfig numbers them).
std::vector<std::string> Expected(const Json& placed, const std::string& node, int mig_index) {
  const Json& a = placed["annotations"];
  if (a.contains("accelsched.io/mig-placement")) {
    return {"MIG-" + node + "-" + std::to_string(mig_index)};
  }
  std::vector<std::string> out;
  std::string ids = a.value("accelsched.io/gpu-ids", "");
  for (size_t start = 0; start <= ids.size();) {
    size_t comma = ids.find(',', start);
    if (comma == std::string::npos) comma = ids.size();
    out.push_back("GPU-" + node + "-" + ids.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The demo on one node; the number of containers that did not get the extender's devices, or -1
// if the node could not be served.
int ServeNode(const Args& args, const Json& node, const std::vector<Json>& placed) {
  char tmp[] = "/tmp/accelsched-node-demo-XXXXXX";
  const std::string dir = mkdtemp(tmp);
  const std::string name = node["name"];
  FakeApiServer api;
  api.PutNode({{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}});
  std::vector<std::pair<std::string, int>> asks;
  for (size_t i = 0; i < placed.size(); ++i) {
    char at[64];
    snprintf(at, sizeof(at), "2026-01-01T00:00:00.%06zuZ", i);
    std::string resource;
    int count = 0;
    api.PutPod(BoundPod(placed[i], name, at, resource, count));
    asks.emplace_back(resource, count);
  }
  std::ofstream(dir + "/nvml.json") << FakeNvmlConfig(node, placed).dump();
  setenv("ACCELSCHED_FAKE_NVML", (dir + "/nvml.json").c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  WriteKubeconfig(api.port(), dir);
  FakeKubelet kubelet(dir);
  const pid_t pid = StartNodeProcess(args.node_binary, args.fake_nvml, name, dir);
  // nvidia.com/gpu registers first (with no devices if every GPU is in MIG mode).
  kubelet.WaitForDevices("nvidia.com/gpu", std::chrono::seconds(30));
  int wrong = pid > 0 && !kubelet.registrations().empty() ? 0 : -1;
  std::cout << "node " << name << " (" << node["gpus"].size() << " x "
            << node.value("gpuModel", "?") << "): accelsched-node "
            << (wrong == 0 ? "registered with the kubelet" : "did not register") << "\n";
  int mig = 0;
  for (size_t i = 0; i < placed.size() && wrong >= 0; ++i) {
    const auto& [resource, count] = asks[i];
    const bool is_mig = absl::StartsWith(resource, "nvidia.com/mig-");
    kubelet.WaitForDevices(resource, std::chrono::seconds(10));  // Registered one by one.
    FakeKubelet::Admission a = kubelet.Admit(resource, count);
    std::vector<std::string> got;
    for (const auto& d : a.response.cdi_devices()) got.push_back(d.name().substr(15));
    const std::vector<std::string> want = Expected(placed[i], name, is_mig ? ++mig : 0);
    const bool ok = a.status.ok() && got == want;
    wrong += ok ? 0 : 1;
    printf("  %-24s %-26s -> %-40s %s\n", placed[i]["pod"].get<std::string>().c_str(),
           (resource + " x" + std::to_string(count)).c_str(),
           a.status.ok() ? Join(got).c_str() : a.status.error_message().c_str(),
           ok ? "= the extender's choice" : ("!= " + Join(want)).c_str());
  }
  StopNodeProcess(pid);
  if (wrong != 0) {
    std::cout << "--- accelsched-node log ---\n" << std::ifstream(dir + "/node.log").rdbuf();
  }
  std::remove((dir + "/node.log").c_str());
  std::remove((dir + "/nvml.json").c_str());
  std::remove((dir + "/kubeconfig").c_str());
  rmdir(dir.c_str());
  return wrong;
}

int Main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::cerr << "usage: accelsched-node-demo --extender URL --node-binary PATH --fake-nvml LIB "
                 "NODE...\n";
    return 2;
  }
  httplib::Client client(args.extender);
  httplib::Result r = client.Get("/debug/state");
  Json state = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
  if (!state.is_object()) {
    std::cerr << "accelsched-node-demo: cannot read " << args.extender << "/debug/state\n";
    return 1;
  }
  int wrong = 0, containers = 0;
  for (const std::string& name : args.nodes) {
    Json node;
    for (const Json& n : state["nodes"]) {
      if (n["name"] == name) node = n;
    }
    std::vector<Json> placed;
    for (const Json& p : state["pods"]) {
      if (p["node"] == name && p["annotations"].contains("accelsched.io/gpu-ids")) {
        placed.push_back(p);
      }
    }
    const int w = node.is_null() ? -1 : ServeNode(args, node, placed);
    if (w < 0) {
      std::cout << "node " << name << ": could not be served\n";
      return 1;
    }
    wrong += w;
    containers += static_cast<int>(placed.size());
  }
  std::cout << containers - wrong << " of " << containers
            << " containers received exactly the devices the extender chose\n";
  return wrong == 0 ? 0 : 1;
}

}  // namespace
}  // namespace accelsched::testing

int main(int argc, char** argv) {
  try {
    return accelsched::testing::Main(argc, argv);
  } catch (const std::exception& e) {  // E.g. /debug/state not as expected.
    std::cerr << "accelsched-node-demo: " << e.what() << "\n";
    return 1;
  }
}
