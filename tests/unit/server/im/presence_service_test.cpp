// The presence service (RFC 6121 §3 and §4) on a real SQLite store and session registry: the subscription state
// machine of Appendix A on the user's side (outbound) and the contact's side (inbound) with its roster pushes,
// stored subscription requests, pre-approval; broadcast of available and unavailable presence (the blocklist
// applied), probes and their answers, the end of a session (directed presence, last activity), and what an
// initial presence brings: other resources' presence, probes, stored requests and offline messages (quota).
#include <doctest.h>

#include <string>

#include "server/im/presence_service.hpp"
#include "tests/unit/server/im/im_fixture.hpp"

using namespace hush;
using namespace hush::im_testing;
using storage::subscription;

namespace {


std::string attr(pugi::xml_node node, const char* name) { return node.attribute(name).value(); }

// The <item/> of the only roster push `session` received.
pugi::xml_node only_push(const recording_session& session) {
    const auto pushes = roster_pushes(session.delivered);
    REQUIRE(pushes.size() == 1);
    return pushes[0].child("query", "jabber:iq:roster").child("item");
}

struct presence_fixture : im_world {
    presence_fixture() : roster(ctx), privacy(ctx, roster), presence(ctx, roster, privacy) {}

    std::optional<storage::roster_item> item(std::string_view contact) {
        return run_sync(roster.item(alice, parse_jid(contact)));
    }

    void seed(std::string_view contact, subscription sub, bool pending_out = false, bool approved = false) {
        storage::roster_item i;
        i.contact = std::string(contact);
        i.sub = sub;
        i.pending_out = pending_out;
        i.approved = approved;
        REQUIRE(run(roster.save(alice, i, out)));
    }

    // A client presence without 'to' from `full`.
    void own(std::string_view full, std::string_view xml = "<presence/>") {
        run(presence.own_presence(parse_jid(full), parse(xml), out));
    }

    // alice's phone sends a subscription stanza of `type` to `contact` (as im_core hands it over: bare JIDs).
    void outbound(std::string_view type, std::string_view contact) {
        stanza s = parse("<presence type='" + std::string(type) + "' from='alice@example.org/phone' to='" +
                         std::string(contact) + "'/>");
        subscriptions::presence_type t{};
        REQUIRE(subscriptions::parse_presence_type(type, t));
        run(presence.outbound_subscription(s, alice, parse_jid(contact).bare(), t, out));
    }

    // `contact` sends a subscription stanza of `type` to alice.
    void inbound(std::string_view type, std::string_view contact) {
        stanza s = parse("<presence type='" + std::string(type) + "' from='" + std::string(contact) +
                         "' to='alice@example.org'/>");
        subscriptions::presence_type t{};
        REQUIRE(subscriptions::parse_presence_type(type, t));
        run(presence.inbound_subscription(s, alice, parse_jid(contact).bare(), t, out));
    }

    const jid alice = parse_jid("alice@example.org");
    roster_service roster;
    privacy_service privacy;
    presence_service presence;
};

}  // namespace

TEST_CASE("outbound subscribe: pending out, a roster push, the stanza routed between bare JIDs") {
    presence_fixture f;
    auto interested = f.bind(phone, true);
    auto other = f.bind(desk);
    f.outbound("subscribe", "bob@example.net/laptop");
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].type() == "subscribe");
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[0].to() == "bob@example.net");
    const auto item = f.item("bob@example.net");
    REQUIRE(item);
    CHECK(item->sub == subscription::none);
    CHECK(item->pending_out);
    const auto pushed = only_push(*interested);
    CHECK(attr(pushed, "jid") == "bob@example.net");
    CHECK(attr(pushed, "subscription") == "none");
    CHECK(attr(pushed, "ask") == "subscribe");
    CHECK(other->delivered.empty());
    // Table 2: routed in every state (the contact's server may have lost its own), and nothing changes here.
    f.clear();
    f.outbound("subscribe", "bob@example.net");
    CHECK(f.sink.sent.size() == 1);
    CHECK(roster_pushes(interested->delivered).empty());
}

TEST_CASE("inbound subscribed answers our request: subscription 'to', a push, delivered; unasked ones dropped") {
    presence_fixture f;
    auto session = f.bind(phone, true);
    f.own(phone);
    f.seed("bob@example.net", subscription::none, true);
    f.clear();
    f.inbound("subscribed", "bob@example.net/laptop");
    const auto item = f.item("bob@example.net");
    REQUIRE(item);
    CHECK(item->sub == subscription::to);
    CHECK_FALSE(item->pending_out);
    const auto pushed = only_push(*session);
    CHECK(attr(pushed, "subscription") == "to");
    CHECK_FALSE(pushed.attribute("ask"));
    const auto delivered = of_type(session->delivered, "presence", "subscribed");
    REQUIRE(delivered.size() == 1);
    CHECK(delivered[0].from() == "bob@example.net");
    CHECK(delivered[0].to() == "alice@example.org");
    CHECK(f.sink.sent.empty());

    // Table 8 "To": the answer is already known; Table 8 "None": nothing was asked of carol, no item appears.
    f.clear();
    f.inbound("subscribed", "bob@example.net");
    f.inbound("subscribed", "carol@example.net");
    CHECK(session->delivered.empty());
    CHECK_FALSE(f.item("carol@example.net"));
}

TEST_CASE("inbound subscribe while offline: stored without a roster item, delivered at login until answered") {
    presence_fixture f;
    f.inbound("subscribe", "bob@example.net/laptop");
    f.inbound("subscribe", "bob@example.net");  // Table 6 "None + Pending In": not stored twice
    const auto stored = f.requests();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].from == "bob@example.net");
    CHECK_FALSE(f.item("bob@example.net"));

    auto session = f.bind(phone, true);
    f.own(phone);
    const auto requests = of_type(session->delivered, "presence", "subscribe");
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].from() == "bob@example.net");
    CHECK(requests[0].to() == "alice@example.org");

    // Approval (§3.1.5): 'from', routed between bare JIDs, then our current presence; the request is answered.
    f.clear();
    f.outbound("subscribed", "bob@example.net");
    const auto item = f.item("bob@example.net");
    REQUIRE(item);
    CHECK(item->sub == subscription::from);
    CHECK(attr(only_push(*session), "subscription") == "from");
    REQUIRE(f.sink.sent.size() == 2);
    CHECK(f.sink.sent[0].type() == "subscribed");
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[0].to() == "bob@example.net");
    CHECK(f.sink.sent[1].type() == "");
    CHECK(f.sink.sent[1].from() == phone);
    CHECK(f.sink.sent[1].to() == "bob@example.net");
    CHECK(f.requests().empty());
    auto later = f.bind(desk, true);
    f.own(desk);
    CHECK(of_type(later->delivered, "presence", "subscribe").empty());
}

TEST_CASE("inbound subscribe while online: to available resources that asked for the roster, once") {
    presence_fixture f;
    auto interested = f.bind(phone, true);
    auto uninterested = f.bind(desk);
    auto unavailable = f.bind("alice@example.org/tablet", true);
    f.own(phone);
    f.own(desk);
    f.clear();
    f.inbound("subscribe", "bob@example.net");
    CHECK(of_type(interested->delivered, "presence", "subscribe").size() == 1);
    CHECK(uninterested->delivered.empty());
    CHECK(unavailable->delivered.empty());
    CHECK(f.requests().size() == 1);  // kept for the next login until answered
    f.clear();
    f.inbound("subscribe", "bob@example.net");
    CHECK(interested->delivered.empty());
    CHECK(f.sink.sent.empty());
}

TEST_CASE("pre-approval (§3.4): subscribed without a request is not routed; the later subscribe is answered") {
    presence_fixture f;
    auto session = f.bind(phone, true);
    f.own(phone, "<presence><status>here</status></presence>");
    f.clear();
    f.outbound("subscribed", "bob@example.net");
    CHECK(f.sink.sent.empty());  // Table 4 "None": MUST NOT route
    auto item = f.item("bob@example.net");
    REQUIRE(item);
    CHECK(item->approved);
    CHECK(item->sub == subscription::none);

    f.clear();
    f.inbound("subscribe", "bob@example.net");
    CHECK(of_type(session->delivered, "presence", "subscribe").empty());
    CHECK(f.requests().empty());
    item = f.item("bob@example.net");
    REQUIRE(item);
    CHECK(item->sub == subscription::from);
    CHECK_FALSE(item->approved);
    REQUIRE(f.sink.sent.size() == 2);
    CHECK(f.sink.sent[0].type() == "subscribed");
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[1].from() == phone);
    CHECK(std::string(f.sink.sent[1].element().child_value("status")) == "here");
}

TEST_CASE("a subscribe from a contact that already has 'from' is answered again, not delivered (Table 6 [2])") {
    presence_fixture f;
    auto session = f.bind(phone, true);
    f.own(phone);
    f.seed("bob@example.net", subscription::both);
    f.clear();
    f.inbound("subscribe", "bob@example.net");
    CHECK(session->delivered.empty());
    CHECK(f.requests().empty());
    REQUIRE_FALSE(f.sink.sent.empty());
    CHECK(f.sink.sent[0].type() == "subscribed");
    CHECK(f.sink.sent[0].to() == "bob@example.net");
    CHECK(between(f.sink.sent, phone, "bob@example.net").size() == 1);  // and our presence again
    CHECK(f.item("bob@example.net")->sub == subscription::both);
}

TEST_CASE("denying a request: unsubscribed routed, the request forgotten") {
    presence_fixture f;
    f.inbound("subscribe", "mallory@example.net");
    REQUIRE(f.requests().size() == 1);
    f.outbound("unsubscribed", "mallory@example.net");
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].type() == "unsubscribed");
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[0].to() == "mallory@example.net");
    CHECK(f.requests().empty());
    auto session = f.bind(phone, true);
    f.own(phone);
    CHECK(of_type(session->delivered, "presence", "subscribe").empty());
    // Table 5 "None": nothing to deny or cancel any more, so not routed again.
    f.clear();
    f.outbound("unsubscribed", "mallory@example.net");
    CHECK(f.sink.sent.empty());
}

// "None + Pending In" -> "None" changes only pending-in, which lives in the stored request, not on a roster item:
// denying a stranger's request must not put the stranger on the roster (it once did, with a push).
TEST_CASE("denying a stranger's request leaves no roster item") {
    presence_fixture f;
    auto session = f.bind(phone, true);
    f.inbound("subscribe", "mallory@example.net");
    f.outbound("unsubscribed", "mallory@example.net");
    CHECK_FALSE(f.item("mallory@example.net"));
    CHECK(roster_pushes(session->delivered).empty());
}

TEST_CASE("inbound unsubscribed removes 'to'; inbound unsubscribe removes 'from', is confirmed, presence withdrawn") {
    presence_fixture f;
    auto session = f.bind(phone, true);
    f.own(phone);
    f.seed("bob@example.net", subscription::both);
    f.clear();
    f.inbound("unsubscribed", "bob@example.net/laptop");
    CHECK(f.item("bob@example.net")->sub == subscription::from);
    CHECK(attr(only_push(*session), "subscription") == "from");
    const auto told = of_type(session->delivered, "presence", "unsubscribed");
    REQUIRE(told.size() == 1);
    CHECK(told[0].from() == "bob@example.net");
    CHECK(f.sink.sent.empty());

    f.clear();
    f.inbound("unsubscribe", "bob@example.net");
    CHECK(f.item("bob@example.net")->sub == subscription::none);
    CHECK(attr(only_push(*session), "subscription") == "none");
    CHECK(of_type(session->delivered, "presence", "unsubscribe").size() == 1);
    const auto confirmed = of_type(f.sink.sent, "presence", "unsubscribed");  // Table 7 note [1]
    REQUIRE(confirmed.size() == 1);
    CHECK(confirmed[0].from() == "alice@example.org");
    CHECK(confirmed[0].to() == "bob@example.net");
    const auto gone = of_type(f.sink.sent, "presence", "unavailable");  // §3.3.3
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].from() == phone);
    CHECK(gone[0].to() == "bob@example.net");

    // Table 7 and 9 "None": nothing left to cancel; nothing delivered, nothing answered.
    f.clear();
    f.inbound("unsubscribe", "bob@example.net");
    f.inbound("unsubscribed", "bob@example.net");
    CHECK(session->delivered.empty());
    CHECK(f.sink.sent.empty());
}

TEST_CASE("outbound unsubscribe and unsubscribed from 'both': each side ends, unavailable from each resource") {
    presence_fixture f;
    f.bind(phone, true);
    f.bind(desk);
    f.own(phone);
    f.own(desk);
    f.seed("bob@example.net", subscription::both);
    f.clear();
    f.outbound("unsubscribe", "bob@example.net");
    CHECK(f.item("bob@example.net")->sub == subscription::from);
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].type() == "unsubscribe");
    CHECK(f.sink.sent[0].from() == "alice@example.org");

    f.clear();
    f.outbound("unsubscribed", "bob@example.net");
    CHECK(f.item("bob@example.net")->sub == subscription::none);
    REQUIRE(f.sink.sent.size() == 3);
    CHECK(f.sink.sent[0].type() == "unsubscribed");
    CHECK(between(f.sink.sent, phone, "bob@example.net").size() == 1);
    CHECK(between(f.sink.sent, desk, "bob@example.net").size() == 1);
    CHECK(of_type(f.sink.sent, "presence", "unavailable").size() == 2);
}

TEST_CASE("probes (§4.3.2): a 'from' contact gets each available resource's presence, others nothing") {
    presence_fixture f;
    f.bind(phone);
    f.bind(desk);
    f.bind("alice@example.org/tablet");  // bound, never available
    f.own(phone, "<presence><show>away</show></presence>");
    f.own(desk);
    f.seed("bob@example.net", subscription::from);
    f.seed("carol@example.net", subscription::to);
    f.clear();

    f.run(f.presence.answer_probe(f.alice, parse_jid("bob@example.net"), f.out));
    REQUIRE(f.sink.sent.size() == 2);
    const auto away = between(f.sink.sent, phone, "bob@example.net");
    REQUIRE(away.size() == 1);
    CHECK(std::string(away[0].element().child_value("show")) == "away");
    CHECK(between(f.sink.sent, desk, "bob@example.net").size() == 1);

    f.clear();
    f.run(f.presence.answer_probe(f.alice, parse_jid("carol@example.net"), f.out));
    f.run(f.presence.answer_probe(f.alice, parse_jid("mallory@example.net"), f.out));
    CHECK(f.sink.sent.empty());

    // No available resource: the server answers unavailable for the account.
    f.own(phone, "<presence type='unavailable'/>");
    f.own(desk, "<presence type='unavailable'/>");
    f.clear();
    f.run(f.presence.answer_probe(f.alice, parse_jid("bob@example.net"), f.out));
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].type() == "unavailable");
    CHECK(f.sink.sent[0].from() == "alice@example.org");
    CHECK(f.sink.sent[0].to() == "bob@example.net");
}

TEST_CASE("initial presence: to 'from' contacts and own resources, probes to 'to' contacts, others' presence") {
    presence_fixture f;
    auto first = f.bind(desk);
    f.own(desk, "<presence><show>dnd</show></presence>");
    f.seed("bob@example.net", subscription::both);
    f.seed("carol@example.net", subscription::from);
    f.seed("dave@example.net", subscription::to);
    f.seed("erin@example.net", subscription::none, true);
    f.clear();
    auto session = f.bind(phone);
    f.own(phone, "<presence><priority>300</priority></presence>");

    const auto available = of_type(f.sink.sent, "presence", "");
    REQUIRE(available.size() == 2);
    CHECK(between(available, phone, "bob@example.net").size() == 1);
    CHECK(between(available, phone, "carol@example.net").size() == 1);
    const auto probes = of_type(f.sink.sent, "presence", "probe");
    REQUIRE(probes.size() == 2);
    CHECK(between(probes, "alice@example.org", "bob@example.net").size() == 1);
    CHECK(between(probes, "alice@example.org", "dave@example.net").size() == 1);

    CHECK(between(first->delivered, phone, desk).size() == 1);
    CHECK(between(session->delivered, phone, phone).size() == 1);  // its own presence (§4.2.2)
    const auto other = between(session->delivered, desk, phone);
    REQUIRE(other.size() == 1);
    CHECK(std::string(other[0].element().child_value("show")) == "dnd");
    for (const auto& r : f.registry.resources(f.alice)) {
        if (r.full.resource() == "phone") {
            CHECK(r.available);
            CHECK(r.priority == 127);  // clamped to the RFC 6121 §4.7.2.3 range
        }
    }

    // A presence update is only broadcast: no new probes, no replay of the others' presence.
    f.clear();
    f.own(phone, "<presence><show>xa</show></presence>");
    CHECK(of_type(f.sink.sent, "presence", "probe").empty());
    CHECK(of_type(f.sink.sent, "presence", "").size() == 2);
    CHECK(between(session->delivered, desk, phone).empty());
}

TEST_CASE("broadcasts skip a subscriber the account blocked (XEP-0191)") {
    presence_fixture f;
    f.bind(phone);
    f.seed("bob@example.net", subscription::from);
    f.seed("carol@example.net", subscription::from);
    const stanza block = parse("<iq type='set' id='b1' from='alice@example.org/phone'>"
                               "<block xmlns='urn:xmpp:blocking'><item jid='bob@example.net'/></block></iq>");
    REQUIRE(f.run(f.privacy.handle_blocking(block, f.alice, f.out)).type() == "result");
    f.own(phone);
    f.own(phone, "<presence type='unavailable'/>");
    CHECK(between(f.sink.sent, phone, "bob@example.net").empty());
    CHECK(between(f.sink.sent, phone, "carol@example.net").size() == 2);
}

TEST_CASE("unavailable presence: to subscribers and the other resources, echoed to the sender, only once") {
    presence_fixture f;
    auto leaving = f.bind(phone);
    auto staying = f.bind(desk);
    f.own(phone);
    f.own(desk);
    f.seed("bob@example.net", subscription::from);
    f.clear();
    f.own(phone, "<presence type='unavailable'><status>bye</status></presence>");
    const auto to_bob = between(f.sink.sent, phone, "bob@example.net");
    REQUIRE(to_bob.size() == 1);
    CHECK(to_bob[0].type() == "unavailable");
    CHECK(std::string(to_bob[0].element().child_value("status")) == "bye");
    CHECK(of_type(between(staying->delivered, phone, desk), "presence", "unavailable").size() == 1);
    CHECK(of_type(between(leaving->delivered, phone, phone), "presence", "unavailable").size() == 1);
    for (const auto& r : f.registry.resources(f.alice)) {
        CHECK(r.available == (r.full.resource() == "desk"));
    }
    f.clear();
    f.own(phone, "<presence type='unavailable'/>");  // not available: nothing to tell anyone
    CHECK(f.sink.sent.empty());
    CHECK(staying->delivered.empty());
}

TEST_CASE("session_ended: unavailable to subscribers, resources and directed-presence targets; last activity") {
    presence_fixture f;
    f.bind(phone);
    auto staying = f.bind(desk);
    f.own(phone);
    f.own(desk);
    f.seed("bob@example.net", subscription::both);
    f.seed("dave@example.net", subscription::to);
    f.clear();
    auto last_activity = [&f] {
        auto found = run_sync(
            f.store.run([](storage::store& s) { return s.get_last_activity("example.org", "alice"); }));
        REQUIRE(found);
        return *found;
    };

    f.unbind(phone);  // as the session does before it reports its end
    f.run(f.presence.session_ended(parse_jid(phone), true, {"carol@example.net/laptop", "room@muc.example.net/al"}, {}, f.out));
    const auto gone = of_type(f.sink.sent, "presence", "unavailable");
    REQUIRE(gone.size() == 3);
    CHECK(between(gone, phone, "bob@example.net").size() == 1);
    CHECK(between(gone, phone, "carol@example.net/laptop").size() == 1);
    CHECK(between(gone, phone, "room@muc.example.net/al").size() == 1);
    CHECK(of_type(between(staying->delivered, phone, desk), "presence", "unavailable").size() == 1);
    CHECK_FALSE(last_activity());  // the desk is still online

    f.clear();
    f.unbind(desk);
    f.run(f.presence.session_ended(parse_jid(desk), true, {}, "gone fishing", f.out));
    CHECK(between(f.sink.sent, desk, "bob@example.net").size() == 1);
    const auto recorded = last_activity();
    REQUIRE(recorded);
    CHECK(recorded->logout_at > 0);
    CHECK(recorded->status == "gone fishing");  // XEP-0012: the last unavailable presence's status

    // A session that never sent available presence tells its contacts nothing, but ends its directed presence (a
    // room it joined without initial presence must not keep a ghost occupant).
    f.clear();
    f.bind("alice@example.org/tablet");
    f.unbind("alice@example.org/tablet");
    f.run(f.presence.session_ended(parse_jid("alice@example.org/tablet"), false, {"carol@example.net/laptop"}, {}, f.out));
    CHECK(f.sink.sent.size() == 1);
    CHECK(between(f.sink.sent, "alice@example.org/tablet", "carol@example.net/laptop").size() == 1);
}

TEST_CASE("offline messages: stored up to the quota, delivered once with a delay stamp at the next login") {
    presence_fixture f;
    f.ctx.offline_quota = 2;
    const jid alice = f.alice;
    auto message = [](std::string_view body) {
        return parse("<message type='chat' from='bob@example.net/laptop' to='alice@example.org'><body>" +
                     std::string(body) + "</body></message>");
    };
    CHECK(run_sync(f.presence.store_offline(alice, message("one"))));
    CHECK(run_sync(f.presence.store_offline(alice, message("two"))));
    CHECK_FALSE(run_sync(f.presence.store_offline(alice, message("three"))));
    CHECK(f.offline().size() == 2);

    auto session = f.bind(phone);
    f.own(phone);
    const auto messages = of_type(session->delivered, "message", "chat");
    REQUIRE(messages.size() == 2);
    CHECK(std::string(messages[0].element().child_value("body")) == "one");
    CHECK(std::string(messages[1].element().child_value("body")) == "two");
    const auto delay = messages[0].child("delay", "urn:xmpp:delay");
    REQUIRE(delay);
    CHECK(attr(delay, "from") == "example.org");
    CHECK_FALSE(attr(delay, "stamp").empty());
    CHECK(std::string(delay.child_value()) == "Offline Storage");
    CHECK(f.offline().empty());

    auto later = f.bind(desk);
    f.own(desk);
    CHECK(of_type(later->delivered, "message", "chat").empty());
    CHECK(run_sync(f.presence.store_offline(alice, message("four"))));  // room again
}
