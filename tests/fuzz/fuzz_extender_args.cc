// libFuzzer target: the extender verbs' request bodies (filter/prioritize, bind, preempt), as
// kube-scheduler would send them and as an attacker might. Every input gets a value or an error;
// the sanitizers catch the rest (issue 14: wrapping sums, nesting, invalid UTF-8).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

#include "scheduler/codec/extender.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  namespace codec = accelsched::scheduler::codec;
  absl::StatusOr<codec::ExtenderArgs> args =
      codec::DecodeExtenderArgs(body, {.max_node_names = 1000, .max_pod_depth = 100});
  if (args.ok() && args->node_names.size() > 1000) __builtin_trap();  // The limit held.
  (void)codec::DecodeBindingArgs(body);
  (void)codec::DecodePreemptionArgs(body);
  return 0;
}
