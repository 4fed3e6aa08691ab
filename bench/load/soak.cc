// accelsched-soak: accelsched-extender in Kubernetes mode for a long run against the in-process
// fake API server (tests/testing/fake_apiserver.h), with the API server "restarting" every
// --restart-every seconds (503 for 2 s, watches dropped, history compacted: what a restart looks
// like to a client). One closed-loop client schedules pods as kube-scheduler does (filter over
// every node, prioritize, bind to the best) as fast as it is answered, while pods finish and are
// deleted, so that about half the GPUs stay in use.
//
//   accelsched-soak --extender build/scheduler/accelsched-extender [--minutes 10] [--nodes 50]
//                   [--restart-every 60] [--port 18895]
//
// Prints, per minute and at the end: cycles, errors (transport errors and non-200 answers; a bind
// refused because the API was down is counted apart), p50/p99 of a cycle, and the extender's RSS
// and open file descriptors. Exit 0 if no error and no GPU given twice (checked against the
// API's record at the end); 1 on bad usage; 2 otherwise.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

#include "tests/testing/fake_apiserver.h"

namespace accelsched::load {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string extender;
  double minutes = 10;
  int nodes = 50;
  int restart_every = 60;
  int port = 18895;
};

Json NodeObject(const std::string& name) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}, {"nvidia.com/gpu.count", "8"}}}}},
      {"status", {{"allocatable", {{"cpu", "224"}, {"memory", "2Ti"}, {"nvidia.com/gpu", "8"}}}}}};
}

Json PodObject(const std::string& name, int gpus) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", "soak"},
        {"uid", "uid-" + name},
        {"annotations", Json::object()}}},
      {"spec",
       {{"schedulerName", "accelsched"},
        {"containers",
         Json::array({{{"name", "c"},
                       {"resources", {{"limits", {{"cpu", "1"}, {"nvidia.com/gpu", gpus}}}}}}})}}},
      {"status", {{"phase", "Pending"}}}};
}

// The extender's RSS (kB) and open file descriptors.
std::pair<long, long> Usage(pid_t pid) {
  long rss = -1;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "VmRSS:")) rss = std::stol(line.substr(6));
  }
  long fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  return {rss, fds};
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(v.size())))];
}

// Starts the extender against `api_port` on `port`; its pid, or -1.
pid_t StartExtender(const Options& o, int api_port, const std::string& dir) {
  const std::string kubeconfig = dir + "/kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\ncurrent-context: soak\n"
                            << "contexts:\n- name: soak\n  context: {cluster: fake, user: u}\n"
                            << "clusters:\n- name: fake\n  cluster: {server: \"http://127.0.0.1:"
                            << api_port << "\"}\nusers:\n- name: u\n  user: {token: soak}\n";
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string log = dir + "/extender.log";
    freopen(log.c_str(), "w", stderr);
    freopen(log.c_str(), "a", stdout);
    execl(o.extender.c_str(), o.extender.c_str(), "--kubeconfig", kubeconfig.c_str(), "--port",
          std::to_string(o.port).c_str(), "--bind-address", "127.0.0.1", "--log-level", "warn",
          nullptr);
    _exit(127);
  }
  return pid;
}

struct Tally {
  long cycles = 0, errors = 0, refused_while_down = 0, no_fit = 0;
  std::vector<double> millis;
};

// One kube-scheduler cycle for pod `name`: filter, prioritize, bind to the best. True if bound.
bool Cycle(httplib::Client& c, const std::string& name, int gpus, const Json& names, bool api_down,
           Tally& t) {
  const auto count = [](long& counter) {
    ++counter;
    return false;
  };
  const Json pod = PodObject(name, gpus);
  const auto start = Clock::now();
  httplib::Result f = c.Post("/v1/extender/filter", Json{{"Pod", pod}, {"NodeNames", names}}.dump(),
                             "application/json");
  if (!f || f->status != 200) return count(t.errors);
  const Json fr = Json::parse(f->body, nullptr, false);
  if (fr.is_discarded() || !fr.contains("NodeNames") || fr["NodeNames"].empty()) {
    return count(t.no_fit);
  }
  httplib::Result p =
      c.Post("/v1/extender/prioritize", Json{{"Pod", pod}, {"NodeNames", fr["NodeNames"]}}.dump(),
             "application/json");
  if (!p || p->status != 200) return count(t.errors);
  const Json scores = Json::parse(p->body, nullptr, false);
  std::string best;
  int64_t top = -1;
  for (const Json& s : scores) {
    if (s.value("Score", int64_t{-1}) > top) {
      top = s["Score"];
      best = s["Host"];
    }
  }
  httplib::Result b = c.Post(
      "/v1/extender/bind",
      Json{{"PodName", name}, {"PodNamespace", "soak"}, {"PodUID", "uid-" + name}, {"Node", best}}
          .dump(),
      "application/json");
  t.millis.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  ++t.cycles;
  if (!b || b->status != 200) return count(t.errors);
  const Json br = Json::parse(b->body, nullptr, false);
  if (!br.is_discarded() && !br.value("Error", "").empty()) {
    if (api_down) return count(t.refused_while_down);
    std::cerr << "bind " << name << ": " << br["Error"] << "\n";
    return count(t.errors);
  }
  return true;
}

// True if no GPU of a node is named by two of the API's bound pods.
bool NoGpuTwice(testing::FakeApiServer& api, const std::deque<std::string>& live) {
  std::set<std::pair<std::string, std::string>> taken;
  for (const std::string& name : live) {
    const Json pod = api.Pod("soak/" + name);
    if (pod.is_null()) continue;
    const std::string node = pod["spec"].value("nodeName", "");
    const std::string ids = pod["metadata"]["annotations"].value("accelsched.io/gpu-ids", "");
    for (size_t s = 0; !node.empty() && s < ids.size();) {
      const size_t comma = std::min(ids.find(',', s), ids.size());
      if (!taken.insert({node, ids.substr(s, comma - s)}).second) return false;
      s = comma + 1;
    }
  }
  return true;
}

// The run's moving parts: the fake API server's restarts and the pods alive.
struct Run {
  Clock::time_point start, next_restart, down_until, next_report;
  std::deque<std::string> live;
  size_t target_live = 0;
  long serial = 0;
  int restarts = 0;
  Tally tally;
};

// "Restarts" the API server when due (down for 2 s, history gone); true while it is down.
bool RestartWhenDue(testing::FakeApiServer& api, Run& r, int restart_every) {
  const auto now = Clock::now();
  if (now >= r.next_restart) {
    api.SetOutage(true);
    api.CompactAndDropWatches();
    r.down_until = now + std::chrono::seconds(2);
    r.next_restart = now + std::chrono::seconds(restart_every);
    ++r.restarts;
  }
  if (r.down_until == Clock::time_point{}) return false;
  if (now < r.down_until) return true;
  api.SetOutage(false);
  r.down_until = {};
  return false;
}

// One step: a pod finishes if enough are running, a new one is created and scheduled.
void Step(testing::FakeApiServer& api, httplib::Client& c, const Json& names, bool down, Run& r) {
  if (r.live.size() >= r.target_live && !down) {
    api.DeletePod("soak/" + r.live.front());
    r.live.pop_front();
  }
  const std::string name = "p" + std::to_string(r.serial++);
  if (!down) api.PutPod(PodObject(name, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(1));  // Let the watch deliver it.
  if (Cycle(c, name, 2, names, down, r.tally)) {
    r.live.push_back(name);
  } else if (!down) {
    // Given up rather than left pending: else the API's pod list (and every relist) grows by the
    // pods that did not fit, and so does the extender's memory at each relist.
    api.DeletePod("soak/" + name);
  }
}

void ReportMinute(pid_t pid, const Run& r) {
  const auto [rss, fds] = Usage(pid);
  std::printf(
      "minute %.0f: %ld cycles, %ld errors, %ld refused while the API was down, p99 "
      "%.2f ms, RSS %ld kB, %ld fds\n",
      std::chrono::duration<double>(Clock::now() - r.start).count() / 60, r.tally.cycles,
      r.tally.errors, r.tally.refused_while_down, Percentile(r.tally.millis, 99), rss, fds);
  std::fflush(stdout);
}

// Waits until the extender at `c` is ready (bounded).
void AwaitReady(httplib::Client& c) {
  for (int i = 0; i < 200; ++i) {
    if (httplib::Result r = c.Get("/readyz"); r && r->status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int Soak(const Options& o) {
  testing::FakeApiServer api;
  Json names = Json::array();
  for (int i = 0; i < o.nodes; ++i) {
    api.PutNode(NodeObject("n" + std::to_string(i)));
    names.push_back("n" + std::to_string(i));
  }
  const std::string dir = std::filesystem::temp_directory_path() / "accelsched-soak";
  std::filesystem::create_directories(dir);
  const pid_t pid = StartExtender(o, api.port(), dir);
  httplib::Client c("127.0.0.1", o.port);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);  // As Go's client (kube-scheduler): else each POST waits ~40 ms.
  c.set_read_timeout(10, 0);
  AwaitReady(c);
  const auto [rss0, fds0] = Usage(pid);
  std::printf("start: extender pid %d, RSS %ld kB, %ld fds\n", pid, rss0, fds0);
  Run r;
  r.start = Clock::now();
  r.next_restart = r.start + std::chrono::seconds(o.restart_every);
  r.next_report = r.start + std::chrono::minutes(1);
  r.target_live = static_cast<size_t>(o.nodes) * 8 / 2 / 2;  // Half the GPUs, 2 per pod.
  const auto end = r.start + std::chrono::duration<double>(o.minutes * 60);
  while (Clock::now() < end) {
    Step(api, c, names, RestartWhenDue(api, r, o.restart_every), r);
    if (Clock::now() >= r.next_report) {
      ReportMinute(pid, r);
      r.next_report += std::chrono::minutes(1);
    }
  }
  api.SetOutage(false);
  const auto [rss1, fds1] = Usage(pid);
  // GET /debug/state ends with malloc_trim(0): what RSS is then is what the extender holds, not
  // what glibc keeps for reuse (TuneMallocForLargeBodies keeps freed memory up to 256 MB).
  (void)c.Get("/debug/state");
  const long rss_trimmed = Usage(pid).first;
  const bool disjoint = NoGpuTwice(api, r.live);
  const Tally& t = r.tally;
  std::printf(
      "end: %.1f min, %d API restarts, %ld cycles (%.0f/s), %ld errors, %ld binds refused "
      "while the API was down, %ld no-fit; cycle p50 %.2f ms p99 %.2f ms; RSS %ld -> %ld "
      "kB (%ld kB after a malloc_trim), fds %ld -> %ld; GPUs given twice: %s\n",
      o.minutes, r.restarts, t.cycles, static_cast<double>(t.cycles) / (o.minutes * 60), t.errors,
      t.refused_while_down, t.no_fit, Percentile(t.millis, 50), Percentile(t.millis, 99), rss0,
      rss1, rss_trimmed, fds0, fds1, disjoint ? "none" : "YES");
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  return t.errors == 0 && disjoint ? 0 : 2;
}

}  // namespace
}  // namespace accelsched::load

namespace accelsched::load {
namespace {

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--extender") {
      o.extender = value;
    } else if (flag == "--minutes") {
      ok = absl::SimpleAtod(value, &o.minutes) && o.minutes > 0;
    } else if (flag == "--nodes") {
      ok = absl::SimpleAtoi(value, &o.nodes) && o.nodes > 0;
    } else if (flag == "--restart-every") {
      ok = absl::SimpleAtoi(value, &o.restart_every) && o.restart_every > 2;
    } else if (flag == "--port") {
      ok = absl::SimpleAtoi(value, &o.port);
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "accelsched-soak: bad flag " << flag << " " << value << "\n";
      return 1;
    }
  }
  if (o.extender.empty() || argc % 2 == 0) {
    std::cerr << "usage: accelsched-soak --extender PATH [--minutes 10] [--nodes 50] "
                 "[--restart-every 60] [--port 18895]\n";
    return 1;
  }
  return Soak(o);
}

}  // namespace
}  // namespace accelsched::load

int main(int argc, char** argv) {
  try {
    return accelsched::load::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "accelsched-soak: " << e.what() << "\n";
    return 2;
  }
}
