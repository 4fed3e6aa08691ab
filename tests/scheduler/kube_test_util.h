// Helpers of the Kubernetes-mode tests (kube_test.cc, kube_drift_test.cc): objects as the API
// server holds them, and one extender in Kubernetes mode against a FakeApiServer.
//
// Thread-safety: as the objects they build.
#ifndef ACCELSCHED_TESTS_SCHEDULER_KUBE_TEST_UTIL_H_
#define ACCELSCHED_TESTS_SCHEDULER_KUBE_TEST_UTIL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

#include "scheduler/cmd/app.h"
#include "scheduler/codec/json.h"
#include "scheduler/kube/client.h"
#include "scheduler/kube/endpoint.h"
#include "scheduler/service/extender.h"
#include "scheduler/service/metrics.h"
#include "scheduler/state/ledger.h"
#include "scheduler/sync/kube_binder.h"
#include "scheduler/sync/kube_sync.h"
#include "tests/testing/placed.h"

namespace accelsched::scheduler::kube {

using codec::Json;

// Polls `done` for up to 10 s (no timing assertion: only a bound on how long to wait).
inline bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

inline Json Node(const std::string& name, int gpus) {
  return Json{{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata",
               {{"name", name},
                {"labels",
                 {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
                  {"nvidia.com/gpu.count", std::to_string(gpus)}}}}},
              {"status",
               {{"allocatable",
                 {{"cpu", "64"}, {"memory", "512Gi"}, {"nvidia.com/gpu", std::to_string(gpus)}}}}}};
}

inline Json Pod(const std::string& name, int gpus, const std::string& node = "",
                const std::string& gpu_ids = "") {
  Json p = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", "ml"},
        {"uid", "uid-" + name},
        {"annotations", Json::object()}}},
      {"spec",
       {{"schedulerName", "accelsched"},
        {"containers",
         Json::array({{{"name", "c"},
                       {"resources", {{"limits", {{"cpu", "1"}, {"nvidia.com/gpu", gpus}}}}}}})}}},
      {"status", {{"phase", node.empty() ? "Pending" : "Running"}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  if (!gpu_ids.empty()) p["metadata"]["annotations"]["accelsched.io/gpu-ids"] = gpu_ids;
  return p;
}

// The extender's own pod, as the Deployment makes it; `leader` = a leftover label.
inline Json ExtenderPod(const std::string& name, bool leader) {
  Json labels = {{"app.kubernetes.io/name", "accelsched-extender"}};
  if (leader) labels["accelsched.io/leader"] = "true";
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "accelsched-system"},
            {"uid", "uid-" + name},
            {"labels", labels}}},
          {"spec", {{"containers", Json::array()}}}};
}

inline Endpoint PlainEndpoint(int port) {
  Endpoint e;
  e.host = "127.0.0.1";
  e.port = port;
  e.https = false;
  return e;
}

// One extender in Kubernetes mode against `api`, its sync running on a thread.
struct Instance {
  Metrics metrics;
  std::unique_ptr<KubeClient> client;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<KubeBinder> binder;
  std::unique_ptr<Extender> extender;
  std::unique_ptr<KubeSync> sync;
  std::thread runner;

  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  explicit Instance(int port) : Instance(PlainEndpoint(port)) {}
  explicit Instance(const Endpoint& e) {
    client = *KubeClient::Create(e);
    ledger = *Ledger::Create({});
    binder = std::make_unique<KubeBinder>(client.get());
    extender =
        std::make_unique<Extender>(*plugins::BuildSolver(plugins::PolicyConfig{}, WorkloadFrom({})),
                                   ledger.get(), binder.get(), &metrics);
    sync = std::make_unique<KubeSync>(client.get(), ledger.get(), extender.get());
  }
  absl::Status StartAndRun() {
    absl::Status s = sync->Start();
    if (s.ok()) runner = std::thread([this] { sync->Run(); });
    return s;
  }
  ~Instance() {
    sync->Stop();
    if (runner.joinable()) runner.join();
  }
  // filter + bind, as kube-scheduler would for a pod that fits `node`.
  absl::Status Schedule(const Json& pod, const std::string& node) {
    codec::ExtenderArgs args;
    args.pod = *codec::DecodePod(pod, "Pod");
    args.node_names = {node};
    absl::StatusOr<codec::FilterResult> f = extender->Filter(args);
    if (!f.ok()) return f.status();
    if (f->survivors.empty()) return absl::FailedPreconditionError("does not fit " + node);
    return extender->Bind(codec::BindingArgs{args.pod.name, "ml", args.pod.uid, node});
  }
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_TESTS_SCHEDULER_KUBE_TEST_UTIL_H_
