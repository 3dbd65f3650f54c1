#pragma once
// The one classification of every inbound stanza to a local account: judged by the anti-SPIM chain, delivered
// without judgement, or dropped. The router asks it for every stanza it routes to an account; nothing skips it.
// docs/antispim.md ("What is judged") holds the same table, row for row; tests/unit/antispim/classification_test.cpp
// has a case per row. A stanza kind a new feature adds gets a row here (and in both of those) before it ships.
//
// Principles: the chain judges the authenticated sender, never a claim inside the payload; a stranger's text
// reaches a user only through a verdict; what a stranger sends that cannot be judged (errors nobody asked for,
// groupchat from rooms not joined, presence) is dropped and counted, never answered.
#include <array>
#include <cstddef>
#include <string_view>

#include "protocol/stanza.hpp"

namespace hush::antispim {

enum class disposition { judge, deliver, drop };

// What the router knows about one stanza and the receiver's relationship with its real (authenticated) sender.
struct inbound_facts {
    stanza_kind kind = stanza_kind::other;
    std::string_view type;
    bool to_bare = true;
    // Said or released by the anti-SPIM layer itself (challenges, approvals, held stanzas after a pass).
    bool anti_spim_own = false;
    // Made by this server (a bounce, a reply on an account's behalf), not relayed from anyone.
    bool server_generated = false;
    // The sender is one of the receiver's own resources, or the receiver's own server.
    bool own = false;
    // An iq result or error from an app server answering the receiver's push notification still outstanding (same
    // id, from the service it went to; XEP-0357): for the push service, never for the user.
    bool push_answer = false;
    // An iq result or error from a resource answering the receiver's PEP service, which asked it what its client
    // wants (XEP-0115 disco#info, XEP-0163 +notify): for the PEP service, never for the user.
    bool caps_answer = false;
    // A message carrying a XEP-0060 event (<event xmlns='…pubsub#event'/>): a node's notification, never typed.
    bool pubsub_event = false;
    // A contact: subscription either way, asked or pre-approved by the receiver, written to first by the
    // receiver, or approved through the challenge.
    bool contact = false;
    // No contact, but an account of this server trusted by `trust_local_users` (an established account): judged
    // by the chain as no stranger (the blocklist still applies), its presence delivered.
    bool trusted_local = false;
    // The receiver sent something to the sender's address (or its domain) a short while ago: an error or an iq
    // result from there can answer it.
    bool answers_receiver = false;
    // The receiver has joined the room the sender belongs to (sent it available presence, not yet unavailable).
    bool joined_room = false;
    // An invitation (or a decline) one of this server's rooms relays (XEP-0045 §7.8.2), judged as the inviter the
    // room verified — the chain's sender is that person, never the room.
    bool room_invitation = false;
    // A message the sender's client sent on its own (protocol's is_automatic_message): chat states, receipts,
    // markers, nothing typed.
    bool automatic = false;
};

// One row of the table; `name` is counted per row (/metrics) and logged for drops. Contacts are judged too: the
// chain runs for them with `stranger` false, so only blocklist entries marked "contacts too" can stop them.
struct classification {
    disposition what = disposition::drop;
    std::string_view name;
};

classification classify(const inbound_facts& facts);

// Every row name, for counters (/metrics) and the docs; classify() returns only these.
inline constexpr std::array<std::string_view, 23> classification_rows = {
    "anti-spim-own",        "own-account",           "push-answer",           "caps-answer",
    "stranger-pubsub-event", "server-error",
    "error-answers-receiver", "error-unsolicited",   "iq-answer",             "iq-answer-unsolicited",
    "groupchat-joined-room", "groupchat-not-joined", "iq-to-account",         "contact",
    "local-account",        "subscription-answer",   "stranger-message",      "stranger-automatic",
    "stranger-invite",      "stranger-presence",     "stranger-iq",           "unknown-kind",
    "stranger-room-invitation",
};

std::size_t classification_row_index(std::string_view name);

// What the server answers, on an account's behalf, to an iq get/set a stranger sends to a bare JID: the same for
// a missing account as for an existing one, and nothing personal. `to_server` hands it to the server's handlers
// (disco, ping, XEP-0158 answers: they answer alike for every account), `empty_vcard` is an empty vCard result,
// `refuse` is <service-unavailable/>.
enum class stranger_iq_answer { to_server, empty_vcard, refuse };
stranger_iq_answer answer_for_stranger_iq(std::string_view type, std::string_view payload_name,
                                          std::string_view payload_ns);

}  // namespace hush::antispim
