// The [muc] section (XEP-0045 room services): defaults, every key, errors with line:column and key.
#include <doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using namespace hush::config_testing;

TEST_CASE("muc: defaults give one service per host, conference.<host>") {
    const config c = load_ok("");
    CHECK(c.muc.enabled);
    CHECK_FALSE(c.muc.services_configured);
    CHECK(c.muc.services == std::vector<std::string>{"conference.localhost"});
    CHECK_FALSE(c.muc.room_creators_admins_only);
    CHECK(c.muc.max_rooms == 10000);
    CHECK(c.muc.max_rooms_per_owner == 100);
    CHECK(c.muc.max_occupants == 200);
    CHECK(c.muc.max_occupants_limit == 1000);
    CHECK(c.muc.history_size == 20);
    CHECK(c.muc.flood_messages_per_minute == 30);
    CHECK(c.muc.flood_burst == 10);
    CHECK_FALSE(c.muc.new_occupants_visitors);
    CHECK(c.muc.visitor_period == std::chrono::seconds{300});
    CHECK(c.muc.max_rooms_per_user == 100);

    const config two = load_ok("[server]\nhosts = [\"a.test\", \"B.Test\"]\n");
    CHECK(two.muc.services == std::vector<std::string>{"conference.a.test", "conference.b.test"});
    // Disabled: no service at all.
    CHECK(load_ok("[muc]\nenabled = false\n").muc.services.empty());
}

TEST_CASE("muc: every key read") {
    const config c = load_ok("[server]\nhosts = [\"a.test\"]\n[muc]\nservices = [\"Rooms.A.TEST\", \"chat.a.test\"]\n"
                             "room_creators = \"admins\"\nmax_rooms = 50\nmax_rooms_per_owner = 2\nmax_occupants = 20\n"
                             "max_occupants_limit = 40\nhistory_size = 0\nflood_messages_per_minute = 60\n"
                             "flood_burst = 5\nnew_occupants_visitors = true\nvisitor_period = 3600\n"
                             "max_rooms_per_user = 7\n");
    CHECK(c.muc.enabled);
    CHECK(c.muc.services_configured);
    CHECK(c.muc.services == std::vector<std::string>{"rooms.a.test", "chat.a.test"});  // prepared as JID domains
    CHECK(c.muc.room_creators_admins_only);
    CHECK(c.muc.max_rooms == 50);
    CHECK(c.muc.max_rooms_per_owner == 2);
    CHECK(c.muc.max_occupants == 20);
    CHECK(c.muc.max_occupants_limit == 40);
    CHECK(c.muc.history_size == 0);
    CHECK(c.muc.flood_messages_per_minute == 60);
    CHECK(c.muc.flood_burst == 5);
    CHECK(c.muc.new_occupants_visitors);
    CHECK(c.muc.visitor_period == std::chrono::seconds{3600});
    CHECK(c.muc.max_rooms_per_user == 7);

    CHECK_FALSE(load_ok("[muc]\nroom_creators = \"local\"\n").muc.room_creators_admins_only);
    // An explicit empty list: no service, as with enabled = false.
    const config none = load_ok("[muc]\nservices = []\n");
    CHECK(none.muc.services_configured);
    CHECK(none.muc.services.empty());
    // No rate: a burst of 0 is harmless then.
    CHECK(load_ok("[muc]\nflood_messages_per_minute = 0\nflood_burst = 0\n").muc.flood_burst == 0);
    CHECK(load_ok("[muc]\nhistory_size = 200\n").muc.history_size == 200);
    CHECK(load_ok("[muc]\nmax_occupants = 1000\n").muc.max_occupants == 1000);  // equal to the limit is fine
    // A disabled pubsub takes no domain.
    CHECK(load_ok("[pubsub]\nenabled = false\n[muc]\nservices = [\"pubsub.localhost\"]\n").muc.services ==
          std::vector<std::string>{"pubsub.localhost"});
}

TEST_CASE("muc: visitor_period is whole seconds, 1 s to a year") {
    CHECK(load_ok("[muc]\nvisitor_period = 1\n").muc.visitor_period == std::chrono::seconds{1});
    CHECK(load_ok("[muc]\nvisitor_period = 86400\n").muc.visitor_period == std::chrono::hours{24});
    CHECK(load_error("[muc]\nvisitor_period = 0\n").starts_with("2:18: muc.visitor_period: must be between 1 and "));
    CHECK(load_error("[muc]\nvisitor_period = 31536001\n").starts_with("2:18: muc.visitor_period: "));
    CHECK(load_error("[muc]\nvisitor_period = \"5m\"\n")
              .starts_with("2:18: muc.visitor_period: expected an integer, got a string"));
}

TEST_CASE("muc: service errors carry line:column and key") {
    CHECK(load_error("[muc]\nservices = [\"not a domain!\"]\n")
              .starts_with("2:13: muc.services[0]: \"not a domain!\" is not a domain"));
    CHECK(load_error("[server]\nhosts = [\"a.test\"]\n[muc]\nservices = [\"rooms.a.test\", \"A.test\"]\n")
              .starts_with("4:29: muc.services[1]: \"a.test\" is one of server.hosts"));
    CHECK(load_error("[server]\nhosts = [\"a.test\"]\n[muc]\nservices = [\"pubsub.a.test\"]\n")
              .starts_with("4:13: muc.services[0]: \"pubsub.a.test\" is the pubsub service"));
    CHECK(load_error("[pubsub]\nservice = \"ps.localhost\"\n[muc]\nservices = [\"PS.localhost\"]\n")
              .starts_with("4:13: muc.services[0]: \"ps.localhost\" is the pubsub service"));
    CHECK(load_error("[muc]\nservices = [\"rooms.localhost\", \"Rooms.LOCALHOST\"]\n")
              .starts_with("2:32: muc.services[1]: duplicate service \"rooms.localhost\""));
    CHECK(load_error("[muc]\nservices = \"rooms.localhost\"\n")
              .starts_with("2:12: muc.services: expected an array of strings"));
    CHECK(load_error("[muc]\nservices = [3]\n").starts_with("2:13: muc.services[0]: expected a string"));
}

TEST_CASE("muc: a default service that collides is an error naming where") {
    CHECK(load_error("[server]\nhosts = [\"a.test\", \"conference.a.test\"]\n")
              .starts_with("2:9: muc.services: the default service for host \"a.test\" is unusable: "
                           "\"conference.a.test\" is one of server.hosts; a MUC service needs a domain of its own; "
                           "set muc.services"));
    CHECK(load_error("[pubsub]\nservice = \"conference.localhost\"\n")
              .starts_with("2:11: muc.services: the default service for host \"localhost\" is unusable: "
                           "\"conference.localhost\" is the pubsub service"));
    // Set explicitly, the services need no default.
    CHECK(load_ok("[server]\nhosts = [\"a.test\", \"conference.a.test\"]\n[muc]\nservices = [\"rooms.a.test\"]\n")
              .muc.services == std::vector<std::string>{"rooms.a.test"});
    CHECK(load_ok("[server]\nhosts = [\"a.test\", \"conference.a.test\"]\n[muc]\nenabled = false\n")
              .muc.services.empty());
}

TEST_CASE("muc: bound errors carry line:column and key") {
    CHECK(load_error("[muc]\nroom_creators = \"anyone\"\n").starts_with("2:17: muc.room_creators: "));
    CHECK(load_error("[muc]\nenabled = 1\n").starts_with("2:11: muc.enabled: "));
    CHECK(load_error("[muc]\nmax_rooms = 0\n").starts_with("2:13: muc.max_rooms: "));
    CHECK(load_error("[muc]\nmax_rooms_per_owner = 0\n").starts_with("2:23: muc.max_rooms_per_owner: "));
    CHECK(load_error("[muc]\nmax_rooms_per_user = 0\n").starts_with("2:22: muc.max_rooms_per_user: "));
    CHECK(load_error("[muc]\nmax_occupants = 0\n").starts_with("2:17: muc.max_occupants: must be between 1 and "));
    CHECK(load_error("[muc]\nmax_occupants = 1001\n")
              .starts_with("2:17: muc.max_occupants: must not be more than muc.max_occupants_limit (1000)"));
    CHECK(load_error("[muc]\nmax_occupants = 50\nmax_occupants_limit = 40\n")
              .starts_with("2:17: muc.max_occupants: must not be more than muc.max_occupants_limit (40)"));
    CHECK(load_error("[muc]\nmax_occupants_limit = 100\n")
              .starts_with("2:23: muc.max_occupants_limit: must not be less than muc.max_occupants (200)"));
    CHECK(load_error("[muc]\nhistory_size = 201\n")
              .starts_with("2:16: muc.history_size: must be between 0 and 200 (got 201)"));
    CHECK(load_error("[muc]\nhistory_size = -1\n").starts_with("2:16: muc.history_size: "));
    CHECK(load_error("[muc]\nflood_burst = 0\n")
              .starts_with("2:15: muc.flood_burst: must be at least 1 while muc.flood_messages_per_minute is not 0"));
    CHECK(load_error("[muc]\nflood_messages_per_minute = -1\n").starts_with("2:29: muc.flood_messages_per_minute: "));
    CHECK(load_error("[muc]\nrooms = 3\n").starts_with("2:1: muc.rooms: unknown key"));
    CHECK(load_error("[muc]\nmax_room = 3\n")
              .starts_with("2:1: muc.max_room: unknown key (did you mean muc.max_rooms?)"));
    CHECK(load_error("muc = 3\n").starts_with("1:7: muc: expected a table"));
}
