#include "scheduler/sync/kube_binder.h"

#include "absl/strings/str_cat.h"

#include "scheduler/codec/kube.h"

namespace accelsched::scheduler::kube {

absl::Status KubeBinder::Bind(const codec::PodObject& pod, const std::string& node,
                              const std::map<std::string, std::string>& annotations) {
  const std::string pod_path =
      absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name);
  absl::StatusOr<std::string> r = client_->Post(absl::StrCat(pod_path, "/binding"),
                                                codec::EncodeBinding(pod, node, annotations));
  if (r.ok()) return absl::OkStatus();
  if (absl::IsAlreadyExists(r.status())) {
    // Already bound: fine if to this node (a retry whose reply was lost).
    absl::StatusOr<std::string> current = client_->Get(pod_path);
    absl::StatusOr<std::string> bound_to =
        current.ok() ? codec::DecodePodNodeName(*current) : current.status();
    if (bound_to.ok() && *bound_to == node) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", pod.Key(), " is already bound elsewhere: ", r.status().message()));
  }
  return r.status();
}

}  // namespace accelsched::scheduler::kube
