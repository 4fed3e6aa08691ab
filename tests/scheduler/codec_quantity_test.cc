// Tests of scheduler/codec/quantity.h: Kubernetes quantities. Every expected value is derived by
// hand from the Kubernetes semantics (the arithmetic is in the comments).
#include "scheduler/codec/quantity.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "tests/scheduler/codec_test_util.h"

namespace accelsched::scheduler::codec {
namespace {

TEST(CodecQuantityTest, MilliAndValueRoundUpLikeKubernetes) {
  // Quantity.MilliValue() and Quantity.Value() both round up (towards +inf).
  const struct {
    std::string text;
    int64_t milli;
    int64_t value;
  } cases[] = {
      {"500m", 500, 1},                       // 0.5 -> ceil 1
      {"2", 2000, 2},                         //
      {"0.5", 500, 1},                        //
      {"1.5", 1500, 2},                       //
      {"0.1", 100, 1},                        // exactly 100 milli (no binary floating point)
      {"1500m", 1500, 2},                     //
      {"0", 0, 0},                            //
      {"1k", 1000000, 1000},                  // k = 10^3
      {"16Gi", 17179869184000, 17179869184},  // 16 * 2^30 = 17179869184
      {"1Ki", 1024000, 1024},                 // 2^10
      {"2063937512Ki", 2113472012288000, 2113472012288},  // 2063937512*1024 = 2113472012288
      {"1e3", 1000000, 1000},                             // decimal exponent
      {"1E-3", 1, 1},                                     // 0.001: 1 milli; value ceil(0.001) = 1
      {"100M", 100000000000, 100000000},                  // 100 * 10^6
      {"+1", 1000, 1},                                    // explicit plus sign
      {"1.5Gi", 1610612736000, 1610612736},               // 1.5 * 1073741824 = 1610612736
      {"1.5m", 2, 1},                                     // 1.5 milli -> ceil 2 milli
      {"1n", 1, 1},                                       // 10^-6 milli -> ceil 1; 10^-9 -> ceil 1
      {"0.3Ki", 307200, 308},                             // 0.3 * 1024 = 307.2 -> value ceil 308
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.text);
    absl::StatusOr<int64_t> milli = QuantityMilli(tc.text);
    ASSERT_TRUE(milli.ok()) << milli.status();
    EXPECT_EQ(*milli, tc.milli);
    absl::StatusOr<int64_t> value = QuantityValue(tc.text);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, tc.value);
  }
}

TEST(CodecQuantityTest, MilliLimitIsBelowValueLimit) {
  // Both are capped at 2^62 = 4611686018427387904. "4E" = 4 * 10^18 fits as a value, but in
  // thousandths it is 4 * 10^21. "1E" is the exa suffix, not an exponent.
  absl::StatusOr<int64_t> value = QuantityValue("4E");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, int64_t{4000000000000000000});
  ExpectError(QuantityMilli("4E").status(), absl::StatusCode::kInvalidArgument,
              "quantity '4E': too large");
  value = QuantityValue("1E");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, int64_t{1000000000000000000});
}

TEST(CodecQuantityTest, RejectsMalformedWithTheQuantityInTheMessage) {
  const struct {
    std::string text;
    std::string fragment;
  } cases[] = {
      {"", "quantity '': empty"},
      {"-1", "quantity '-1': must not be negative"},
      {"1.2.3", "quantity '1.2.3': two decimal points"},
      {"5X", "quantity '5X': unknown suffix 'X'"},
      {"1K", "quantity '1K': unknown suffix 'K'"},  // Kubernetes' kilo is lower-case k.
      {"m", "quantity 'm': no digits"},
      {"1e", "quantity '1e': exponent without digits"},
      {"1e19", "quantity '1e19': too large"},  // 10^19 > 2^62 (about 4.6 * 10^18)
      {"99999999999999999999", "quantity '99999999999999999999': too large"},
      {"1e101", "quantity '1e101': exponent out of range"},
      {"1Gi5", "quantity '1Gi5': unknown suffix 'Gi5'"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.text);
    ExpectError(QuantityMilli(tc.text).status(), absl::StatusCode::kInvalidArgument, tc.fragment);
    ExpectError(QuantityValue(tc.text).status(), absl::StatusCode::kInvalidArgument, tc.fragment);
  }
}

}  // namespace
}  // namespace accelsched::scheduler::codec
