#include <doctest.h>

#include <set>
#include <string>

#include "antispim/classification.hpp"

using namespace hush;
using namespace hush::antispim;

namespace {

inbound_facts facts(stanza_kind kind, std::string_view type, bool to_bare = true) {
    inbound_facts f;
    f.kind = kind;
    f.type = type;
    f.to_bare = to_bare;
    return f;
}

inbound_facts contact(inbound_facts f) {
    f.contact = true;
    return f;
}

void check_row(const inbound_facts& f, disposition what, std::string_view name) {
    const classification c = classify(f);
    CHECK(c.name == name);
    CHECK(c.what == what);
    CHECK(classification_row_index(c.name) < classification_rows.size());
}

}  // namespace

// One case per row of the table in docs/antispim.md ("What is judged, delivered and dropped").
TEST_CASE("classification: what the anti-SPIM layer itself says or releases is delivered") {
    auto f = facts(stanza_kind::message, "normal");
    f.anti_spim_own = true;
    check_row(f, disposition::deliver, "anti-spim-own");
}

TEST_CASE("classification: the receiver's own resources and own server are delivered") {
    auto f = facts(stanza_kind::message, "chat", false);
    f.own = true;
    check_row(f, disposition::deliver, "own-account");
}

TEST_CASE("classification: an app server's answer to a push notification goes to the push service, whoever sent it") {
    // XEP-0357: a result or an error answering the notification still outstanding (the router asks the push
    // service first); a stranger's error or result answering nothing is still dropped (below).
    for (std::string_view type : {"result", "error"}) {
        auto f = facts(stanza_kind::iq, type);
        f.push_answer = true;
        check_row(f, disposition::deliver, "push-answer");
    }
}

TEST_CASE("classification: a client's answer to the PEP service's caps query goes to the PEP service") {
    // XEP-0163/XEP-0115: taken by the router before it classifies (an outstanding query from the receiver's bare
    // JID to that very resource); anything else answering nothing stays unsolicited.
    for (std::string_view type : {"result", "error"}) {
        auto f = facts(stanza_kind::iq, type);
        f.caps_answer = true;
        check_row(f, disposition::deliver, "caps-answer");
        f.caps_answer = false;
        check_row(f, disposition::drop, type == "result" ? "iq-answer-unsolicited" : "error-unsolicited");
    }
}

TEST_CASE("classification: pubsub events come from contacts only") {
    // XEP-0060/0163: a contact's PEP notification, or a service's the receiver subscribed to (subscribing made it
    // a contact), is judged as any contact's message; anyone else's is dropped, never challenged.
    for (std::string_view type : {"headline", "normal", ""}) {
        auto f = facts(stanza_kind::message, type);
        f.pubsub_event = true;
        check_row(f, disposition::drop, "stranger-pubsub-event");
        f.trusted_local = true;
        check_row(f, disposition::drop, "stranger-pubsub-event");
        f.contact = true;
        check_row(f, disposition::judge, "contact");
    }
}

TEST_CASE("classification: errors") {
    SUBCASE("the server's own bounce is delivered") {
        auto f = facts(stanza_kind::message, "error");
        f.server_generated = true;
        check_row(f, disposition::deliver, "server-error");
    }
    SUBCASE("an error from an address the user wrote to is delivered") {
        auto f = facts(stanza_kind::message, "error", false);
        f.answers_receiver = true;
        check_row(f, disposition::deliver, "error-answers-receiver");
        check_row(contact(facts(stanza_kind::presence, "error")), disposition::deliver, "error-answers-receiver");
    }
    SUBCASE("a stranger's error answering nothing is dropped, whatever it carries") {
        check_row(facts(stanza_kind::message, "error"), disposition::drop, "error-unsolicited");
        check_row(facts(stanza_kind::presence, "error"), disposition::drop, "error-unsolicited");
        check_row(facts(stanza_kind::iq, "error", false), disposition::drop, "error-unsolicited");
        auto local = facts(stanza_kind::message, "error");
        local.trusted_local = true;  // trust does not make an error answer anything
        check_row(local, disposition::drop, "error-unsolicited");
    }
}

TEST_CASE("classification: iq results") {
    auto answering = facts(stanza_kind::iq, "result", false);
    answering.answers_receiver = true;
    check_row(answering, disposition::deliver, "iq-answer");
    check_row(contact(facts(stanza_kind::iq, "result", false)), disposition::deliver, "iq-answer");
    check_row(facts(stanza_kind::iq, "result", false), disposition::drop, "iq-answer-unsolicited");
}

TEST_CASE("classification: groupchat only from rooms the receiver joined, contact or not") {
    auto joined = facts(stanza_kind::message, "groupchat", false);
    joined.joined_room = true;
    check_row(joined, disposition::deliver, "groupchat-joined-room");
    check_row(facts(stanza_kind::message, "groupchat", false), disposition::drop, "groupchat-not-joined");
    check_row(contact(facts(stanza_kind::message, "groupchat", false)), disposition::drop, "groupchat-not-joined");
}

TEST_CASE("classification: iq requests to a bare JID are answered by the server; to a resource, judged") {
    check_row(facts(stanza_kind::iq, "get", true), disposition::deliver, "iq-to-account");
    check_row(facts(stanza_kind::iq, "set", false), disposition::judge, "stranger-iq");
    check_row(contact(facts(stanza_kind::iq, "get", false)), disposition::judge, "contact");
}

TEST_CASE("classification: contacts are judged (only 'contacts too' blocklist entries can stop them)") {
    check_row(contact(facts(stanza_kind::message, "chat")), disposition::judge, "contact");
    check_row(contact(facts(stanza_kind::presence, "")), disposition::judge, "contact");
    check_row(contact(facts(stanza_kind::presence, "unavailable")), disposition::judge, "contact");
    check_row(contact(facts(stanza_kind::presence, "subscribe")), disposition::judge, "contact");
}

TEST_CASE("classification: an established local account is judged as no stranger, its presence delivered") {
    auto f = facts(stanza_kind::message, "chat");
    f.trusted_local = true;
    check_row(f, disposition::judge, "local-account");
    auto p = facts(stanza_kind::presence, "");
    p.trusted_local = true;
    check_row(p, disposition::judge, "local-account");
}

TEST_CASE("classification: subscription answers and probes go to the RFC 6121 state machine") {
    for (std::string_view type : {"subscribed", "unsubscribe", "unsubscribed", "probe"}) {
        check_row(facts(stanza_kind::presence, type), disposition::deliver, "subscription-answer");
    }
}

TEST_CASE("classification: a stranger's messages of every type but groupchat and error are judged") {
    for (std::string_view type : {"", "chat", "normal", "headline"}) {
        check_row(facts(stanza_kind::message, type), disposition::judge, "stranger-message");
        check_row(facts(stanza_kind::message, type, false), disposition::judge, "stranger-message");
    }
}

TEST_CASE("classification: a stranger's invitation is judged") {
    check_row(facts(stanza_kind::presence, "subscribe"), disposition::judge, "stranger-invite");
}

TEST_CASE("classification: a stranger's presence carries no text to the user: dropped") {
    check_row(facts(stanza_kind::presence, ""), disposition::drop, "stranger-presence");
    check_row(facts(stanza_kind::presence, "unavailable"), disposition::drop, "stranger-presence");
    check_row(facts(stanza_kind::presence, "", false), disposition::drop, "stranger-presence");
}

TEST_CASE("classification: unknown kinds and types are dropped") {
    check_row(facts(stanza_kind::other, ""), disposition::drop, "unknown-kind");
    check_row(facts(stanza_kind::message, "bogus"), disposition::drop, "unknown-kind");
    check_row(contact(facts(stanza_kind::presence, "bogus")), disposition::drop, "unknown-kind");
    check_row(facts(stanza_kind::iq, "bogus", false), disposition::drop, "unknown-kind");
}

TEST_CASE("classification: every row is reachable and named once") {
    std::set<std::string_view> names(classification_rows.begin(), classification_rows.end());
    CHECK(names.size() == classification_rows.size());
    CHECK(classification_row_index("no-such-row") == classification_rows.size());
}

TEST_CASE("classification: what a stranger's iq to a bare JID gets, alike for every account") {
    CHECK(answer_for_stranger_iq("get", "query", "http://jabber.org/protocol/disco#info") ==
          stranger_iq_answer::to_server);
    CHECK(answer_for_stranger_iq("get", "query", "http://jabber.org/protocol/disco#items") ==
          stranger_iq_answer::to_server);
    CHECK(answer_for_stranger_iq("get", "ping", "urn:xmpp:ping") == stranger_iq_answer::to_server);
    CHECK(answer_for_stranger_iq("set", "captcha", "urn:xmpp:captcha") == stranger_iq_answer::to_server);
    CHECK(answer_for_stranger_iq("get", "vCard", "vcard-temp") == stranger_iq_answer::empty_vcard);
    CHECK(answer_for_stranger_iq("get", "query", "jabber:iq:last") == stranger_iq_answer::refuse);
    CHECK(answer_for_stranger_iq("get", "query", "jabber:iq:roster") == stranger_iq_answer::refuse);
    CHECK(answer_for_stranger_iq("set", "vCard", "vcard-temp") == stranger_iq_answer::refuse);
    CHECK(answer_for_stranger_iq("get", "query", "jabber:iq:private") == stranger_iq_answer::refuse);
    // PEP (XEP-0163): reads go to the engine, which shows only what the node's access model opens to anyone and
    // answers <item-not-found/> otherwise, as for a missing account; writes and the owner's requests are refused.
    CHECK(answer_for_stranger_iq("get", "pubsub", "http://jabber.org/protocol/pubsub") == stranger_iq_answer::to_server);
    CHECK(answer_for_stranger_iq("set", "pubsub", "http://jabber.org/protocol/pubsub") == stranger_iq_answer::refuse);
    CHECK(answer_for_stranger_iq("get", "pubsub", "http://jabber.org/protocol/pubsub#owner") ==
          stranger_iq_answer::refuse);
}

TEST_CASE("classification: XEP-0313 archive queries — the account's own traffic; a stranger's is refused alike") {
    // The account's own resource asking its own archive (an iq to its bare JID from itself): own traffic.
    inbound_facts own = facts(stanza_kind::iq, "set", true);
    own.own = true;
    check_row(own, disposition::deliver, "own-account");
    own.type = "get";
    check_row(own, disposition::deliver, "own-account");
    // Anyone else's: answered by the server on the account's behalf — and to a stranger refused, for an existing
    // account as for a missing one (no archive, no enumeration).
    check_row(facts(stanza_kind::iq, "set", true), disposition::deliver, "iq-to-account");
    for (const char* type : {"get", "set"}) {
        CHECK(answer_for_stranger_iq(type, "query", "urn:xmpp:mam:2") == stranger_iq_answer::refuse);
        CHECK(answer_for_stranger_iq(type, "prefs", "urn:xmpp:mam:2") == stranger_iq_answer::refuse);
    }
    // The archive's result messages are written to the asking resource directly, never routed: nothing to classify.
}

TEST_CASE("classification: a stranger's automatic messages (chat states, receipts, markers) are dropped") {
    auto f = facts(stanza_kind::message, "chat");
    f.automatic = true;
    check_row(f, disposition::drop, "stranger-automatic");
    f.contact = true;
    check_row(f, disposition::judge, "contact");  // a contact's typing notifications go through
    auto local = facts(stanza_kind::message, "chat");
    local.automatic = true;
    local.trusted_local = true;
    check_row(local, disposition::judge, "local-account");
}

TEST_CASE("classification: a local room's invitation is judged as its verified inviter") {
    // XEP-0045 §7.8.2: the room relays; the chain judges the occupant who invited (route_judged_as), held and
    // challenged when a stranger — even when it carries nothing but the invitation (no typed text is needed).
    auto f = facts(stanza_kind::message, "");
    f.room_invitation = true;
    check_row(f, disposition::judge, "stranger-room-invitation");
    f.automatic = true;  // an invitation without a body still is something a person sent
    check_row(f, disposition::judge, "stranger-room-invitation");
    f.trusted_local = true;
    check_row(f, disposition::judge, "local-account");
    f.contact = true;
    check_row(f, disposition::judge, "contact");
}
