// libFuzzer target: the `nvidia-smi topo -m` parser and the topology it infers (issue 14: a stray
// byte once aborted the CLI through an uncaught exception).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "topology/smi_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  (void)accelsched::topology::ParseNvidiaSmiTopo(text, "fuzz", "NVIDIA H100 80GB HBM3");
  return 0;
}
