#include "scheduler/sync/kube_binder.h"

#include "absl/strings/str_cat.h"

#include "scheduler/codec/kube.h"

namespace accelsched::scheduler::kube {
namespace {

std::string PodPath(const codec::PodObject& pod) {
  return absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name);
}

}  // namespace

absl::Status KubeBinder::Bind(const codec::PodObject& pod, const std::string& node,
                              const std::map<std::string, std::string>& annotations) {
  absl::StatusOr<std::string> r = client_->Post(absl::StrCat(PodPath(pod), "/binding"),
                                                codec::EncodeBinding(pod, node, annotations));
  return r.status();
}

absl::StatusOr<codec::PodObject> KubeBinder::Read(const codec::PodObject& pod) {
  absl::StatusOr<std::string> text = client_->Get(PodPath(pod));
  if (!text.ok()) return text.status();
  absl::StatusOr<codec::PodObject> now = codec::DecodePodText(*text, "pod");
  if (now.ok() && now->uid != pod.uid) {
    return absl::NotFoundError(
        absl::StrCat("pod ", pod.Key(), " was replaced (uid ", now->uid, ", not ", pod.uid, ")"));
  }
  return now;
}

}  // namespace accelsched::scheduler::kube
