// libFuzzer target: the Alibaba trace CSV reader of accelsched-sim (node and pod lists).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "bench/sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  (void)accelsched::sim::ParseTraceNodes(text, "nodes.csv");
  (void)accelsched::sim::ParseTracePods(text, "pods.csv");
  return 0;
}
