#include <doctest.h>

#include <chrono>
#include <string>

#include "server/stream/auth_throttle.hpp"

using namespace hush;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

// Explicit time points: far from the clock's epoch, so nothing depends on when the test runs.
const auth_throttle::clock::time_point t0{std::chrono::hours(24 * 365)};

}  // namespace

TEST_CASE("free failures, then doubling delays, capped") {
    auth_throttle throttle(3, 10min, 30s);
    const std::string ip = "192.0.2.1";
    CHECK(throttle.record_failure(ip, t0) == ms(0));
    CHECK(throttle.record_failure(ip, t0 + 1s) == ms(0));
    CHECK(throttle.record_failure(ip, t0 + 2s) == ms(0));
    CHECK(throttle.record_failure(ip, t0 + 3s) == ms(1000));
    CHECK(throttle.record_failure(ip, t0 + 4s) == ms(2000));
    CHECK(throttle.record_failure(ip, t0 + 5s) == ms(4000));
    CHECK(throttle.record_failure(ip, t0 + 6s) == ms(8000));
    CHECK(throttle.record_failure(ip, t0 + 7s) == ms(16000));
    CHECK(throttle.record_failure(ip, t0 + 8s) == ms(30000));
    CHECK(throttle.failures(ip, t0 + 8s) == 9);
    // Far past the point where 2^n would overflow: still the cap.
    for (int i = 0; i < 100; ++i) {
        CHECK(throttle.record_failure(ip, t0 + 9s) == ms(30000));
    }
    CHECK(throttle.failures(ip, t0 + 9s) == 109);
}

TEST_CASE("with no free failures the first one is already delayed") {
    auth_throttle throttle(0, 10min, 30s);
    CHECK(throttle.record_failure("192.0.2.1", t0) == ms(1000));
    CHECK(throttle.record_failure("192.0.2.1", t0) == ms(2000));
}

TEST_CASE("addresses are counted separately") {
    auth_throttle throttle(1, 10min, 30s);
    CHECK(throttle.record_failure("192.0.2.1", t0) == ms(0));
    CHECK(throttle.record_failure("192.0.2.1", t0) == ms(1000));
    CHECK(throttle.record_failure("2001:db8::1", t0) == ms(0));
    CHECK(throttle.failures("192.0.2.1", t0) == 2);
    CHECK(throttle.failures("2001:db8::1", t0) == 1);
    CHECK(throttle.failures("198.51.100.9", t0) == 0);
}

TEST_CASE("the count expires with its window") {
    auth_throttle throttle(2, 10min, 30s);
    const std::string ip = "192.0.2.1";
    for (int i = 0; i < 5; ++i) {
        (void)throttle.record_failure(ip, t0);
    }
    CHECK(throttle.failures(ip, t0 + 10min - 1s) == 5);
    CHECK(throttle.failures(ip, t0 + 10min) == 0);

    SUBCASE("a failure after the window starts over") {
        CHECK(throttle.record_failure(ip, t0 + 10min) == ms(0));
        CHECK(throttle.failures(ip, t0 + 10min) == 1);
    }
    SUBCASE("a failure just inside the window is still delayed") {
        CHECK(throttle.record_failure(ip, t0 + 10min - 1s) == ms(8000));
    }
    SUBCASE("another address's failure sweeping expired entries does not disturb a live one") {
        const std::string other = "198.51.100.9";
        (void)throttle.record_failure(other, t0 + 5min);
        (void)throttle.record_failure(other, t0 + 5min);
        (void)throttle.record_failure(ip, t0 + 11min);  // sweeps: ip's window is over, other's is not
        CHECK(throttle.failures(other, t0 + 11min) == 2);
        CHECK(throttle.record_failure(other, t0 + 11min) == ms(1000));
    }
}

TEST_CASE("success resets the count") {
    auth_throttle throttle(2, 10min, 30s);
    const std::string ip = "192.0.2.1";
    for (int i = 0; i < 6; ++i) {
        (void)throttle.record_failure(ip, t0);
    }
    throttle.record_success(ip);
    CHECK(throttle.failures(ip, t0) == 0);
    CHECK(throttle.record_failure(ip, t0 + 1s) == ms(0));
    CHECK(throttle.record_failure(ip, t0 + 1s) == ms(0));
    CHECK(throttle.record_failure(ip, t0 + 1s) == ms(1000));
}

TEST_CASE("success for one address leaves another's count alone") {
    auth_throttle throttle(0, 10min, 30s);
    (void)throttle.record_failure("192.0.2.1", t0);
    (void)throttle.record_failure("192.0.2.2", t0);
    throttle.record_success("192.0.2.1");
    CHECK(throttle.failures("192.0.2.1", t0) == 0);
    CHECK(throttle.failures("192.0.2.2", t0) == 1);
}

TEST_CASE("a window expires on its own, not only when the periodic sweep comes by") {
    auth_throttle throttle(2, 10min, 30s);
    const std::string ip = "192.0.2.1";
    const std::string other = "198.51.100.9";
    (void)throttle.record_failure(other, t0);
    for (int i = 0; i < 5; ++i) {
        (void)throttle.record_failure(ip, t0 + 1min);
    }
    (void)throttle.record_failure(other, t0 + 10min);  // a sweep here finds ip's window still open
    CHECK(throttle.failures(ip, t0 + 10min) == 5);
    // Only a minute after that sweep, ip's own window is over.
    CHECK(throttle.failures(ip, t0 + 11min) == 0);
    CHECK(throttle.record_failure(ip, t0 + 11min) == ms(0));
    CHECK(throttle.failures(ip, t0 + 11min) == 1);
}
