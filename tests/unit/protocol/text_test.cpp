// Decimal numbers as protocols write them, and UTF-8 cut at a character boundary.
#include <doctest.h>

#include <cstdint>

#include "protocol/text.hpp"

using namespace hush;

TEST_CASE("parse_decimal: the whole text, in range, no sign on unsigned types") {
    CHECK(parse_decimal<std::uint32_t>("4294967295") == 4294967295u);
    CHECK_FALSE(parse_decimal<std::uint32_t>("4294967296"));
    CHECK_FALSE(parse_decimal<std::uint32_t>("-1"));
    CHECK_FALSE(parse_decimal<std::uint32_t>(""));
    CHECK_FALSE(parse_decimal<std::uint32_t>(" 1"));
    CHECK_FALSE(parse_decimal<std::int64_t>("12a"));
    CHECK(parse_decimal<std::int64_t>("1733550000000000") == 1733550000000000);
}

TEST_CASE("truncate_utf8: never inside a character") {
    CHECK(truncate_utf8("short", 10) == "short");
    CHECK(truncate_utf8("abcdef", 3) == "abc");
    const std::string snowmen = "\xE2\x98\x83\xE2\x98\x83";  // two 3-byte characters
    CHECK(truncate_utf8(snowmen, 5) == "\xE2\x98\x83");
    CHECK(truncate_utf8(snowmen, 3) == "\xE2\x98\x83");
    CHECK(truncate_utf8(snowmen, 2).empty());
}
