#include "bench/sim/cli.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace accelsched::sim {

absl::StatusOr<std::vector<uint64_t>> ParseSeeds(absl::string_view spec) {
  std::vector<uint64_t> seeds;
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    uint64_t a = 0, b = 0;
    if (!absl::SimpleAtoi(range[0], &a) || (range.size() == 2 && !absl::SimpleAtoi(range[1], &b))) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: '", part, "' is not N or A-B"));
    }
    if (range.size() == 1) {
      b = a;
    }
    if (b < a || b - a > 100000) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: bad range '", part, "'"));
    }
    for (uint64_t s = a; s <= b; ++s) {
      seeds.push_back(s);
    }
  }
  return seeds;
}

}  // namespace accelsched::sim
