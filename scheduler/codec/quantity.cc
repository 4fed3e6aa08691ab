#include "scheduler/codec/quantity.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace accelsched::scheduler::codec {
namespace {

__extension__ typedef __int128 int128;  // GCC and clang; exact 128-bit arithmetic.

constexpr int128 kLimit = int128{1} << 62;

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("quantity '", std::string(text.substr(0, 64)), "': ", why));
}

// value * 10^scale (scale may be negative: divide, rounding up), or -1 above kLimit.
int128 ScaleUp(int128 value, int scale) {
  for (; scale > 0; --scale) {
    value *= 10;
    if (value > kLimit) return -1;
  }
  for (; scale < 0; ++scale) value = (value + 9) / 10;
  return value;
}

// The quantity times 10^extra_scale, rounded up.
absl::StatusOr<int64_t> Parse(absl::string_view text, int extra_scale) {
  if (text.empty()) return Bad(text, "empty");
  size_t i = 0;
  if (text[0] == '+') ++i;
  if (i < text.size() && text[i] == '-') return Bad(text, "must not be negative");
  int128 mantissa = 0;
  int digits = 0;
  int fraction_digits = 0;
  bool seen_point = false;
  bool has_digit = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (seen_point) return Bad(text, "two decimal points");
      seen_point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    has_digit = true;
    if (mantissa != 0 || c != '0') ++digits;
    if (digits > 30) return Bad(text, "too many digits");
    mantissa = mantissa * 10 + (c - '0');
    if (seen_point) ++fraction_digits;
  }
  const absl::string_view suffix = text.substr(i);
  if (!has_digit) return Bad(text, "no digits");
  int decimal = 0;  // Power of ten.
  int binary = 0;   // Power of 1024.
  if (suffix.empty()) {
  } else if (suffix == "n") {
    decimal = -9;
  } else if (suffix == "u") {
    decimal = -6;
  } else if (suffix == "m") {
    decimal = -3;
  } else if (suffix == "k") {
    decimal = 3;
  } else if (suffix == "M") {
    decimal = 6;
  } else if (suffix == "G") {
    decimal = 9;
  } else if (suffix == "T") {
    decimal = 12;
  } else if (suffix == "P") {
    decimal = 15;
  } else if (suffix == "E") {
    decimal = 18;
  } else if (suffix == "Ki") {
    binary = 1;
  } else if (suffix == "Mi") {
    binary = 2;
  } else if (suffix == "Gi") {
    binary = 3;
  } else if (suffix == "Ti") {
    binary = 4;
  } else if (suffix == "Pi") {
    binary = 5;
  } else if (suffix == "Ei") {
    binary = 6;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    size_t j = 1;
    bool negative = false;
    if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) negative = suffix[j++] == '-';
    if (j >= suffix.size()) return Bad(text, "exponent without digits");
    int exponent = 0;
    for (; j < suffix.size(); ++j) {
      if (suffix[j] < '0' || suffix[j] > '9') return Bad(text, "malformed exponent");
      exponent = exponent * 10 + (suffix[j] - '0');
      if (exponent > 100) return Bad(text, "exponent out of range");
    }
    decimal = negative ? -exponent : exponent;
  } else {
    return Bad(text, absl::StrCat("unknown suffix '", std::string(suffix),
                                  "' (use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or eN)"));
  }
  int128 value = mantissa;
  for (int b = 0; b < binary; ++b) {
    value *= 1024;
    if (value > kLimit * 1000) return Bad(text, "too large");
  }
  value = ScaleUp(value, decimal - fraction_digits + extra_scale);
  if (value < 0 || value > kLimit) return Bad(text, "too large");
  return static_cast<int64_t>(value);
}

}  // namespace

absl::StatusOr<int64_t> QuantityMilli(absl::string_view text) { return Parse(text, 3); }

absl::StatusOr<int64_t> QuantityValue(absl::string_view text) { return Parse(text, 0); }

}  // namespace accelsched::scheduler::codec
