// Command-line flags of the scheduler binaries (accelsched-extender, accelsched-node) and
// accelsched-sim:
// "--name value" or "--name=value" for the flags that take a value, "--name" for switches,
// "--help"/"-h" anywhere. Unknown flags and missing values are errors naming the flag.
//
// Thread-safety: plain values and a pure function.
#ifndef ACCELSCHED_SCHEDULER_CMD_CLI_FLAGS_H_
#define ACCELSCHED_SCHEDULER_CMD_CLI_FLAGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace accelsched::scheduler {

struct CliFlags {
  std::map<std::string, std::string> values;
  std::set<std::string> switches;
  bool help = false;

  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  // The value of a flag given with one, or null.
  const std::string* Find(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second;
  }
  bool Has(const std::string& name) const {
    return values.count(name) > 0 || switches.count(name) > 0;
  }
};

// Parses argv[first..]. InvalidArgument: "unknown flag '--x' (see --help)", "--x needs a
// value (see --help)" or "--x is given twice (see --help)".
inline absl::StatusOr<CliFlags> ParseCliFlags(int argc, char** argv, int first,
                                              const std::set<std::string>& with_value,
                                              const std::set<std::string>& switches = {}) {
  CliFlags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      return flags;
    }
    if (switches.count(arg) > 0) {
      flags.switches.insert(arg);
      continue;
    }
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (with_value.count(arg) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "' (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value (see --help)"));
      }
      value = argv[++i];
    }
    if (!flags.values.emplace(arg, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(arg, " is given twice (see --help)"));
    }
  }
  return flags;
}

}  // namespace accelsched::scheduler

#endif  // ACCELSCHED_SCHEDULER_CMD_CLI_FLAGS_H_
