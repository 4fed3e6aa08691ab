// libFuzzer target: the files the extender reads at start (cluster, config, kubeconfig), as JSON
// or YAML (issue 14: a lone ',' looped forever in yaml-cpp; an alias bomb took 6 GB).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "scheduler/codec/config.h"
#include "scheduler/codec/k8s.h"
#include "scheduler/codec/kubeconfig.h"
#include "scheduler/codec/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace codec = accelsched::scheduler::codec;
  (void)codec::ParseJsonOrYaml(text, "fuzz.yaml");
  (void)codec::DecodeClusterListText(text, "cluster.yaml");
  (void)accelsched::scheduler::ParseExtenderConfig(text, "config.yaml");
  (void)codec::DecodeKubeconfig(text, "kubeconfig", "");
  return 0;
}
