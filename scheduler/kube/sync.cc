#include "scheduler/kube/sync.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "scheduler/annotations.h"
#include "scheduler/gang_coordinator.h"
#include "scheduler/tenancy.h"
#include "topology/status_macros.h"

namespace accelsched::scheduler::kube {
namespace {

using codec::Json;

bool SameSpec(const plugins::NodeSpec& a, const plugins::NodeSpec& b) {
  return a.name == b.name && a.cpu_milli == b.cpu_milli && a.memory_mib == b.memory_mib &&
         a.gpu_model == b.gpu_model && a.gpu_count == b.gpu_count &&
         a.gpu_memory_mib == b.gpu_memory_mib && a.mig_enabled == b.mig_enabled &&
         a.topology == b.topology && a.labels == b.labels;
}

std::string ResourceVersion(const Json& object) {
  const Json* metadata = codec::Find(object, "metadata");
  if (metadata == nullptr || !metadata->is_object()) return "";
  return metadata->value("resourceVersion", "");
}

}  // namespace

absl::Status KubeBinder::Bind(const codec::PodObject& pod, const std::string& node,
                              const std::map<std::string, std::string>& annotations) {
  const Json binding = {{"apiVersion", "v1"},
                        {"kind", "Binding"},
                        {"metadata",
                         {{"name", pod.name},
                          {"namespace", pod.namespace_name},
                          {"uid", pod.uid},
                          {"annotations", annotations}}},
                        {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  const std::string path =
      absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name, "/binding");
  absl::StatusOr<Json> r = client_->Post(path, binding);
  if (r.ok()) return absl::OkStatus();
  if (absl::IsAlreadyExists(r.status())) {
    // Already bound: fine if to this node (a retry whose reply was lost).
    absl::StatusOr<Json> current =
        client_->Get(absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name));
    if (current.ok() && current->value("spec", Json::object()).value("nodeName", "") == node) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", pod.Key(), " is already bound elsewhere: ", r.status().message()));
  }
  return r.status();
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

absl::Status KubeSync::ListNodes() {
  ACCELSCHED_ASSIGN_OR_RETURN(Json list, client_->Get("/api/v1/nodes"));
  const Json* items = codec::Find(list, "items");
  absl::MutexLock lock(&mu_);
  nodes_.clear();
  if (items != nullptr && items->is_array()) {
    for (size_t i = 0; i < items->size(); ++i) {
      absl::StatusOr<codec::NodeObject> n =
          codec::DecodeNode((*items)[i], absl::StrCat("nodes.items[", i, "]"), topologies_);
      if (!n.ok()) {
        spdlog::warn("skipping a node: {}", std::string(n.status().message()));
        continue;
      }
      for (const std::string& w : n->warnings) spdlog::warn("node {}: {}", n->spec.name, w);
      nodes_[n->spec.name] = std::move(*n);
    }
  }
  node_version_ = ResourceVersion(list);
  return RebuildNodes();
}

absl::Status KubeSync::ListPods() {
  const double listed_at = extender_->GangClock();
  ACCELSCHED_ASSIGN_OR_RETURN(Json list, client_->Get("/api/v1/pods"));
  const Json* items = codec::Find(list, "items");
  std::set<std::string> present;
  absl::flat_hash_set<std::string> listed;  // Every pod listed, for the gang members.
  bool complete = true;
  if (items != nullptr && items->is_array()) {
    for (size_t i = 0; i < items->size(); ++i) {
      absl::StatusOr<codec::PodObject> p =
          codec::DecodePod((*items)[i], absl::StrCat("pods.items[", i, "]"));
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
      std::optional<PlacedPod> held = ledger_->Find(p->uid);
      if (held.has_value() && held->node == p->node_name) continue;
      if (held.has_value()) (void)ledger_->Release(p->uid);
      if (absl::Status s = extender_->Adopt(*p); !s.ok()) {
        spdlog::warn("pod {} on {}: not adopted: {}", p->Key(), p->node_name,
                     std::string(s.message()));
      }
    }
  }
  // Whatever the ledger holds that the API no longer lists as running is released. Pods being
  // bound right now are in the ledger before the API shows them bound; they are spared when the
  // binding is younger than the list (their uid is not in `present` but the bind is in flight):
  // the next event or relist settles them.
  for (const PlacedPod& p : ledger_->Pods()) {
    // Gang reservation slots are not pods: GangCoordinator::Reconcile owns them.
    if (GangCoordinator::IsSlotUid(p.uid)) continue;
    if (present.count(p.uid) == 0 && !extender_->BindInFlight(p.uid)) {
      (void)ledger_->Release(p.uid);
      spdlog::info("released pod {} (no longer running)", p.key);
    }
  }
  if (complete) extender_->ForgetAbsent(listed, listed_at);
  absl::MutexLock lock(&mu_);
  pod_version_ = ResourceVersion(list);
  return absl::OkStatus();
}

constexpr char kPodGroupsPath[] = "/apis/scheduling.x-k8s.io/v1alpha1/podgroups";

absl::Status KubeSync::ListPodGroups() {
  absl::StatusOr<Json> list = client_->Get(kPodGroupsPath);
  if (absl::IsNotFound(list.status()) || absl::IsPermissionDenied(list.status())) {
    pod_groups_available_ = false;
    spdlog::info("PodGroups ({}) not readable ({}): gangs take their size from the {} annotation",
                 kPodGroupsPath, std::string(list.status().message()), kAnnotationGangSize);
    return absl::OkStatus();
  }
  if (!list.ok()) return list.status();
  pod_groups_available_ = true;
  const Json* items = codec::Find(*list, "items");
  absl::flat_hash_set<std::string> listed;
  bool complete = true;
  if (items != nullptr && items->is_array()) {
    for (size_t i = 0; i < items->size(); ++i) {
      absl::StatusOr<codec::PodGroupObject> g =
          codec::DecodePodGroup((*items)[i], absl::StrCat("podgroups.items[", i, "]"));
      if (!g.ok()) {
        spdlog::warn("skipping a PodGroup: {}", std::string(g.status().message()));
        complete = false;
        continue;
      }
      extender_->SetGangMinMember(g->gang, g->min_member);
      listed.insert(g->gang);
    }
  }
  if (complete) extender_->KeepGangMinMembersOf(listed);  // Deleted while not watched.
  absl::MutexLock lock(&mu_);
  pod_group_version_ = ResourceVersion(*list);
  return absl::OkStatus();
}

void KubeSync::OnPodGroup(const std::string& type, const Json& object) {
  {
    absl::MutexLock lock(&mu_);
    if (std::string rv = ResourceVersion(object); !rv.empty()) pod_group_version_ = rv;
  }
  if (type == "BOOKMARK") return;
  absl::StatusOr<codec::PodGroupObject> g = codec::DecodePodGroup(object, "podgroup");
  if (!g.ok()) {
    spdlog::warn("PodGroup event ignored: {}", std::string(g.status().message()));
    return;
  }
  extender_->SetGangMinMember(g->gang, type == "DELETED" ? 0 : g->min_member);
}

namespace {

// The isolation of namespace object `ns` (shared when the label is unset or invalid).
Isolation IsolationOf(const codec::NamespaceObject& ns) {
  if (ns.isolation.empty()) return Isolation::kShared;
  absl::StatusOr<Isolation> i = ParseIsolation(ns.isolation);
  if (!i.ok()) {
    spdlog::warn("namespace {}: {}; treated as shared", ns.name, std::string(i.status().message()));
    return Isolation::kShared;
  }
  return *i;
}

}  // namespace

absl::Status KubeSync::ListNamespaces() {
  ACCELSCHED_ASSIGN_OR_RETURN(Json list, client_->Get("/api/v1/namespaces"));
  const Json* items = codec::Find(list, "items");
  absl::flat_hash_set<std::string> listed;
  bool complete = true;
  if (items != nullptr && items->is_array()) {
    for (size_t i = 0; i < items->size(); ++i) {
      absl::StatusOr<codec::NamespaceObject> ns =
          codec::DecodeNamespace((*items)[i], absl::StrCat("namespaces.items[", i, "]"));
      if (!ns.ok()) {
        spdlog::warn("skipping a namespace: {}", std::string(ns.status().message()));
        complete = false;
        continue;
      }
      extender_->SetIsolation(ns->name, IsolationOf(*ns));
      listed.insert(ns->name);
    }
  }
  if (complete) extender_->KeepIsolationOf(listed);  // Deleted while not watched.
  absl::MutexLock lock(&mu_);
  namespace_version_ = ResourceVersion(list);
  return absl::OkStatus();
}

void KubeSync::OnNamespace(const std::string& type, const Json& object) {
  {
    absl::MutexLock lock(&mu_);
    if (std::string rv = ResourceVersion(object); !rv.empty()) namespace_version_ = rv;
  }
  if (type == "BOOKMARK") return;
  absl::StatusOr<codec::NamespaceObject> ns = codec::DecodeNamespace(object, "namespace");
  if (!ns.ok()) {
    spdlog::warn("namespace event ignored: {}", std::string(ns.status().message()));
    return;
  }
  extender_->SetIsolation(ns->name, type == "DELETED" ? Isolation::kShared : IsolationOf(*ns));
}

absl::Status KubeSync::Start() {
  ACCELSCHED_RETURN_IF_ERROR(ListNodes());
  ACCELSCHED_RETURN_IF_ERROR(ListPodGroups());  // Before the pods: their gangs' sizes.
  ACCELSCHED_RETURN_IF_ERROR(ListNamespaces());
  ACCELSCHED_RETURN_IF_ERROR(ListPods());
  spdlog::info("synced from the API server: {} nodes, {} pods holding resources",
               ledger_->Snapshot()->num_nodes(), ledger_->num_pods());
  return absl::OkStatus();
}

void KubeSync::OnNode(const std::string& type, const Json& object) {
  absl::MutexLock lock(&mu_);
  if (std::string rv = ResourceVersion(object); !rv.empty()) node_version_ = rv;
  if (type == "BOOKMARK") return;
  const Json* metadata = codec::Find(object, "metadata");
  const std::string name =
      metadata != nullptr && metadata->is_object() ? metadata->value("name", "") : "";
  if (type == "DELETED") {
    if (nodes_.erase(name) > 0) (void)RebuildNodes();
    return;
  }
  absl::StatusOr<codec::NodeObject> n = codec::DecodeNode(object, "node", topologies_);
  if (!n.ok()) {
    spdlog::warn("node {}: ignored: {}", name, std::string(n.status().message()));
    return;
  }
  auto it = nodes_.find(n->spec.name);
  if (it != nodes_.end() && SameSpec(it->second.spec, n->spec)) return;  // Heartbeats etc.
  nodes_[n->spec.name] = std::move(*n);
  if (absl::Status s = RebuildNodes(); !s.ok()) {
    spdlog::error("node {}: {}", name, std::string(s.message()));
  }
}

void KubeSync::OnPod(const std::string& type, const Json& object) {
  {
    absl::MutexLock lock(&mu_);
    if (std::string rv = ResourceVersion(object); !rv.empty()) pod_version_ = rv;
  }
  if (type == "BOOKMARK") return;
  absl::StatusOr<codec::PodObject> p = codec::DecodePod(object, "pod");
  if (!p.ok()) {
    spdlog::warn("pod event ignored: {}", std::string(p.status().message()));
    return;
  }
  std::optional<PlacedPod> held = ledger_->Find(p->uid);
  if (type == "DELETED" || (!p->HoldsResources() && !p->node_name.empty())) {
    if (type == "DELETED") extender_->Forget(*p);
    if (held.has_value() && ledger_->Release(p->uid).ok()) {
      spdlog::info("released pod {} ({})", p->Key(), type == "DELETED" ? "deleted" : p->phase);
    }
    return;
  }
  if (p->node_name.empty()) {  // Pending: remember it for its bind.
    extender_->Remember(*p);
    return;
  }
  if (!p->HoldsResources()) return;
  extender_->ObserveBound(*p);
  if (held.has_value() && held->node == p->node_name) return;
  if (held.has_value()) (void)ledger_->Release(p->uid);
  if (absl::Status s = extender_->Adopt(*p); !s.ok()) {
    spdlog::warn("pod {} on {}: not adopted: {}", p->Key(), p->node_name, std::string(s.message()));
  }
}

void KubeSync::WatchLoop(const std::string& kind) {
  double backoff = 0.5;
  while (!stopped_) {
    std::string version;
    {
      absl::MutexLock lock(&mu_);
      version = kind == "nodes"        ? node_version_
                : kind == "pods"       ? pod_version_
                : kind == "namespaces" ? namespace_version_
                                       : pod_group_version_;
    }
    const std::string path =
        absl::StrCat(kind == "podgroups" ? kPodGroupsPath : absl::StrCat("/api/v1/", kind),
                     "?watch=true&allowWatchBookmarks=true&timeoutSeconds=300",
                     version.empty() ? "" : "&resourceVersion=", version);
    absl::Status s = client_->Watch(path, [&](const Json& event) {
      const std::string type = event.value("type", "");
      const Json& object = event.contains("object") ? event["object"] : Json();
      if (kind == "nodes") {
        OnNode(type, object);
      } else if (kind == "pods") {
        OnPod(type, object);
      } else if (kind == "namespaces") {
        OnNamespace(type, object);
      } else {
        OnPodGroup(type, object);
      }
      backoff = 0.5;
      return !stopped_;
    });
    if (stopped_) break;
    if (absl::IsAborted(s)) {  // 410 Gone: our resourceVersion is too old.
      ++relists_;
      spdlog::info("watch {}: {}; relisting", kind, std::string(s.message()));
      absl::Status relist = kind == "nodes"        ? ListNodes()
                            : kind == "pods"       ? ListPods()
                            : kind == "namespaces" ? ListNamespaces()
                                                   : ListPodGroups();
      if (relist.ok()) continue;
      s = relist;
    }
    if (!s.ok()) {
      spdlog::warn("watch {}: {}; retrying in {:.1f} s", kind, std::string(s.message()), backoff);
      for (double waited = 0; waited < backoff && !stopped_; waited += 0.05) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff = std::min(30.0, backoff * 2);
    }
  }
}

void KubeSync::Run() {
  std::thread nodes([this] { WatchLoop("nodes"); });
  std::thread namespaces([this] { WatchLoop("namespaces"); });
  std::thread groups;
  if (pod_groups_available_) groups = std::thread([this] { WatchLoop("podgroups"); });
  WatchLoop("pods");
  nodes.join();
  namespaces.join();
  if (groups.joinable()) groups.join();
}

void KubeSync::Stop() {
  stopped_ = true;
  client_->Stop();
}

}  // namespace accelsched::scheduler::kube
