// libFuzzer target: the accelsched.io/topology node annotation. What decodes must encode and
// decode again to the same encoding (the format is deterministic).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

#include "topology/annotation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace topology = accelsched::topology;
  absl::StatusOr<topology::Topology> t = topology::DecodeTopologyAnnotation(text);
  if (!t.ok()) return 0;
  const std::string once = topology::EncodeTopologyAnnotation(*t);
  absl::StatusOr<topology::Topology> again = topology::DecodeTopologyAnnotation(once);
  if (!again.ok() || topology::EncodeTopologyAnnotation(*again) != once) __builtin_trap();
  return 0;
}
