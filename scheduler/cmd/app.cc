#include "scheduler/cmd/app.h"

#include <array>
#include <random>
#include <utility>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "plugins/share_fragmentation/fragmentation.h"
#include "scheduler/codec/k8s.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler {

kube::LeaderElectionOptions LeaderElectionOptionsFrom(const LeaderElectionConfig& config,
                                                      std::string identity) {
  kube::LeaderElectionOptions o;
  o.lease_namespace = config.resource_namespace;
  o.lease_name = config.resource_name;
  o.identity = std::move(identity);
  o.lease_seconds = config.lease_duration_seconds;
  o.renew_deadline_seconds = config.renew_deadline_seconds;
  o.retry_seconds = config.retry_period_seconds;
  return o;
}

std::string ReplicaIdentity() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::random_device random;
  return absl::StrFormat("%s_%08x", host[0] != '\0' ? host.data() : "accelsched-extender",
                         random());
}

std::optional<std::string> StandbyReason(const kube::LeaderElector& elector,
                                         const LeaderElectionConfig& config) {
  if (elector.IsLeader()) return std::nullopt;
  const std::string holder = elector.Holder();
  return absl::StrCat("standby: the Lease ", config.resource_namespace, "/", config.resource_name,
                      holder.empty() ? " has no holder yet" : " is held by " + holder,
                      "; this replica is ", elector.identity());
}

std::optional<std::string> DegradedReason(const std::optional<kube::KubeSync::Outage>& outage,
                                          double now, double threshold) {
  if (!outage.has_value() || threshold <= 0 || now - outage->since < threshold) {
    return std::nullopt;
  }
  return absl::StrFormat(
      "the watch of %s has failed for %.0f s (watchFailureSeconds %.0f; last error: %s); the "
      "cluster state may be stale",
      outage->kind, now - outage->since, threshold, outage->error);
}

plugins::WorkloadModel WorkloadFrom(const std::vector<plugins::PodRequest>& running) {
  std::vector<plugins::PodRequest> pods = running;
  auto add = [&](int gpus, int milli, int64_t cpu, int times) {
    plugins::PodRequest p;
    p.cpu_milli = cpu;
    p.gpu_count = gpus;
    p.gpu_milli = milli;
    for (int i = 0; i < times; ++i) pods.push_back(p);
  };
  add(1, 0, 8000, 4);
  add(2, 0, 16000, 1);
  add(4, 0, 32000, 1);
  add(8, 0, 64000, 1);
  add(0, 500, 4000, 1);
  add(0, 250, 2000, 1);
  add(0, 0, 4000, 1);
  plugins::WorkloadModel model;
  absl::StatusOr<std::vector<plugins::TaskShape>> shapes = plugins::TypicalShapes(pods, 1.0);
  if (shapes.ok()) model.shapes = std::move(*shapes);
  return model;
}

absl::StatusOr<StaticCluster> LoadStaticCluster(absl::string_view text, absl::string_view file,
                                                const ExtenderConfig& config, Binder* binder,
                                                Metrics* metrics) {
  ACCELSCHED_ASSIGN_OR_RETURN(codec::ClusterObjects objects,
                              codec::DecodeClusterListText(text, file));
  if (objects.nodes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": no Node objects (a static cluster needs at least one node)"));
  }
  StaticCluster out;
  std::vector<plugins::NodeSpec> specs;
  for (codec::NodeObject& n : objects.nodes) {
    for (const std::string& w : n.warnings) {
      out.warnings.push_back(absl::StrCat("node ", n.spec.name, ": ", w));
    }
    specs.push_back(std::move(n.spec));
  }
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Create(std::move(specs));
  if (!ledger.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", ledger.status().message()));
  }
  out.ledger = std::move(*ledger);
  std::vector<plugins::PodRequest> running;
  for (const codec::PodObject& p : objects.pods) {
    if (p.HoldsResources()) running.push_back(p.request);
  }
  ACCELSCHED_ASSIGN_OR_RETURN(std::unique_ptr<plugins::Solver> solver,
                              plugins::BuildSolver(config.policy, WorkloadFrom(running)));
  out.extender = std::make_unique<Extender>(std::move(solver), out.ledger.get(), binder, metrics,
                                            ExtenderOptionsFrom(config));
  for (size_t i = 0; i < objects.namespaces.size(); ++i) {
    const codec::NamespaceObject& ns = objects.namespaces[i];
    if (ns.isolation.empty()) continue;
    absl::StatusOr<plugins::Isolation> isolation = plugins::ParseIsolation(ns.isolation);
    if (!isolation.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": ", objects.namespace_paths[i], ": ", isolation.status().message()));
    }
    out.extender->SetIsolation(ns.name, *isolation);
  }
  for (const codec::PodGroupObject& g : objects.pod_groups) {
    out.extender->SetGangMinMember(g.gang, g.min_member);
  }
  for (const codec::PodObject& p : objects.pods) {
    if (!p.HoldsResources()) continue;
    if (absl::Status s = out.extender->Adopt(p); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", s.message()));
    }
    out.extender->ObserveBound(p);  // A bound gang member counts as bound in its gang.
  }
  return out;
}

absl::StatusOr<std::unique_ptr<App>> App::Static(absl::string_view text, absl::string_view file,
                                                 const ExtenderConfig& config) {
  std::unique_ptr<App> app(new App());
  ACCELSCHED_ASSIGN_OR_RETURN(
      StaticCluster cluster,
      LoadStaticCluster(text, file, config, &app->memory_binder_, &app->metrics_));
  app->ledger_ = std::move(cluster.ledger);
  app->extender_ = std::move(cluster.extender);
  app->warnings_ = std::move(cluster.warnings);
  return app;
}

absl::StatusOr<std::unique_ptr<App>> App::Kubernetes(std::unique_ptr<kube::KubeClient> client,
                                                     const ExtenderConfig& config) {
  std::unique_ptr<App> app(new App());
  ACCELSCHED_ASSIGN_OR_RETURN(app->ledger_, Ledger::Create({}));
  ACCELSCHED_ASSIGN_OR_RETURN(std::unique_ptr<plugins::Solver> solver,
                              plugins::BuildSolver(config.policy, WorkloadFrom({})));
  app->client_ = std::move(client);
  app->kube_binder_ = std::make_unique<kube::KubeBinder>(app->client_.get());
  app->extender_ =
      std::make_unique<Extender>(std::move(solver), app->ledger_.get(), app->kube_binder_.get(),
                                 &app->metrics_, ExtenderOptionsFrom(config));
  app->sync_ = std::make_unique<kube::KubeSync>(app->client_.get(), app->ledger_.get(),
                                                app->extender_.get());
  return app;
}

}  // namespace accelsched::scheduler
