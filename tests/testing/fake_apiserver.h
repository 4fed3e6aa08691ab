// An in-process fake of the Kubernetes API server for what accelsched uses (leveldb MemEnv
// style: a real HTTP server on an ephemeral port, in-memory objects):
//   GET  /api/v1/nodes, /api/v1/pods                  lists with metadata.resourceVersion
//   GET  /api/v1/namespaces/{ns}/pods/{name}           one pod
//   GET  /api/v1/{nodes,pods}?watch=true&resourceVersion=R[&allowWatchBookmarks=true]
//        a chunked stream of {"type","object"} lines after R, then live events; BOOKMARK lines
//        when idle (if asked); an ERROR event with code 410 if R is older than the last
//        compaction; the stream ends at timeoutSeconds or when DropWatches() is called
//   GET  /api/v1/pods?fieldSelector=spec.nodeName=N    (list and watch) only the pods on node N
//   PATCH /api/v1/nodes/{name}, /api/v1/namespaces/{ns}/pods/{name} (merge patch)
//                                                      merges metadata.annotations and labels
//   POST /api/v1/namespaces/{ns}/pods/{name}/binding   sets spec.nodeName and the Binding's
//        annotations; 404 unknown pod, 409 already bound
//   POST /api/v1/namespaces/{ns}/events                stores a core/v1 Event (events())
// Test hooks add, change and delete objects (each bumps the resourceVersion and emits an event),
// and inject faults: an outage (every request 503, watches dropped), bindings answered with an
// error after being applied or not (FailNextBinds), watch delivery paused (PauseWatches).
//
// Thread-safety: thread-safe.
#ifndef ACCELSCHED_TESTS_TESTING_FAKE_APISERVER_H_
#define ACCELSCHED_TESTS_TESTING_FAKE_APISERVER_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"

namespace accelsched::testing {

// RFC 7386 on metadata.annotations and metadata.labels: a null value removes the key.
inline void MergeAnnotations(const nlohmann::json& patch, nlohmann::json& object) {
  const nlohmann::json& metadata = patch.value("metadata", nlohmann::json::object());
  for (const char* field : {"annotations", "labels"}) {
    if (!metadata.contains(field)) continue;
    for (const auto& [k, v] : metadata[field].items()) {
      if (v.is_null()) {
        if (object["metadata"].contains(field)) object["metadata"][field].erase(k);
      } else {
        object["metadata"][field][k] = v;
      }
    }
  }
}

class FakeApiServer {
 public:
  using Json = nlohmann::json;

  // Plain HTTP, or HTTPS with the given PEM files.
  explicit FakeApiServer(const std::string& cert_file = "", const std::string& key_file = "") {
    if (cert_file.empty()) {
      server_ = std::make_unique<httplib::Server>();
    } else {
      server_ = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
    }
    // Each extender keeps four watches open (nodes, pods, namespaces, PodGroups); tests run two
    // extenders against one server, and binds must never wait for a free thread.
    server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      last_authorization_ = req.get_header_value("Authorization");
      if (outage_) {
        res.status = 503;
        res.set_content(R"({"kind":"Status","code":503,"reason":"ServiceUnavailable"})",
                        "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_->Post("/api/v1/namespaces/([^/]+)/events",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    Json event = Json::parse(req.body, nullptr, false);
                    std::lock_guard<std::mutex> lock(mu_);
                    if (event.is_discarded() || event.value("kind", "") != "Event" ||
                        event["involvedObject"].value("namespace", "") != req.matches[1].str()) {
                      res.status = 400;
                      return;
                    }
                    events_posted_.push_back(event);
                    res.status = 201;
                    res.set_content(event.dump(), "application/json");
                  });
    server_->Get("/(?:api/v1|apis/scheduling.x-k8s.io/v1alpha1)/(nodes|pods|podgroups|namespaces)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   const std::string kind = req.matches[1];
                   if (kind == "podgroups" && !pod_groups_installed_) {
                     res.status = 404;
                     res.set_content(R"({"kind": "Status", "code": 404})", "application/json");
                     return;
                   }
                   if (req.get_param_value("watch") == "true") {
                     return Watch(kind, req, res);
                   }
                   std::lock_guard<std::mutex> lock(mu_);
                   Json items = Json::array();
                   const std::string on_node = NodeSelector(req);
                   for (const auto& [key, obj] : Store(kind)) {
                     if (OnNode(obj, on_node)) {
                       items.push_back(obj);
                     }
                   }
                   Json list = {{"kind", kind == "nodes"        ? "NodeList"
                                         : kind == "pods"       ? "PodList"
                                         : kind == "namespaces" ? "NamespaceList"
                                                                : "PodGroupList"},
                                {"apiVersion", "v1"},
                                {"metadata", {{"resourceVersion", std::to_string(version_)}}},
                                {"items", items}};
                   ++lists_;
                   res.set_content(list.dump(), "application/json");
                 });
    server_->Get("/api/v1/namespaces/([^/]+)/pods/([^/]+)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   std::lock_guard<std::mutex> lock(mu_);
                   auto it = pods_.find(req.matches[1].str() + "/" + req.matches[2].str());
                   if (it == pods_.end()) {
                     res.status = 404;
                     return;
                   }
                   res.set_content(it->second.dump(), "application/json");
                 });
    // Merge patch of a pod's annotations (what accelsched-node sends) or labels (the leader's).
    server_->Patch("/api/v1/namespaces/([^/]+)/pods/([^/]+)", [this](const httplib::Request& req,
                                                                     httplib::Response& res) {
      Json patch = Json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      ++pod_patches_;
      auto it = pods_.find(req.matches[1].str() + "/" + req.matches[2].str());
      if (it == pods_.end() || patch.is_discarded() ||
          req.get_header_value("Content-Type") != "application/merge-patch+json") {
        res.status = it == pods_.end() ? 404 : 415;
        return;
      }
      // A uid in the patch is a precondition (as the kubelet's status patches
      // use it): another object of the same name is a 409 Conflict.
      const Json uid = patch["metadata"].value("uid", Json());
      if (uid.is_string() && uid != it->second["metadata"].value("uid", "")) {
        res.status = 409;
        res.set_content(R"({"kind":"Status","code":409,"reason":"Conflict","message":)"
                        R"("Precondition failed: UID in precondition"})",
                        "application/json");
        return;
      }
      MergeAnnotations(patch, it->second);
      EmitLocked("pods", "MODIFIED", it->second);
      res.set_content(it->second.dump(), "application/json");
    });
    // Merge patch of a node's annotations (what the topology agent sends).
    server_->Patch("/api/v1/nodes/([^/]+)",
                   [this](const httplib::Request& req, httplib::Response& res) {
                     Json patch = Json::parse(req.body, nullptr, false);
                     std::lock_guard<std::mutex> lock(mu_);
                     auto it = nodes_.find(req.matches[1]);
                     if (it == nodes_.end() || patch.is_discarded() ||
                         req.get_header_value("Content-Type") != "application/merge-patch+json") {
                       res.status = it == nodes_.end() ? 404 : 415;
                       return;
                     }
                     MergeAnnotations(patch, it->second);
                     EmitLocked("nodes", "MODIFIED", it->second);
                     res.set_content(it->second.dump(), "application/json");
                   });
    server_->Post("/api/v1/namespaces/([^/]+)/pods/([^/]+)/binding",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    const std::string key = req.matches[1].str() + "/" + req.matches[2].str();
                    Json binding = Json::parse(req.body, nullptr, false);
                    std::lock_guard<std::mutex> lock(mu_);
                    ++bind_calls_;
                    auto it = pods_.find(key);
                    if (it == pods_.end() || binding.is_discarded()) {
                      res.status = it == pods_.end() ? 404 : 400;
                      return;
                    }
                    Json& pod = it->second;
                    if (!pod["spec"].value("nodeName", "").empty()) {
                      res.status = 409;
                      res.set_content(R"({"kind":"Status","code":409,"reason":"Conflict"})",
                                      "application/json");
                      return;
                    }
                    BindFault fault;
                    if (!bind_faults_.empty()) {
                      fault = bind_faults_.front();
                      bind_faults_.erase(bind_faults_.begin());
                      if (!fault.apply) {
                        res.status = fault.status;
                        return;
                      }
                    }
                    pod["spec"]["nodeName"] = binding["target"]["name"];
                    for (auto& [k, v] : binding["metadata"]["annotations"].items()) {
                      pod["metadata"]["annotations"][k] = v;
                    }
                    EmitLocked("pods", "MODIFIED", pod);
                    if (fault.status != 0) {  // Applied, but the answer says otherwise.
                      res.status = fault.status;
                      res.set_content(R"({"kind":"Status","code":504,"reason":"Timeout"})",
                                      "application/json");
                      return;
                    }
                    res.status = 201;
                    res.set_content(R"({"kind":"Status","status":"Success"})", "application/json");
                  });
    RouteLeases();
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;
  FakeApiServer(FakeApiServer&&) = delete;
  FakeApiServer& operator=(FakeApiServer&&) = delete;
  ~FakeApiServer() {
    stopping_ = true;
    cv_.notify_all();
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }

  void PutNode(Json node) { Put("nodes", std::move(node)); }
  void PutPod(Json pod) { Put("pods", std::move(pod)); }
  void PutPodGroup(Json group) { Put("podgroups", std::move(group)); }
  void PutNamespace(Json ns) { Put("namespaces", std::move(ns)); }
  // Without the PodGroup CRD, its list answers 404 (set before the extender starts).
  void set_pod_groups_installed(bool installed) { pod_groups_installed_ = installed; }
  void DeletePod(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(key);
    if (it == pods_.end()) {
      return;
    }
    Json obj = it->second;
    pods_.erase(it);
    EmitLocked("pods", "DELETED", obj);
  }
  Json Node(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(name);
    return it == nodes_.end() ? Json() : it->second;
  }
  Json Pod(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(key);
    return it == pods_.end() ? Json() : it->second;
  }
  // Forgets the event history (watches resuming from before now get 410) and ends every open
  // watch stream, as an API server restart or etcd compaction would.
  // Sends `line` as it is to the watchers of `kind` (a malformed event; nothing is stored).
  void EmitRawEvent(const std::string& kind, const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    ++version_;
    events_.push_back({version_, kind, "", Json(), line});
    cv_.notify_all();
  }
  // Ends every open watch stream (a connection reset mid-stream); the history stays, so watches
  // resume from their versions without a relist.
  void DropWatches() {
    std::lock_guard<std::mutex> lock(mu_);
    ++drop_generation_;
    cv_.notify_all();
  }
  void CompactAndDropWatches() {
    std::lock_guard<std::mutex> lock(mu_);
    // Everyone's last version is now too old (the history up to it is gone): a watch resumed from
    // it gets 410, and a list returns the new version, from which watches work again.
    compacted_before_ = ++version_;
    events_.clear();
    ++drop_generation_;
    cv_.notify_all();
  }
  int pod_patches() {
    std::lock_guard<std::mutex> lock(mu_);
    return pod_patches_;
  }
  int lists() {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  std::string last_authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_authorization_;
  }
  // Marks pod `key` bound to `node` by someone else (no event ordering subtleties: an event).
  void BindElsewhere(const std::string& key, const std::string& node) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(key);
    if (it == pods_.end()) {
      return;
    }
    it->second["spec"]["nodeName"] = node;
    EmitLocked("pods", "MODIFIED", it->second);
  }
  // Pod `key` bound to `node` with `annotations` (a binding written by someone else, or by a
  // process that was killed since): an event.
  void BindWithAnnotations(const std::string& key, const std::string& node,
                           const std::map<std::string, std::string>& annotations) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(key);
    if (it == pods_.end()) {
      return;
    }
    it->second["spec"]["nodeName"] = node;
    for (const auto& [k, v] : annotations) {
      it->second["metadata"]["annotations"][k] = v;
    }
    it->second["status"]["phase"] = "Running";
    EmitLocked("pods", "MODIFIED", it->second);
  }
  // The next binding POSTs, in order, answer `status`: after applying the binding (a reply lost
  // or a timeout after the write) if `apply`, else without it.
  void FailNextBind(int status, bool apply) {
    std::lock_guard<std::mutex> lock(mu_);
    bind_faults_.push_back({status, apply});
  }
  // While paused, watchers get no events (they queue up); resumed, they get them all.
  void PauseWatches(bool paused) {
    std::lock_guard<std::mutex> lock(mu_);
    watches_paused_ = paused;
    cv_.notify_all();
  }
  // An outage: every request is answered 503 and every watch stream ends, until it is over.
  void SetOutage(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    outage_ = down;
    if (down) {
      ++drop_generation_;
    }
    cv_.notify_all();
  }
  // The Events posted, in order.
  std::vector<Json> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_posted_;
  }
  // The resourceVersion of the latest change.
  int64_t resource_version() {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }
  int bind_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return bind_calls_;
  }

  // A network partition of the Lease holder `identity`: its Lease writes (creates and updates
  // naming it holder) fail with 503 while `cut`; reads still work.
  void PartitionLeaseHolder(const std::string& identity, bool cut) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cut) {
      partitioned_.insert(identity);
    } else {
      partitioned_.erase(identity);
    }
  }
  // The Lease `ns`/`name` (null if absent).
  Json Lease(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = leases_.find(ns + "/" + name);
    return it == leases_.end() ? Json() : it->second;
  }
  int lease_writes() {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_writes_;
  }

 private:
  // coordination.k8s.io/v1 Leases as the API server keeps them: GET, POST (409 if it exists),
  // PUT (409 unless metadata.resourceVersion is the stored one, 404 if absent); each write gets a
  // new resourceVersion.
  void RouteLeases() {
    static const char* kOne = "/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases/([^/]+)";
    static const char* kAll = "/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases";
    server_->Get(kOne, [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = leases_.find(req.matches[1].str() + "/" + req.matches[2].str());
      if (it == leases_.end()) {
        res.status = 404;
        res.set_content(R"({"kind":"Status","code":404,"reason":"NotFound"})", "application/json");
        return;
      }
      res.set_content(it->second.dump(), "application/json");
    });
    server_->Post(kAll, [this](const httplib::Request& req, httplib::Response& res) {
      WriteLease(req, res, req.matches[1].str(), /*create=*/true);
    });
    server_->Put(kOne, [this](const httplib::Request& req, httplib::Response& res) {
      WriteLease(req, res, req.matches[1].str(), /*create=*/false);
    });
  }
  void WriteLease(const httplib::Request& req, httplib::Response& res, const std::string& ns,
                  bool create) {
    Json lease = Json::parse(req.body, nullptr, false);
    if (lease.is_discarded() || !lease.contains("metadata")) {
      res.status = 400;
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    const std::string holder = lease.value("/spec/holderIdentity"_json_pointer, std::string());
    if (partitioned_.count(holder) > 0) {
      res.status = 503;
      return;
    }
    const std::string key = ns + "/" + lease["metadata"].value("name", "");
    auto it = leases_.find(key);
    const std::string sent = lease["metadata"].value("resourceVersion", "");
    if (create ? it != leases_.end()
               : it == leases_.end() || it->second["metadata"]["resourceVersion"] != sent) {
      res.status = !create && it == leases_.end() ? 404 : 409;
      res.set_content(R"({"kind":"Status","code":409,"reason":"Conflict"})", "application/json");
      return;
    }
    lease["metadata"]["namespace"] = ns;
    lease["metadata"]["resourceVersion"] = std::to_string(++version_);
    leases_[key] = lease;
    ++lease_writes_;
    res.status = create ? 201 : 200;
    res.set_content(lease.dump(), "application/json");
  }

  struct Event {
    int64_t version;
    std::string kind, type;
    Json object;
    std::string raw;  // If set, the watch line as sent (malformed events).
  };

  std::map<std::string, Json>& Store(const std::string& kind) {
    return kind == "nodes"        ? nodes_
           : kind == "pods"       ? pods_
           : kind == "namespaces" ? namespaces_
                                  : pod_groups_;
  }
  static std::string KeyOf(const std::string& kind, const Json& obj) {
    const Json& m = obj["metadata"];
    return kind == "nodes" || kind == "namespaces"
               ? m.value("name", "")
               : m.value("namespace", "default") + "/" + m.value("name", "");
  }
  void Put(const std::string& kind, Json obj) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = KeyOf(kind, obj);
    const bool exists = Store(kind).count(key) > 0;
    Store(kind)[key] = obj;
    EmitLocked(kind, exists ? "MODIFIED" : "ADDED", std::move(obj));
  }
  // The node of a fieldSelector "spec.nodeName=NAME" (the only field selector supported), or "".
  static std::string NodeSelector(const httplib::Request& req) {
    const std::string selector = req.get_param_value("fieldSelector");
    const std::string prefix = "spec.nodeName=";
    return selector.rfind(prefix, 0) == 0 ? selector.substr(prefix.size()) : "";
  }
  static bool OnNode(const Json& obj, const std::string& node) {
    return node.empty() || (obj.contains("spec") && obj["spec"].value("nodeName", "") == node);
  }

  // Bumps the version, stamps it on the stored object and records the event.
  void EmitLocked(const std::string& kind, const std::string& type, Json obj) {
    ++version_;
    obj["metadata"]["resourceVersion"] = std::to_string(version_);
    const std::string key = KeyOf(kind, obj);
    if (type != "DELETED") {
      Store(kind)[key]["metadata"]["resourceVersion"] = std::to_string(version_);
    }
    events_.push_back({version_, kind, type, std::move(obj), ""});
    cv_.notify_all();
  }

  void Watch(const std::string& kind, const httplib::Request& req, httplib::Response& res) {
    int64_t from = 0;
    const std::string rv = req.get_param_value("resourceVersion");
    if (!rv.empty()) {
      from = std::stoll(rv);
    }
    const bool bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    const std::string on_node = NodeSelector(req);
    int timeout = 300;
    if (req.has_param("timeoutSeconds")) {
      timeout = std::stoi(req.get_param_value("timeoutSeconds"));
    }
    int generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation = drop_generation_;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    res.set_chunked_content_provider(
        "application/json", [this, kind, from, bookmarks, deadline, generation, on_node](
                                size_t, httplib::DataSink& sink) mutable {
          std::unique_lock<std::mutex> lock(mu_);
          if (from != 0 && from < compacted_before_) {
            const std::string gone =
                R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                "\n";
            lock.unlock();
            sink.write(gone.data(), gone.size());
            sink.done();
            return true;
          }
          for (;;) {
            // A client that went away (an extender that stopped) frees its thread at once:
            // every extender holds four watches, and a stuck pool would stall other requests.
            if (stopping_ || drop_generation_ != generation || !sink.is_writable() ||
                std::chrono::steady_clock::now() > deadline) {
              lock.unlock();
              sink.done();
              return true;
            }
            std::string out;
            // The history is in version order: start after `from` (no copy, no scan from the
            // beginning: the soak keeps thousands of events).
            auto it =
                watches_paused_
                    ? events_.end()
                    : std::upper_bound(events_.begin(), events_.end(), from,
                                       [](int64_t v, const Event& e) { return v < e.version; });
            for (; it != events_.end(); ++it) {
              const Event& e = *it;
              if (e.kind != kind || !OnNode(e.object, on_node)) {
                continue;
              }
              out += e.raw.empty() ? Json{{"type", e.type}, {"object", e.object}}.dump() + "\n"
                                   : e.raw + "\n";
              from = e.version;
            }
            if (out.empty() && bookmarks && version_ > from && !watches_paused_) {
              // Nothing of this kind: a bookmark moves the watcher's version forward.
              out = Json{{"type", "BOOKMARK"},
                         {"object",
                          {{"kind", kind == "nodes"        ? "Node"
                                    : kind == "pods"       ? "Pod"
                                    : kind == "namespaces" ? "Namespace"
                                                           : "PodGroup"},
                           {"metadata", {{"resourceVersion", std::to_string(version_)}}}}}}
                        .dump() +
                    "\n";
              from = version_;
            }
            if (!out.empty()) {
              lock.unlock();
              return sink.write(out.data(), out.size());
            }
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        });
  }

  std::unique_ptr<httplib::Server> server_;
  std::string last_authorization_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Json> nodes_, pods_, pod_groups_, namespaces_;
  std::map<std::string, Json> leases_;  // "namespace/name".
  std::set<std::string> partitioned_;   // Lease holders whose writes fail.
  int lease_writes_ = 0;
  std::atomic<bool> pod_groups_installed_{true};
  std::vector<Event> events_;
  int64_t version_ = 100;
  int64_t compacted_before_ = 0;
  int drop_generation_ = 0;
  int lists_ = 0;
  int bind_calls_ = 0;
  int pod_patches_ = 0;
  struct BindFault {
    int status = 0;
    bool apply = false;
  };
  std::vector<BindFault> bind_faults_;
  bool watches_paused_ = false;
  bool outage_ = false;
  std::vector<Json> events_posted_;
};

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_FAKE_APISERVER_H_
