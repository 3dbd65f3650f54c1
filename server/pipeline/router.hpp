#pragma once
// The one path every stanza takes after its session has validated it and stamped `from` (Prosody's
// process → post → route). In order:
//   1. a local user's stanza: the IM core's outbound hook (subscriptions, blocking, carbons "sent"), the outbound
//      filter (outbound protection) and the stranger oracle's note of whom the user wrote to;
//   2. for another domain: federation; for the server itself: its iq handlers or its inboxes (answers to its own
//      requests: the anti-SPIM layer's);
//   3. for a local account: the classification (judged / delivered / dropped, by the authenticated sender; an app
//      server's answer to a push notification is the push service's, XEP-0357's push-answer row), the anti-SPIM
//      chain for what is judged (post), the IM core's inbound hook (privacy, subscriptions, probes), then the
//      archive (XEP-0313, which stamps the stanza-id) and delivery to sessions, offline storage or an error.
// A bound session's own presence, its end and its account requests enter here too (session_presence & co.).
// Services never send: they return an `outgoing`, which carry_out() routes (again through this path) or writes
// to the one resource it names. Errors go back to the sender; an error is never answered with an error.
#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/chain.hpp"
#include "antispim/classification.hpp"
#include "antispim/layer.hpp"
#include "protocol/expected.hpp"
#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "antispim/stanza_sink.hpp"
#include "protocol/outgoing.hpp"
#include "server/im/accounts.hpp"
#include "server/im/iq_handler.hpp"
#include "server/stream/session_registry.hpp"

namespace hush {

// Where a stanza came from, for the anti-SPIM context and logs.
struct route_origin {
    antispim::origin_kind kind = antispim::origin_kind::local_session;
    std::string domain;        // authenticated domain of the stream it arrived on
    std::string peer_address;  // IP address of that stream's peer
    bool generated = false;    // made by the server on a user's behalf: skips the outbound hooks
    bool unfiltered = false;   // said or released by the anti-SPIM layer itself: skips the chain
    // The sender the anti-SPIM layer judges in place of `from`: the inviter a local room verified for the invitation
    // it relays (outgoing::route_judged_as).
    jid judge_as;
};

class archiver;
class pubsub_engine;
class muc_service;
class upload_service;
class im_core;
class recent_verdicts;
struct registration_outcome;

// Where stanzas for other domains go: federation (s2s_manager). It delivers or bounces — through `bounces`, the
// pipeline the stanza came from — and never drops silently.
class remote_router {
public:
    virtual ~remote_router() = default;
    virtual void send(stanza s, stanza_sink& bounces) = 0;
};

// What the router hands stanzas to besides sessions. A null link is a part the server does not have (the bare
// routing tests): without `im` only plain routing happens; without `remote` every remote domain is unreachable
// (<remote-server-not-found/>); without `strangers` every sender counts as a stranger.
struct router_links {
    im_core* im = nullptr;
    stranger_oracle* strangers = nullptr;
    outbound_filter* outbound = nullptr;
    // Answers to the server's own requests (the anti-SPIM layer's RTBL subscriptions), asked in order: the first
    // that takes a stanza consumes it.
    std::vector<server_inbox*> inboxes;
    recent_verdicts* recent = nullptr;            // deciding verdicts for the admin page (else only counted, logged)
    remote_router* remote = nullptr;
    archiver* mam = nullptr;                      // XEP-0313: local accounts' message archives
    pubsub_engine* pubsub = nullptr;              // XEP-0060/0163: the PEP services' caps queries are answered here
    muc_service* muc = nullptr;                   // XEP-0045: the MUC services' domains and rooms
    upload_service* upload = nullptr;             // XEP-0363: the upload services' domains
};

class router final : public stanza_sink {
public:
    router(std::vector<std::string> hosts, session_registry& sessions, account_directory& accounts,
           antispim::chain& chain, iq_handler& handlers, router_links links);

    // Ours to answer: the hosts, the pubsub service's domain ([pubsub] service), the MUC services' ([muc]
    // services) and the upload services' ([upload] services), which federation accepts streams for and sends from
    // like a host.
    bool is_local_domain(std::string_view domain) const;
    // A host with accounts (c2s streams): the hosts only.
    bool serves_accounts(std::string_view domain) const;
    // Rosters, presence, privacy and offline storage are served (not in the bare routing tests).
    bool serves_im() const { return im_ != nullptr; }

    // `s` carries a validated `to` (non-empty) and a stamped `from`.
    boost::asio::awaitable<void> route(stanza s, route_origin origin);
    // stanza_sink: stanzas the server makes on a user's behalf, from outside a routing call (background work,
    // federation bounces).
    boost::asio::awaitable<void> send(stanza s) override;
    boost::asio::awaitable<void> send_unfiltered(stanza s) override;
    // What a service returned to be sent, in its order.
    boost::asio::awaitable<void> carry_out(outgoing out);

    // A bound client session's own events, which go through the IM core like every stanza (never around it):
    // presence without 'to', the end of the session, and XEP-0077 requests (the caller sends the reply and, after
    // a removal, closes the account's sessions).
    boost::asio::awaitable<void> session_presence(const jid& full, const stanza& presence);
    boost::asio::awaitable<void> session_ended(const jid& full, bool was_available, const std::set<std::string>& directed,
                                               const std::string& status = {});
    boost::asio::awaitable<registration_outcome> account_request(const stanza& iq, const jid& full);
    // A message kept for a session waiting to be resumed (XEP-0198): the account's phones are woken (XEP-0357).
    boost::asio::awaitable<void> waiting_session_message(const stanza& message, const jid& to);

    // Stanzas routed to accounts per row of the classification table (antispim::classification_rows), for
    // /metrics and tests.
    std::uint64_t classified(std::size_t row) const { return classified_[row].load(std::memory_order_relaxed); }
    std::uint64_t classified(std::string_view row) const {
        return classified(antispim::classification_row_index(row));
    }

private:
    boost::asio::awaitable<void> route_to_server(stanza s, const jid& to);
    // `ahead`: the relation, when the outbound guard's read carried it; `note`: a local sender's deferred note that
    // it wrote first (both for a local user's stanza to another local account, see route()).
    boost::asio::awaitable<void> route_to_account(stanza s, const jid& from, const jid& to, route_origin origin,
                                                  relation_ahead* ahead, antispim::contact_note* note);
    // Returns false when the stanza must not be delivered (and has been answered as the verdict says).
    // `sender_young`: whether a local sender's account is new, when the outbound guard's read told.
    boost::asio::awaitable<bool> post(const stanza& s, const jid& from, const jid& to, const route_origin& origin,
                                      const relation_facts& relation, antispim::contact_note* note,
                                      std::optional<bool> sender_young);
    // Stores a deferred note no atomic decision took (before the stanza goes any further).
    boost::asio::awaitable<void> store_note(antispim::contact_note* note);
    // A mediated invitation (XEP-0045 §7.8.2) relayed by a room that passed: false when the inviter it names is a
    // stranger to the receiver (a payload's claim never lets anything through on its own).
    boost::asio::awaitable<bool> inviter_acceptable(const stanza& s, const jid& from, const jid& to);
    enum class delivery { delivered, refused, no_resource };
    delivery deliver_local(const stanza& s, const jid& to, outgoing& out);
    void deliver_to_resource(const outgoing_stanza& o);
    boost::asio::awaitable<void> bounce(const stanza& s, std::string_view condition, error_type type,
                                        std::string_view text = {}, std::string_view payload = {});
    boost::asio::awaitable<void> bounce(const stanza& s, std::string_view condition, std::string_view text = {});

    std::vector<std::string> hosts_;
    session_registry& sessions_;
    account_directory& accounts_;
    antispim::chain& chain_;
    iq_handler& handlers_;
    im_core* const im_;
    remote_router* const remote_;
    stranger_oracle* const strangers_;
    outbound_filter* const outbound_;
    const std::vector<server_inbox*> inboxes_;
    recent_verdicts* const recent_;
    archiver* const mam_;
    pubsub_engine* const pubsub_;
    muc_service* const muc_;
    upload_service* const upload_;
    std::array<std::atomic<std::uint64_t>, antispim::classification_rows.size() + 1> classified_{};
};

}  // namespace hush
