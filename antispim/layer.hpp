#pragma once
// The one small interface between the router and the anti-SPIM layer (besides the chain itself): what the router
// asks the layer for every stanza routed to an account, tells it of every stanza a local user sends, and asks of
// every local user's first contacts. The server wires the layer's services in; antispim/ never includes server/.
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "antispim/context.hpp"
#include "protocol/expected.hpp"
#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"

namespace hush {

// What the receiver is to the real sender of one stanza: everything antispim::classify needs, read in one storage
// operation (with the challenge data a stranger's stanza will need, so it is not read twice).
struct relation_facts {
    bool account_exists = true;
    bool contact = false;        // roster either way, asked, pre-approved, written to first, or approved
    bool trusted_local = false;  // an established account of this server (trust_local_users)
    bool answers_receiver = false;
    bool joined_room = false;
    std::shared_ptr<const antispim::receiver_record> record;  // strangers only
};

// Who is a stranger to whom (antispim_service): asked for every stanza routed to an account, and told of every
// stanza a local user sends, since writing to someone first makes them a contact.
class stranger_oracle {
public:
    virtual ~stranger_oracle() = default;
    // No real relationship (local trust does not count): for the outbound guard, from the sender's side.
    virtual boost::asio::awaitable<bool> is_stranger(const jid& receiver_bare, const jid& sender) = 0;
    // `check_exists`: whether the account's existence is still unknown (no session online).
    virtual boost::asio::awaitable<hush::expected<relation_facts, std::string>> relation(const jid& receiver_bare,
                                                                                        const jid& sender,
                                                                                        bool check_exists) = 0;
    virtual boost::asio::awaitable<void> outbound(const stanza& s, const jid& from, const jid& to) = 0;
};

// Stanzas addressed to the server itself that are not requests (iq results and errors, messages): the
// anti-SPIM layer's XEP-0060 subscriptions read their answers and pushes here. True when consumed.
class server_inbox {
public:
    virtual ~server_inbox() = default;
    virtual boost::asio::awaitable<bool> handle(const stanza& s) = 0;
};

// Outbound protection: may a local account's stanza leave? nullopt, or the error to bounce it with.
struct outbound_refusal {
    std::string condition;
    error_type type = error_type::wait;
    std::string text;
};
class outbound_filter {
public:
    virtual ~outbound_filter() = default;
    // What it wants sent (a notice to the admins) goes into `out`.
    virtual boost::asio::awaitable<std::optional<outbound_refusal>> check(const stanza& s, const jid& from,
                                                                          const jid& to, outgoing& out) = 0;
};

}  // namespace hush
