// [http], [websocket] and the https listener: defaults, every key, errors naming line:column and key.
#include <doctest.h>

#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using hush::listener_config;
using namespace hush::config_testing;

TEST_CASE("web: defaults: WebSocket on, any origin, no trusted proxy, no public URL") {
    const config c = load_ok("");
    CHECK(c.websocket.enabled);
    CHECK(c.websocket.allowed_origins == std::vector<std::string>{"*"});
    CHECK(c.http.trusted_proxies.empty());
    CHECK(c.http.public_url.empty());
}

TEST_CASE("web: an https listener defaults to port 5281") {
    const config c = load_ok("[[listen]]\nkind = \"https\"\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].type == listener_config::kind::https);
    CHECK(c.listeners[0].port == 5281);
    CHECK(c.listeners[0].is_http());
}

TEST_CASE("web: every key read") {
    const config c = load_ok(
        "[http]\ntrusted_proxies = [\"127.0.0.1\", \"0::1\"]\npublic_url = \"https://chat.example.org/\"\n"
        "[websocket]\nenabled = false\nallowed_origins = [\"https://chat.example.org\", \"http://localhost:8080/\"]\n");
    CHECK(c.http.trusted_proxies == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK(c.http.public_url == "https://chat.example.org");
    CHECK_FALSE(c.websocket.enabled);
    CHECK(c.websocket.allowed_origins ==
          std::vector<std::string>{"https://chat.example.org", "http://localhost:8080"});
    // A path prefix behind a proxy is fine.
    CHECK(load_ok("[http]\npublic_url = \"https://example.org/chat\"\n").http.public_url == "https://example.org/chat");
}

TEST_CASE("web: errors name the key") {
    CHECK(load_error("[http]\ntrusted_proxies = [\"proxy.local\"]\n").starts_with("2:20: http.trusted_proxies[0]: "));
    CHECK(load_error("[http]\npublic_url = \"chat.example.org\"\n").starts_with("2:14: http.public_url: expected an "));
    CHECK(load_error("[websocket]\nallowed_origins = [\"*\", \"example.org\"]\n")
              .starts_with("2:25: websocket.allowed_origins[1]: "));
    CHECK(load_error("[websocket]\nallowed_origin = []\n").starts_with("2:1: websocket.allowed_origin: "));
    CHECK(load_error("[http]\nport = 1\n").starts_with("2:1: http.port: "));
}
