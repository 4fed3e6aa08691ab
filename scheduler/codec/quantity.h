// Kubernetes resource quantities ("500m", "2", "1.5", "16Gi", "1e3", "2063937512Ki"), parsed
// exactly (integer arithmetic, no floating point), as k8s.io/apimachinery's resource.Quantity.
//
// Thread-safety: pure functions.
#ifndef ACCELSCHED_SCHEDULER_CODEC_QUANTITY_H_
#define ACCELSCHED_SCHEDULER_CODEC_QUANTITY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace accelsched::scheduler::codec {

// The quantity in thousandths, rounded up (Quantity.MilliValue): "500m" -> 500, "2" -> 2000,
// "0.1" -> 100, "1Ki" -> 1024000. InvalidArgument for malformed text, negative values, or values
// above 2^62 thousandths.
absl::StatusOr<int64_t> QuantityMilli(absl::string_view text);

// The quantity rounded up to an integer (Quantity.Value): "16Gi" -> 17179869184, "1500m" -> 2.
absl::StatusOr<int64_t> QuantityValue(absl::string_view text);

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_SCHEDULER_CODEC_QUANTITY_H_
