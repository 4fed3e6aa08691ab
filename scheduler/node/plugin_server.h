// The kubelet device plugin API v1beta1 over unix sockets (DESIGN section 12): one gRPC server
// per resource in the device-plugin directory, each registered with the kubelet
// (<dir>/kubelet.sock), answering from the Assigner.
//
//   GetDevicePluginOptions  GetPreferredAllocation is available; no PreStartContainer
//   ListAndWatch            the devices with their health; sent again when health changes
//   GetPreferredAllocation  Assigner::Preferred per container
//   Allocate                Assigner::Allocate per container; a failure is the RPC's error
//                           (the kubelet then fails the pod and shows the message)
//
// The kubelet forgets its plugins when it restarts and recreates kubelet.sock (removing the
// plugins' sockets). A watcher notices (kubelet.sock replaced, or one of ours gone), serves again
// and re-registers, retrying until the kubelet answers. Stop() removes our sockets.
//
// This file and plugin_server.cc are the only ones that see gRPC (and the generated
// deviceplugin.pb.h).
//
// Thread-safety: Start and Stop from one thread; the RPCs run on gRPC's threads.
#ifndef ACCELSCHED_SCHEDULER_NODE_PLUGIN_SERVER_H_
#define ACCELSCHED_SCHEDULER_NODE_PLUGIN_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "scheduler/node/assigner.h"

namespace accelsched::scheduler::node {

inline constexpr char kDevicePluginDir[] = "/var/lib/kubelet/device-plugins";
inline constexpr char kKubeletSocket[] = "kubelet.sock";
inline constexpr char kDevicePluginVersion[] = "v1beta1";

struct PluginServerOptions {
  std::string dir = kDevicePluginDir;
  absl::Duration watch_interval = absl::Milliseconds(500);  // kubelet.sock checks.
  absl::Duration register_timeout = absl::Seconds(5);
};

class PluginServer {
 public:
  PluginServer(Assigner& assigner, PluginServerOptions options);
  ~PluginServer();  // Stop().
  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  // Serves every resource of the inventory and registers it; then keeps the registration alive
  // in the background. An error if a socket cannot be served (directory missing, not
  // writable); a kubelet that does not answer yet is retried, not an error.
  absl::Status Start();
  // Stops serving and removes our sockets. Idempotent.
  void Stop();

  // Successful Register calls so far (every resource counts), for tests and logs.
  int registrations() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace accelsched::scheduler::node

#endif  // ACCELSCHED_SCHEDULER_NODE_PLUGIN_SERVER_H_
