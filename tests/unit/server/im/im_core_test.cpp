// The IM core's hooks as the router calls them, on a real SQLite store and session registry: outbound (subscriptions
// handed to the presence service, the XEP-0191 error for writing to a blocked JID, presence-out lists, carbons
// "sent"), inbound (blocked and denied senders per stanza kind, subscriptions and probes consumed, notifications
// passed on), undeliverable (offline storage and its quota), the iq dispatch with carbons enable/disable, carbons
// "received", may_see_presence, cancel_subscriptions, the presence an unblocked subscriber gets again, and what goes
// to the XEP-0115 caps cache.
#include <doctest.h>

#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "server/im/im_core.hpp"
#include "server/pubsub/caps_cache.hpp"
#include "server/registration/registration.hpp"
#include "tests/unit/server/im/im_fixture.hpp"

using namespace hush;
using namespace hush::im_testing;
using storage::subscription;

namespace {

constexpr std::string_view bob = "bob@example.net/laptop";

std::string message(std::string_view from, std::string_view to, std::string_view type = "chat",
                    std::string_view payload = "<body>hi</body>") {
    return "<message type='" + std::string(type) + "' id='m1' from='" + std::string(from) + "' to='" +
           std::string(to) + "'>" + std::string(payload) + "</message>";
}

std::string blocking(std::string_view verb, std::string_view jid) {
    return "<iq type='set' id='b1' from='alice@example.org/phone'><" + std::string(verb) +
           " xmlns='urn:xmpp:blocking'><item jid='" + std::string(jid) + "'/></" + std::string(verb) + "></iq>";
}

struct core_fixture : im_world {
    core_fixture() : core(ctx, nullptr) {}

    hook_result outbound(std::string_view xml) {
        stanza s = parse(xml);
        return run(core.outbound(s, parse_jid(s.from()), parse_jid(s.to()), out));
    }
    hook_result inbound(std::string_view xml) {
        const stanza s = parse(xml);
        return run(core.inbound(s, parse_jid(s.from()), parse_jid(s.to()), out));
    }
    std::optional<stanza> iq(std::string_view xml, std::string_view addressed = "alice@example.org") {
        return run(core.handle_iq(parse(xml), parse_jid(addressed), out));
    }
    std::optional<storage::roster_item> roster_item(std::string_view contact) {
        roster_service roster(ctx);
        return run_sync(roster.item(alice, parse_jid(contact)));
    }
    void seed(std::string_view contact, subscription sub, bool pending_out = false) {
        storage::roster_item i;
        i.contact = std::string(contact);
        i.sub = sub;
        i.pending_out = pending_out;
        roster_service roster(ctx);  // the core's own is private; this one shares its storage
        REQUIRE(run(roster.save(alice, i, out)));
    }
    void block(std::string_view jid) {
        const auto reply = iq(blocking("block", jid));
        REQUIRE(reply);
        REQUIRE(reply->type() == "result");
    }

    const jid alice = parse_jid("alice@example.org");
    im_core core;
};

}  // namespace

TEST_CASE("outbound: subscription stanzas are consumed and handled; presence and messages go on") {
    core_fixture f;
    CHECK(f.outbound("<presence type='subscribe' from='alice@example.org/phone' to='bob@example.net/laptop'/>") ==
          hook_result::consumed);
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[0].to() == "bob@example.net");
    CHECK(f.roster_item("bob@example.net")->pending_out);
    CHECK(f.outbound("<presence from='alice@example.org/phone' to='bob@example.net/laptop'/>") == hook_result::proceed);
    CHECK(f.outbound(message(phone, bob)) == hook_result::proceed);
    CHECK(f.outbound("<iq type='get' id='v1' from='alice@example.org/phone' to='bob@example.net/laptop'>"
                     "<query xmlns='jabber:iq:version'/></iq>") == hook_result::proceed);
}

TEST_CASE("outbound to a blocked JID: <not-acceptable/> with <blocked/> to the sender, nothing routed (XEP-0191 §3.3)") {
    core_fixture f;
    auto sender = f.bind(phone);
    f.block("bob@example.net");
    f.sink.sent.clear();
    CHECK(f.outbound(message(phone, bob)) == hook_result::consumed);
    REQUIRE(sender->delivered.size() == 1);
    const auto& error = sender->delivered[0];
    CHECK(error.name() == "message");
    CHECK(error.to() == phone);
    CHECK(test::error_of(error).condition == "not-acceptable");
    CHECK(error.element().child("error").find_child([](pugi::xml_node n) {
        return std::string_view(n.name()) == "blocked" &&
               std::string_view(n.attribute("xmlns").value()) == "urn:xmpp:blocking:errors";
    }));
    sender->delivered.clear();
    CHECK(f.outbound("<iq type='get' id='v1' from='alice@example.org/phone' to='bob@example.net/laptop'>"
                     "<query xmlns='jabber:iq:version'/></iq>") == hook_result::consumed);
    CHECK(test::error_of(sender->delivered.at(0)).condition == "not-acceptable");
    sender->delivered.clear();
    // Presence to a blocked JID is dropped without a word; an error is never answered with an error.
    CHECK(f.outbound("<presence from='alice@example.org/phone' to='bob@example.net'/>") == hook_result::consumed);
    CHECK(f.outbound(message(phone, bob, "error")) == hook_result::proceed);
    CHECK(sender->delivered.empty());
    CHECK(f.sink.sent.empty());
    CHECK(f.outbound(message(phone, "carol@example.net")) == hook_result::proceed);
}

// XEP-0191 §3.3: the user's server MUST NOT route an outbound stanza to a blocked contact, subscription stanzas
// included (they were once handed to the presence service before the blocklist was consulted).
TEST_CASE("outbound subscription stanzas to a blocked JID are not routed") {
    core_fixture f;
    f.bind(phone);
    f.block("bob@example.net");
    f.sink.sent.clear();
    f.outbound("<presence type='subscribe' from='alice@example.org/phone' to='bob@example.net'/>");
    CHECK(f.sink.sent.empty());
}

TEST_CASE("inbound from a blocked JID: dropped; errors only for messages and iq requests (XEP-0191 §3.3)") {
    core_fixture f;
    auto session = f.bind(phone);
    f.set_available(phone);
    f.seed("bob@example.net", subscription::from);  // would otherwise be answered a probe
    f.block("bob@example.net");
    f.sink.sent.clear();

    CHECK(f.inbound(message(bob, phone)) == hook_result::consumed);
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].from() == phone);
    CHECK(f.sink.sent[0].to() == bob);
    CHECK(test::error_of(f.sink.sent[0]).condition == "service-unavailable");
    f.sink.sent.clear();
    CHECK(f.inbound("<iq type='get' id='v1' from='bob@example.net/laptop' to='alice@example.org/phone'>"
                    "<query xmlns='jabber:iq:version'/></iq>") == hook_result::consumed);
    CHECK(test::error_of(f.sink.sent.at(0)).condition == "service-unavailable");
    f.sink.sent.clear();

    for (const char* type : {"groupchat", "headline", "error"}) {
        CHECK(f.inbound(message(bob, phone, type)) == hook_result::consumed);
    }
    CHECK(f.inbound("<iq type='result' id='v1' from='bob@example.net/laptop' to='alice@example.org/phone'/>") ==
          hook_result::consumed);
    CHECK(f.inbound("<presence from='bob@example.net/laptop' to='alice@example.org'/>") == hook_result::consumed);
    CHECK(f.inbound("<presence type='subscribe' from='bob@example.net' to='alice@example.org'/>") ==
          hook_result::consumed);
    CHECK(f.inbound("<presence type='probe' from='bob@example.net' to='alice@example.org'/>") == hook_result::consumed);
    CHECK(f.sink.sent.empty());
    CHECK(session->delivered.empty());
    CHECK(f.requests().empty());
}

TEST_CASE("inbound from anyone else: notifications and messages go on, subscriptions and probes are handled here") {
    core_fixture f;
    auto session = f.bind(phone, true);
    f.set_available(phone, "<presence><show>chat</show></presence>");
    f.seed("bob@example.net", subscription::from);
    f.sink.sent.clear();
    CHECK(f.inbound("<presence from='bob@example.net/laptop' to='alice@example.org'/>") == hook_result::proceed);
    CHECK(f.inbound(message(bob, phone)) == hook_result::proceed);
    CHECK(f.inbound("<presence type='subscribe' from='carol@example.net' to='alice@example.org'/>") ==
          hook_result::consumed);
    CHECK(f.requests().size() == 1);
    CHECK(of_type(session->delivered, "presence", "subscribe").size() == 1);
    CHECK(f.inbound("<presence type='probe' from='bob@example.net' to='alice@example.org'/>") == hook_result::consumed);
    const auto answer = between(f.sink.sent, phone, "bob@example.net");
    REQUIRE(answer.size() == 1);
    CHECK(std::string(answer[0].element().child_value("show")) == "chat");
}

TEST_CASE("privacy lists on the path: presence-in, message and presence-out items each stop their kind only") {
    core_fixture f;
    f.bind(phone);
    const auto set = f.iq("<iq type='set' id='l1' from='alice@example.org/phone'><query xmlns='jabber:iq:privacy'>"
                          "<list name='quiet'>"
                          "<item type='jid' value='bob@example.net' action='deny' order='1'><presence-in/></item>"
                          "<item type='jid' value='carol@example.net' action='deny' order='2'><message/></item>"
                          "<item type='jid' value='dave@example.net' action='deny' order='3'><presence-out/></item>"
                          "</list></query></iq>");
    REQUIRE(set);
    REQUIRE(set->type() == "result");
    REQUIRE(f.iq("<iq type='set' id='l2' from='alice@example.org/phone'><query xmlns='jabber:iq:privacy'>"
                 "<default name='quiet'/></query></iq>")->type() == "result");

    CHECK(f.inbound("<presence from='bob@example.net/laptop' to='alice@example.org'/>") == hook_result::consumed);
    CHECK(f.inbound(message(bob, phone)) == hook_result::proceed);
    CHECK(f.inbound("<presence type='subscribe' from='bob@example.net' to='alice@example.org'/>") ==
          hook_result::consumed);
    CHECK(f.requests().size() == 1);  // a subscription is not a notification: presence-in does not stop it
    CHECK(f.sink.sent.empty());

    CHECK(f.inbound(message("carol@example.net/x", phone)) == hook_result::consumed);
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(test::error_of(f.sink.sent[0]).condition == "service-unavailable");
    CHECK(f.inbound("<presence from='carol@example.net/x' to='alice@example.org'/>") == hook_result::proceed);

    CHECK(f.outbound("<presence from='alice@example.org/phone' to='dave@example.net'/>") == hook_result::consumed);
    CHECK(f.outbound("<presence from='alice@example.org/phone' to='carol@example.net'/>") == hook_result::proceed);
    CHECK(f.outbound(message(phone, "dave@example.net")) == hook_result::proceed);
}

TEST_CASE("undeliverable: stored for later, except chat states alone; over the quota resource-constraint") {
    core_fixture f;
    f.ctx.offline_quota = 1;
    const auto to = parse_jid("alice@example.org/gone");
    const stanza typing = parse(message(bob, "alice@example.org", "chat",
                                        "<composing xmlns='http://jabber.org/protocol/chatstates'/>"));
    outgoing out;  // no push service here: nothing to wake
    CHECK(run_sync(f.core.undeliverable(typing, to, out)).empty());
    CHECK(f.offline().empty());
    CHECK(run_sync(f.core.undeliverable(parse(message(bob, "alice@example.org")), to, out)).empty());
    REQUIRE(f.offline().size() == 1);
    CHECK(f.offline()[0].stanza.find("<body>hi</body>") != std::string::npos);
    CHECK(run_sync(f.core.undeliverable(parse(message(bob, "alice@example.org")), to, out)) == "resource-constraint");
    CHECK(f.offline().size() == 1);
    CHECK(out.empty());
}

TEST_CASE("carbons: enabled resources get 'sent' and 'received' copies of chat messages, others none") {
    core_fixture f;
    auto sender = f.bind(phone);
    auto copy = f.bind(desk);
    auto plain = f.bind("alice@example.org/tablet");
    for (const auto& full : {phone, desk}) {
        f.set_available(full);
        const auto enabled = f.iq("<iq type='set' id='c1' from='" + std::string(full) +
                                  "'><enable xmlns='urn:xmpp:carbons:2'/></iq>", "example.org");
        REQUIRE(enabled);
        CHECK(enabled->type() == "result");
    }
    f.set_available("alice@example.org/tablet");

    CHECK(f.outbound(message(phone, bob)) == hook_result::proceed);
    REQUIRE(copy->delivered.size() == 1);
    const auto& sent = copy->delivered[0];
    CHECK(sent.from() == "alice@example.org");
    CHECK(sent.to() == desk);
    const auto inner = sent.child("sent", "urn:xmpp:carbons:2").child("forwarded").child("message");
    REQUIRE(inner);
    CHECK(std::string(inner.attribute("to").value()) == bob);
    CHECK(std::string(inner.child_value("body")) == "hi");
    CHECK(sender->delivered.empty());
    CHECK(plain->delivered.empty());

    copy->delivered.clear();
    f.outbound(message(phone, bob, "chat", "<body>psst</body><private xmlns='urn:xmpp:carbons:2'/>"));
    f.outbound(message(phone, bob, "normal"));
    CHECK(copy->delivered.empty());

    f.core.received_copies(parse(message(bob, phone)), parse_jid(phone), {"phone"}, f.out);
    f.carry();
    REQUIRE(copy->delivered.size() == 1);
    CHECK(copy->delivered[0].child("received", "urn:xmpp:carbons:2"));
    CHECK(sender->delivered.empty());  // it has the message itself
    CHECK(plain->delivered.empty());

    copy->delivered.clear();
    REQUIRE(f.iq("<iq type='set' id='c2' from='alice@example.org/desk'><disable xmlns='urn:xmpp:carbons:2'/></iq>"));
    f.outbound(message(phone, bob));
    CHECK(copy->delivered.empty());
}

TEST_CASE("handle_iq: roster, privacy and blocking for the account; carbons errors; anything else is not ours") {
    core_fixture f;
    const auto roster = f.iq("<iq type='get' id='r1' from='alice@example.org/phone'>"
                             "<query xmlns='jabber:iq:roster'/></iq>");
    REQUIRE(roster);
    CHECK(roster->child("query", "jabber:iq:roster"));
    const auto lists = f.iq("<iq type='get' id='p1' from='alice@example.org/phone'>"
                            "<query xmlns='jabber:iq:privacy'/></iq>");
    REQUIRE(lists);
    CHECK(lists->child("query", "jabber:iq:privacy"));
    const auto blocked = f.iq("<iq type='get' id='b1' from='alice@example.org/phone'>"
                              "<blocklist xmlns='urn:xmpp:blocking'/></iq>");
    REQUIRE(blocked);
    CHECK(blocked->child("blocklist", "urn:xmpp:blocking"));

    const auto odd = f.iq("<iq type='set' id='c1' from='alice@example.org/phone'><sideways "
                          "xmlns='urn:xmpp:carbons:2'/></iq>");
    REQUIRE(odd);
    CHECK(test::error_of(*odd).condition == "bad-request");
    const auto foreign = f.iq("<iq type='set' id='c2' from='alice@example.org/phone'><enable "
                              "xmlns='urn:xmpp:carbons:2'/></iq>", "bob@example.org");
    REQUIRE(foreign);
    CHECK(test::error_of(*foreign).condition == "bad-request");
    for (const auto& r : f.registry.resources(f.alice)) {
        CHECK_FALSE(r.carbons);
    }
    CHECK_FALSE(f.iq("<iq type='get' id='v1' from='alice@example.org/phone'><query xmlns='jabber:iq:version'/></iq>"));
    CHECK_FALSE(f.iq("<iq type='get' id='r2' from='alice@example.org/phone'><query xmlns='jabber:iq:roster'/></iq>",
                     "example.org"));  // the server has no roster
}

TEST_CASE("may_see_presence: the account itself and unblocked 'from' or 'both' contacts only (XEP-0012)") {
    core_fixture f;
    f.seed("bob@example.net", subscription::from);
    f.seed("carol@example.net", subscription::both);
    f.seed("dave@example.net", subscription::to);
    f.seed("erin@example.net", subscription::both);
    f.block("erin@example.net");
    auto may = [&f](std::string_view requester) {
        return run_sync(f.core.may_see_presence(f.alice, parse_jid(requester)));
    };
    CHECK(may("alice@example.org/desk"));
    CHECK(may("bob@example.net/laptop"));
    CHECK(may("carol@example.net"));
    CHECK_FALSE(may("dave@example.net"));
    CHECK_FALSE(may("erin@example.net"));
    CHECK_FALSE(may("mallory@example.net"));
}

TEST_CASE("account removal (XEP-0077 §3.3): unsubscribe where we had 'to' or asked, unsubscribed for 'from'") {
    core_fixture f;
    config cfg;
    cfg.hosts = {"example.org"};
    registration_service registration(cfg, f.store);
    im_core core(f.ctx, &registration);
    f.seed("bob@example.net", subscription::both);
    f.seed("carol@example.net", subscription::none, true);
    f.seed("dave@example.net", subscription::from);
    f.seed("erin@example.net", subscription::none);
    const auto removal = parse("<iq type='set' id='r1' from='alice@example.org/phone' to='alice@example.org'>"
                               "<query xmlns='jabber:iq:register'><remove/></query></iq>");
    const auto outcome = f.run(core.account_request(removal, parse_jid(phone), f.out));
    CHECK(outcome.removed);
    CHECK(outcome.reply.type() == "result");
    auto types_to = [&f](std::string_view contact) {
        std::vector<std::string> out;
        for (const auto& s : between(f.sink.sent, "alice@example.org", contact)) {
            out.emplace_back(s.type());
        }
        return out;
    };
    CHECK(types_to("bob@example.net") == std::vector<std::string>{"unsubscribe", "unsubscribed"});
    CHECK(types_to("carol@example.net") == std::vector<std::string>{"unsubscribe"});
    CHECK(types_to("dave@example.net") == std::vector<std::string>{"unsubscribed"});
    CHECK(types_to("erin@example.net").empty());
    // The roster went with the account: asking again finds nothing to cancel.
    const auto again = f.run(core.account_request(removal, parse_jid(phone), f.out));
    CHECK_FALSE(again.removed);
}

TEST_CASE("account requests without a registration service are refused, and a password change tells nobody") {
    core_fixture f;
    f.seed("bob@example.net", subscription::both);
    const auto change = parse("<iq type='set' id='p1' from='alice@example.org/phone' to='alice@example.org'>"
                              "<query xmlns='jabber:iq:register'><username>alice</username>"
                              "<password>another-secret-password</password></query></iq>");
    const auto refused = f.run(f.core.account_request(change, parse_jid(phone), f.out));
    CHECK(refused.reply.type() == "error");
    CHECK_FALSE(refused.removed);
    config cfg;
    cfg.hosts = {"example.org"};
    registration_service registration(cfg, f.store);
    im_core core(f.ctx, &registration);
    const auto changed = f.run(core.account_request(change, parse_jid(phone), f.out));
    CHECK(changed.reply.type() == "result");
    CHECK_FALSE(changed.removed);
    CHECK(f.sink.sent.empty());
}

TEST_CASE("unblocking a 'from' contact sends it our current presence again (XEP-0191 §3.4)") {
    core_fixture f;
    f.bind(phone);
    f.set_available(phone, "<presence><status>back</status></presence>");
    f.seed("bob@example.net", subscription::from);
    f.seed("carol@example.net", subscription::to);
    f.block("bob@example.net");
    f.block("carol@example.net");
    CHECK(of_type(between(f.sink.sent, phone, "bob@example.net"), "presence", "unavailable").size() == 1);
    f.sink.sent.clear();
    REQUIRE(f.iq(blocking("unblock", "bob@example.net"))->type() == "result");
    REQUIRE(f.iq(blocking("unblock", "carol@example.net"))->type() == "result");
    const auto again = between(f.sink.sent, phone, "bob@example.net");
    REQUIRE(again.size() == 1);
    CHECK(again[0].type() == "");
    CHECK(std::string(again[0].element().child_value("status")) == "back");
    CHECK(between(f.sink.sent, phone, "carol@example.net").empty());  // carol never saw our presence
}

TEST_CASE("caps: a session's own presence and what an account receives go to the caps cache; its queries are routed") {
    core_fixture f;
    caps_cache cache("example.org", 100, 100);
    f.ctx.caps = &cache;
    f.bind(phone);
    f.seed("bob@example.net", subscription::both);
    f.sink.sent.clear();
    const auto caps = [](std::string_view ver) {
        return "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://client.example' ver='" +
               std::string(ver) + "'/>";
    };
    const auto queries = [&f] {
        std::vector<std::string> to;
        for (const auto& s : f.sink.sent) {
            if (s.name() == "iq" && s.type() == "get" && s.from() == "example.org" &&
                s.child("query", "http://jabber.org/protocol/disco#info")) {
                to.emplace_back(s.to());
            }
        }
        return to;
    };

    f.run(f.core.session_presence(parse_jid(phone), parse("<presence>" + caps("v1=") + "</presence>"), f.out));
    CHECK(queries() == std::vector<std::string>{std::string(phone)});
    CHECK(f.inbound("<presence from='bob@example.net/laptop' to='alice@example.org'>" + caps("v2=") + "</presence>") ==
          hook_result::proceed);
    CHECK(queries() == std::vector<std::string>{std::string(phone), std::string(bob)});
    // A room's occupant presence carries the occupant's caps: not the room's, not kept.
    CHECK(f.inbound("<presence from='room@muc.example.net/bob' to='alice@example.org/phone'>" + caps("v3=") +
                    "<x xmlns='http://jabber.org/protocol/muc#user'/></presence>") == hook_result::proceed);
    CHECK(queries().size() == 2);
    CHECK(cache.jids() == 2);

    CHECK(f.inbound("<presence type='unavailable' from='bob@example.net/laptop' to='alice@example.org'/>") ==
          hook_result::proceed);
    CHECK(cache.jids() == 1);
    f.run(f.core.session_ended(parse_jid(phone), true, {}, {}, f.out));
    CHECK(cache.jids() == 0);
}
