// A small Kubernetes API client for what the extender needs (DESIGN section 8): GET (list),
// streaming watch (one JSON event per line), and POST (the pods/binding subresource). HTTPS with
// a CA from the endpoint, bearer-token or client-certificate auth. The only translation unit
// besides server.cc that includes httplib.h, and the only one that uses OpenSSL directly.
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
#include "absl/synchronization/mutex.h"

#include "scheduler/codec/json_util.h"
#include "scheduler/kube/endpoint.h"

namespace accelsched::scheduler::kube {

class KubeClient {
 public:
  // InvalidArgument if the CA or client certificate/key PEM cannot be loaded.
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(Endpoint endpoint,
                                                            FileReader read = RealFileReader());

  absl::StatusOr<codec::Json> Get(const std::string& path) const;
  absl::StatusOr<codec::Json> Post(const std::string& path, const codec::Json& body) const;
  // A JSON merge patch (RFC 7386), e.g. to set one annotation.
  absl::StatusOr<codec::Json> MergePatch(const std::string& path, const codec::Json& patch) const;

  // GETs `path` (a watch URL) and calls `on_event` with each event object ({type, object}) as it
  // arrives, until the server ends the stream (OK), `on_event` returns false (OK), Stop() is
  // called (Cancelled), an ERROR event or HTTP status 410 says the resourceVersion is too old
  // (Aborted), or the connection fails (Unavailable).
  absl::Status Watch(const std::string& path,
                     const std::function<bool(const codec::Json& event)>& on_event) const;

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
