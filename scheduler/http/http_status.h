// How an absl::Status maps onto the HTTP status the extender answers with (STYLE.md snippet (b)).
// Bad input -> 400, not ready -> 503, everything else (broken invariants) -> 500.
//
// Thread-safety: pure function.
#ifndef ACCELSCHED_SCHEDULER_HTTP_HTTP_STATUS_H_
#define ACCELSCHED_SCHEDULER_HTTP_HTTP_STATUS_H_

#include "absl/status/status.h"

namespace accelsched::scheduler {

inline int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_HTTP_HTTP_STATUS_H_
