// Fake NVML configurations for the node tests (tests/node/fake_nvml.cc reads them), written to a
// temporary file that $ACCELSCHED_FAKE_NVML names.
#ifndef ACCELSCHED_TESTS_NODE_FAKE_NVML_CONFIG_H_
#define ACCELSCHED_TESTS_NODE_FAKE_NVML_CONFIG_H_

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "nlohmann/json.hpp"

namespace accelsched::testing {

using NvmlJson = nlohmann::json;

// An HGX H100 board: `n` GPUs, every one with 18 NVLink links into the NVSwitches; NUMA 0 for
// the first half, 1 for the rest.
inline NvmlJson HgxH100(int n = 8) {
  NvmlJson gpus = NvmlJson::array();
  for (int i = 0; i < n; ++i) {
    char pci[32];
    snprintf(pci, sizeof(pci), "00000000:%02X:00.0", 0x18 + 0x10 * i);
    gpus.push_back({{"uuid", "GPU-h100-" + std::to_string(i)},
                    {"name", "NVIDIA H100 80GB HBM3"},
                    {"memory_mib", 81559},
                    {"pci", pci},
                    {"numa", i < n / 2 ? 0 : 1},
                    {"minor", i},
                    {"switch_links", 18}});
  }
  return {{"driver", "550.54.15"}, {"gpus", gpus}, {"ancestor", 50}};
}

// Four PCIe A100-80GB without NVLink (all PXB), GPU 0 in MIG mode holding two 3g.40gb
// instances (profile 9) at memory slots 0 and 4.
inline NvmlJson A100WithMig() {
  NvmlJson config = {{"driver", "550.54.15"}, {"ancestor", 20}};
  for (int i = 0; i < 4; ++i) {
    config["gpus"].push_back({{"uuid", "GPU-a100-" + std::to_string(i)},
                              {"name", "NVIDIA A100-SXM4-80GB"},
                              {"memory_mib", 81920},
                              {"pci", "00000000:0" + std::to_string(i + 1) + ":00.0"},
                              {"numa", 0},
                              {"mig", i == 0}});
  }
  config["migs"] = NvmlJson::array({{{"parent", 0},
                                     {"uuid", "MIG-a100-0-gi1"},
                                     {"gi", 1},
                                     {"profile", 9},
                                     {"start", 0},
                                     {"size", 4}},
                                    {{"parent", 0},
                                     {"uuid", "MIG-a100-0-gi2"},
                                     {"gi", 2},
                                     {"profile", 9},
                                     {"start", 4},
                                     {"size", 4}}});
  return config;
}

// Writes `config` where $ACCELSCHED_FAKE_NVML points (a file per test process), and returns the
// path; writing again replaces it (the fake reads it again on each event wait).
inline std::string UseFakeNvml(const NvmlJson& config) {
  static const std::string path = "/tmp/accelsched-fake-nvml-" + std::to_string(getpid()) + ".json";
  {
    std::ofstream out(path + ".tmp");
    out << config.dump();
  }
  rename((path + ".tmp").c_str(), path.c_str());
  setenv("ACCELSCHED_FAKE_NVML", path.c_str(), 1);
  return path;
}

// The fake's state as it last wrote it (MIG instances made and destroyed included).
inline NvmlJson ReadFakeNvml() {
  const char* path = getenv("ACCELSCHED_FAKE_NVML");  // NOLINT(concurrency-mt-unsafe)
  std::ifstream in(path != nullptr ? path : "");
  return NvmlJson::parse(in, nullptr, /*allow_exceptions=*/false);
}

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_NODE_FAKE_NVML_CONFIG_H_
