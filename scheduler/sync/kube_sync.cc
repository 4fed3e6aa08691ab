#include "scheduler/sync/kube_sync.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "plugins/framework/tenants.h"
#include "scheduler/codec/annotations.h"
#include "scheduler/gang/gang_coordinator.h"
#include "scheduler/state/clock.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::kube {
namespace {

constexpr char kPodGroupsPath[] = "/apis/scheduling.x-k8s.io/v1alpha1/podgroups";

bool SameSpec(const plugins::NodeSpec& a, const plugins::NodeSpec& b) {
  return a.name == b.name && a.cpu_milli == b.cpu_milli && a.memory_mib == b.memory_mib &&
         a.gpu_model == b.gpu_model && a.gpu_count == b.gpu_count &&
         a.gpu_memory_mib == b.gpu_memory_mib && a.mig_enabled == b.mig_enabled &&
         a.topology == b.topology && a.labels == b.labels && a.unhealthy_gpus == b.unhealthy_gpus &&
         a.static_mig == b.static_mig && a.mig_instances == b.mig_instances;
}

// One watch line of `path`, decoded (`event`), handed to `handle` unless it is a bookmark.
// Returns its resourceVersion; an undecodable line is DataLoss (reconnect; relist if it comes
// again), an ERROR event Aborted for 410 Gone (relist), else Unavailable.
template <typename T>
absl::StatusOr<std::string> ApplyEvent(
    const std::string& path, const absl::StatusOr<codec::WatchEvent<T>>& event,
    const std::function<void(const codec::WatchEvent<T>&)>& handle) {
  if (absl::IsInvalidArgument(event.status())) {  // One bad event: skip it, keep watching.
    spdlog::warn("watch {}: event ignored: {}", path, std::string(event.status().message()));
    return std::string();
  }
  if (!event.ok()) {
    const std::string why = absl::StrCat("watch ", path, ": ", event.status().message());
    return absl::IsDataLoss(event.status()) ? absl::DataLossError(why)
                                            : absl::UnavailableError(why);
  }
  if (event->type == codec::WatchEventType::kError) {
    if (event->error_code == 410) {
      return absl::AbortedError(absl::StrCat("watch ", path, ": 410 Gone"));
    }
    return absl::UnavailableError(absl::StrCat("watch ", path, ": ", event->error_message));
  }
  if (event->type != codec::WatchEventType::kBookmark) handle(*event);
  return event->resource_version;
}

// The isolation of namespace object `ns` (shared when the label is unset or invalid).
plugins::Isolation IsolationOf(const codec::NamespaceObject& ns) {
  if (ns.isolation.empty()) return plugins::Isolation::kShared;
  absl::StatusOr<plugins::Isolation> i = plugins::ParseIsolation(ns.isolation);
  if (!i.ok()) {
    spdlog::warn("namespace {}: {}; treated as shared", ns.name, std::string(i.status().message()));
    return plugins::Isolation::kShared;
  }
  return *i;
}

}  // namespace

KubeSync::KubeSync(const KubeClient* client, Ledger* ledger, Extender* extender)
    : client_(client), ledger_(ledger), extender_(extender) {
  informers_ = {
      {"nodes", "/api/v1/nodes", false, "",
       [this](absl::string_view text, double) { return ApplyNodeList(text); },
       [this](absl::string_view line) -> absl::StatusOr<std::string> {
         if (stopped_) return absl::CancelledError("stopped");
         absl::StatusOr<codec::WatchEvent<codec::NodeObject>> event;
         {
           absl::MutexLock lock(&mu_);
           event = codec::DecodeNodeEvent(line, topologies_);
         }
         return ApplyEvent<codec::NodeObject>("/api/v1/nodes", event,
                                              [this](const auto& e) { OnNode(e); });
       }},
      {"podgroups", kPodGroupsPath, true,
       absl::StrCat("gangs take their size from the ", kAnnotationGangSize, " annotation"),
       [this](absl::string_view text, double) { return ApplyPodGroupList(text); },
       [this](absl::string_view line) -> absl::StatusOr<std::string> {
         if (stopped_) return absl::CancelledError("stopped");
         return ApplyEvent<codec::PodGroupObject>(kPodGroupsPath, codec::DecodePodGroupEvent(line),
                                                  [this](const auto& e) { OnPodGroup(e); });
       }},
      {"namespaces", "/api/v1/namespaces", false, "",
       [this](absl::string_view text, double) { return ApplyNamespaceList(text); },
       [this](absl::string_view line) -> absl::StatusOr<std::string> {
         if (stopped_) return absl::CancelledError("stopped");
         return ApplyEvent<codec::NamespaceObject>("/api/v1/namespaces",
                                                   codec::DecodeNamespaceEvent(line),
                                                   [this](const auto& e) { OnNamespace(e); });
       }},
      {"pods", "/api/v1/pods", false, "",
       [this](absl::string_view text, double listed_at) { return ApplyPodList(text, listed_at); },
       [this](absl::string_view line) -> absl::StatusOr<std::string> {
         if (stopped_) return absl::CancelledError("stopped");
         return ApplyEvent<codec::PodObject>("/api/v1/pods", codec::DecodePodEvent(line),
                                             [this](const auto& e) { OnPod(e); });
       }},
  };
}

void KubeSync::SetVersion(const std::string& kind, const std::string& version) {
  absl::MutexLock lock(&mu_);
  if (!version.empty()) versions_[kind] = version;
}

void KubeSync::SetRetryDelay(const std::string& kind, double seconds) {
  absl::MutexLock lock(&mu_);
  retry_delays_[kind] = seconds;
}

double KubeSync::RetryDelay(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  auto it = retry_delays_.find(kind);
  return it == retry_delays_.end() ? Backoff::kInitialSeconds : it->second;
}

std::string KubeSync::Version(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  auto it = versions_.find(kind);
  return it == versions_.end() ? "" : it->second;
}

absl::Status KubeSync::List(Informer& informer) {
  const double listed_at = extender_->GangClock();
  absl::StatusOr<std::string> text = client_->Get(informer.path);
  if (informer.optional) {
    const bool absent = absl::IsNotFound(text.status()) || absl::IsPermissionDenied(text.status());
    {
      absl::MutexLock lock(&mu_);
      available_[informer.kind] = !absent;
    }
    if (absent) {
      spdlog::info("{} ({}) not readable ({}): {}", informer.kind, informer.path,
                   std::string(text.status().message()), informer.without);
      return absl::OkStatus();
    }
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> version = informer.apply_list(*text, listed_at);
  if (!version.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GET ", informer.path, ": ", version.status().message()));
  }
  absl::MutexLock lock(&mu_);
  versions_[informer.kind] = *version;
  return absl::OkStatus();
}

absl::Status KubeSync::RebuildNodes() {
  std::vector<plugins::NodeSpec> specs;
  specs.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) specs.push_back(n.spec);
  ACCELSCHED_ASSIGN_OR_RETURN(std::vector<PlacedPod> dropped,
                              ledger_->ReplaceNodes(std::move(specs)));
  for (const PlacedPod& p : dropped) {
    spdlog::warn("pod {} no longer holds devices: node {} is gone or changed", p.key, p.node);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> KubeSync::ApplyNodeList(absl::string_view text) {
  absl::MutexLock lock(&mu_);
  ACCELSCHED_ASSIGN_OR_RETURN(codec::ObjectList<codec::NodeObject> list,
                              codec::DecodeNodeList(text, topologies_));
  nodes_.clear();
  for (absl::StatusOr<codec::NodeObject>& n : list.items) {
    if (!n.ok()) {
      spdlog::warn("skipping a node: {}", std::string(n.status().message()));
      continue;
    }
    for (const std::string& w : n->warnings) spdlog::warn("node {}: {}", n->spec.name, w);
    std::string name = n->spec.name;
    nodes_[name] = *std::move(n);
  }
  ACCELSCHED_RETURN_IF_ERROR(RebuildNodes());
  return list.resource_version;
}

void KubeSync::AdoptBound(const codec::PodObject& pod) {
  extender_->ReconcileBound(pod);
  ReportConflicts();
}

// Each new conflict once as a Kubernetes Event on its pod (a warning `kubectl describe pod`
// shows); failures to post are logged, never retried.
void KubeSync::ReportConflicts() {
  for (const Conflict& c : extender_->TakeUnreportedConflicts()) {
    const size_t slash = c.pod.find('/');
    const std::string ns = c.pod.substr(0, slash);
    const std::string message =
        absl::StrCat("bound to ", c.node, " on ", c.devices,
                     ", which accelsched already gave to another pod: ", c.reason);
    absl::StatusOr<std::string> posted =
        client_->Post(absl::StrCat("/api/v1/namespaces/", ns, "/events"),
                      codec::EncodePodEvent(ns, c.pod.substr(slash + 1), c.uid,
                                            "AccelschedDeviceConflict", message));
    if (!posted.ok()) {
      spdlog::warn("event for pod {}: {}", c.pod, std::string(posted.status().message()));
    }
  }
}

absl::StatusOr<std::string> KubeSync::ApplyPodList(absl::string_view text, double listed_at) {
  ACCELSCHED_ASSIGN_OR_RETURN(codec::ObjectList<codec::PodObject> list, codec::DecodePodList(text));
  absl::flat_hash_set<std::string> present;
  absl::flat_hash_set<std::string> listed;  // Every pod listed, for the gang members.
  bool complete = true;
  for (const absl::StatusOr<codec::PodObject>& p : list.items) {
    if (!p.ok()) {
      spdlog::warn("skipping a pod: {}", std::string(p.status().message()));
      complete = false;  // Its UID is unknown: forget no gang member on this list.
      continue;
    }
    listed.insert(p->uid);
    if (p->node_name.empty()) extender_->Remember(*p);
    if (!p->HoldsResources()) continue;
    extender_->ObserveBound(*p);
    present.insert(p->uid);
    AdoptBound(*p);
  }
  // Whatever the ledger holds that the API no longer lists as running is released. Pods being
  // bound right now are in the ledger before the API shows them bound; they are spared when the
  // binding is younger than the list (their uid is not in `present` but the bind is in flight):
  // the next event or relist settles them.
  for (const PlacedPod& p : ledger_->Pods()) {
    // Gang reservation slots and tentative holds are not pods: GangCoordinator::Reconcile and
    // TentativeHolds own them.
    if (p.holder != Holder::kPod) continue;
    if (present.count(p.uid) == 0 && !extender_->BindInFlight(p.uid, listed_at)) {
      (void)ledger_->Release(p.uid);
      spdlog::info("released pod {} (no longer running)", p.key);
    }
  }
  if (complete) {
    extender_->ForgetAbsent(listed, listed_at);
    extender_->KeepConflictsOf(present);
  }
  return list.resource_version;
}

absl::StatusOr<std::string> KubeSync::ApplyPodGroupList(absl::string_view text) {
  ACCELSCHED_ASSIGN_OR_RETURN(codec::ObjectList<codec::PodGroupObject> list,
                              codec::DecodePodGroupList(text));
  absl::flat_hash_set<std::string> listed;
  bool complete = true;
  for (const absl::StatusOr<codec::PodGroupObject>& g : list.items) {
    if (!g.ok()) {
      spdlog::warn("skipping a PodGroup: {}", std::string(g.status().message()));
      complete = false;
      continue;
    }
    extender_->SetGangMinMember(g->gang, g->min_member);
    listed.insert(g->gang);
  }
  if (complete) extender_->KeepGangMinMembersOf(listed);  // Deleted while not watched.
  return list.resource_version;
}

absl::StatusOr<std::string> KubeSync::ApplyNamespaceList(absl::string_view text) {
  ACCELSCHED_ASSIGN_OR_RETURN(codec::ObjectList<codec::NamespaceObject> list,
                              codec::DecodeNamespaceList(text));
  absl::flat_hash_set<std::string> listed;
  bool complete = true;
  for (const absl::StatusOr<codec::NamespaceObject>& ns : list.items) {
    if (!ns.ok()) {
      spdlog::warn("skipping a namespace: {}", std::string(ns.status().message()));
      complete = false;
      continue;
    }
    extender_->SetIsolation(ns->name, IsolationOf(*ns));
    listed.insert(ns->name);
  }
  if (complete) extender_->KeepIsolationOf(listed);  // Deleted while not watched.
  return list.resource_version;
}

void KubeSync::OnNode(const codec::WatchEvent<codec::NodeObject>& event) {
  absl::MutexLock lock(&mu_);
  if (event.type == codec::WatchEventType::kDeleted) {
    if (nodes_.erase(event.name) > 0) (void)RebuildNodes();
    return;
  }
  if (!event.object.ok()) {
    spdlog::warn("node {}: ignored: {}", event.name, std::string(event.object.status().message()));
    return;
  }
  const codec::NodeObject& n = *event.object;
  auto it = nodes_.find(n.spec.name);
  if (it != nodes_.end() && SameSpec(it->second.spec, n.spec)) return;  // Heartbeats etc.
  nodes_[n.spec.name] = n;
  if (absl::Status s = RebuildNodes(); !s.ok()) {
    spdlog::error("node {}: {}", event.name, std::string(s.message()));
  }
}

void KubeSync::OnPod(const codec::WatchEvent<codec::PodObject>& event) {
  if (!event.object.ok()) {
    spdlog::warn("pod event ignored: {}", std::string(event.object.status().message()));
    return;
  }
  const codec::PodObject& p = *event.object;
  const bool deleted = event.type == codec::WatchEventType::kDeleted;
  if (deleted || (!p.HoldsResources() && !p.node_name.empty())) {
    if (deleted) extender_->Forget(p);
    extender_->ClearConflict(p.uid);
    if (ledger_->Find(p.uid).has_value() && ledger_->Release(p.uid).ok()) {
      spdlog::info("released pod {} ({})", p.Key(), deleted ? "deleted" : p.phase);
    }
    return;
  }
  if (p.node_name.empty()) {  // Pending: remember it for its bind.
    extender_->Remember(p);
    return;
  }
  extender_->ObserveBound(p);
  AdoptBound(p);
}

void KubeSync::OnPodGroup(const codec::WatchEvent<codec::PodGroupObject>& event) {
  if (!event.object.ok()) {
    spdlog::warn("PodGroup event ignored: {}", std::string(event.object.status().message()));
    return;
  }
  const bool deleted = event.type == codec::WatchEventType::kDeleted;
  extender_->SetGangMinMember(event.object->gang, deleted ? 0 : event.object->min_member);
}

void KubeSync::OnNamespace(const codec::WatchEvent<codec::NamespaceObject>& event) {
  if (!event.object.ok()) {
    spdlog::warn("namespace event ignored: {}", std::string(event.object.status().message()));
    return;
  }
  const bool deleted = event.type == codec::WatchEventType::kDeleted;
  extender_->SetIsolation(event.object->name,
                          deleted ? plugins::Isolation::kShared : IsolationOf(*event.object));
}

absl::Status KubeSync::Start() {
  for (Informer& informer : informers_) ACCELSCHED_RETURN_IF_ERROR(List(informer));
  spdlog::info("synced from the API server: {} nodes, {} pods holding resources",
               ledger_->Snapshot()->num_nodes(), ledger_->num_pods());
  return absl::OkStatus();
}

void KubeSync::WatchLoop(Informer& informer) {
  Backoff backoff;
  std::string unreadable_at;  // The resume version of the last watch that met an unreadable line.
  while (!stopped_) {
    const std::string version = Version(informer.kind);
    const std::string path = absl::StrCat(
        informer.path, "?watch=true&allowWatchBookmarks=true&timeoutSeconds=", kWatchTimeoutSeconds,
        version.empty() ? "" : "&resourceVersion=", version);
    absl::Status s = client_->Watch(
        path,
        [&](absl::string_view line) -> absl::Status {
          MarkWorking(informer.kind);
          ACCELSCHED_ASSIGN_OR_RETURN(std::string v, informer.apply_event(line));
          SetVersion(informer.kind, v);
          backoff.Reset();
          SetRetryDelay(informer.kind, backoff.seconds());
          return absl::OkStatus();
        },
        [&] { MarkWorking(informer.kind); });
    if (stopped_) break;
    // An unreadable line is taken for a damaged stream and the watch resumes; if the line comes
    // again from the same version it is the API's, and only a relist gets past it (issue 14: the
    // watch once retried it forever).
    const bool unreadable_again = absl::IsDataLoss(s) && version == unreadable_at;
    if (absl::IsDataLoss(s)) unreadable_at = version;
    if (absl::IsAborted(s) || unreadable_again) {  // 410 Gone, or the same unreadable line.
      ++relists_;
      spdlog::info("watch {}: {}; relisting", informer.kind, std::string(s.message()));
      absl::Status relist = List(informer);
      if (relist.ok()) {
        MarkWorking(informer.kind);
        backoff.Reset();  // Caught up: a later failure starts again from the shortest delay.
        SetRetryDelay(informer.kind, backoff.seconds());
        continue;
      }
      s = relist;
    }
    if (s.ok()) MarkWorking(informer.kind);  // The stream ended cleanly (timeoutSeconds).
    if (!s.ok()) {
      MarkFailing(informer.kind, s);
      spdlog::warn("watch {}: {}; retrying in {:.1f} s", informer.kind, std::string(s.message()),
                   backoff.seconds());
      backoff.Wait(stopped_);
      SetRetryDelay(informer.kind, backoff.seconds());
    }
  }
}

void KubeSync::MarkFailing(const std::string& kind, const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = outages_.try_emplace(kind);
  if (fresh) {
    it->second.since = SteadySeconds();
    it->second.kind = kind;
  }
  it->second.error = std::string(error.message());
}

void KubeSync::MarkWorking(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  outages_.erase(kind);
}

std::optional<KubeSync::Outage> KubeSync::LongestOutage() {
  absl::MutexLock lock(&mu_);
  std::optional<Outage> out;
  for (const auto& [kind, o] : outages_) {
    if (!out.has_value() || o.since < out->since) out = o;
  }
  return out;
}

void KubeSync::Run() {
  std::vector<std::thread> threads;
  for (size_t i = 0; i + 1 < informers_.size(); ++i) {
    Informer& informer = informers_[i];
    bool available = true;
    if (informer.optional) {
      absl::MutexLock lock(&mu_);
      available = available_[informer.kind];
    }
    if (available) threads.emplace_back([this, &informer] { WatchLoop(informer); });
  }
  WatchLoop(informers_.back());
  for (std::thread& t : threads) t.join();
}

void KubeSync::Stop() {
  stopped_ = true;
  client_->Stop();
}

}  // namespace accelsched::scheduler::kube
