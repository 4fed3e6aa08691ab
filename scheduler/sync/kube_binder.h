// Kubernetes mode's Binder (DESIGN section 8): POST .../pods/{name}/binding with the assignment
// annotations in the Binding's metadata, and GET of the pod to settle a binding answered 409 or
// not answered (Extender::Settle decides by the pod's nodeName and device annotations).
//
// Thread-safety: thread-safe (the client is).
#ifndef ACCELSCHED_SCHEDULER_SYNC_KUBE_BINDER_H_
#define ACCELSCHED_SCHEDULER_SYNC_KUBE_BINDER_H_

#include <map>
#include <string>

#include "absl/status/status.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/kube/client.h"
#include "scheduler/service/extender.h"

namespace accelsched::scheduler::kube {

class KubeBinder final : public Binder {
 public:
  // `client` is not owned and must outlive the binder.
  explicit KubeBinder(const KubeClient* client) : client_(client) {}
  absl::Status Bind(const codec::PodObject& pod, const std::string& node,
                    const std::map<std::string, std::string>& annotations) override;
  // NotFound if the pod is gone or was replaced (another uid).
  absl::StatusOr<codec::PodObject> Read(const codec::PodObject& pod) override;

 private:
  const KubeClient* client_;
};

}  // namespace accelsched::scheduler::kube

#endif  // ACCELSCHED_SCHEDULER_SYNC_KUBE_BINDER_H_
