#include "plugins/framework/tenants.h"

#include "absl/strings/str_cat.h"

namespace accelsched::plugins {

absl::StatusOr<Isolation> ParseIsolation(std::string_view value) {
  if (value == "shared") return Isolation::kShared;
  if (value == "mig") return Isolation::kMig;
  if (value == "exclusive-gpu") return Isolation::kExclusiveGpu;
  if (value == "exclusive-node") return Isolation::kExclusiveNode;
  return absl::InvalidArgumentError(
      absl::StrCat("label accelsched.io/isolation: '", std::string(value),
                   "' is not shared, mig, exclusive-gpu or exclusive-node"));
}

const char* IsolationName(Isolation isolation) {
  switch (isolation) {
    case Isolation::kShared:
      return "shared";
    case Isolation::kMig:
      return "mig";
    case Isolation::kExclusiveGpu:
      return "exclusive-gpu";
    case Isolation::kExclusiveNode:
      return "exclusive-node";
  }
  return "shared";
}

}  // namespace accelsched::plugins
