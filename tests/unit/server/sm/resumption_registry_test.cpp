// Places for sessions waiting to be resumed (XEP-0198): bounded server-wide and per account.
#include <doctest.h>

#include "protocol/jid.hpp"
#include "server/sm/resumption_registry.hpp"

using namespace hush;

namespace {

jid account(const char* text) {
    auto parsed = jid::parse(text);
    REQUIRE(parsed);
    return *parsed;
}

}  // namespace

TEST_CASE("resumption registry: one account cannot take more than its share of waiting places") {
    sm::resumption_registry registry(5, 2);
    const jid alice = account("alice@example.org/phone");
    const jid alice_laptop = account("alice@example.org/laptop");
    const jid bob = account("bob@example.org/desk");
    CHECK(registry.reserve_detached(alice));
    CHECK(registry.reserve_detached(alice_laptop));  // per account, whatever the resource
    CHECK_FALSE(registry.reserve_detached(alice));
    CHECK(registry.detached() == 2);
    CHECK(registry.reserve_detached(bob));
    registry.release_detached(alice);
    CHECK(registry.reserve_detached(alice));
    CHECK(registry.detached() == 3);
    // An account that holds nothing releases nothing.
    registry.release_detached(account("carol@example.org/x"));
    CHECK(registry.detached() == 3);
}

TEST_CASE("resumption registry: the server-wide bound holds whatever the accounts") {
    sm::resumption_registry registry(3, 10);
    CHECK(registry.reserve_detached(account("a@example.org/r")));
    CHECK(registry.reserve_detached(account("b@example.org/r")));
    CHECK(registry.reserve_detached(account("c@example.org/r")));
    CHECK_FALSE(registry.reserve_detached(account("d@example.org/r")));
    registry.release_detached(account("b@example.org/r"));
    CHECK(registry.reserve_detached(account("d@example.org/r")));
    CHECK(registry.detached() == 3);
}
