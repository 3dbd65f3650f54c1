#pragma once
// Everything a policy may look at about one inbound stanza. Built once by the router.
#include <memory>
#include <optional>
#include <string>

#include "antispim/challenge.hpp"
#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush::antispim {

enum class origin_kind { local_session, remote_domain };

// What the challenge policy needs of the receiver and this sender, read in the same storage operation that
// told whether the sender is a stranger (so a stranger's stanza costs one read, then one atomic write).
struct receiver_record {
    bool account_exists = true;  // false: a missing account, answered exactly like an existing one
    challenge_settings settings;
    std::string key;     // the receiver's challenge key (hex)
    std::string key_id;  // its short id, recorded with approvals
    sender_state state;  // this sender as the receiver's challenge sees it
};

// A local user's note that it wrote to someone first (which makes them its contact), not stored yet: the
// addressee's atomic decision stores it in its own transaction (one storage round trip less), or the router has
// it stored (stranger_oracle::store_note) before the stanza goes any further.
struct contact_note {
    std::string domain;  // the user's
    std::string user;
    std::string target;  // the bare JID written to
    bool pending = false;
};

struct spim_context {
    explicit spim_context(const hush::stanza& s) : stanza(s) {}

    const hush::stanza& stanza;
    hush::jid sender;    // full JID as stamped by the server (the authenticated sender, never a payload's claim)
    hush::jid receiver;  // the addressed JID (local account)
    stanza_kind kind = stanza_kind::other;
    bool subscription_request = false;  // presence type='subscribe' — an "invite"
    // The sender has no subscription with the receiver in either direction, no pre-approval, no earlier
    // message from the receiver and no passed challenge. Until rosters exist every other account is a stranger.
    bool stranger = true;
    // A real relationship (roster, first written to, approved) — false for a local account trusted only because it
    // is established here, which the blocklist still judges.
    bool contact = false;
    // The policy's slot is enforced (not dry-run): a policy that decides and writes in one storage operation
    // writes only then.
    bool enforced = true;
    std::shared_ptr<const receiver_record> record;  // set by the router for strangers; policies may load it else
    // The receiver has a session (the router knows): if not, what the layer tells it goes straight to its
    // offline messages, in the storage operation that caused it, instead of being routed there.
    bool receiver_online = true;
    // A local sender's deferred note (see contact_note), for the atomic decision to store; null when none. It
    // lives as long as the routing of the stanza, so only for what runs within it (a verdict's effect).
    contact_note* sender_note = nullptr;
    // Set by the chain from an enforced content policy's passing verdict, for the policies after it: the score asks
    // for a challenge, and why (copied into whatever verdict decides).
    mutable bool must_challenge = false;
    mutable std::string score_explanation;
    // Set by the rate policy when it lets a first contact through: the largest share of one of its buckets now used
    // (0..1), for the combined score's `rate` part.
    mutable double rate_used = 0;
    // Whether a local sender's account is younger than [antispim.outbound] new_account_hours, when the outbound
    // guard's read already told (no read of its own for the combined score's `new-account` part).
    std::optional<bool> sender_young;
    origin_kind origin = origin_kind::local_session;
    std::string origin_domain;  // the authenticated domain the stanza arrived from
    std::string peer_address;   // IP address of the connection it arrived on
};

// How a stanza can reach a user from a stranger (docs/antispim.md "What is judged"); `none` for everything the
// anti-SPIM policies leave alone (errors, results, groupchat, unavailable, subscription answers...).
enum class stranger_path { none, message, invite, directed_presence, iq_request };

inline stranger_path path_of(const hush::stanza& s) {
    const std::string_view type = s.type();
    switch (s.kind()) {
    case stanza_kind::message:
        return type != "groupchat" && type != "error" ? stranger_path::message : stranger_path::none;
    case stanza_kind::presence:
        return type == "subscribe" ? stranger_path::invite
               : type.empty()      ? stranger_path::directed_presence
                                   : stranger_path::none;
    case stanza_kind::iq:
        return type == "get" || type == "set" ? stranger_path::iq_request : stranger_path::none;
    default:
        return stranger_path::none;
    }
}

// Messages and invitations: what first contact (and SPIM) is made of.
inline bool is_first_contact(stranger_path p) { return p == stranger_path::message || p == stranger_path::invite; }

}  // namespace hush::antispim
