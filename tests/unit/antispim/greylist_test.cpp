// Greylisting: which network a peer counts in, and first sight versus a retry after the delay.
#include <doctest.h>

#include "antispim/greylist.hpp"

using namespace hush;

TEST_CASE("greylisted networks and retries") {
    antispim_config::greylist_options options;
    options.ranges = {"192.0.2.0/23", "2001:db8::/32"};
    options.retry_after = std::chrono::seconds{300};
    greylist list(options);
    CHECK(list.greylisted_network("192.0.3.77") == std::optional<std::string>("192.0.3.0/24"));
    CHECK(list.greylisted_network("2001:db8:1:2::9") == std::optional<std::string>("2001:db8:1::/48"));
    CHECK_FALSE(list.greylisted_network("198.51.100.1"));
    CHECK_FALSE(list.greylisted_network("unknown"));
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(list.check("192.0.3.0/24 bot@spam.test bob@example.org", t0) == std::chrono::seconds{300});
    CHECK(list.check("192.0.3.0/24 bot@spam.test bob@example.org", t0 + std::chrono::seconds(100)) ==
          std::chrono::seconds{200});
    CHECK(list.check("192.0.3.0/24 bot@spam.test bob@example.org", t0 + std::chrono::seconds(300)) ==
          std::chrono::seconds{0});
    CHECK(list.check("192.0.3.0/24 bot@spam.test carol@example.org", t0 + std::chrono::seconds(300)) ==
          std::chrono::seconds{300});  // per receiver
}

TEST_CASE("a full greylist forgets the least recently seen, not a sender that keeps coming") {
    antispim_config::greylist_options options;
    options.ranges = {"192.0.2.0/24"};
    options.retry_after = std::chrono::seconds{300};
    std::atomic<std::uint64_t> evictions{0};
    greylist list(options, 50, &evictions);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string known = "192.0.2.0/24 alice@friendly.test bob@example.org";
    CHECK(list.check(known, t0) == std::chrono::seconds{300});
    CHECK(list.check(known, t0 + std::chrono::seconds(300)) == std::chrono::seconds{0});
    // A flood of 1000 new senders from the range; alice writes again after every 20 of them and never waits.
    for (int i = 0; i < 1000; ++i) {
        const auto at = t0 + std::chrono::seconds(301);
        CHECK(list.check("192.0.2.0/24 bot" + std::to_string(i) + "@spam.test bob@example.org", at) ==
              std::chrono::seconds{300});
        if (i % 20 == 0) {
            CHECK(list.check(known, at) == std::chrono::seconds{0});
        }
    }
    CHECK(evictions.load() == 1000 + 1 - 50);
    // The earliest bots were forgotten: they wait from the start again.
    CHECK(list.check("192.0.2.0/24 bot0@spam.test bob@example.org", t0 + std::chrono::seconds(700)) ==
          std::chrono::seconds{300});
}
