// A fake kubelet for accelsched-node's tests: the kubelet's side of the device plugin API
// v1beta1, over the same unix sockets and gRPC messages as the real one
// (pkg/kubelet/cm/devicemanager):
//   - serves Registration on <dir>/kubelet.sock; on Register it dials the plugin's endpoint,
//     asks GetDevicePluginOptions and keeps a ListAndWatch stream open, holding the latest
//     device list per resource;
//   - Admit() does what the device manager does for one container: the healthy devices of the
//     resource that it has not handed out are "available"; GetPreferredAllocation (if offered)
//     picks from them, the rest is filled from available; Allocate is called with the result,
//     which is then counted as in use;
//   - Restart() is a kubelet restart: the registration server goes away, every socket in the
//     directory is removed (the kubelet does this at start), and kubelet.sock is made again.
//
// Thread-safety: thread-safe.
#ifndef ACCELSCHED_TESTS_NODE_FAKE_KUBELET_H_
#define ACCELSCHED_TESTS_NODE_FAKE_KUBELET_H_

#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/node/deviceplugin.grpc.pb.h"

namespace accelsched::testing {

class FakeKubelet final : public v1beta1::Registration::Service {
 public:
  explicit FakeKubelet(std::string dir) : dir_(std::move(dir)) { Serve(); }
  ~FakeKubelet() override { Shutdown(); }

  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    if (request->version() != "v1beta1") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unsupported version");
    }
    // The kubelet accepts extended resource names only (v1helper.IsExtendedResourceName).
    static const std::regex kName("[^/]+/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");
    if (!std::regex_match(request->resource_name(), kName) ||
        request->resource_name().find("kubernetes.io/") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the ResourceName \"" + request->resource_name() + "\" is invalid");
    }
    auto plugin = std::make_shared<Plugin>();
    plugin->request = *request;
    plugin->channel = grpc::CreateChannel("unix:" + dir_ + "/" + request->endpoint(),
                                          grpc::InsecureChannelCredentials());
    plugin->stub = v1beta1::DevicePlugin::NewStub(plugin->channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1beta1::Empty empty;
    if (grpc::Status s = plugin->stub->GetDevicePluginOptions(&context, empty, &plugin->options);
        !s.ok()) {
      return s;
    }
    plugin->watch = std::thread([this, plugin] { Watch(plugin); });
    std::lock_guard<std::mutex> lock(mu_);
    registrations_.push_back(*request);
    if (auto old = plugins_.find(request->resource_name()); old != plugins_.end()) {
      retired_.push_back(old->second);
    }
    plugins_[request->resource_name()] = plugin;
    cv_.notify_all();
    return grpc::Status::OK;
  }

  // The Register calls so far.
  std::vector<v1beta1::RegisterRequest> registrations() {
    std::lock_guard<std::mutex> lock(mu_);
    return registrations_;
  }

  // Waits until `resource` has registered and sent a device list; its devices (id -> health).
  std::map<std::string, std::string> WaitForDevices(
      const std::string& resource, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      auto it = plugins_.find(resource);
      return it != plugins_.end() && it->second->lists > 0;
    });
    auto it = plugins_.find(resource);
    return it == plugins_.end() ? std::map<std::string, std::string>{} : it->second->devices;
  }

  // Waits until device `id` of `resource` has health `health`; true if it did.
  bool WaitForHealth(const std::string& resource, const std::string& id, const std::string& health,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      auto it = plugins_.find(resource);
      return it != plugins_.end() && it->second->devices.count(id) != 0 &&
             it->second->devices.at(id) == health;
    });
  }

  // The last ListAndWatch message of `resource`, as received (for its size).
  v1beta1::ListAndWatchResponse LastList(const std::string& resource) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plugins_.find(resource);
    return it == plugins_.end() ? v1beta1::ListAndWatchResponse{} : it->second->last;
  }

  struct Admission {
    grpc::Status status;
    std::vector<std::string> preferred;  // GetPreferredAllocation's answer.
    std::vector<std::string> ids;        // What Allocate was asked for.
    v1beta1::ContainerAllocateResponse response;
  };

  // One container asking `count` devices of `resource`, as the device manager handles it.
  Admission Admit(const std::string& resource, int count) {
    Admission out;
    std::shared_ptr<Plugin> plugin;
    std::vector<std::string> available;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plugins_.find(resource);
      if (it == plugins_.end()) {
        out.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no plugin for " + resource);
        return out;
      }
      plugin = it->second;
      for (const auto& [id, health] : plugin->devices) {
        if (health == "Healthy" && in_use_[resource].count(id) == 0) available.push_back(id);
      }
    }
    if (static_cast<int>(available.size()) < count) {
      out.status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "not enough devices");
      return out;
    }
    std::set<std::string> chosen;
    if (plugin->options.get_preferred_allocation_available()) {
      v1beta1::PreferredAllocationRequest request;
      auto* c = request.add_container_requests();
      for (const std::string& id : available) c->add_available_deviceids(id);
      c->set_allocation_size(count);
      v1beta1::PreferredAllocationResponse response;
      grpc::ClientContext context;
      out.status = plugin->stub->GetPreferredAllocation(&context, request, &response);
      if (!out.status.ok()) return out;
      for (const std::string& id : response.container_responses(0).deviceids()) {
        out.preferred.push_back(id);
        // The device manager keeps only preferred devices that are available.
        if (std::find(available.begin(), available.end(), id) != available.end() &&
            static_cast<int>(chosen.size()) < count) {
          chosen.insert(id);
        }
      }
    }
    for (const std::string& id : available) {
      if (static_cast<int>(chosen.size()) >= count) break;
      chosen.insert(id);
    }
    v1beta1::AllocateRequest request;
    auto* c = request.add_container_requests();
    for (const std::string& id : chosen) {
      c->add_devices_ids(id);
      out.ids.push_back(id);
    }
    v1beta1::AllocateResponse response;
    grpc::ClientContext context;
    out.status = plugin->stub->Allocate(&context, request, &response);
    if (!out.status.ok()) return out;
    out.response = response.container_responses(0);
    std::lock_guard<std::mutex> lock(mu_);
    in_use_[resource].insert(chosen.begin(), chosen.end());
    return out;
  }

  // A kubelet restart: its plugins are forgotten, the directory emptied of sockets, and
  // kubelet.sock made anew.
  void Restart() {
    Shutdown();
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() > 5 && name.substr(name.size() - 5) == ".sock") {
          unlink((dir_ + "/" + name).c_str());
        }
      }
      closedir(d);
    }
    Serve();
  }

 private:
  struct Plugin {
    v1beta1::RegisterRequest request;
    v1beta1::DevicePluginOptions options;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;
    std::thread watch;
    std::unique_ptr<grpc::ClientContext> watch_context = std::make_unique<grpc::ClientContext>();
    std::map<std::string, std::string> devices;  // ID -> health.
    v1beta1::ListAndWatchResponse last;
    int lists = 0;
  };

  void Serve() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + dir_ + "/kubelet.sock", grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }

  void Shutdown() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      server_->Wait();
      server_.reset();
    }
    std::vector<std::shared_ptr<Plugin>> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [name, p] : plugins_) all.push_back(p);
      all.insert(all.end(), retired_.begin(), retired_.end());
      plugins_.clear();
      retired_.clear();
    }
    for (auto& p : all) {
      p->watch_context->TryCancel();
      if (p->watch.joinable()) p->watch.join();
    }
    unlink((dir_ + "/kubelet.sock").c_str());
  }

  void Watch(const std::shared_ptr<Plugin>& plugin) {
    v1beta1::Empty empty;
    std::unique_ptr<grpc::ClientReader<v1beta1::ListAndWatchResponse>> reader =
        plugin->stub->ListAndWatch(plugin->watch_context.get(), empty);
    v1beta1::ListAndWatchResponse response;
    while (reader->Read(&response)) {
      std::lock_guard<std::mutex> lock(mu_);
      plugin->devices.clear();
      for (const v1beta1::Device& d : response.devices()) plugin->devices[d.id()] = d.health();
      plugin->last = response;
      ++plugin->lists;
      cv_.notify_all();
    }
    reader->Finish();
  }

  const std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Plugin>> plugins_;
  std::vector<std::shared_ptr<Plugin>> retired_;
  std::vector<v1beta1::RegisterRequest> registrations_;
  std::map<std::string, std::set<std::string>> in_use_;
};

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_NODE_FAKE_KUBELET_H_
