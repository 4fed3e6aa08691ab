// Where tests find ../shared/data (the real trace and nvidia-smi matrices beside the checkout).
#ifndef ACCELSCHED_TESTS_TESTING_DATA_PATH_H_
#define ACCELSCHED_TESTS_TESTING_DATA_PATH_H_

#include <fstream>
#include <sstream>
#include <string>

namespace accelsched::testing {

// ACCELSCHED_SHARED_DATA_DIR is set by tests/CMakeLists.txt to <checkout>/../shared/data.
inline std::string SharedDataPath(const std::string& relative) {
  return std::string(ACCELSCHED_SHARED_DATA_DIR) + "/" + relative;
}

// Reads a whole file; empty string if it cannot be read (the caller asserts on that).
inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_DATA_PATH_H_
