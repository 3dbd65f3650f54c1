// The recent-verdicts ring: newest first, bounded, the oldest dropped.
#include <doctest.h>

#include <string>

#include "antispim/recent_verdicts.hpp"

using namespace hush;

namespace {

verdict_record made(std::int64_t t) {
    verdict_record r;
    r.time = t;
    r.policy = "blocklist";
    r.verdict = "reject";
    r.reason = "blocked-domain:spam.test";
    r.sender = "bot" + std::to_string(t) + "@spam.test";
    r.receiver = "alice@example.org";
    r.stanza = "message";
    return r;
}

}  // namespace

TEST_CASE("recent verdicts: newest first") {
    recent_verdicts ring(5);
    CHECK(ring.newest(10).empty());
    for (std::int64_t t = 1; t <= 3; ++t) {
        ring.record(made(t));
    }
    const auto all = ring.newest(10);
    REQUIRE(all.size() == 3);
    CHECK(all[0].time == 3);
    CHECK(all[1].time == 2);
    CHECK(all[2].time == 1);
    CHECK(all[0].sender == "bot3@spam.test");
    CHECK(all[0].policy == "blocklist");
    const auto two = ring.newest(2);
    REQUIRE(two.size() == 2);
    CHECK(two[0].time == 3);
    CHECK(two[1].time == 2);
    CHECK(ring.newest(0).empty());
}

TEST_CASE("recent verdicts: bounded, the oldest dropped") {
    recent_verdicts ring(4);
    CHECK(ring.capacity() == 4);
    for (std::int64_t t = 1; t <= 10; ++t) {
        ring.record(made(t));
    }
    const auto all = ring.newest(100);
    REQUIRE(all.size() == 4);
    CHECK(all.front().time == 10);
    CHECK(all.back().time == 7);
    CHECK(recent_verdicts().capacity() == recent_verdicts::default_capacity);
}
