// A small Kubernetes API client for what the extender needs (DESIGN section 8): GET (list),
// streaming watch (one JSON event per line), POST (the pods/binding subresource) and merge
// PATCH. HTTPS with a CA from the endpoint, bearer-token or client-certificate auth. It moves
// text: the bodies are encoded and decoded by the codec (codec/kube.h). The only translation
// unit besides http/server.cc that includes httplib.h, and the only one that uses OpenSSL
// directly.
//
// Status codes: 401/403 PermissionDenied, 404 NotFound, 409 AlreadyExists (a conflict), 410
// Aborted (resourceVersion too old: relist), 4xx InvalidArgument, 5xx and transport errors
// Unavailable.
//
// Thread-safety: thread-safe. Each call uses its own connection; Stop() ends running watches.
#ifndef ACCELSCHED_SCHEDULER_KUBE_CLIENT_H_
#define ACCELSCHED_SCHEDULER_KUBE_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

#include "scheduler/kube/endpoint.h"

namespace accelsched::scheduler::kube {

class KubeClient {
 public:
  // InvalidArgument if the CA or client certificate/key PEM cannot be loaded.
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(Endpoint endpoint,
                                                            FileReader read = RealFileReader());

  // The answer's body (JSON text, not checked here).
  absl::StatusOr<std::string> Get(const std::string& path) const;
  absl::StatusOr<std::string> Post(const std::string& path, const std::string& body) const;
  // Replaces the object at `path` (an update: with metadata.resourceVersion, 409 AlreadyExists if
  // it changed since).
  absl::StatusOr<std::string> Put(const std::string& path, const std::string& body) const;
  // A JSON merge patch (RFC 7386), e.g. to set one annotation.
  absl::StatusOr<std::string> MergePatch(const std::string& path, const std::string& patch) const;

  // GETs `path` (a watch URL) and calls `on_line` with each line of the stream (one event,
  // {type, object}) as it arrives, until the server ends the stream (OK), Stop() is called
  // (Cancelled), HTTP status 410 says the resourceVersion is too old (Aborted), the connection
  // fails (Unavailable), or `on_line` returns an error (that error; e.g. Aborted for an ERROR
  // event with code 410, Cancelled to stop). `on_open`, if set, is called once the server has
  // answered 200 (the watch is established, before any event).
  absl::Status Watch(const std::string& path,
                     const std::function<absl::Status(absl::string_view line)>& on_line,
                     const std::function<void()>& on_open = nullptr) const;

  // Ends running watches (closes their connections) and makes later ones return Cancelled.
  void Stop() const;

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  KubeClient(Endpoint endpoint, FileReader read)
      : endpoint_(std::move(endpoint)), read_(std::move(read)) {}

  Endpoint endpoint_;
  FileReader read_;
  mutable std::atomic<bool> stopped_{false};
  // Connections of running watches, closed by Stop().
  mutable absl::Mutex mu_;
  mutable std::set<void*> watches_ ABSL_GUARDED_BY(mu_);  // httplib::ClientImpl*.
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_KUBE_CLIENT_H_
