// The [pubsub] section (XEP-0060 service and PEP): defaults, every key, errors with line:column and key.
#include <doctest.h>

#include <string>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using namespace hush::config_testing;

TEST_CASE("pubsub: defaults give every account PEP and a service at pubsub.<first host>") {
    const config c = load_ok("");
    CHECK(c.pubsub.enabled);
    CHECK(c.pubsub.service == "pubsub." + c.hosts.front());
    CHECK_FALSE(c.pubsub.service_creators_admins_only);
    CHECK(c.pubsub.max_items_per_node == 256);
    CHECK(c.pubsub.max_nodes_per_account == 128);
    CHECK(c.pubsub.max_payload_bytes == 128 * 1024);
}

TEST_CASE("pubsub: every key read") {
    const config c = load_ok("[pubsub]\nenabled = false\nservice = \"PubSub.Example.ORG\"\nservice_creators = \"admins\"\n"
                             "max_items_per_node = 10\nmax_nodes_per_account = 5\nmax_service_nodes = 7\n"
                             "max_payload_bytes = 2048\nmax_subscriptions_per_node = 3\nmax_subscriptions_per_jid = 4\n");
    CHECK_FALSE(c.pubsub.enabled);
    CHECK(c.pubsub.service == "pubsub.example.org");  // a domain, prepared as JID domains are
    CHECK(c.pubsub.service_creators_admins_only);
    CHECK(c.pubsub.max_items_per_node == 10);
    CHECK(c.pubsub.max_nodes_per_account == 5);
    CHECK(c.pubsub.max_service_nodes == 7);
    CHECK(c.pubsub.max_payload_bytes == 2048);
    CHECK(c.pubsub.max_subscriptions_per_node == 3);
    CHECK(c.pubsub.max_subscriptions_per_jid == 4);
    CHECK(load_ok("[pubsub]\nservice = \"\"\n").pubsub.service.empty());  // no service; PEP stays
}

TEST_CASE("pubsub: errors carry line:column and key") {
    CHECK(load_error("[pubsub]\nservice = \"not a domain!\"\n").starts_with("2:11: pubsub.service: "));
    CHECK(load_error("[server]\nhosts = [\"a.test\"]\n[pubsub]\nservice = \"a.test\"\n")
              .starts_with("4:11: pubsub.service: is one of server.hosts"));
    CHECK(load_error("[pubsub]\nservice_creators = \"anyone\"\n").starts_with("2:20: pubsub.service_creators: "));
    CHECK(load_error("[pubsub]\nmax_items_per_node = 0\n").starts_with("2:22: pubsub.max_items_per_node: "));
    CHECK(load_error("[pubsub]\nmax_payload_bytes = 10\n").starts_with("2:21: pubsub.max_payload_bytes: "));
    CHECK(load_error("[pubsub]\nitems = 3\n").starts_with("2:1: pubsub.items: unknown key"));
}
