// Outbound protection's counting: distinct strangers per account within the window, in bounded memory.
#include <doctest.h>

#include "antispim/stranger_service.hpp"
#include "antispim/outbound_guard.hpp"
#include "server/config/config.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;

TEST_CASE("outbound counting: distinct targets per account, and a full map forgets idle accounts only") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    cfg.antispim.outbound.window = std::chrono::seconds{3600};
    storage::async_store store(cfg.storage);
    admin_notifier admins("example.org", {});
    // record() never asks who is a stranger; the real oracle only fills the slot.
    antispim_service strangers(cfg.antispim, store, [](std::string_view d) { return d == "example.org"; }, nullptr, {});
    std::atomic<std::uint64_t> evictions{0};
    outbound_guard guard(cfg.antispim, store, admins, strangers, 30, &evictions);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(guard.record("mallory@example.org", "a@spam.test", t0) == 1);
    CHECK(guard.record("mallory@example.org", "a@spam.test", t0) == 1);
    CHECK(guard.record("mallory@example.org", "b@spam.test", t0) == 2);
    // 600 other accounts write once each; mallory writes to someone new after every 20 of them.
    std::size_t reached = 0;
    for (int i = 0; i < 600; ++i) {
        guard.record("user" + std::to_string(i) + "@example.org", "x@elsewhere.test", t0);
        if (i % 20 == 0) {
            reached = guard.record("mallory@example.org", "t" + std::to_string(i) + "@spam.test", t0);
        }
    }
    CHECK(reached == 2 + 30);  // nothing of mallory's was forgotten
    CHECK(evictions.load() == 600 + 1 - 30);
    CHECK(guard.record("user0@example.org", "y@elsewhere.test", t0) == 1);  // forgotten: counted afresh
}
