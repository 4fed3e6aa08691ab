#include "scheduler/sync/kube_binder.h"

#include "absl/strings/str_cat.h"

#include "scheduler/codec/annotations.h"
#include "scheduler/codec/kube.h"

namespace accelsched::scheduler::kube {
namespace {

std::string PodPath(const codec::PodObject& pod) {
  return absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name);
}

}  // namespace

absl::Status KubeBinder::Bind(const codec::PodObject& pod, const std::string& node,
                              const std::map<std::string, std::string>& annotations) {
  // accelsched.io/bound-at tells accelsched-node which of its pods came first (DESIGN section 12).
  std::map<std::string, std::string> stamped = annotations;
  if (!stamped.empty()) stamped[kAnnotationBoundAt] = codec::TimestampMicrosNow();
  absl::StatusOr<std::string> r = client_->Post(absl::StrCat(PodPath(pod), "/binding"),
                                                codec::EncodeBinding(pod, node, stamped));
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
