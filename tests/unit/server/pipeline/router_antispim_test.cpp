// The router's anti-SPIM hook and federation: what the chain is asked and when, what each verdict does, remote
// stanzas, mediated invitations, errors never answered with errors, directory failures.
#include <doctest.h>

#include "tests/unit/server/pipeline/router_fixture.hpp"

using namespace hush;
using namespace hush::router_testing;
TEST_CASE("with federation, stanzas for remote domains go to it untouched by the chain") {
    router_fixture f(antispim::verdict::pass(), true);
    auto& remote = f.remote;
    auto sender = f.connect(alice);
    f.route(chat_to("carol@remote.test"));
    f.route(iq_to("remote.test", "get", ping));
    REQUIRE(remote.sent.size() == 2);
    CHECK(remote.sent[0].find("to=\"carol@remote.test\"") != std::string::npos);
    CHECK(remote.sent[1].find("to=\"remote.test\"") != std::string::npos);
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);  // outbound stanzas are the receiving server's to judge
}

TEST_CASE("a remote stanza passes the chain with its remote domain and peer address, then is delivered") {
    router_fixture f(antispim::verdict::pass(), true);
    auto& remote = f.remote;
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    origin.peer_address = "198.51.100.9";
    f.route("<presence from='mallory@remote.test/x' to='bob@example.org' type='subscribe'/>", origin);
    CHECK(f.log.calls == 1);
    CHECK(f.log.sender == "mallory@remote.test/x");
    CHECK(f.log.subscription_request);
    CHECK(f.log.origin == antispim::origin_kind::remote_domain);
    CHECK(f.log.origin_domain == "remote.test");
    CHECK(f.log.peer_address == "198.51.100.9");
    CHECK(desk->delivered.size() == 1);
    CHECK(remote.sent.empty());
}

TEST_CASE("a remote verdict: the rejection goes back to the remote sender through federation") {
    router_fixture f(make_verdict(antispim::verdict_kind::reject, "forbidden", "no strangers"), true);
    auto& remote = f.remote;
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    f.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='s1'><body>buy</body></message>",
            origin);
    CHECK(desk->delivered.empty());
    REQUIRE(remote.sent.size() == 1);
    CHECK(remote.sent[0].find("type=\"error\"") != std::string::npos);
    CHECK(remote.sent[0].find("to=\"mallory@remote.test/x\"") != std::string::npos);
    CHECK(remote.sent[0].find("<forbidden") != std::string::npos);
}

TEST_CASE("a mediated group-chat invitation is judged by the room that sent it, and by the inviter it names") {
    router_fixture f(antispim::verdict::pass(), true);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "rooms.remote.test";
    const std::string invite =
        "<message from='coffee@rooms.remote.test' to='bob@example.org'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<invite from='carol@remote.test/laptop'><reason>join us</reason></invite></x><body>join</body></message>";
    SUBCASE("both acceptable: delivered") {
        f.route(invite, origin);
        CHECK(f.log.calls == 1);
        CHECK(f.log.sender == "coffee@rooms.remote.test");  // the authenticated sender, never the payload's claim
        CHECK(desk->delivered.size() == 1);
    }
    SUBCASE("the inviter it names is a stranger: dropped") {
        f.oracle.strangers.insert("carol@remote.test");
        f.route(invite, origin);
        CHECK(f.log.calls == 1);
        CHECK(desk->delivered.empty());
    }
    SUBCASE("naming the receiver itself or its contacts does not help a stranger room") {
        f.oracle.strangers.insert("coffee@rooms.remote.test");
        f.route("<message from='coffee@rooms.remote.test' to='bob@example.org'><x xmlns='http://jabber.org/protocol/muc#user'>"
                "<invite from='bob@example.org'/></x><body>buy now</body></message>",
                origin);
        CHECK(f.log.calls == 1);
        CHECK(f.log.sender == "coffee@rooms.remote.test");
        CHECK(desk->delivered.empty());  // the receiver never invites itself through a room
    }
}

TEST_CASE("a remote stanza for another remote domain is never relayed") {
    router_fixture f(antispim::verdict::pass(), true);
    auto& remote = f.remote;
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    f.route("<message from='mallory@remote.test/x' to='carol@third.test' type='chat'><body>relay?</body></message>",
            origin);
    CHECK(remote.sent.empty());
    CHECK(f.log.calls == 0);
}

TEST_CASE("stanzas for a remote domain get remote-server-not-found") {
    router_fixture f;
    auto sender = f.connect(alice);
    SUBCASE("message") {
        f.route(chat_to("carol@remote.test"));
        check_error(only(*sender), "message", "carol@remote.test", "remote-server-not-found", "cancel");
    }
    SUBCASE("iq to the remote server") {
        f.route(iq_to("remote.test", "get", ping));
        check_error(only(*sender), "iq", "remote.test", "remote-server-not-found", "cancel");
    }
    SUBCASE("an error stanza is not answered") {
        f.route("<message from='alice@example.org/phone' to='carol@remote.test' type='error' id='e1'>"
                "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        CHECK(sender->delivered.empty());
    }
    CHECK(f.directory.lookups == 0);
    CHECK(f.log.calls == 0);
}

TEST_CASE("the chain is asked once per inbound stanza, with what it needs to know") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::local_session;
    origin.domain = "example.org";
    origin.peer_address = "192.0.2.7";

    SUBCASE("a chat message") {
        f.route(chat_to("bob@example.org"), origin);
        CHECK(f.log.kind == stanza_kind::message);
        CHECK(f.log.subscription_request == false);
        CHECK(f.log.receiver == "bob@example.org");
    }
    SUBCASE("a subscription request is an invite") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='subscribe'/>", origin);
        CHECK(f.log.kind == stanza_kind::presence);
        CHECK(f.log.subscription_request == true);
    }
    SUBCASE("an iq get to a full JID") {
        f.route(iq_to("bob@example.org/desk", "get", ping), origin);
        CHECK(f.log.kind == stanza_kind::iq);
        CHECK(f.log.receiver == "bob@example.org/desk");
    }
    CHECK(f.log.calls == 1);
    CHECK(f.log.sender == alice);
    CHECK(f.log.origin == antispim::origin_kind::local_session);
    CHECK(f.log.origin_domain == "example.org");
    CHECK(f.log.peer_address == "192.0.2.7");
    CHECK(desk->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("anti-SPIM reject: the sender gets the error, the receiver nothing") {
    SUBCASE("default condition: not-acceptable") {
        router_fixture f(make_verdict(antispim::verdict_kind::reject));
        auto sender = f.connect(alice);
        auto desk = f.connect("bob@example.org/desk", true, 5);
        f.route(chat_to("bob@example.org"));
        check_error(only(*sender), "message", "bob@example.org", "not-acceptable", "modify");
        CHECK(desk->delivered.empty());
        CHECK(f.log.calls == 1);
    }
    SUBCASE("the policy's condition and text") {
        router_fixture f(make_verdict(antispim::verdict_kind::reject, "forbidden", "you are blocked"));
        auto sender = f.connect(alice);
        auto desk = f.connect("bob@example.org/desk", true, 5);
        f.route(iq_to("bob@example.org/desk", "get", ping));
        const auto reply = only(*sender);
        check_error(reply, "iq", "bob@example.org/desk", "forbidden", "auth");
        CHECK(error_of(reply).text == "you are blocked");
        CHECK(desk->delivered.empty());
    }
}

TEST_CASE("anti-SPIM drop: nobody gets anything") {
    router_fixture f(make_verdict(antispim::verdict_kind::drop));
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    SUBCASE("message") {
        f.route(chat_to("bob@example.org"));
    }
    SUBCASE("iq get to a full JID") {
        f.route(iq_to("bob@example.org/desk", "get", ping));
    }
    SUBCASE("subscription request") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='subscribe'/>");
    }
    CHECK(f.log.calls == 1);
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("anti-SPIM defer and hold: a temporary error (type wait)") {
    antispim::verdict_kind kind = antispim::verdict_kind::defer;
    SUBCASE("defer") {
        kind = antispim::verdict_kind::defer;
    }
    SUBCASE("hold (no hold store yet)") {
        kind = antispim::verdict_kind::hold;
    }
    router_fixture f(make_verdict(kind));
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route(chat_to("bob@example.org"));
    const auto reply = only(*sender);
    check_error(reply, "message", "bob@example.org", "policy-violation", "wait");
    CHECK(!error_of(reply).text.empty());
    CHECK(desk->delivered.empty());
}

TEST_CASE("the chain is not consulted for errors, for an account's own resources, or for iq results") {
    // A chain that would reject everything: anything that reaches the receiver was never put to it.
    router_fixture f(make_verdict(antispim::verdict_kind::reject));
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> target;

    SUBCASE("an error message") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    SUBCASE("an error iq") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route("<iq from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='q1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }
    SUBCASE("an iq result") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route(iq_to("bob@example.org/desk", "result", ""));
    }
    SUBCASE("chat between two resources of the same account") {
        target = f.connect("alice@example.org/laptop", true, 5);
        f.route(chat_to("alice@example.org/laptop"));
    }
    SUBCASE("an iq get between two resources of the same account") {
        target = f.connect("alice@example.org/laptop", true, 5);
        f.route(iq_to("alice@example.org/laptop", "get", ping));
    }
    CHECK(f.log.calls == 0);
    CHECK(target->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("an error stanza is never answered with an error") {
    router_fixture f;
    auto sender = f.connect(alice);
    SUBCASE("error message to a non-existent account") {
        f.route("<message from='alice@example.org/phone' to='nobody@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
        CHECK(f.directory.lookups == 1);
    }
    SUBCASE("error message to an offline account") {
        f.directory.accounts.insert("bob@example.org");
        f.route("<message from='alice@example.org/phone' to='bob@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    SUBCASE("error message when the directory fails") {
        f.directory.failing = true;
        f.route("<message from='alice@example.org/phone' to='nobody@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    CHECK(sender->delivered.empty());
}

TEST_CASE("an account directory failure: internal-server-error (type wait) to the sender") {
    router_fixture f;
    auto sender = f.connect(alice);
    f.directory.failing = true;
    SUBCASE("message") {
        f.route(chat_to("bob@example.org"));
        check_error(only(*sender), "message", "bob@example.org", "internal-server-error", "wait");
    }
    SUBCASE("iq get to the bare JID") {
        f.route(iq_to("bob@example.org", "get", disco_info));
        check_error(only(*sender), "iq", "bob@example.org", "internal-server-error", "wait");
    }
    CHECK(f.log.calls == 0);
}

TEST_CASE("an online account needs no directory lookup") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.directory.failing = true;  // would turn any lookup into an error
    f.route(chat_to("bob@example.org"));
    CHECK(desk->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("delivered stanzas keep their stamped from and payload, serialized once for several resources") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 3);
    auto laptop = f.connect("bob@example.org/laptop", true, 3);
    f.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m7'>"
            "<body>hello &amp; welcome</body><thread>t1</thread><x xmlns='urn:example:ext' a='1'/></message>");
    REQUIRE(desk->delivered.size() == 1);
    REQUIRE(laptop->delivered.size() == 1);
    CHECK(desk->delivered.front().get() == laptop->delivered.front().get());
    const auto got = parse(desk->delivered.front());
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("to") == std::string_view("bob@example.org"));
    CHECK(got.attr("id") == std::string_view("m7"));
    CHECK(got.el().child_value("body") == std::string_view("hello & welcome"));
    CHECK(got.el().child_value("thread") == std::string_view("t1"));
    CHECK(got.el().child("x").attribute("xmlns").value() == std::string_view("urn:example:ext"));
    CHECK(got.el().child("x").attribute("a").value() == std::string_view("1"));
    CHECK(sender->delivered.empty());
}
