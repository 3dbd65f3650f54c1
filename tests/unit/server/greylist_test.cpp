// Greylisting: which network a peer counts in, and first sight versus a retry after the delay.
#include <doctest.h>

#include "server/greylist.hpp"

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
