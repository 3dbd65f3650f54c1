// The DoS detector's counting: distinct receivers per key within the window.
#include <doctest.h>

#include "antispim/dos_detector.hpp"
#include "server/config/config.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;

TEST_CASE("distinct receivers are counted per key within the window") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    cfg.antispim.dos.window = std::chrono::seconds{60};
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; });
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(detector.record("jid:bot@spam.test", "a@example.org", t0) == 1);
    CHECK(detector.record("jid:bot@spam.test", "a@example.org", t0 + std::chrono::seconds(1)) == 1);  // same user
    CHECK(detector.record("jid:bot@spam.test", "b@example.org", t0 + std::chrono::seconds(2)) == 2);
    CHECK(detector.record("jid:other@spam.test", "c@example.org", t0 + std::chrono::seconds(3)) == 1);  // own key
    // Past the window, the early contacts no longer count.
    CHECK(detector.record("jid:bot@spam.test", "c@example.org", t0 + std::chrono::seconds(62)) == 2);
    CHECK(detector.record("jid:bot@spam.test", "d@example.org", t0 + std::chrono::seconds(200)) == 1);
}

TEST_CASE("remote servers are also counted by network") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; });
    CHECK(detector.network_of("192.0.2.77") == "192.0.2.0/24");
    CHECK(detector.network_of("2001:db8:1:2::9") == "2001:db8:1::/48");
    CHECK(detector.network_of("not an address").empty());
}

TEST_CASE("a full detector forgets idle keys, not a sender that keeps sending") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    cfg.antispim.dos.window = std::chrono::seconds{600};
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    std::atomic<std::uint64_t> evictions{0};
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; }, 50,
                          &evictions);
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t reached = 0;
    // 1000 one-off keys flood the 50 slots; the bot contacts a new user after every 20 of them.
    for (int i = 0; i < 1000; ++i) {
        const auto at = t0 + std::chrono::milliseconds(i);
        detector.record("jid:flood" + std::to_string(i) + "@spam.test", "x@example.org", at);
        if (i % 20 == 0) {
            reached = detector.record("jid:bot@spam.test", "u" + std::to_string(i) + "@example.org", at);
        }
    }
    CHECK(reached == 50);  // every contact still counted
    CHECK(evictions.load() == 1000 + 1 - 50);
    // The oldest one-off keys are gone: counting starts again for them.
    CHECK(detector.record("jid:flood0@spam.test", "y@example.org", t0 + std::chrono::seconds(1)) == 1);
}
