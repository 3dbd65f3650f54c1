// The router's delivery rules (RFC 6120 §10, RFC 6121 §8): resources, priorities, bare and full JIDs, missing
// accounts, iq to the server and on an account's behalf, presence, groupchat and strangers' dropped stanzas.
#include <doctest.h>

#include "tests/unit/server/pipeline/router_fixture.hpp"

using namespace hush;
using namespace hush::router_testing;

TEST_CASE("a message to a full JID goes to that resource only") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 1);

    SUBCASE("as addressed") {
        f.route(chat_to("bob@example.org/laptop"));
    }
    SUBCASE("addressed with different case in node and domain (normalized)") {
        f.route(chat_to("BOB@Example.ORG/laptop"));
    }
    const auto got = only(*laptop);
    CHECK(got.name() == std::string_view("message"));
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("type") == std::string_view("chat"));
    CHECK(got.el().child_value("body") == std::string_view("hi"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("a message to a full JID whose resource is gone follows the bare JID rules") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("delivered to the best available resource, `to` unchanged") {
        auto desk = f.connect("bob@example.org/desk", true, 5);
        auto laptop = f.connect("bob@example.org/laptop", true, 1);
        f.route(chat_to("bob@example.org/tablet"));
        const auto got = only(*desk);
        CHECK(got.attr("to") == std::string_view("bob@example.org/tablet"));
        CHECK(laptop->delivered.empty());
        CHECK(sender->delivered.empty());
    }
    SUBCASE("no available resource: service-unavailable") {
        auto idle = f.connect("bob@example.org/idle", false);
        f.route(chat_to("bob@example.org/tablet"));
        check_error(only(*sender), "message", "bob@example.org/tablet", "service-unavailable", "cancel");
        CHECK(idle->delivered.empty());
    }
}

TEST_CASE("chat and normal messages to a bare JID reach every available resource of the highest priority") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 5);
    auto phone = f.connect("bob@example.org/phone", true, 1);
    auto zero = f.connect("bob@example.org/zero", true, 0);
    auto idle = f.connect("bob@example.org/idle", false, 10);  // connected, no presence: not a candidate
    auto hidden = f.connect("bob@example.org/hidden", true, -1);

    std::string type;
    SUBCASE("chat") {
        type = "chat";
    }
    SUBCASE("normal") {
        type = "normal";
    }
    SUBCASE("no type is normal") {
        type = "";
    }
    f.route(chat_to("bob@example.org", type));
    REQUIRE(desk->delivered.size() == 1);
    REQUIRE(laptop->delivered.size() == 1);
    CHECK(parse(desk->delivered.front()).attr("to") == std::string_view("bob@example.org"));
    CHECK(phone->delivered.empty());
    CHECK(zero->delivered.empty());
    CHECK(idle->delivered.empty());
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("priority zero wins over negative priorities") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto zero = f.connect("bob@example.org/zero", true, 0);
    auto hidden = f.connect("bob@example.org/hidden", true, -5);
    f.route(chat_to("bob@example.org"));
    CHECK(zero->delivered.size() == 1);
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("chat to a bare JID with no resource to take it: service-unavailable to the sender") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> bob;

    SUBCASE("only negative priorities") {
        bob = f.connect("bob@example.org/hidden", true, -1);
    }
    SUBCASE("connected but never sent presence") {
        bob = f.connect("bob@example.org/idle", false, 0);
    }
    SUBCASE("offline: known only to the directory") {
        f.directory.accounts.insert("bob@example.org");
    }
    f.route(chat_to("bob@example.org"));
    const auto reply = only(*sender);
    check_error(reply, "message", "bob@example.org", "service-unavailable", "cancel");
    CHECK(reply.attr("id") == std::string_view("m1"));
    if (bob) {
        CHECK(bob->delivered.empty());
    }
}

TEST_CASE("a headline to a bare JID with no available resource is dropped without an error") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> bob;
    SUBCASE("offline") {
        f.directory.accounts.insert("bob@example.org");
    }
    SUBCASE("only a negative priority") {
        bob = f.connect("bob@example.org/hidden", true, -1);
    }
    f.route(chat_to("bob@example.org", "headline"));
    CHECK(sender->delivered.empty());
    if (bob) {
        CHECK(bob->delivered.empty());
    }
}

TEST_CASE("groupchat from a room the receiver has not joined is dropped, never answered") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    SUBCASE("to a gone full JID") {
        f.route(chat_to("bob@example.org/gone", "groupchat"));
    }
    SUBCASE("to a bare JID with available resources") {
        f.route(chat_to("bob@example.org", "groupchat"));
    }
    SUBCASE("to the very resource") {
        f.route(chat_to("bob@example.org/desk", "groupchat"));
    }
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);
    CHECK(f.r.classified("groupchat-not-joined") == 1);
}

TEST_CASE("groupchat from a joined room reaches the resource") {
    router_fixture f;
    f.oracle.base.joined_room = true;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route(chat_to("bob@example.org/desk", "groupchat"));
    CHECK(desk->delivered.size() == 1);
    CHECK(f.r.classified("groupchat-joined-room") == 1);
}

TEST_CASE("a stranger's error, presence with text and unsolicited iq result are dropped and counted") {
    router_fixture f;
    f.oracle.strangers.insert("alice@example.org");
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e1'><body>buy now</body>"
            "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='unavailable'><status>buy now</status>"
            "</presence>");
    f.route("<presence from='alice@example.org/phone' to='bob@example.org/desk'><status>buy now</status></presence>");
    f.route(iq_to("bob@example.org/desk", "result", "<query xmlns='jabber:iq:version'><name>buy now</name></query>"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);
    CHECK(f.r.classified("error-unsolicited") == 1);
    CHECK(f.r.classified("stranger-presence") == 2);
    CHECK(f.r.classified("iq-answer-unsolicited") == 1);
    SUBCASE("an error answering what the receiver sent there is delivered") {
        f.oracle.base.answers_receiver = true;
        f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e2'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        CHECK(desk->delivered.size() == 1);
    }
}

TEST_CASE("a headline to a bare JID reaches every available non-negative resource") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto phone = f.connect("bob@example.org/phone", true, 0);
    auto hidden = f.connect("bob@example.org/hidden", true, -1);
    f.route(chat_to("bob@example.org", "headline"));
    CHECK(desk->delivered.size() == 1);
    CHECK(phone->delivered.size() == 1);
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("an error message to a bare JID or a gone resource is silently ignored") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    std::string to;
    SUBCASE("bare") {
        to = "bob@example.org";
    }
    SUBCASE("gone resource") {
        to = "bob@example.org/gone";
    }
    f.route("<message from='alice@example.org/phone' to='" + to +
            "' type='error' id='e1'><error type='cancel'>"
            "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("stanzas to a non-existent local account") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("a message gets service-unavailable") {
        f.route(chat_to("nobody@example.org"));
        check_error(only(*sender), "message", "nobody@example.org", "service-unavailable", "cancel");
    }
    SUBCASE("a message to a full JID gets service-unavailable") {
        f.route(chat_to("nobody@example.org/res", "normal"));
        check_error(only(*sender), "message", "nobody@example.org/res", "service-unavailable", "cancel");
    }
    SUBCASE("presence is silently dropped") {
        f.route("<presence from='alice@example.org/phone' to='nobody@example.org' type='subscribe'/>");
        CHECK(sender->delivered.empty());
    }
    SUBCASE("disco#info is answered as for an existing account") {
        f.route(iq_to("nobody@example.org", "get", disco_info));
        auto reply = only(*sender);
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(std::string_view(reply.el().child("query").child("identity").attribute("category").value()) == "account");
    }
    SUBCASE("an iq get of anything personal gets service-unavailable") {
        f.route(iq_to("nobody@example.org", "get", "<query xmlns='jabber:iq:last'/>"));
        check_error(only(*sender), "iq", "nobody@example.org", "service-unavailable", "cancel");
    }
    SUBCASE("an iq set gets service-unavailable") {
        f.route(iq_to("nobody@example.org/res", "set", "<query xmlns='jabber:iq:private'/>"));
        check_error(only(*sender), "iq", "nobody@example.org/res", "service-unavailable", "cancel");
    }
    SUBCASE("an iq result is silently dropped") {
        f.route(iq_to("nobody@example.org/res", "result", ""));
        CHECK(sender->delivered.empty());
    }
    CHECK(f.directory.lookups >= 1);
}

TEST_CASE("iq to the server domain is answered by the server") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("ping") {
        f.route(iq_to("example.org", "get", ping));
        const auto reply = only(*sender);
        CHECK(reply.name() == std::string_view("iq"));
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(reply.attr("id") == std::string_view("q1"));
        CHECK(reply.attr("from") == std::string_view("example.org"));
        CHECK(reply.attr("to") == alice);
        CHECK(!reply.el().first_child());
    }
    SUBCASE("disco#info lists the server identity and features") {
        f.route(iq_to("example.org", "get", disco_info));
        const auto reply = only(*sender);
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(reply.attr("from") == std::string_view("example.org"));
        const auto query = reply.el().child("query");
        CHECK(query.attribute("xmlns").value() == ns::disco_info);
        CHECK(query.child("identity").attribute("category").value() == std::string_view("server"));
        CHECK(query.child("identity").attribute("type").value() == std::string_view("im"));
        CHECK(query.find_child_by_attribute("feature", "var", "urn:xmpp:ping"));
    }
    SUBCASE("an unknown payload gets service-unavailable from the server") {
        f.route(iq_to("example.org", "get", "<query xmlns='urn:example:nothing'/>"));
        check_error(only(*sender), "iq", "example.org", "service-unavailable", "cancel");
    }
    SUBCASE("an iq result to the server needs no answer") {
        f.route(iq_to("example.org", "result", ""));
        CHECK(sender->delivered.empty());
    }
    CHECK(f.log.calls == 0);
}

TEST_CASE("iq to an account's bare JID is answered by the server on its behalf") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> desk;
    SUBCASE("the account is online") {
        desk = f.connect("bob@example.org/desk", true, 5);
    }
    SUBCASE("the account is offline") {
        f.directory.accounts.insert("bob@example.org");
    }
    f.route(iq_to("bob@example.org", "get", disco_info));
    const auto reply = only(*sender);
    CHECK(reply.attr("type") == std::string_view("result"));
    CHECK(reply.attr("from") == std::string_view("bob@example.org"));
    CHECK(reply.attr("to") == alice);
    const auto identity = reply.el().child("query").child("identity");
    CHECK(identity.attribute("category").value() == std::string_view("account"));
    CHECK(identity.attribute("type").value() == std::string_view("registered"));
    if (desk) {
        CHECK(desk->delivered.empty());
    }
}

TEST_CASE("iq to a full JID is delivered to that resource") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 1);
    f.route(iq_to("bob@example.org/laptop", "get", "<query xmlns='jabber:iq:version'/>"));
    const auto got = only(*laptop);
    CHECK(got.name() == std::string_view("iq"));
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("id") == std::string_view("q1"));
    CHECK(got.el().child("query").attribute("xmlns").value() == std::string_view("jabber:iq:version"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("iq to a gone full JID") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);

    SUBCASE("get: service-unavailable") {
        f.route(iq_to("bob@example.org/gone", "get", ping));
        check_error(only(*sender), "iq", "bob@example.org/gone", "service-unavailable", "cancel");
    }
    SUBCASE("set: service-unavailable") {
        f.route(iq_to("bob@example.org/gone", "set", "<query xmlns='jabber:iq:private'/>"));
        check_error(only(*sender), "iq", "bob@example.org/gone", "service-unavailable", "cancel");
    }
    SUBCASE("result: nothing, to nobody") {
        f.route(iq_to("bob@example.org/gone", "result", ""));
        CHECK(sender->delivered.empty());
    }
    SUBCASE("error: nothing, to nobody") {
        f.route("<iq from='alice@example.org/phone' to='bob@example.org/gone' type='error' id='q1'>"
                "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</iq>");
        CHECK(sender->delivered.empty());
    }
    CHECK(desk->delivered.empty());  // iq never falls back to the bare JID
}

TEST_CASE("presence to a local account") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto hidden = f.connect("bob@example.org/hidden", true, -1);
    auto idle = f.connect("bob@example.org/idle", false);

    SUBCASE("to the bare JID: every available resource, one serialization") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org'/>");
        REQUIRE(desk->delivered.size() == 1);
        REQUIRE(hidden->delivered.size() == 1);
        CHECK(desk->delivered.front().get() == hidden->delivered.front().get());
        CHECK(idle->delivered.empty());
    }
    SUBCASE("directed to a gone resource: dropped") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org/gone'/>");
        CHECK(desk->delivered.empty());
        CHECK(hidden->delivered.empty());
        CHECK(idle->delivered.empty());
    }
    SUBCASE("a subscription request to a gone resource: treated as to the bare JID") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org/gone' type='subscribe'/>");
        CHECK(desk->delivered.size() == 1);
        CHECK(hidden->delivered.size() == 1);
        CHECK(idle->delivered.empty());
    }
    CHECK(sender->delivered.empty());
}
