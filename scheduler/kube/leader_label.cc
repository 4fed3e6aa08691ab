#include "scheduler/kube/leader_label.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "scheduler/codec/kube.h"

namespace accelsched::scheduler::kube {

LeaderLabel::LeaderLabel(const KubeClient* client, const std::string& pod_namespace,
                         const std::string& pod_name)
    : client_(client),
      path_(absl::StrCat("/api/v1/namespaces/", pod_namespace, "/pods/", pod_name)),
      pod_(absl::StrCat(pod_namespace, "/", pod_name)) {}

bool LeaderLabel::Sync(bool leader) {
  const int want = leader ? kOn : kOff;
  if (mark_ == want) return true;
  const std::string patch = codec::EncodeLabelPatch(
      kKey, leader ? std::optional<absl::string_view>(kValue) : std::nullopt);
  absl::StatusOr<std::string> done = client_->MergePatch(path_, patch);
  if (!done.ok()) {
    if (!failing_) {
      spdlog::error("cannot {} label {} of pod {} (retrying): {}", leader ? "set" : "remove", kKey,
                    pod_, std::string(done.status().message()));
    }
    failing_ = true;
    return false;
  }
  if (failing_) spdlog::info("label {} of pod {} is in step again", kKey, pod_);
  failing_ = false;
  if (leader || mark_ == kOn) {
    spdlog::info("pod {} {} label {}", pod_, leader ? "carries" : "no longer carries", kKey);
  }
  mark_ = want;
  return true;
}

std::optional<std::string> LeaderLabel::StaleReason(bool leader) const {
  if (leader || mark_ == kOff) return std::nullopt;
  return absl::StrCat("not the leader, but pod ", pod_, " may still carry label ", kKey,
                      " (taking it off has not succeeded yet)");
}

}  // namespace accelsched::scheduler::kube
