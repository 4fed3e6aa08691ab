// libFuzzer target: resource quantities ("500m", "16Gi", "1e3") and MIG profile names. A value
// that parses must be consistent: the rounded-up integer value is at least the milli value over
// 1000 (both round up).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "scheduler/codec/k8s.h"
#include "scheduler/codec/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace codec = accelsched::scheduler::codec;
  absl::StatusOr<int64_t> milli = codec::QuantityMilli(text);
  absl::StatusOr<int64_t> value = codec::QuantityValue(text);
  if (milli.ok() && value.ok() && *milli >= 0 && *value < *milli / 1000) __builtin_trap();
  (void)codec::ParseMigResource(text);
  (void)codec::CanonicalGpuModel(text, 0);
  return 0;
}
