// Where tests find ../shared/data (the real trace and nvidia-smi matrices beside the checkout),
// and how a test that needs them skips, with the reason, when a checkout has no such folder.
#ifndef ACCELSCHED_TESTS_TESTING_DATA_PATH_H_
#define ACCELSCHED_TESTS_TESTING_DATA_PATH_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace accelsched::testing {

// ACCELSCHED_SHARED_DATA_DIR is set by tests/CMakeLists.txt to <checkout>/../shared/data.
inline std::string SharedDataPath(const std::string& relative) {
  return std::string(ACCELSCHED_SHARED_DATA_DIR) + "/" + relative;
}

// True if the shared data folder exists. Only its absence is a reason to skip: a file missing
// inside it is still a failure (the data set is incomplete).
inline bool HaveSharedData() {
  std::error_code error;
  return std::filesystem::is_directory(ACCELSCHED_SHARED_DATA_DIR, error);
}

// Reads a whole file; empty string if it cannot be read (the caller asserts on that).
inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace accelsched::testing

// Skips the calling test when ../shared/data is missing; more context can be streamed after it.
// Written in the TEST body itself (not in a helper), because GTEST_SKIP only returns from the
// function it is in: first, or after the checks that need no data (a test that already failed
// stays failed). The if/else form keeps a following `else` from binding to it, as in gtest.
#define ACCELSCHED_SKIP_WITHOUT_SHARED_DATA()                           \
  if (::accelsched::testing::HaveSharedData()) {                        \
  } else                                                                \
    GTEST_SKIP() << "needs the real traces and nvidia-smi matrices in " \
                 << ACCELSCHED_SHARED_DATA_DIR << ": ../shared/data not found"

#endif  // ACCELSCHED_TESTS_TESTING_DATA_PATH_H_
