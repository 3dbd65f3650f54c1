#pragma once
// The one small interface between the router and the anti-SPIM layer (besides the chain itself): what the router
// asks the layer for every stanza routed to an account, tells it of every stanza a local user sends, and asks of
// every local user's first contacts. The server wires the layer's services in; antispim/ never includes server/.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "antispim/context.hpp"
#include "protocol/expected.hpp"
#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "storage/store.hpp"

namespace hush {

// What the receiver is to the real sender of one stanza: everything antispim::classify needs, read in one storage
// operation (with the challenge data a stranger's stanza will need, so it is not read twice).
struct relation_facts {
    bool account_exists = true;
    bool contact = false;        // roster either way, asked, pre-approved, written to first, or approved
    bool related = false;        // the same without "approved": a relationship the receiver made, not a passed challenge
    bool trusted_local = false;  // an established account of this server (trust_local_users)
    bool answers_receiver = false;
    bool joined_room = false;
    std::shared_ptr<const antispim::receiver_record> record;  // strangers only
};

// What the router reads next for a local user's stanza to another local account: what the sender is to the
// addressee (stranger_oracle::relation with `check_exists`). When the outbound guard reads storage for the stanza
// anyway, this is read in the same job (one round trip instead of two) and `facts` is set; else the router reads it.
struct relation_ahead {
    bool check_exists = false;
    std::optional<relation_facts> facts;
    // Set by the outbound guard when its read told whether the sender's account is young (for the combined score).
    std::optional<bool> sender_young;
};

// Reads another part of the layer runs inside the oracle's read job (stranger_oracle::stranger_to_user), so that
// one storage round trip serves both. It runs on a storage thread: it touches only what it captured.
using companion_read = std::function<storage::result<void>(storage::store&)>;

// Who is a stranger to whom (antispim_service): asked for every stanza routed to an account, and told of every
// stanza a local user sends, since writing to someone first makes them a contact.
class stranger_oracle {
public:
    virtual ~stranger_oracle() = default;
    // For the outbound guard: is `to` a stranger to the local `user` who writes to it (no real relationship; local
    // trust does not count)? In ONE storage read, which also runs `also` (the guard's reads of the user's account)
    // when `to` is a stranger, and, when `ahead` is given, reads what the user is to `to` for the router. A failed
    // read says "stranger" (failing open would let spam through) and leaves `ahead` unset.
    virtual boost::asio::awaitable<bool> stranger_to_user(const jid& user, const jid& to, const companion_read& also,
                                                          relation_ahead* ahead) = 0;
    // `check_exists`: whether the account's existence is still unknown (no session online). `receiver` may be a full
    // JID: rooms are joined per resource (relation_facts::joined_room), everything else is the account's.
    virtual boost::asio::awaitable<hush::expected<relation_facts, std::string>> relation(const jid& receiver,
                                                                                        const jid& sender,
                                                                                        bool check_exists) = 0;
    // Told of every stanza a local user sends. The note that the user wrote to `to` first is stored at once, or,
    // when `defer` is given, put there for the caller: the addressee's atomic decision stores it in its own
    // transaction (spim_context::sender_note), and whatever is still pending goes through store_note.
    virtual boost::asio::awaitable<void> outbound(const stanza& s, const jid& from, const jid& to,
                                                  antispim::contact_note* defer) = 0;
    // Stores a deferred note, if still pending.
    virtual boost::asio::awaitable<void> store_note(antispim::contact_note& note) = 0;
    // A session ended; `directed`: the JIDs it had sent directed presence to (rooms among them). The rooms it was in
    // are no longer joined by that resource (the server's unavailable on its behalf is not the user's own stanza).
    virtual void session_ended(const jid& full, const std::set<std::string>& directed) {
        (void)full;
        (void)directed;
    }
    // Ham for the content filter (see antispim_service, sampled): an established local account's message to someone
    // it has no relationship with yet, or a message from someone the receiver made a relationship with. Never one a
    // passed challenge let through: a paid person passes.
    virtual void learn_ham(const stanza& s, const jid& from, const jid& to) { (void)s, (void)from, (void)to; }
    // A message from a sender only a passed challenge let in: kept (bounded) in case its receiver reports it.
    virtual void remember_for_reports(const stanza& s, const jid& from, const jid& to) { (void)s, (void)from, (void)to; }
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
    // What it wants sent (a notice to the admins) goes into `out`. `ahead`: see relation_ahead (may be null).
    virtual boost::asio::awaitable<std::optional<outbound_refusal>> check(const stanza& s, const jid& from,
                                                                          const jid& to, outgoing& out,
                                                                          relation_ahead* ahead) = 0;
};

}  // namespace hush
