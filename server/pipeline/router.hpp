#pragma once
// The one path every stanza takes after its session has validated it and stamped `from` (Prosody's
// process → post → route):
//   post:  the anti-SPIM chain, for every inbound message, presence and iq get/set to another account;
//   route: the server itself, a local account (RFC 6120 §10, RFC 6121 §8 rules), or a remote domain.
// Errors go back to the sender; an error is never answered with an error.
#include <array>
#include <atomic>
#include <memory>
#include <optional>
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
#include "server/im/im_context.hpp"
#include "server/stream/session_registry.hpp"

namespace hush {

// Where a stanza came from, for the anti-SPIM context and logs.
struct route_origin {
    antispim::origin_kind kind = antispim::origin_kind::local_session;
    std::string domain;        // authenticated domain of the stream it arrived on
    std::string peer_address;  // IP address of that stream's peer
    bool generated = false;    // made by the server on a user's behalf: skips the outbound hooks
    bool unfiltered = false;   // said or released by the anti-SPIM layer itself: skips the chain
};

// Does this local account exist? (Storage-backed in the server; a fake in tests.)
class account_directory {
public:
    virtual ~account_directory() = default;
    virtual boost::asio::awaitable<hush::expected<bool, std::string>> exists(const jid& bare) = 0;
};

// Answers iq get/set addressed to the server or, on an account's behalf, to its bare JID.
class iq_handler {
public:
    virtual ~iq_handler() = default;
    // `addressed` is the server domain or the account's bare JID. Returns the result or error reply.
    virtual boost::asio::awaitable<stanza> handle(const stanza& iq, const jid& addressed) = 0;
};

class im_core;
class recent_verdicts;

// Where stanzas for other domains go: federation (s2s_manager). It delivers or bounces; it never drops silently.
class remote_router {
public:
    virtual ~remote_router() = default;
    virtual void send(stanza s) = 0;
};

class router final : public stanza_sink {
public:
    router(std::vector<std::string> hosts, session_registry& sessions, account_directory& accounts,
           antispim::chain& chain, iq_handler& handlers);

    bool is_local_domain(std::string_view domain) const;

    // `s` carries a validated `to` (non-empty) and a stamped `from`.
    boost::asio::awaitable<void> route(stanza s, route_origin origin);
    // stanza_sink: stanzas the server makes on a user's behalf.
    boost::asio::awaitable<void> send(stanza s) override;
    boost::asio::awaitable<void> send_unfiltered(stanza s) override;

    // The IM core's hooks (rosters, presence, privacy, offline, carbons); without it only plain routing happens.
    void set_im(im_core* im) { im_ = im; }
    // Federation; without it every remote domain is unreachable (<remote-server-not-found/>).
    void set_remote(remote_router* remote) { remote_ = remote; }
    // Without it every sender counts as a stranger.
    void set_strangers(stranger_oracle* strangers) { strangers_ = strangers; }
    void set_outbound_filter(outbound_filter* filter) { outbound_ = filter; }
    void set_server_inbox(server_inbox* inbox) { inbox_ = inbox; }
    // Where deciding verdicts are remembered for the admin page; without it they are only logged and counted.
    void set_recent_verdicts(recent_verdicts* recent) { recent_ = recent; }

    // Stanzas routed to accounts per row of the classification table (antispim::classification_rows), for
    // /metrics and tests.
    std::uint64_t classified(std::size_t row) const { return classified_[row].load(std::memory_order_relaxed); }
    std::uint64_t classified(std::string_view row) const {
        return classified(antispim::classification_row_index(row));
    }

private:
    boost::asio::awaitable<void> route_to_server(stanza s, const jid& to);
    boost::asio::awaitable<void> route_to_account(stanza s, const jid& from, const jid& to, route_origin origin);
    // Returns false when the stanza must not be delivered (and has been answered as the verdict says).
    boost::asio::awaitable<bool> post(const stanza& s, const jid& from, const jid& to, const route_origin& origin,
                                      const relation_facts& relation);
    // A mediated invitation (XEP-0045 §7.8.2) relayed by a room that passed: false when the inviter it names is a
    // stranger to the receiver (a payload's claim never lets anything through on its own).
    boost::asio::awaitable<bool> inviter_acceptable(const stanza& s, const jid& from, const jid& to);
    enum class delivery { delivered, refused, no_resource };
    delivery deliver_local(const stanza& s, const jid& to);
    boost::asio::awaitable<void> bounce(const stanza& s, std::string_view condition, error_type type,
                                        std::string_view text = {}, std::string_view payload = {});
    boost::asio::awaitable<void> bounce(const stanza& s, std::string_view condition, std::string_view text = {});

    std::vector<std::string> hosts_;
    session_registry& sessions_;
    account_directory& accounts_;
    antispim::chain& chain_;
    iq_handler& handlers_;
    im_core* im_ = nullptr;
    remote_router* remote_ = nullptr;
    stranger_oracle* strangers_ = nullptr;
    outbound_filter* outbound_ = nullptr;
    server_inbox* inbox_ = nullptr;
    recent_verdicts* recent_ = nullptr;
    std::array<std::atomic<std::uint64_t>, antispim::classification_rows.size() + 1> classified_{};
};

}  // namespace hush
