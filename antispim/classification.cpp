#include "antispim/classification.hpp"

#include <algorithm>

#include "antispim/challenge.hpp"

namespace hush::antispim {

namespace {

classification row(disposition what, std::string_view name) { return classification{what, name}; }

// Messages, invitations and iq requests: every sender is judged; the row says what the chain sees.
classification judged(const inbound_facts& f, std::string_view stranger_row) {
    if (f.contact) {
        return row(disposition::judge, "contact");
    }
    return row(disposition::judge, f.trusted_local ? std::string_view("local-account") : stranger_row);
}

}  // namespace

classification classify(const inbound_facts& f) {
    const std::string_view type = f.type;
    if (f.anti_spim_own) {
        return row(disposition::deliver, "anti-spim-own");
    }
    if (f.own) {
        return row(disposition::deliver, "own-account");
    }
    if (f.push_answer) {
        // Taken by the push service (it may disable the registration); no resource of the user's sees it.
        return row(disposition::deliver, "push-answer");
    }
    if (f.caps_answer) {
        // Taken by the PEP service that asked (it learns which notifications the resource wants).
        return row(disposition::deliver, "caps-answer");
    }
    // Errors are never judged (a verdict would answer an error with an error) and never answered. They reach the
    // user only where they can answer something: the server's own bounces, a contact's, or an address the user
    // wrote to a moment ago. Anything else is a stranger's text in disguise.
    if (type == "error") {
        if (f.server_generated) {
            return row(disposition::deliver, "server-error");
        }
        if (f.contact || f.answers_receiver) {
            return row(disposition::deliver, "error-answers-receiver");
        }
        return row(disposition::drop, "error-unsolicited");
    }
    switch (f.kind) {
    case stanza_kind::iq:
        if (type == "result") {
            if (f.server_generated || f.contact || f.answers_receiver) {
                return row(disposition::deliver, "iq-answer");
            }
            return row(disposition::drop, "iq-answer-unsolicited");
        }
        if (type != "get" && type != "set") {
            return row(disposition::drop, "unknown-kind");
        }
        if (f.to_bare) {
            // The server answers on the account's behalf, the same for a missing account (no enumeration).
            return row(disposition::deliver, "iq-to-account");
        }
        return judged(f, "stranger-iq");
    case stanza_kind::message:
        if (type == "groupchat") {
            // Only from a room the user is in, whoever else the sender is to them.
            return f.joined_room ? row(disposition::deliver, "groupchat-joined-room")
                                 : row(disposition::drop, "groupchat-not-joined");
        }
        if (!type.empty() && type != "chat" && type != "normal" && type != "headline") {
            return row(disposition::drop, "unknown-kind");
        }
        if (f.room_invitation) {
            // The inviter is judged as if it wrote itself: held and challenged when a stranger, and never answered
            // by an automatic drop (an invitation is something a person sent).
            return judged(f, "stranger-room-invitation");
        }
        if (f.pubsub_event && !f.contact) {
            // Only a node's owner or a service the receiver subscribed to (both contacts) has events for them;
            // anyone else's is text in a costume, and no person reads a challenge about it.
            return row(disposition::drop, "stranger-pubsub-event");
        }
        if (f.automatic && !f.contact && !f.trusted_local) {
            // Chat states, receipts, markers from a stranger's client: not a first contact, never an answer, never
            // a try; dropped, so they neither wait in the requests nor restart a lockout.
            return row(disposition::drop, "stranger-automatic");
        }
        return judged(f, "stranger-message");
    case stanza_kind::presence:
        if (type == "subscribe") {
            return judged(f, "stranger-invite");
        }
        if (type == "subscribed" || type == "unsubscribe" || type == "unsubscribed" || type == "probe") {
            // The RFC 6121 state machine: it changes nothing and shows nothing unless the receiver's roster
            // already names the sender (then the sender is no stranger), and answers probes only to subscribers.
            return row(disposition::deliver, "subscription-answer");
        }
        if (!type.empty() && type != "unavailable") {
            return row(disposition::drop, "unknown-kind");
        }
        // Available or unavailable presence: a status text from a stranger is a message nobody judged.
        if (f.contact || f.trusted_local) {
            return judged(f, "stranger-presence");
        }
        return row(disposition::drop, "stranger-presence");
    case stanza_kind::other:
        break;
    }
    return row(disposition::drop, "unknown-kind");
}

std::size_t classification_row_index(std::string_view name) {
    const auto* at = std::find(classification_rows.begin(), classification_rows.end(), name);
    return static_cast<std::size_t>(at - classification_rows.begin());
}

stranger_iq_answer answer_for_stranger_iq(std::string_view type, std::string_view payload_name,
                                          std::string_view payload_ns) {
    if (type == "get" && payload_name == "query" &&
        (payload_ns == "http://jabber.org/protocol/disco#info" || payload_ns == "http://jabber.org/protocol/disco#items")) {
        return stranger_iq_answer::to_server;
    }
    if (type == "get" && payload_name == "ping" && payload_ns == "urn:xmpp:ping") {
        return stranger_iq_answer::to_server;
    }
    if (type == "set" && payload_name == "captcha" && payload_ns == captcha_ns) {
        return stranger_iq_answer::to_server;  // answers to the challenge
    }
    if (type == "get" && payload_name == "pubsub" && payload_ns == "http://jabber.org/protocol/pubsub") {
        // PEP reads (XEP-0163): the engine answers what the node's access model allows — an open OMEMO device list
        // to anyone, anything else <item-not-found/>, as for a node or an account that does not exist.
        return stranger_iq_answer::to_server;
    }
    if (type == "get" && payload_name == "vCard" && payload_ns == "vcard-temp") {
        return stranger_iq_answer::empty_vcard;
    }
    // Last activity, private data, rosters, blocking, privacy lists, commands, the XEP-0313 archive and its
    // preferences...: a stranger's business with none.
    return stranger_iq_answer::refuse;
}

}  // namespace hush::antispim
