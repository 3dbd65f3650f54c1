// The limits on registrations without an invitation: per address, per network (IPv4 /24, IPv6 /64) and in all,
// with explicit time points; and the bound on how many keys are tracked.
#include <doctest.h>

#include <chrono>
#include <string>

#include "server/registration/registration_limits.hpp"

using namespace hush;
using namespace std::chrono_literals;

TEST_CASE("registration_network: /24 for IPv4 (mapped too), /64 for IPv6") {
    CHECK(registration_network("192.0.2.77") == "192.0.2.0/24");
    CHECK(registration_network("127.0.0.1") == "127.0.0.0/24");
    CHECK(registration_network("127.0.1.1") == "127.0.1.0/24");
    CHECK(registration_network("::ffff:198.51.100.9") == "198.51.100.0/24");
    CHECK(registration_network("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
    CHECK(registration_network("2001:db8:1:2::1") == registration_network("2001:db8:1:2:ffff::9"));
    CHECK(registration_network("2001:db8:1:3::1") != registration_network("2001:db8:1:2::1"));
    CHECK(registration_network("not an address") == "not an address");
}

TEST_CASE("registration_limits: address, then network, then total; a refusal takes nothing") {
    using clock = registration_limits::clock;
    using refusal = registration_limits::refusal;
    const clock::time_point t0{std::chrono::hours(24 * 365)};
    registration_limits limits(2, 3, 5, 60min);
    registration_limits::reservation r;

    CHECK(limits.try_reserve("192.0.2.1", t0, r) == refusal::none);
    CHECK(limits.try_reserve("192.0.2.1", t0, r) == refusal::none);
    CHECK(limits.try_reserve("192.0.2.1", t0, r) == refusal::address);
    // Another address of the same /24: one more, then the network is full for every address in it.
    CHECK(limits.try_reserve("192.0.2.2", t0, r) == refusal::none);
    CHECK(limits.try_reserve("192.0.2.3", t0, r) == refusal::network);
    CHECK(limits.try_reserve("192.0.2.200", t0, r) == refusal::network);
    // Rotating inside one IPv6 /64 is one network too.
    CHECK(limits.try_reserve("2001:db8::1", t0, r) == refusal::none);
    CHECK(limits.try_reserve("2001:db8::2", t0, r) == refusal::none);
    // Five taken in all: the server-wide limit refuses a fresh network.
    CHECK(limits.try_reserve("198.51.100.1", t0, r) == refusal::total);
    // Releasing the last one frees its address, its network and the total at once.
    limits.release(r);
    CHECK(limits.try_reserve("203.0.113.1", t0, r) == refusal::none);
    CHECK(limits.try_reserve("203.0.113.2", t0, r) == refusal::total);
    // An hour later everything has expired.
    CHECK(limits.try_reserve("192.0.2.3", t0 + 60min, r) == refusal::none);
}

TEST_CASE("registration_limiter: N per window per key, sliding, bounded keys") {
    using clock = registration_limiter::clock;
    const clock::time_point t0{std::chrono::hours(24 * 365)};
    registration_limiter limiter(1, 10min, 3);
    CHECK(limiter.try_reserve("a", t0));
    CHECK(limiter.try_reserve("b", t0));
    CHECK(limiter.try_reserve("c", t0));
    // Full: a fourth key is refused (fails closed) while the others are live ...
    CHECK_FALSE(limiter.try_reserve("d", t0 + 1min));
    CHECK(limiter.tracked_keys() == 3);
    // ... and the sweep makes room once they expire.
    CHECK(limiter.try_reserve("d", t0 + 10min));
    CHECK(limiter.tracked_keys() == 1);
}
