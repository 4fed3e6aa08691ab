// Command-line helpers shared by accelsched-sim's commands.
//
// Thread-safety: free functions without shared state.
#ifndef ACCELSCHED_BENCH_SIM_CLI_H_
#define ACCELSCHED_BENCH_SIM_CLI_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace accelsched::sim {

// "--seeds" values: a seed, a range A-B, or a comma list of both ("42-51", "1,3,7-9").
// InvalidArgument naming the part that is not N or A-B, or a range that is reversed or longer
// than 100,000 seeds.
absl::StatusOr<std::vector<uint64_t>> ParseSeeds(absl::string_view spec);

}  // namespace accelsched::sim

#endif  // ACCELSCHED_BENCH_SIM_CLI_H_
