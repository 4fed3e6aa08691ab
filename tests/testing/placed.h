// Test helpers for ledger placements.
#ifndef ACCELSCHED_TESTS_TESTING_PLACED_H_
#define ACCELSCHED_TESTS_TESTING_PLACED_H_

#include <string>

#include "scheduler/state/ledger.h"

namespace accelsched::testing {

// The GPU indices `placed` holds, as the accelsched.io/gpu-ids annotation writes them ("0,1"),
// computed from the assignment's mask independently of the codec.
inline std::string GpuIds(const scheduler::PlacedPod& placed) {
  std::string out;
  const auto mask = placed.assignment.gpus;
  for (size_t i = 0; i < 8 * sizeof(mask); ++i) {
    if ((mask >> i) & 1u) {
      if (!out.empty()) out += ",";
      out += std::to_string(i);
    }
  }
  return out;
}

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_PLACED_H_
