#include "scheduler/codec/quantity.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "topology/status_macros.h"

namespace accelsched::scheduler::codec {
namespace {

__extension__ using int128 = __int128;  // GCC and clang; exact 128-bit arithmetic.

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

// The digits of a quantity: the mantissa (all digits, the point ignored), how many of them follow
// the point, and where the suffix starts.
struct Digits {
  int128 mantissa = 0;
  int fraction_digits = 0;
  size_t suffix_at = 0;
};

absl::StatusOr<Digits> ParseDigits(absl::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  size_t i = 0;
  if (text[0] == '+') ++i;
  if (i < text.size() && text[i] == '-') return Bad(text, "must not be negative");
  Digits out;
  int digits = 0;
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
    if (out.mantissa != 0 || c != '0') ++digits;
    if (digits > 30) return Bad(text, "too many digits");
    out.mantissa = out.mantissa * 10 + (c - '0');
    if (seen_point) ++out.fraction_digits;
  }
  if (!has_digit) return Bad(text, "no digits");
  out.suffix_at = i;
  return out;
}

// What a suffix multiplies by: 10^decimal x 1024^binary.
struct Scale {
  int decimal = 0;
  int binary = 0;
};

// "e3", "E-2", "e+5": the exponent.
absl::StatusOr<int> ParseExponent(absl::string_view text, absl::string_view suffix) {
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
  return negative ? -exponent : exponent;
}

absl::StatusOr<Scale> ParseSuffix(absl::string_view text, absl::string_view suffix) {
  static constexpr std::pair<absl::string_view, Scale> kSuffixes[] = {
      {"", {0, 0}},   {"n", {-9, 0}}, {"u", {-6, 0}}, {"m", {-3, 0}},
      {"k", {3, 0}},  {"M", {6, 0}},  {"G", {9, 0}},  {"T", {12, 0}},
      {"P", {15, 0}}, {"E", {18, 0}}, {"Ki", {0, 1}}, {"Mi", {0, 2}},
      {"Gi", {0, 3}}, {"Ti", {0, 4}}, {"Pi", {0, 5}}, {"Ei", {0, 6}},
  };
  for (const auto& [name, scale] : kSuffixes) {
    if (suffix == name) return scale;
  }
  if (suffix[0] == 'e' || suffix[0] == 'E') {
    ACCELSCHED_ASSIGN_OR_RETURN(int exponent, ParseExponent(text, suffix));
    return Scale{exponent, 0};
  }
  return Bad(text, absl::StrCat("unknown suffix '", std::string(suffix),
                                "' (use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or eN)"));
}

// The quantity times 10^extra_scale, rounded up.
absl::StatusOr<int64_t> Parse(absl::string_view text, int extra_scale) {
  ACCELSCHED_ASSIGN_OR_RETURN(Digits digits, ParseDigits(text));
  ACCELSCHED_ASSIGN_OR_RETURN(Scale scale, ParseSuffix(text, text.substr(digits.suffix_at)));
  int128 value = digits.mantissa;
  for (int b = 0; b < scale.binary; ++b) {
    value *= 1024;
    if (value > kLimit * 1000) return Bad(text, "too large");
  }
  value = ScaleUp(value, scale.decimal - digits.fraction_digits + extra_scale);
  if (value < 0 || value > kLimit) return Bad(text, "too large");
  return static_cast<int64_t>(value);
}

}  // namespace

absl::StatusOr<int64_t> QuantityMilli(absl::string_view text) { return Parse(text, 3); }

absl::StatusOr<int64_t> QuantityValue(absl::string_view text) { return Parse(text, 0); }

}  // namespace accelsched::scheduler::codec
