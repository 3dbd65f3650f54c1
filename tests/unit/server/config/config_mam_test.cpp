// The [mam] section (XEP-0313 archive): defaults, every key, errors with line:column and key.
#include <doctest.h>

#include <string>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using namespace hush::config_testing;

TEST_CASE("mam: defaults archive everything for ever, pages of 50 up to 100, a million items per account") {
    const config c = load_ok("");
    CHECK(c.mam.enabled);
    CHECK(c.mam.default_mode == hush::storage::archive_default::always);
    CHECK(c.mam.default_page == 50);
    CHECK(c.mam.max_page == 100);
    CHECK(c.mam.retention_days == 0);
    CHECK(c.mam.max_items_per_user == 1000000);
    CHECK(c.mam.sweep_interval == std::chrono::hours{1});
}

TEST_CASE("mam: every key read") {
    const config c = load_ok("[mam]\nenabled = false\ndefault = \"roster\"\ndefault_page = 20\nmax_page = 500\n"
                             "retention_days = 30\nmax_items_per_user = 0\nsweep_interval = 60\n");
    CHECK_FALSE(c.mam.enabled);
    CHECK(c.mam.default_mode == hush::storage::archive_default::roster);
    CHECK(c.mam.default_page == 20);
    CHECK(c.mam.max_page == 500);
    CHECK(c.mam.retention_days == 30);
    CHECK(c.mam.max_items_per_user == 0);
    CHECK(c.mam.sweep_interval == std::chrono::seconds{60});
    CHECK(load_ok("[mam]\ndefault = \"never\"\n").mam.default_mode == hush::storage::archive_default::never);
    // A smaller max_page brings the default page down with it.
    CHECK(load_ok("[mam]\nmax_page = 10\n").mam.default_page == 10);
}

TEST_CASE("mam: errors carry line:column and key") {
    CHECK(load_error("[mam]\ndefault = \"sometimes\"\n").starts_with("2:11: mam.default: "));
    CHECK(load_error("[mam]\nmax_page = 0\n") == "2:12: mam.max_page: must be between 1 and 10000 (got 0)");
    CHECK(load_error("[mam]\nmax_page = 10\ndefault_page = 20\n") ==
          "3:16: mam.default_page: is larger than mam.max_page (10)");
    CHECK(load_error("[mam]\nretention_days = -1\n").starts_with("2:18: mam.retention_days: "));
    CHECK(load_error("[mam]\nenabled = 1\n").starts_with("2:11: mam.enabled: "));
    CHECK(load_error("[mam]\nretention = 3\n").starts_with("2:1: mam.retention: unknown key"));
}
