#pragma once
// Everything a policy may look at about one inbound stanza. Built once by the router.
#include <string>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush::antispim {

enum class origin_kind { local_session, remote_domain };

struct spim_context {
    explicit spim_context(const hush::stanza& s) : stanza(s) {}

    const hush::stanza& stanza;
    hush::jid sender;    // full JID as stamped by the server
    hush::jid receiver;  // the addressed JID (local account)
    stanza_kind kind = stanza_kind::other;
    bool subscription_request = false;  // presence type='subscribe' — an "invite"
    // The sender has no subscription with the receiver in either direction, no pre-approval, no earlier
    // message from the receiver and no passed challenge. Until rosters exist every other account is a stranger.
    bool stranger = true;
    origin_kind origin = origin_kind::local_session;
    std::string origin_domain;  // the authenticated domain the stanza arrived from
    std::string peer_address;   // IP address of the connection it arrived on
};

}  // namespace hush::antispim
