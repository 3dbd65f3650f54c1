#include <doctest.h>

#include <string_view>

#include "protocol/stanza.hpp"

using namespace hush;

namespace {

int priority(std::string_view xml) {
    const stanza s = stanza::parse(xml);
    REQUIRE(s.valid());
    return presence_priority(s);
}

}  // namespace

TEST_CASE("presence priority (RFC 6121 §4.7.2.3): the number, clamped to -128..127, else 0") {
    CHECK(priority("<presence/>") == 0);
    CHECK(priority("<presence><priority>7</priority></presence>") == 7);
    CHECK(priority("<presence><priority>-5</priority></presence>") == -5);
    CHECK(priority("<presence><priority>1000</priority></presence>") == 127);
    CHECK(priority("<presence><priority>-1000</priority></presence>") == -128);
    CHECK(priority("<presence><priority>high</priority></presence>") == 0);
}
