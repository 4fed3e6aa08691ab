#include "scheduler/node/plugin_server.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

#include "scheduler/node/deviceplugin.grpc.pb.h"

namespace accelsched::scheduler::node {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  // absl's codes are gRPC's, number for number.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

void FillDevices(const std::vector<DeviceState>& devices, v1beta1::ListAndWatchResponse& out) {
  for (const DeviceState& d : devices) {
    v1beta1::Device* device = out.add_devices();
    device->set_id(d.id);
    device->set_health(d.healthy ? "Healthy" : "Unhealthy");
    if (d.numa >= 0) device->mutable_topology()->add_nodes()->set_id(d.numa);
  }
}

void FillAnswer(const ContainerAnswer& a, v1beta1::ContainerAllocateResponse& out) {
  for (const auto& [k, v] : a.envs) (*out.mutable_envs())[k] = v;
  for (const auto& [k, v] : a.annotations) (*out.mutable_annotations())[k] = v;
  for (const ContainerAnswer::Mount& m : a.mounts) {
    v1beta1::Mount* mount = out.add_mounts();
    mount->set_container_path(m.container_path);
    mount->set_host_path(m.host_path);
    mount->set_read_only(m.read_only);
  }
  for (const std::string& name : a.cdi_devices) out.add_cdi_devices()->set_name(name);
}

class DevicePluginService final : public v1beta1::DevicePlugin::Service {
 public:
  DevicePluginService(Assigner& assigner, std::string resource, const std::atomic<bool>& stopping)
      : assigner_(assigner), resource_(std::move(resource)), stopping_(stopping) {}

  grpc::Status GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                      v1beta1::DevicePluginOptions* out) override {
    out->set_pre_start_required(false);
    out->set_get_preferred_allocation_available(true);
    return grpc::Status::OK;
  }

  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override {
    uint64_t sent = 0;
    while (!context->IsCancelled() && !stopping_) {
      const uint64_t now = assigner_.version();
      if (now != sent) {
        v1beta1::ListAndWatchResponse response;
        FillDevices(assigner_.Devices(resource_), response);
        if (!writer->Write(response)) break;  // The kubelet went away.
        sent = now;
      }
      assigner_.WaitForChange(sent, absl::Milliseconds(200));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetPreferredAllocation(grpc::ServerContext*,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* out) override {
    for (const v1beta1::ContainerPreferredAllocationRequest& c : request->container_requests()) {
      absl::StatusOr<std::vector<std::string>> ids = assigner_.Preferred(
          resource_, {c.available_deviceids().begin(), c.available_deviceids().end()},
          {c.must_include_deviceids().begin(), c.must_include_deviceids().end()},
          c.allocation_size());
      if (!ids.ok()) return ToGrpc(ids.status());
      v1beta1::ContainerPreferredAllocationResponse* r = out->add_container_responses();
      for (const std::string& id : *ids) r->add_deviceids(id);
    }
    return grpc::Status::OK;
  }

  grpc::Status Allocate(grpc::ServerContext*, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* out) override {
    for (const v1beta1::ContainerAllocateRequest& c : request->container_requests()) {
      absl::StatusOr<ContainerAnswer> a =
          assigner_.Allocate(resource_, {c.devices_ids().begin(), c.devices_ids().end()});
      if (!a.ok()) return ToGrpc(a.status());
      FillAnswer(*a, *out->add_container_responses());
    }
    return grpc::Status::OK;
  }

  grpc::Status PreStartContainer(grpc::ServerContext*, const v1beta1::PreStartContainerRequest*,
                                 v1beta1::PreStartContainerResponse*) override {
    return grpc::Status::OK;
  }

 private:
  Assigner& assigner_;
  const std::string resource_;
  const std::atomic<bool>& stopping_;
};

// The (device, inode) of a file, nullopt if it does not exist.
std::optional<std::pair<dev_t, ino_t>> FileId(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return std::make_pair(st.st_dev, st.st_ino);
}

}  // namespace

struct PluginServer::Impl {
  struct Endpoint {
    std::string resource;
    std::string path;  // <dir>/<socket>.
    std::unique_ptr<DevicePluginService> service;
    std::unique_ptr<grpc::Server> server;
  };

  Impl(Assigner& a, PluginServerOptions o) : assigner(a), options(std::move(o)) {}

  absl::Status ServeAll();
  void ShutdownAll();
  bool RegisterAll();
  void Watch();

  Assigner& assigner;
  const PluginServerOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<int> registrations{0};
  std::vector<Endpoint> endpoints;  // Touched by Start, the watcher, then Stop (after join).
  std::thread watcher;
  absl::Mutex mu;
  bool stop_requested ABSL_GUARDED_BY(mu) = false;
};

absl::Status PluginServer::Impl::ServeAll() {
  ShutdownAll();
  for (const Resource& r : assigner.inventory().resources()) {
    Endpoint e;
    e.resource = r.name;
    e.path = absl::StrCat(options.dir, "/", r.socket);
    unlink(e.path.c_str());  // A socket left by an earlier run.
    e.service = std::make_unique<DevicePluginService>(assigner, r.name, stopping);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + e.path, grpc::InsecureServerCredentials());
    builder.RegisterService(e.service.get());
    e.server = builder.BuildAndStart();
    if (e.server == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot serve ", r.name, " on ", e.path,
                                                 " (does the directory exist and is it "
                                                 "writable?)"));
    }
    endpoints.push_back(std::move(e));
  }
  return absl::OkStatus();
}

void PluginServer::Impl::ShutdownAll() {
  for (Endpoint& e : endpoints) {
    // In-flight calls (ListAndWatch streams) are cancelled after the deadline.
    e.server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    e.server->Wait();
    // Only our own socket: a kubelet restart may already have put a new file there.
    unlink(e.path.c_str());
  }
  endpoints.clear();
}

bool PluginServer::Impl::RegisterAll() {
  const std::string kubelet = absl::StrCat(options.dir, "/", kKubeletSocket);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("unix:" + kubelet, grpc::InsecureChannelCredentials());
  std::unique_ptr<v1beta1::Registration::Stub> stub = v1beta1::Registration::NewStub(channel);
  bool all = true;
  for (const Endpoint& e : endpoints) {
    v1beta1::RegisterRequest request;
    request.set_version(kDevicePluginVersion);
    request.set_endpoint(e.path.substr(e.path.rfind('/') + 1));
    request.set_resource_name(e.resource);
    request.mutable_options()->set_get_preferred_allocation_available(true);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options.register_timeout));
    v1beta1::Empty empty;
    grpc::Status s = stub->Register(&context, request, &empty);
    if (!s.ok()) {  // The others are still registered: one refusal must not hide them.
      spdlog::warn("registering {} with the kubelet ({}) failed: {}; retrying", e.resource, kubelet,
                   s.error_message());
      all = false;
      continue;
    }
    ++registrations;
    spdlog::info("registered {} with the kubelet (endpoint {})", e.resource, request.endpoint());
  }
  return all;
}

// Every watch_interval: serve again if one of our sockets is gone, register again if the kubelet
// socket was replaced (a kubelet restart) or registering failed.
void PluginServer::Impl::Watch() {
  const std::string kubelet = absl::StrCat(options.dir, "/", kKubeletSocket);
  std::optional<std::pair<dev_t, ino_t>> registered_with;
  bool registered = false;
  for (;;) {
    const std::optional<std::pair<dev_t, ino_t>> now = FileId(kubelet);
    // Every resource served (a failed ServeAll leaves some out) and every socket still there.
    bool ours_present = endpoints.size() == assigner.inventory().resources().size();
    for (const Endpoint& e : endpoints) ours_present = ours_present && FileId(e.path).has_value();
    if (!ours_present) {
      spdlog::info("our device-plugin sockets were removed (kubelet restart?); serving again");
      if (absl::Status s = ServeAll(); !s.ok()) spdlog::error("{}", std::string(s.message()));
      registered = false;
    }
    if (now != registered_with) registered = false;
    if (!registered && now.has_value()) {
      registered = RegisterAll();
      if (registered) registered_with = now;
    }
    absl::MutexLock lock(&mu);
    if (mu.AwaitWithTimeout(absl::Condition(&stop_requested), options.watch_interval)) return;
  }
}

PluginServer::PluginServer(Assigner& assigner, PluginServerOptions options)
    : impl_(std::make_unique<Impl>(assigner, std::move(options))) {}

PluginServer::~PluginServer() { Stop(); }

absl::Status PluginServer::Start() {
  if (absl::Status s = impl_->ServeAll(); !s.ok()) {
    impl_->ShutdownAll();
    return s;
  }
  impl_->watcher = std::thread([this] { impl_->Watch(); });
  return absl::OkStatus();
}

void PluginServer::Stop() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stop_requested = true;
  }
  impl_->stopping = true;
  if (impl_->watcher.joinable()) impl_->watcher.join();
  impl_->ShutdownAll();
}

int PluginServer::registrations() const { return impl_->registrations; }

}  // namespace accelsched::scheduler::node
