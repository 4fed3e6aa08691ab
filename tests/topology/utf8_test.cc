// FirstInvalidUtf8 (topology/utf8.h): every scalar value's encoding (made here, independently,
// from the RFC 3629 table) is valid; the malformed forms of RFC 3629 and Unicode table 3-7 are
// refused at the byte where they go wrong.
#include "topology/utf8.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace accelsched::topology {
namespace {

std::string Encode(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

TEST(Utf8Test, EveryScalarValueIsValid) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;  // Surrogates are not scalar values.
    const std::string s = "a" + Encode(cp) + "z";
    ASSERT_EQ(FirstInvalidUtf8(s), std::nullopt) << std::hex << cp;
  }
}

TEST(Utf8Test, MalformedSequencesAreRefusedWhereTheyStart) {
  const struct {
    const char* name;
    std::string text;
    size_t at;
  } cases[] = {
      {"lone continuation", "ab\x80", 2},
      {"0xFF", "NVIDIA\xff", 6},
      {"0xC0 overlong", "\xc0\xaf", 0},
      {"0xC1 overlong", "x\xc1\xbf", 1},
      {"three-byte overlong", "\xe0\x80\xaf", 0},
      {"four-byte overlong", "\xf0\x80\x80\xaf", 0},
      {"surrogate", "\xed\xa0\x80", 0},
      {"above U+10FFFF", "\xf4\x90\x80\x80", 0},
      {"0xF5 lead", "\xf5\x80\x80\x80", 0},
      {"truncated at the end", "ok\xe2\x82", 2},
      {"continuation missing", "\xe2\x28\xa1", 0},
      {"encoded surrogate of a surrogate pair", "\xed\xbf\xbf", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FirstInvalidUtf8(c.text), c.at);
  }
  EXPECT_EQ(FirstInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8(Encode(0x10FFFF)), std::nullopt);
}

}  // namespace
}  // namespace accelsched::topology
