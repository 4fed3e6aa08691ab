// accelsched-load: drives a running accelsched-extender exactly as kube-scheduler does (filter,
// then prioritize, pick the best score, bind), over HTTP with a keep-alive client.
//
//   accelsched-load demo --url http://127.0.0.1:8888
//       a scripted mixed workload (single GPUs, 4-GPU NVLink jobs, MIG slices, shares, 8-GPU
//       jobs); prints every decision with its reason and the final occupancy per node.
//   accelsched-load gen-cluster --nodes N --out FILE
//       a static cluster file of N HGX H100 nodes (8 GPUs each), half of their GPUs in use.
//   accelsched-load latency --url URL [--requests N] [--gpus 8]
//       round-trip latency of filter+prioritize for one pod over every node (NodeNames, as
//       nodeCacheCapable: true), and of GET /healthz (an empty handler) on the same server.
//   accelsched-load schedule --url URL [--pods N] [--bind-delay-ms D]
//       kube-scheduler's loop with its asynchronous binding: each pod's filter and prioritize,
//       then its bind handed to a binder thread (after D ms, kube-scheduler's binding cycle)
//       while the next pod is scheduled; counts rejected binds and pods per second.
//
// Exit codes: 0 success, 1 bad usage, 2 the extender misbehaved (HTTP error, malformed answer).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

#include "bench/load/held_connections.h"
#include "bench/load/k8s_objects.h"

namespace accelsched::load {
namespace {

using Json = nlohmann::json;

constexpr char kHelp[] = R"(usage: accelsched-load <command> [flags]

commands:
  demo --url URL [--prefix /v1/extender] [--transcript FILE]
      drive a scripted mixed workload through filter, prioritize and bind, as kube-scheduler
      does; print each decision and the final occupancy per node. --transcript writes every
      request and answer body (the golden-file test of the extender's answers compares it)
  gen-cluster --nodes N --out FILE [--busy F]
      write a static cluster file of N HGX H100 nodes (8 GPUs); a fraction F (default 1) of
      them has 4 GPUs in use
  schedule --url URL [--pods N] [--bind-delay-ms D] [--binders K] [--prefix /v1/extender]
      kube-scheduler's loop with asynchronous binding: for each of N pods (default 1000; a
      repeating mix of 1, 2 and 4 whole GPUs and 250, 500 and 750 milli-GPU shares) filter
      over every node, prioritize the survivors, take the best score, and hand the bind to one
      of K binder threads (default 16) that sends it after D ms (default 20), while the next
      pod is scheduled. Pods whose bind was rejected are scheduled again after --backoff-ms
      (default 1000, kube-scheduler's initial backoff). Prints one JSON line: pods bound, binds
      rejected, unschedulable, rounds, cycles, seconds until every pod was bound, cycles per
      second within rounds (without the backoff), pods bound per second. kube-scheduler's own filters are not emulated (the extender
      is the only filter), which makes the race wider than in a real scheduler.
  latency --url URL [--requests N] [--gpus G] [--prefix /v1/extender] [--full-nodes]
          [--churn true|false] [--hold N]
      as kube-scheduler: filter over every node, then prioritize over the survivors (timed
      together; parsing the filter answer is the client's and is not timed), and the same
      bodies sent to the empty handler POST /debug/noop, and once more to /debug/noop?bytes=N
      with canned answers as large as the verbs' (the transfer cost of the answers); one
      keep-alive connection that asks for gzip as kube-scheduler's Go client does; prints
      p50/p90/p99 in microseconds, and the server's own time per verb from its Server-Timing
      header.
      --churn true (default): after each timed cycle, bind a 1-GPU pod (filter + bind, not
      timed) to the next node the probe failed on, so that the cluster changes between cycles
      as a live one does and nothing the server remembers stays valid by accident; the probe's
      survivors stay the same. --churn false: the cluster does not change.
      --full-nodes true: filter only, with the nodes sent as full v1.Node objects of about
      5 KB each (nodeCacheCapable: false)
      --hold N: N more connections stay open during the run, half idle and half a slowloris
      head (one header line a second, reopened when the server closes them), opened before
      the driver's own; GET /healthz is timed meanwhile on a connection of its own
)";

struct Target {
  std::string host;
  int port = 0;
  std::string prefix = "/v1/extender";
};

std::optional<Target> ParseUrl(const std::string& url) {
  std::string rest = url;
  if (absl::StartsWith(rest, "http://")) {
    rest = rest.substr(7);
  }
  const size_t colon = rest.find(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  Target t;
  t.host = rest.substr(0, colon);
  std::string port = rest.substr(colon + 1);
  if (size_t slash = port.find('/'); slash != std::string::npos) {
    port = port.substr(0, slash);
  }
  if (!absl::SimpleAtoi(port, &t.port)) {
    return std::nullopt;
  }
  return t;
}

struct Flags {
  std::map<std::string, std::string> values;
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
};

std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (!absl::StartsWith(a, "--") || i + 1 >= argc) {
      return std::nullopt;
    }
    f.values[a] = argv[++i];
  }
  return f;
}

// One scripted pod.
struct DemoPod {
  std::string name;
  std::string what;  // For the printout.
  Json limits;
  Json annotations = Json::object();
};

Json PodObject(const DemoPod& p, int serial) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", p.name},
        {"namespace", "ml-team"},
        {"uid", absl::StrFormat("demo-%04d", serial)},
        {"annotations", p.annotations}}},
      {"spec",
       {{"schedulerName", "accelsched"},
        {"containers", Json::array({{{"name", "main"}, {"resources", {{"limits", p.limits}}}}})}}}};
}

std::vector<DemoPod> DemoScript() {
  std::vector<DemoPod> pods;
  auto add = [&](std::string name, std::string what, Json limits,
                 Json annotations = Json::object()) {
    pods.push_back({std::move(name), std::move(what), std::move(limits), std::move(annotations)});
  };
  for (int i = 0; i < 3; ++i) {
    add(absl::StrCat("llm-train-", i), "8 GPUs, NVLink required",
        {{"cpu", "96"}, {"memory", "512Gi"}, {"nvidia.com/gpu", 8}},
        {{"accelsched.io/nvlink", "required"}});
  }
  // A gang: two 8-GPU workers that are useless apart. The first waits for the second; the
  // second plans and holds both; the first binds to its slot when the queue retries it.
  for (int i = 0; i < 2; ++i) {
    add(absl::StrCat("ddp-worker-", i), "gang ddp: 2 x 8 GPUs, all or none",
        {{"cpu", "64"}, {"memory", "256Gi"}, {"nvidia.com/gpu", 8}},
        {{"accelsched.io/gang-name", "ddp"}, {"accelsched.io/gang-size", "2"}});
  }
  for (int i = 0; i < 5; ++i) {
    add(absl::StrCat("finetune-", i), "4 GPUs, NVLink required",
        {{"cpu", "32"}, {"memory", "256Gi"}, {"nvidia.com/gpu", 4}},
        {{"accelsched.io/nvlink", "required"}});
  }
  for (int i = 0; i < 6; ++i) {
    add(absl::StrCat("notebook-", i), "1 GPU",
        {{"cpu", "8"}, {"memory", "64Gi"}, {"nvidia.com/gpu", 1}});
  }
  for (int i = 0; i < 4; ++i) {
    add(absl::StrCat("mig-3g-", i), "MIG 3g.40gb",
        {{"cpu", "8"}, {"memory", "32Gi"}, {"nvidia.com/mig-3g.40gb", 1}});
  }
  for (int i = 0; i < 6; ++i) {
    add(absl::StrCat("mig-1g-", i), "MIG 1g.10gb",
        {{"cpu", "2"}, {"memory", "16Gi"}, {"nvidia.com/mig-1g.10gb", 1}});
  }
  for (int i = 0; i < 6; ++i) {
    const int milli = i % 2 == 0 ? 500 : 250;
    add(absl::StrCat("inference-", i), absl::StrCat("share ", milli, " milli-GPU"),
        {{"cpu", "4"}, {"memory", "16Gi"}, {"accelsched.io/gpu-milli", milli}});
  }
  add("v100-ddp", "4 GPUs, NVLink required, V100 only",
      {{"cpu", "32"}, {"memory", "128Gi"}, {"nvidia.com/gpu", 4}},
      {{"accelsched.io/nvlink", "required"}, {"accelsched.io/gpu-models", "V100-32GB"}});
  add("too-big", "16 GPUs (no node has 16)", {{"cpu", "8"}, {"nvidia.com/gpu", 16}});
  return pods;
}

class Driver {
 public:
  explicit Driver(const Target& t) : target_(t), client_(t.host, t.port) {
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);
    client_.set_read_timeout(30, 0);
  }

  // Records every exchange of Call and Get into `out` (not owned; null: none): the request line
  // and body, then the status and body of the answer, each body on one line.
  void RecordTo(std::ostream* out) { transcript_ = out; }

  // POST and parse; nullopt (with a message on stderr) on transport or HTTP errors.
  std::optional<Json> Call(const std::string& verb, const Json& body) {
    const std::string path = target_.prefix + "/" + verb;
    const std::string text = body.dump();
    httplib::Result r = client_.Post(path.c_str(), text, "application/json");
    Record("POST " + path, text, r);
    if (!r) {
      std::cerr << "accelsched-load: POST " << path << ": " << httplib::to_string(r.error())
                << "\n";
      return std::nullopt;
    }
    if (r->status != 200) {
      std::cerr << "accelsched-load: POST " << path << ": HTTP " << r->status << ": " << r->body
                << "\n";
      return std::nullopt;
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
      std::cerr << "accelsched-load: POST " << path << ": answer is not JSON\n";
      return std::nullopt;
    }
    return j;
  }

  std::optional<Json> Get(const std::string& path) {
    httplib::Result r = client_.Get(path.c_str());
    Record("GET " + path, "", r);
    if (!r || r->status != 200) {
      std::cerr << "accelsched-load: GET " << path << " failed\n";
      return std::nullopt;
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
      return std::nullopt;
    }
    return j;
  }

  httplib::Client& client() { return client_; }
  const Target& target() const { return target_; }

 private:
  void Record(const std::string& request, const std::string& body, const httplib::Result& r) {
    if (transcript_ == nullptr) {
      return;
    }
    *transcript_ << "> " << request << "\n" << body << "\n";
    if (r) {
      *transcript_ << "< " << r->status << "\n" << r->body << "\n";
    } else {
      *transcript_ << "< error " << httplib::to_string(r.error()) << "\n";
    }
  }

  Target target_;
  httplib::Client client_;
  std::ostream* transcript_ = nullptr;
};

// Groups FailedNodes/FailedAndUnresolvableNodes reasons: "3 nodes: insufficient GPUs: ...".
std::string Reasons(const Json& filter) {
  std::map<std::string, int> count;
  for (const char* key : {"FailedNodes", "FailedAndUnresolvableNodes"}) {
    if (!filter.contains(key) || !filter[key].is_object()) {
      continue;
    }
    for (auto it = filter[key].begin(); it != filter[key].end(); ++it) {
      std::string reason = it->get<std::string>();
      // Drop the per-node numbers after the first colon's clause for grouping.
      ++count[reason];
    }
  }
  std::vector<std::string> parts;
  parts.reserve(count.size());
  for (const auto& [r, n] : count) {
    parts.push_back(absl::StrCat(n, n == 1 ? " node: " : " nodes: ", r));
  }
  return absl::StrJoin(parts, "; ");
}

// Every node's name, from the extender's /debug/state (with the state, for the demo).
std::optional<Json> NodeNames(Driver& d, Json* state = nullptr) {
  std::optional<Json> s = d.Get("/debug/state");
  if (!s) {
    return std::nullopt;
  }
  Json names = Json::array();
  for (const Json& n : (*s)["nodes"]) {
    names.push_back(n["name"]);
  }
  if (state != nullptr) {
    *state = std::move(*s);
  }
  return names;
}

// What the demo's scheduling cycles have done so far.
struct DemoTally {
  int bound = 0;
  int unschedulable = 0;
  // Pods that failed only because their gang was waiting for members, with their serials:
  // retried after the first pass, as kube-scheduler's queue would retry them.
  std::vector<std::pair<DemoPod, int>> retry;
};

// The devices of the pod with UID `uid` as the extender annotated them ("gpu-ids=0,1 ..."), from
// /debug/state; empty if the state cannot be read.
std::string PlacedDevices(Driver& d, const Json& uid) {
  std::string devices;
  if (std::optional<Json> s = d.Get("/debug/state"); s) {
    for (const Json& placed : (*s)["pods"]) {
      if (placed["uid"] != uid) {
        continue;
      }
      for (auto it = placed["annotations"].begin(); it != placed["annotations"].end(); ++it) {
        absl::StrAppend(&devices, devices.empty() ? "" : " ", it.key().substr(14), "=",
                        it->get<std::string>());
      }
    }
  }
  return devices;
}

// Index of the highest score in a prioritize answer (the first of equal ones). Throws
// nlohmann's out_of_range if an entry has no Score (main reports it).
size_t BestScore(const Json& prio) {
  size_t best = 0;
  for (size_t i = 1; i < prio.size(); ++i) {
    if (prio.at(i).at("Score").get<int64_t>() > prio.at(best).at("Score").get<int64_t>()) {
      best = i;
    }
  }
  return best;
}

// One scheduling cycle of pod `p` (serial `id`) over `names`, printed: 0, or 2 if the extender
// misbehaved. On the first pass, a pod that waits only for its gang goes to `tally.retry`.
int ScheduleDemoPod(Driver& d, const Json& names, const DemoPod& p, int id, bool first_pass,
                    DemoTally& tally) {
  const Json pod = PodObject(p, id);
  const Json args = {{"Pod", pod}, {"NodeNames", names}};
  std::optional<Json> filter = d.Call("filter", args);
  if (!filter) {
    return 2;
  }
  if (!(*filter)["Error"].get<std::string>().empty()) {
    std::cerr << "filter error: " << (*filter)["Error"] << "\n";
    return 2;
  }
  const Json& feasible = (*filter)["NodeNames"];
  const std::string label = absl::StrFormat("[%2d] %-14s %-34s", id, p.name, p.what);
  if (feasible.empty()) {
    const std::string reasons = Reasons(*filter);
    std::printf("%s -> unschedulable: %s\n", label.c_str(), reasons.c_str());
    if (first_pass && absl::StrContains(reasons, "is waiting for")) {
      tally.retry.emplace_back(p, id);
    } else {
      ++tally.unschedulable;
    }
    return 0;
  }
  // kube-scheduler scores only the nodes that passed filter.
  std::optional<Json> prio = d.Call("prioritize", Json{{"Pod", pod}, {"NodeNames", feasible}});
  if (!prio || !prio->is_array() || prio->size() != feasible.size()) {
    std::cerr << "prioritize: malformed answer\n";
    return 2;
  }
  const size_t best = BestScore(*prio);
  const std::string node = (*prio)[best]["Host"];
  std::optional<Json> bind = d.Call("bind", Json{{"PodName", p.name},
                                                 {"PodNamespace", "ml-team"},
                                                 {"PodUID", pod["metadata"]["uid"]},
                                                 {"Node", node}});
  if (!bind) {
    return 2;
  }
  if (!(*bind)["Error"].get<std::string>().empty()) {
    std::printf("%s -> bind to %s refused: %s\n", label.c_str(), node.c_str(),
                (*bind)["Error"].get<std::string>().c_str());
    return 0;
  }
  ++tally.bound;
  const std::string devices = PlacedDevices(d, pod["metadata"]["uid"]);
  std::printf("%s -> %-12s %-40s (score %lld; %zu of %zu nodes fit)\n", label.c_str(), node.c_str(),
              devices.c_str(), static_cast<long long>((*prio)[best]["Score"].get<int64_t>()),
              feasible.size(), names.size());
  return 0;
}

// The final occupancy per node, from /debug/state; false if the state cannot be read.
bool PrintOccupancy(Driver& d) {
  std::optional<Json> final_state = d.Get("/debug/state");
  if (!final_state) {
    return false;
  }
  std::printf("\nfinal occupancy ('#' used, '+' partly used, '.' free; MIG GPUs in []):\n");
  for (const Json& n : (*final_state)["nodes"]) {
    std::string gpus;
    for (const Json& g : n["gpus"]) {
      const int free = g["freeMilli"].get<int>();
      const char c = free == 0 ? '#' : free == 1000 ? '.' : '+';
      if (g.value("mig", false)) {
        absl::StrAppend(&gpus, "[", std::string(1, c), "]");
      } else {
        gpus.push_back(c);
      }
    }
    std::printf(
        "  %-14s %-11s %-22s cpu %6lld/%lld m  pods %d\n", n["name"].get<std::string>().c_str(),
        n.value("gpuModel", "-").c_str(), gpus.c_str(),
        static_cast<long long>(n["cpuMilli"]["capacity"].get<int64_t>() -
                               n["cpuMilli"]["free"].get<int64_t>()),
        static_cast<long long>(n["cpuMilli"]["capacity"].get<int64_t>()), n["pods"].get<int>());
  }
  return true;
}

int Demo(const Flags& flags) {
  std::optional<Target> target = ParseUrl(flags.Get("--url"));
  if (!target) {
    std::cerr << "accelsched-load demo: --url must be http://HOST:PORT\n";
    return 1;
  }
  target->prefix = flags.Get("--prefix", target->prefix);
  Driver d(*target);
  std::ofstream transcript;
  if (const std::string path = flags.Get("--transcript"); !path.empty()) {
    transcript.open(path, std::ios::binary | std::ios::trunc);
    if (!transcript) {
      std::cerr << "accelsched-load demo: --transcript: cannot write " << path << "\n";
      return 1;
    }
    d.RecordTo(&transcript);
  }
  Json state;
  std::optional<Json> found = NodeNames(d, &state);
  if (!found) {
    return 2;
  }
  const Json names = std::move(*found);
  std::printf("cluster: %zu nodes; %zu pods already placed\n\n", names.size(),
              state["pods"].size());
  DemoTally tally;
  int serial = 0;
  for (const DemoPod& p : DemoScript()) {
    if (int rc = ScheduleDemoPod(d, names, p, ++serial, /*first_pass=*/true, tally); rc != 0) {
      return rc;
    }
  }
  if (!tally.retry.empty()) {
    std::printf("--- the queue retries the gang members that waited ---\n");
  }
  for (const auto& [p, id] : tally.retry) {
    if (int rc = ScheduleDemoPod(d, names, p, id, /*first_pass=*/false, tally); rc != 0) {
      return rc;
    }
  }
  if (!PrintOccupancy(d)) {
    return 2;
  }
  std::printf("\n%d pods bound, %d unschedulable (with reasons above)\n", tally.bound,
              tally.unschedulable);
  return 0;
}

int GenCluster(const Flags& flags) {
  int nodes = 0;
  const std::string out = flags.Get("--out");
  if (!absl::SimpleAtoi(flags.Get("--nodes"), &nodes) || nodes < 1 || nodes > 100000 ||
      out.empty()) {
    std::cerr << "accelsched-load gen-cluster: --nodes 1..100000 and --out FILE are required\n";
    return 1;
  }
  double busy = 1.0;
  if (!absl::SimpleAtod(flags.Get("--busy", "1"), &busy) || busy < 0 || busy > 1) {
    std::cerr << "accelsched-load gen-cluster: --busy must be a fraction 0..1\n";
    return 1;
  }
  const int busy_nodes = static_cast<int>(std::lround(busy * nodes));
  Json items = Json::array();
  for (int i = 0; i < nodes; ++i) {
    const std::string name = absl::StrFormat("node-%05d", i);
    items.push_back({{"apiVersion", "v1"},
                     {"kind", "Node"},
                     {"metadata",
                      {{"name", name},
                       {"labels",
                        {{"kubernetes.io/hostname", name},
                         {"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
                         {"nvidia.com/gpu.count", "8"},
                         {"nvidia.com/gpu.memory", "81559"}}}}},
                     {"status",
                      {{"allocatable",
                        {{"cpu", "224"},
                         {"memory", "2Ti"},
                         {"nvidia.com/gpu", "8"},
                         {"accelsched.io/gpu-milli", "8000"}}}}}});
    // Busy nodes: a 4-GPU pod on GPUs 0-3, or on 4-7 for odd nodes.
    if (i >= busy_nodes) {
      continue;
    }
    items.push_back(
        {{"apiVersion", "v1"},
         {"kind", "Pod"},
         {"metadata",
          {{"name", absl::StrCat("busy-", i)},
           {"namespace", "load"},
           {"uid", absl::StrCat("busy-uid-", i)},
           {"annotations", {{"accelsched.io/gpu-ids", i % 2 == 0 ? "0,1,2,3" : "4,5,6,7"}}}}},
         {"spec",
          {{"nodeName", name},
           {"containers",
            Json::array(
                {{{"name", "c"},
                  {"resources",
                   {{"limits", {{"cpu", "32"}, {"memory", "128Gi"}, {"nvidia.com/gpu", 4}}}}}}})}}},
         {"status", {{"phase", "Running"}}}});
  }
  std::ofstream f(out);
  f << Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}.dump() << "\n";
  if (!f) {
    std::cerr << "accelsched-load gen-cluster: " << out << ": cannot write\n";
    return 1;
  }
  std::printf("wrote %s: %d nodes, %d pods\n", out.c_str(), nodes, busy_nodes);
  return 0;
}

// The server's own time from its Server-Timing header ("verb;dur=<ms>"), in microseconds; 0 if
// absent.
double ServerMicros(const httplib::Result& r) {
  const std::string t = r->get_header_value("Server-Timing");
  const size_t at = t.find(";dur=");
  double ms = 0;
  if (at == std::string::npos || !absl::SimpleAtod(t.substr(at + 5), &ms)) {
    return 0;
  }
  return ms * 1000;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

// What every cycle of `latency` sends.
struct LatencyProbe {
  DemoPod pod;
  std::string body;    // The filter request.
  bool full = false;   // Full v1.Node objects, filter only.
  bool churn = false;  // Bind a pod between cycles.
  // As kube-scheduler's Go client, which asks for gzip unless told otherwise.
  httplib::Headers headers = {{"Accept-Encoding", "gzip"}};
};

// One timed cycle: filter, then prioritize over the survivors.
struct VerbCycle {
  std::chrono::steady_clock::duration filter_time{};
  std::chrono::steady_clock::duration prioritize_time{};  // Zero if not called.
  std::string prioritize_body;                            // Empty if not called.
  std::string filter_text;                                // The filter answer.
  size_t filter_answer = 0;                               // Answer sizes.
  size_t prioritize_answer = 0;
  double server_filter_us = 0;       // Server-Timing.
  double server_prioritize_us = -1;  // -1 if not called.
};

// As kube-scheduler: filter with every node, then prioritize with the survivors only (and not at
// all when none survive). The first time the probe fails on nodes, `churn_nodes` gets them (with
// churn). nullopt, with a message on stderr, if a call failed or the filter answer is malformed.
std::optional<VerbCycle> TimedVerbs(Driver& d, const LatencyProbe& probe,
                                    std::vector<std::string>& churn_nodes) {
  VerbCycle cycle;
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Result r = d.client().Post((d.target().prefix + "/filter").c_str(), probe.headers,
                                      probe.body, "application/json");
  if (!r || r->status != 200) {
    std::cerr << "accelsched-load latency: filter failed\n";
    return std::nullopt;
  }
  cycle.filter_time = std::chrono::steady_clock::now() - t0;
  cycle.filter_answer = r->body.size();
  cycle.filter_text = r->body;
  cycle.server_filter_us = ServerMicros(r);
  if (probe.full) {
    return cycle;
  }
  // Parsing the answer is the client's work: not timed.
  const Json filtered = Json::parse(r->body, nullptr, false);
  if (filtered.is_discarded() || !filtered.contains("NodeNames")) {
    std::cerr << "accelsched-load latency: malformed filter answer\n";
    return std::nullopt;
  }
  if (!filtered["NodeNames"].empty()) {
    cycle.prioritize_body =
        Json{{"Pod", PodObject(probe.pod, 1)}, {"NodeNames", filtered["NodeNames"]}}.dump();
    const auto prioritize_start = std::chrono::steady_clock::now();
    httplib::Result q = d.client().Post((d.target().prefix + "/prioritize").c_str(), probe.headers,
                                        cycle.prioritize_body, "application/json");
    // Taken here: destroying the parsed filter answer on return is the client's work (and costs
    // hundreds of microseconds for 5,000 entries).
    cycle.prioritize_time = std::chrono::steady_clock::now() - prioritize_start;
    if (!q || q->status != 200) {
      std::cerr << "accelsched-load latency: prioritize failed\n";
      return std::nullopt;
    }
    cycle.prioritize_answer = q->body.size();
    cycle.server_prioritize_us = ServerMicros(q);
  }
  if (probe.churn && churn_nodes.empty() && filtered.contains("FailedNodes") &&
      filtered["FailedNodes"].is_object()) {
    for (const auto& [node, reason] : filtered["FailedNodes"].items()) {
      churn_nodes.push_back(node);
    }
  }
  return cycle;
}

// The same bodies as `cycle`'s to a handler that does nothing: what HTTP alone costs; with
// `with_answer`, with canned answers as large as the verbs' (the transfer of the answers, without
// work). Between the two calls the client does what it did between filter and prioritize (parse
// the filter answer, build the prioritize body), untimed as there: the server then sees the same
// pause between the two requests as with the verbs, and only its work differs. The total in
// microseconds, the first call's in `first`; nullopt if a call failed.
std::optional<double> ControlCalls(Driver& d, const LatencyProbe& probe, const VerbCycle& cycle,
                                   bool with_answer, double& first, size_t& benchmark_sink) {
  const std::pair<const std::string*, size_t> calls[] = {
      {&probe.body, cycle.filter_answer}, {&cycle.prioritize_body, cycle.prioritize_answer}};
  double micros = 0;
  for (size_t c = 0; c < 2; ++c) {
    const auto& [b, answer] = calls[c];
    if (b->empty()) {
      continue;
    }
    if (c == 1) {
      const Json again = Json::parse(cycle.filter_text, nullptr, false);
      benchmark_sink +=
          Json{{"Pod", PodObject(probe.pod, 1)}, {"NodeNames", again["NodeNames"]}}.dump().size();
    }
    const std::string path =
        with_answer ? absl::StrCat("/debug/noop?bytes=", answer) : std::string("/debug/noop");
    const auto start = std::chrono::steady_clock::now();
    httplib::Result h = d.client().Post(path.c_str(), probe.headers, *b, "application/json");
    micros +=
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (c == 0) {
      first = micros;
    }
    if (!h || h->status != 200) {
      return std::nullopt;
    }
    if (with_answer && h->body.size() != std::max<size_t>(answer, 2)) {
      return std::nullopt;
    }
  }
  return micros;
}

// One node changes before the next cycle: pod number `serial`, 1 GPU, bound to `node` (where the
// probe does not fit). False, with a message on stderr, if the extender misbehaved.
bool ChurnBind(Driver& d, const std::string& node, size_t serial) {
  DemoPod c{absl::StrCat("churn-", serial), "", {{"cpu", "1"}, {"nvidia.com/gpu", 1}}};
  const Json pod = PodObject(c, 1000000 + static_cast<int>(serial));
  std::optional<Json> f = d.Call("filter", Json{{"Pod", pod}, {"NodeNames", {node}}});
  if (!f) {
    return false;
  }
  std::optional<Json> b = d.Call("bind", Json{{"PodName", pod["metadata"]["name"]},
                                              {"PodNamespace", pod["metadata"]["namespace"]},
                                              {"PodUID", pod["metadata"]["uid"]},
                                              {"Node", node}});
  if (!b) {
    return false;
  }
  if (!(*b)["Error"].get<std::string>().empty()) {
    std::cerr << "accelsched-load latency: churn bind to " << node
              << " refused: " << (*b)["Error"].get<std::string>() << "\n";
    return false;
  }
  return true;
}

// Per timed cycle, in microseconds.
struct LatencySamples {
  std::vector<double> verbs, empty, canned;
  std::vector<double> server_filter, server_prioritize, server_both;  // Server-Timing.
  std::vector<double> filter_part, canned_filter_part;  // The first call of each cycle.

  void Add(const VerbCycle& cycle, double empty_time, double canned_time, double canned_first) {
    verbs.push_back(
        std::chrono::duration<double, std::micro>(cycle.filter_time + cycle.prioritize_time)
            .count());
    empty.push_back(empty_time);
    canned.push_back(canned_time);
    server_filter.push_back(cycle.server_filter_us);
    filter_part.push_back(std::chrono::duration<double, std::micro>(cycle.filter_time).count());
    canned_filter_part.push_back(canned_first);
    if (cycle.server_prioritize_us >= 0) {
      server_prioritize.push_back(cycle.server_prioritize_us);
    }
    server_both.push_back(cycle.server_filter_us + std::max(0.0, cycle.server_prioritize_us));
  }
};

void PrintLatency(const LatencySamples& s, bool full) {
  std::printf("%s p50 %.0f us  p90 %.0f us  p99 %.0f us\n",
              full ? "filter round trip (full Node objects):" : "filter+prioritize round trip:",
              Percentile(s.verbs, 50), Percentile(s.verbs, 90), Percentile(s.verbs, 99));
  std::printf(
      "same bodies to POST /debug/noop (empty handler): p50 %.0f us  p90 %.0f us  p99 %.0f us\n",
      Percentile(s.empty, 50), Percentile(s.empty, 90), Percentile(s.empty, 99));
  std::printf(
      "same bodies, canned answers of the verbs' sizes: p50 %.0f us  p90 %.0f us  p99 %.0f us\n",
      Percentile(s.canned, 50), Percentile(s.canned, 90), Percentile(s.canned, 99));
  std::printf("filter call alone: p50 %.0f us (canned answer: p50 %.0f us)\n",
              Percentile(s.filter_part, 50), Percentile(s.canned_filter_part, 50));
  std::printf(
      "server-side (Server-Timing: decode, verb, encode): filter p50 %.0f us p99 %.0f us; "
      "prioritize p50 %.0f us p99 %.0f us; both p50 %.0f us p99 %.0f us\n",
      Percentile(s.server_filter, 50), Percentile(s.server_filter, 99),
      Percentile(s.server_prioritize, 50), Percentile(s.server_prioritize, 99),
      Percentile(s.server_both, 50), Percentile(s.server_both, 99));
  std::printf("p99 ratio to the empty handler: %.2f (canned answers: %.2f)\n",
              Percentile(s.verbs, 99) / Percentile(s.empty, 99),
              Percentile(s.canned, 99) / Percentile(s.empty, 99));
}

// --hold N: the held connections and the health prober of a latency run (held_connections.h).
struct Company {
  int hold = 0;
  std::unique_ptr<HeldConnections> held;
  std::unique_ptr<HealthProber> prober;
};

std::optional<Company> StartCompany(const Flags& flags, const Target& target) {
  Company c;
  if (!absl::SimpleAtoi(flags.Get("--hold", "0"), &c.hold) || c.hold < 0 || c.hold > 100000) {
    std::cerr << "accelsched-load latency: --hold: a number of connections in [0, 100000]\n";
    return std::nullopt;
  }
  if (c.hold > 0) {
    c.held = std::make_unique<HeldConnections>(target.host, target.port, c.hold);
    c.prober = std::make_unique<HealthProber>(target.host, target.port);
  }
  return c;
}

void ReportCompany(Company& c) {
  if (c.held == nullptr) {
    return;
  }
  c.prober->Stop();
  c.held->Stop();
  const std::vector<double>& h = c.prober->millis();
  std::printf(
      "held connections: %d open at the end of %d (half idle, half slowloris), reopened %d "
      "times; GET /healthz meanwhile: p50 %.2f ms  p99 %.2f ms  max %.2f ms (%zu probes, %d "
      "failed)\n",
      c.held->open(), c.hold, c.held->reopened(), Percentile(h, 50), Percentile(h, 99),
      h.empty() ? 0.0 : *std::max_element(h.begin(), h.end()), h.size(), c.prober->failures());
}

int Latency(const Flags& flags) {
  std::optional<Target> target = ParseUrl(flags.Get("--url"));
  int requests = 2000, gpus = 8;
  if (!target || !absl::SimpleAtoi(flags.Get("--requests", "2000"), &requests) ||
      !absl::SimpleAtoi(flags.Get("--gpus", "8"), &gpus) || requests < 1) {
    std::cerr << "accelsched-load latency: --url http://HOST:PORT [--requests N] [--gpus G]\n";
    return 1;
  }
  target->prefix = flags.Get("--prefix", target->prefix);
  // Opened first, so that the driver's own connection comes after them, as a reconnecting
  // kube-scheduler's would.
  std::optional<Company> company = StartCompany(flags, *target);
  if (!company) {
    return 1;
  }
  Driver d(*target);
  std::optional<Json> found = NodeNames(d);
  if (!found) {
    return 2;
  }
  const Json names = std::move(*found);
  LatencyProbe probe;
  probe.pod = {"latency-probe", "", {{"cpu", "8"}, {"memory", "64Gi"}, {"nvidia.com/gpu", gpus}}};
  probe.full = flags.Get("--full-nodes", "false") == "true";
  probe.churn = flags.Get("--churn", "true") == "true";
  probe.body = Json{{"Pod", PodObject(probe.pod, 1)}, {"NodeNames", names}}.dump();
  if (probe.full) {
    Json items = Json::array();
    for (const Json& n : names) {
      items.push_back(FullNode(n.get<std::string>()));
    }
    probe.body = Json{{"Pod", PodObject(probe.pod, 1)},
                      {"Nodes", {{"apiVersion", "v1"}, {"kind", "NodeList"}, {"items", items}}}}
                     .dump();
  }
  std::vector<std::string> churn_nodes;  // Nodes the probe failed on: churn targets.
  size_t churned = 0;
  size_t benchmark_sink = 0;  // Keeps the control's client work from being optimised away.
  LatencySamples samples;
  const int warmup = std::min(50, requests);
  for (int i = 0; i < requests + warmup; ++i) {
    const std::optional<VerbCycle> cycle = TimedVerbs(d, probe, churn_nodes);
    if (!cycle) {
      return 2;
    }
    double empty_first = 0, canned_first = 0;
    const std::optional<double> empty_time =
        ControlCalls(d, probe, *cycle, /*with_answer=*/false, empty_first, benchmark_sink);
    const std::optional<double> canned_time =
        ControlCalls(d, probe, *cycle, /*with_answer=*/true, canned_first, benchmark_sink);
    if (!empty_time || !canned_time) {
      std::cerr << "accelsched-load latency: POST /debug/noop failed\n";
      return 2;
    }
    if (probe.churn && !churn_nodes.empty()) {
      const size_t serial = churned++;
      if (!ChurnBind(d, churn_nodes[serial % churn_nodes.size()], serial)) {
        return 2;
      }
    }
    if (i < warmup) {
      continue;
    }
    samples.Add(*cycle, *empty_time, *canned_time, canned_first);
  }
  std::printf("nodes %zu, pod %d GPUs, %d requests, request body %zu bytes, %zu churn binds%s\n",
              names.size(), gpus, requests, probe.body.size(), churned,
              benchmark_sink > 0 ? "" : " (no prioritize)");
  PrintLatency(samples, probe.full);
  ReportCompany(*company);
  return 0;
}

// The `schedule` command's binders: the binds kube-scheduler's binding goroutines send, each
// after `delay`, on their own connections.
class Binders {
 public:
  struct Job {
    std::string name, uid, node;
  };
  Binders(const Target& target, int threads, std::chrono::milliseconds delay) : delay_(delay) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, target] { Work(target); });
    }
  }
  ~Binders() { Finish(); }
  Binders(const Binders&) = delete;
  Binders& operator=(const Binders&) = delete;
  Binders(Binders&&) = delete;
  Binders& operator=(Binders&&) = delete;
  void Add(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::move(job), std::chrono::steady_clock::now() + delay_);
    }
    cv_.notify_one();
  }
  // Waits for every bind to be answered.
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  int bound() const { return bound_; }
  int rejected() const { return rejected_; }
  int failed() const { return failed_; }
  const std::string& first_rejection() const { return first_rejection_; }
  // The binds rejected (after Finish()).
  const std::vector<Job>& rejected_jobs() const { return rejected_jobs_; }

 private:
  void Work(const Target& target) {
    Driver d(target);
    for (;;) {
      std::pair<Job, std::chrono::steady_clock::time_point> next;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(next.second);
      const Job& j = next.first;
      std::optional<Json> r = d.Call(
          "bind",
          {{"PodName", j.name}, {"PodNamespace", "load"}, {"PodUID", j.uid}, {"Node", j.node}});
      std::lock_guard<std::mutex> lock(mu_);
      if (!r) {
        ++failed_;
      } else if (r->value("Error", "").empty()) {
        ++bound_;
      } else {
        if (rejected_++ == 0) first_rejection_ = r->value("Error", "");
        rejected_jobs_.push_back(j);
      }
    }
  }

  const std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Job, std::chrono::steady_clock::time_point>> queue_;
  bool done_ = false;
  int bound_ = 0, rejected_ = 0, failed_ = 0;
  std::string first_rejection_;
  std::vector<Job> rejected_jobs_;
  std::vector<std::thread> threads_;
};

// Pod `i` of the `schedule` mix: 1, 2 or 4 whole GPUs, or a 250, 500 or 750 milli-GPU share.
Json SchedulePod(int i) {
  static constexpr int kWhole[] = {1, 2, 4};
  static constexpr int kMilli[] = {250, 500, 750};
  Json limits = {{"cpu", "2"}, {"memory", "8Gi"}};
  if (i % 2 == 0) {
    limits["nvidia.com/gpu"] = kWhole[(i / 2) % 3];
  } else {
    limits["accelsched.io/gpu-milli"] = kMilli[(i / 2) % 3];
  }
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", absl::StrFormat("pod-%05d", i)},
        {"namespace", "load"},
        {"uid", absl::StrFormat("sched-%05d", i)}}},
      {"spec",
       {{"containers", Json::array({{{"name", "c"}, {"resources", {{"limits", limits}}}}})}}}};
}

// One scheduling cycle of `pod`: the chosen node, "" if no node passed filter; nullopt if the
// extender misbehaved.
std::optional<std::string> ScheduleCycle(Driver& d, const Json& pod, const Json& names) {
  std::optional<Json> filter = d.Call("filter", {{"Pod", pod}, {"NodeNames", names}});
  if (!filter) return std::nullopt;
  const Json survivors = filter->value("NodeNames", Json::array());
  if (!survivors.is_array() || survivors.empty()) return std::string();
  std::optional<Json> prio = d.Call("prioritize", {{"Pod", pod}, {"NodeNames", survivors}});
  if (!prio || !prio->is_array() || prio->empty()) return std::nullopt;
  return (*prio)[BestScore(*prio)].at("Host").get<std::string>();
}

// What a `schedule` run did, over all its rounds.
struct ScheduleTally {
  int cycles = 0, bound = 0, rejected = 0, unschedulable = 0, rounds = 0;
  double round_seconds = 0;  // In rounds, without the backoff between them.
  std::string first_rejection;
};

// One round: schedules `serials` (pods of the mix) and binds them in the background; the pods
// whose bind was rejected, to retry; nullopt if the extender misbehaved.
std::optional<std::vector<int>> ScheduleRound(Driver& d, const Json& names,
                                              const std::vector<int>& serials, int binders,
                                              int delay_ms, ScheduleTally& t) {
  const auto start = std::chrono::steady_clock::now();
  Binders b(d.target(), binders, std::chrono::milliseconds(delay_ms));
  for (int i : serials) {
    const Json pod = SchedulePod(i);
    std::optional<std::string> node = ScheduleCycle(d, pod, names);
    if (!node) return std::nullopt;
    ++t.cycles;
    if (node->empty()) {
      ++t.unschedulable;
      continue;
    }
    b.Add({pod["metadata"]["name"], pod["metadata"]["uid"], *node});
  }
  b.Finish();
  t.round_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (b.failed() > 0) return std::nullopt;
  t.bound += b.bound();
  t.rejected += b.rejected();
  if (t.first_rejection.empty()) t.first_rejection = b.first_rejection();
  ++t.rounds;
  std::vector<int> retry;
  for (const Binders::Job& j : b.rejected_jobs()) {
    retry.push_back(std::stoi(j.name.substr(4)));  // "pod-00042"
  }
  std::sort(retry.begin(), retry.end());
  return retry;
}

int Schedule(const Flags& flags) {
  std::optional<Target> target = ParseUrl(flags.Get("--url"));
  int pods = 0, delay_ms = 0, binders = 0, backoff_ms = 0;
  if (!target || !absl::SimpleAtoi(flags.Get("--pods", "1000"), &pods) || pods < 1 ||
      pods > 99999 || !absl::SimpleAtoi(flags.Get("--bind-delay-ms", "20"), &delay_ms) ||
      delay_ms < 0 || !absl::SimpleAtoi(flags.Get("--binders", "16"), &binders) || binders < 1 ||
      binders > 1024 || !absl::SimpleAtoi(flags.Get("--backoff-ms", "1000"), &backoff_ms) ||
      backoff_ms < 0) {
    std::cerr << "accelsched-load schedule: --url http://HOST:PORT [--pods 1..99999] "
                 "[--bind-delay-ms D] [--binders 1..1024] [--backoff-ms B]\n";
    return 1;
  }
  target->prefix = flags.Get("--prefix", target->prefix);
  Driver d(*target);
  std::optional<Json> names = NodeNames(d);
  if (!names) return 2;
  ScheduleTally t;
  std::vector<int> serials(static_cast<size_t>(pods));
  for (int i = 0; i < pods; ++i) serials[static_cast<size_t>(i)] = i;
  const auto start = std::chrono::steady_clock::now();
  // Rejected pods are retried after kube-scheduler's initial backoff, as its queue does.
  while (!serials.empty() && t.rounds < 50) {
    if (t.rounds > 0) std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    std::optional<std::vector<int>> retry = ScheduleRound(d, *names, serials, binders, delay_ms, t);
    if (!retry) return 2;
    serials = std::move(*retry);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << Json{{"pods", pods},
                    {"bound", t.bound},
                    {"binds_rejected", t.rejected},
                    {"first_rejection", t.first_rejection},
                    {"unschedulable", t.unschedulable},
                    {"rounds", t.rounds},
                    {"cycles", t.cycles},
                    {"seconds", seconds},
                    {"cycles_per_second", t.cycles / t.round_seconds},
                    {"pods_bound_per_second", t.bound / seconds}}
                   .dump()
            << "\n";
  return 0;
}

// The command line; the exit codes are in the file comment.
int Run(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::cout << kHelp;
    return argc < 2 ? 1 : 0;
  }
  std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags) {
    std::cerr << "accelsched-load: flags are --name value pairs\n" << kHelp;
    return 1;
  }
  const std::string cmd = argv[1];
  if (cmd == "demo") {
    return Demo(*flags);
  }
  if (cmd == "gen-cluster") {
    return GenCluster(*flags);
  }
  if (cmd == "latency") {
    return Latency(*flags);
  }
  if (cmd == "schedule") {
    return Schedule(*flags);
  }
  std::cerr << "accelsched-load: unknown command '" << cmd << "'\n" << kHelp;
  return 1;
}

}  // namespace
}  // namespace accelsched::load

int main(int argc, char** argv) {
  try {
    return accelsched::load::Run(argc, argv);
  } catch (const std::exception& e) {
    // nlohmann::json throws on an answer of the wrong shape: the extender misbehaved.
    std::cerr << "accelsched-load: " << e.what() << "\n";
    return 2;
  }
}
