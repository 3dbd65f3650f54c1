// Evidence from challenges per service and network: distinct senders' latest answers within a window, bounded.
#include <doctest.h>

#include <atomic>
#include <string>

#include "antispim/challenge_evidence.hpp"

using namespace hush::antispim;
using namespace std::chrono_literals;

TEST_CASE("evidence: distinct senders' latest answers, failed or passed") {
    challenge_evidence evidence(3600s);
    const auto t0 = std::chrono::steady_clock::now();
    evidence.record("domain:spam.test", "bot1@spam.test", true, t0);
    evidence.record("domain:spam.test", "bot1@spam.test", true, t0 + 1s);  // the same sender counts once
    evidence.record("domain:spam.test", "bot2@spam.test", true, t0 + 2s);
    auto t = evidence.of("domain:spam.test", t0 + 3s);
    CHECK(t.failed == 2);
    CHECK(t.passed == 0);
    // A person who mistyped, then passed: counted as passed.
    evidence.record("domain:spam.test", "human@spam.test", true, t0 + 4s);
    evidence.record("domain:spam.test", "human@spam.test", false, t0 + 5s);
    t = evidence.of("domain:spam.test", t0 + 6s);
    CHECK(t.failed == 2);
    CHECK(t.passed == 1);
    CHECK(evidence.of("domain:other.test", t0).failed == 0);  // keys are separate
    CHECK(evidence.of("ip:192.0.2.0/24", t0).passed == 0);
}

TEST_CASE("evidence: answers older than the window no longer count") {
    challenge_evidence evidence(60s);
    const auto t0 = std::chrono::steady_clock::now();
    evidence.record("domain:spam.test", "bot1@spam.test", true, t0);
    evidence.record("domain:spam.test", "bot2@spam.test", true, t0 + 30s);
    CHECK(evidence.of("domain:spam.test", t0 + 59s).failed == 2);
    CHECK(evidence.of("domain:spam.test", t0 + 61s).failed == 1);
    CHECK(evidence.of("domain:spam.test", t0 + 200s).failed == 0);
}

TEST_CASE("evidence of abuse: enough distinct failed senders, more than passed") {
    CHECK(challenge_evidence::abusive({3, 0}, 3));
    CHECK(challenge_evidence::abusive({3, 2}, 3));
    CHECK_FALSE(challenge_evidence::abusive({2, 0}, 3));   // too few
    CHECK_FALSE(challenge_evidence::abusive({5, 5}, 3));   // as many people passed: a service people use
    CHECK_FALSE(challenge_evidence::abusive({0, 40}, 3));  // a conference: everybody passed
    CHECK(challenge_evidence::abusive({1, 0}, 1));
}

TEST_CASE("evidence is bounded: senders per key and keys") {
    std::atomic<std::uint64_t> evictions{0};
    challenge_evidence evidence(3600s, 10, &evictions);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < challenge_evidence::max_senders_per_key + 36; ++i) {
        evidence.record("domain:spam.test", "bot" + std::to_string(i) + "@spam.test", true, t0);
    }
    CHECK(evidence.of("domain:spam.test", t0).failed == challenge_evidence::max_senders_per_key);
    for (int i = 0; i < 30; ++i) {
        evidence.record("domain:d" + std::to_string(i) + ".test", "x@d.test", true, t0);
    }
    CHECK(evictions.load() == 21);  // 31 keys into 10 slots
    CHECK(evidence.of("domain:spam.test", t0).failed == 0);  // the least recently used went first
    CHECK(evidence.of("domain:d29.test", t0).failed == 1);
}
