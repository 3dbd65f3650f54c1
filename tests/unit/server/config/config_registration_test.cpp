// The [registration] section: modes, limits, the CAPTCHA, approval, reserved names, invitations; the old
// `enabled` key refused with a pointer to `mode`; every error with line:column and key.
#include <doctest.h>

#include <algorithm>
#include <string>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using hush::registration_mode;
using namespace hush::config_testing;

namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("registration: defaults are closed, with the CAPTCHA, limits and the default reserved names") {
    const config c = load_ok("");
    CHECK(c.registration.mode == registration_mode::closed);
    CHECK(c.registration.max_per_ip == 5);
    CHECK(c.registration.max_per_network == 10);
    CHECK(c.registration.max_total == 100);
    CHECK(c.registration.window == std::chrono::minutes{60});
    CHECK(c.registration.min_password_length == 8);
    CHECK(c.registration.captcha);
    CHECK_FALSE(c.registration.approval);
    CHECK(c.registration.invites_per_user == 5);
    CHECK(c.registration.invite_expiry == std::chrono::hours{168});
    for (const char* name : {"admin", "root", "postmaster", "abuse", "webmaster", "hostmaster", "support", "xmpp"}) {
        CHECK(has(c.registration.reserved_names, name));
    }
    // An empty section means the same.
    CHECK(load_ok("[registration]\n").registration.reserved_names == c.registration.reserved_names);
}

TEST_CASE("registration: every key read") {
    const config c = load_ok("[registration]\nmode = \"open\"\nmax_per_ip = 1\nmax_per_network = 2\nmax_total = 3\n"
                             "window_minutes = 1440\nmin_password_length = 12\ncaptcha = false\napproval = true\n"
                             "reserved_names = [\"Boss\", \"admin\"]\ninvites_per_user = 0\ninvite_expiry_hours = 2\n");
    CHECK(c.registration.mode == registration_mode::open);
    CHECK(c.registration.max_per_ip == 1);
    CHECK(c.registration.max_per_network == 2);
    CHECK(c.registration.max_total == 3);
    CHECK(c.registration.window == std::chrono::hours{24});
    CHECK(c.registration.min_password_length == 12);
    CHECK_FALSE(c.registration.captcha);
    CHECK(c.registration.approval);
    CHECK(c.registration.invites_per_user == 0);
    CHECK(c.registration.invite_expiry == std::chrono::hours{2});
    // Configured names are nodeprepped and added to the defaults, each once.
    CHECK(has(c.registration.reserved_names, "boss"));
    CHECK(has(c.registration.reserved_names, "root"));
    CHECK(std::count(c.registration.reserved_names.begin(), c.registration.reserved_names.end(), "admin") == 1);
    CHECK(load_ok("[registration]\nmode = \"invite\"\n").registration.mode == registration_mode::invite);
}

TEST_CASE("registration: errors carry line:column and key") {
    // The old switch is refused, saying what to write instead.
    const std::string old = load_error("[registration]\nenabled = true\n");
    CHECK(old.starts_with("2:11: registration.enabled: was replaced by registration.mode: write mode = \"open\""));
    CHECK(old.find("captcha = false") != std::string::npos);
    CHECK(load_error("[registration]\nenabled = false\n").starts_with("2:11: registration.enabled: was replaced"));
    CHECK(load_error("[registration]\nmode = \"public\"\n").starts_with("2:8: registration.mode: "));
    CHECK(load_error("[registration]\nmode = true\n").starts_with("2:8: registration.mode: "));
    CHECK(load_error("[registration]\nmax_per_ip = 0\n") ==
          "2:14: registration.max_per_ip: must be between 1 and 1000000 (got 0)");
    CHECK(load_error("[registration]\nmax_per_network = 0\n").starts_with("2:19: registration.max_per_network: "));
    CHECK(load_error("[registration]\nmax_total = -1\n").starts_with("2:13: registration.max_total: "));
    CHECK(load_error("[registration]\nwindow_minutes = 0\n")
              .starts_with("2:18: registration.window_minutes: must be between 1 and "));
    CHECK(load_error("[registration]\nmin_password_length = 1025\n").starts_with("2:23: "));
    CHECK(load_error("[registration]\ncaptcha = \"yes\"\n") ==
          "2:11: registration.captcha: expected a boolean (true or false), got a string");
    CHECK(load_error("[registration]\napproval = 1\n").starts_with("2:12: registration.approval: "));
    CHECK(load_error("[registration]\nreserved_names = [\"ok\", \"a b\"]\n")
              .starts_with("2:25: registration.reserved_names[1]: \"a b\" is not a valid local part"));
    CHECK(load_error("[registration]\ninvites_per_user = -1\n").starts_with("2:20: registration.invites_per_user: "));
    CHECK(load_error("[registration]\ninvite_expiry_hours = 0\n").starts_with("2:23: registration.invite_expiry_hours: "));
    CHECK(load_error("[registration]\ncapcha = true\n") ==
          "2:1: registration.capcha: unknown key (did you mean registration.captcha?)");
    CHECK(load_error("registration = true\n") == "1:16: registration: expected a table, got a boolean");
}
