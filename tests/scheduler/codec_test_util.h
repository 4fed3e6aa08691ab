// Helpers shared by the codec tests (tests/scheduler/codec_*_test.cc): JSON literals, failed-call
// checks and a field-by-field PodRequest comparison. Failures are reported with EXPECT_*.
#ifndef ACCELSCHED_TESTS_SCHEDULER_CODEC_TEST_UTIL_H_
#define ACCELSCHED_TESTS_SCHEDULER_CODEC_TEST_UTIL_H_

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#include "plugins/framework/pod_request.h"
#include "scheduler/codec/json_util.h"

namespace accelsched::scheduler::codec {

// Parses JSON written in a test; a typo fails the test that uses it.
inline Json J(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "bad JSON in the test: " << text;
  return j;
}

// OK-ness, code and a message fragment of a failed call.
inline void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& fragment) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(std::string(s.message()).find(fragment), std::string::npos)
      << "message '" << s.message() << "' lacks '" << fragment << "'";
}

inline std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Field by field (PodRequest has no operator==); allowed_models as a set.
inline void ExpectRequestEq(const plugins::PodRequest& got, const plugins::PodRequest& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.cpu_milli, want.cpu_milli);
  EXPECT_EQ(got.memory_mib, want.memory_mib);
  EXPECT_EQ(got.gpu_count, want.gpu_count);
  EXPECT_EQ(got.gpu_milli, want.gpu_milli);
  EXPECT_EQ(got.gpu_memory_mib, want.gpu_memory_mib);
  EXPECT_EQ(got.mig.has_value(), want.mig.has_value());
  if (got.mig.has_value() && want.mig.has_value()) {
    EXPECT_EQ(got.mig->compute_slices, want.mig->compute_slices);
    EXPECT_EQ(got.mig->double_memory, want.mig->double_memory);
    EXPECT_EQ(got.mig->media_extensions, want.mig->media_extensions);
  }
  EXPECT_EQ(Sorted(got.allowed_models), Sorted(want.allowed_models));
  EXPECT_EQ(static_cast<int>(got.nvlink), static_cast<int>(want.nvlink));
  EXPECT_EQ(got.require_close_nic, want.require_close_nic);
  EXPECT_EQ(got.require_same_numa, want.require_same_numa);
}

}  // namespace accelsched::scheduler::codec

#endif  // ACCELSCHED_TESTS_SCHEDULER_CODEC_TEST_UTIL_H_
