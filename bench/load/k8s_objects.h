// Realistic Kubernetes objects for load tests and benchmarks (bench/ only).
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_BENCH_LOAD_K8S_OBJECTS_H_
#define ACCELSCHED_BENCH_LOAD_K8S_OBJECTS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace accelsched::load {

using Json = nlohmann::json;

// A v1.Node as the API server returns it, about 5 KB: GFD and NFD labels, annotations, status
// with conditions, addresses, node info and a list of images.
inline Json FullNode(const std::string& name) {
  Json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"node.kubernetes.io/instance-type", "p5.48xlarge"},
                 {"topology.kubernetes.io/zone", "us-east-1a"},
                 {"topology.kubernetes.io/region", "us-east-1"},
                 {"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
                 {"nvidia.com/gpu.count", "8"},
                 {"nvidia.com/gpu.memory", "81559"},
                 {"nvidia.com/gpu.present", "true"},
                 {"nvidia.com/cuda.driver.major", "550"},
                 {"nvidia.com/cuda.runtime.major", "12"},
                 {"nvidia.com/mig.capable", "true"},
                 {"nvidia.com/mig.strategy", "mixed"}};
  for (int i = 0; i < 20; ++i) {
    labels[absl::StrCat("feature.node.kubernetes.io/cpu-cpuid.AVX512F", i)] = "true";
  }
  Json images = Json::array();
  for (int i = 0; i < 12; ++i) {
    images.push_back({{"names",
                       {absl::StrCat("nvcr.io/nvidia/pytorch@sha256:",
                                     std::string(64, static_cast<char>('a' + i % 6))),
                        absl::StrCat("nvcr.io/nvidia/pytorch:24.0", i % 9, "-py3")}},
                      {"sizeBytes", 9876543210LL + i}});
  }
  Json conditions = Json::array();
  for (const char* c : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}) {
    conditions.push_back({{"type", c},
                          {"status", std::string(c) == "Ready" ? "True" : "False"},
                          {"lastHeartbeatTime", "2026-11-23T10:00:00Z"},
                          {"lastTransitionTime", "2026-11-01T10:00:00Z"},
                          {"reason", absl::StrCat("Kubelet", c)},
                          {"message", "kubelet has sufficient resources available"}});
  }
  Json resources = {{"cpu", "224"},          {"memory", "2113460Mi"},
                    {"nvidia.com/gpu", "8"}, {"ephemeral-storage", "3750000Mi"},
                    {"pods", "110"},         {"hugepages-1Gi", "0"}};
  return {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"uid", absl::StrCat("0f8a6b2c-", name)},
        {"resourceVersion", "123456789"},
        {"creationTimestamp", "2026-01-01T00:00:00Z"},
        {"labels", labels},
        {"annotations",
         {{"node.alpha.kubernetes.io/ttl", "0"},
          {"volumes.kubernetes.io/controller-managed-attach-detach", "true"},
          {"nfd.node.kubernetes.io/feature-labels",
           "cpu-cpuid.AVX512F,cpu-hardware_multithreading"}}}}},
      {"spec",
       {{"providerID", absl::StrCat("aws:///us-east-1a/i-", name)}, {"podCIDR", "10.1.0.0/24"}}},
      {"status",
       {{"capacity", resources},
        {"allocatable", resources},
        {"conditions", conditions},
        {"addresses",
         {{{"type", "InternalIP"}, {"address", "10.0.0.1"}},
          {{"type", "Hostname"}, {"address", name}}}},
        {"nodeInfo",
         {{"machineID", std::string(32, 'f')},
          {"systemUUID", std::string(36, 'e')},
          {"bootID", std::string(36, 'd')},
          {"kernelVersion", "6.1.0-27-amd64"},
          {"osImage", "Debian GNU/Linux 12 (bookworm)"},
          {"containerRuntimeVersion", "containerd://1.7.22"},
          {"kubeletVersion", "v1.31.2"},
          {"kubeProxyVersion", "v1.31.2"},
          {"operatingSystem", "linux"},
          {"architecture", "amd64"}}},
        {"images", images}}}};
}

}  // namespace accelsched::load

#endif  // ACCELSCHED_BENCH_LOAD_K8S_OBJECTS_H_
