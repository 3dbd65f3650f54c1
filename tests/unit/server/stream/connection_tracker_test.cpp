#include <doctest.h>

#include <memory>
#include <vector>

#include "server/stream/connection_tracker.hpp"

#include "tests/unit/server/null_session.hpp"

using namespace hush;

namespace {

using test::null_session;

}  // namespace

TEST_CASE("admit enforces the per-address limit") {
    connection_tracker tracker(2);
    auto a = tracker.admit("192.0.2.1");
    auto b = tracker.admit("192.0.2.1");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a != b);
    CHECK(tracker.admit("192.0.2.1") == nullptr);
    CHECK(tracker.size() == 2);  // a refusal takes no slot

    // Other addresses have their own budget.
    auto c = tracker.admit("2001:db8::1");
    CHECK(c);
    CHECK(tracker.size() == 3);
}

TEST_CASE("destroying the handle releases its slot") {
    connection_tracker tracker(1);
    auto a = tracker.admit("192.0.2.1");
    REQUIRE(a);
    CHECK(tracker.admit("192.0.2.1") == nullptr);

    SUBCASE("only when the last copy goes") {
        auto copy = a;
        a.reset();
        CHECK(tracker.size() == 1);
        CHECK(tracker.admit("192.0.2.1") == nullptr);
        copy.reset();
    }
    SUBCASE("directly") {
        a.reset();
    }
    CHECK(tracker.size() == 0);
    CHECK(tracker.admit("192.0.2.1") != nullptr);
}

TEST_CASE("all() lists the attached sessions that are still alive") {
    connection_tracker tracker(8);
    auto s1 = std::make_shared<null_session>();
    auto s2 = std::make_shared<null_session>();
    auto h1 = tracker.admit("192.0.2.1");
    auto h2 = tracker.admit("192.0.2.1");
    auto h3 = tracker.admit("192.0.2.2");  // never attached: counted, not listed
    REQUIRE(h1);
    REQUIRE(h2);
    REQUIRE(h3);
    tracker.attach(h1, s1);
    tracker.attach(h2, s2);
    CHECK(tracker.all().size() == 2);
    CHECK(tracker.size() == 3);

    SUBCASE("a destroyed session is skipped while its slot is held") {
        s2.reset();
        const auto all = tracker.all();
        REQUIRE(all.size() == 1);
        CHECK(all.front() == s1);
        CHECK(tracker.size() == 3);
    }
    SUBCASE("a released slot forgets its session even if the session lives on") {
        h1.reset();
        const auto all = tracker.all();
        REQUIRE(all.size() == 1);
        CHECK(all.front() == s2);
        CHECK(tracker.size() == 2);
    }
}

TEST_CASE("on_empty fires each time the count drops to zero, and only then") {
    connection_tracker tracker(4);
    int fired = 0;
    std::size_t size_seen = 99;
    // The callback may look at the tracker: it runs outside the tracker's lock.
    tracker.on_empty([&] {
        ++fired;
        size_seen = tracker.size();
    });

    auto a = tracker.admit("192.0.2.1");
    auto b = tracker.admit("192.0.2.2");
    CHECK(tracker.admit("192.0.2.9") != nullptr);  // admitted and released at once: 2 -> 3 -> 2
    CHECK(fired == 0);
    a.reset();
    CHECK(fired == 0);
    b.reset();
    CHECK(fired == 1);
    CHECK(size_seen == 0);

    // A refused admission is no connection: nothing to release, no spurious callback.
    connection_tracker strict(1);
    int strict_fired = 0;
    strict.on_empty([&] { ++strict_fired; });
    auto only = strict.admit("192.0.2.1");
    CHECK(strict.admit("192.0.2.1") == nullptr);
    CHECK(strict_fired == 0);
    only.reset();
    CHECK(strict_fired == 1);

    // Again after refilling.
    auto c = tracker.admit("192.0.2.1");
    c.reset();
    CHECK(fired == 2);

    SUBCASE("cleared, it no longer fires") {
        tracker.on_empty(nullptr);
        auto d = tracker.admit("192.0.2.1");
        d.reset();
        CHECK(fired == 2);
    }
}
