#pragma once
// One client connection (RFC 6120): an xmpp_stream (reader, writer, watchdog) whose events are the client's
// negotiation — STARTTLS, SASL, binding — and then its stanzas, validated and handed to the router.
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "antispim/bounded_map.hpp"
#include "protocol/stream_parser.hpp"
#include "server/c2s/sasl_authenticator.hpp"
#include "server/pipeline/server_context.hpp"
#include "server/registration/registration.hpp"
#include "server/stream/session.hpp"
#include "server/stream/xmpp_stream.hpp"

namespace hush {

class c2s_session final : public xmpp_stream {
public:
    c2s_session(tcp::socket socket, bool direct_tls, server_context& ctx, std::shared_ptr<void> connection_slot);
    ~c2s_session() override;

    void start();
    void deliver_presence(shared_bytes serialized, const std::string& from) override;

private:
    enum class phase { connected, tls_done, authenticated, bound };

    // xmpp_stream
    boost::asio::awaitable<bool> on_connected() override;
    bool negotiated() const override { return phase_ == phase::bound; }
    void on_close_begun() override;
    boost::asio::awaitable<void> on_disconnected() override;
    std::string log_name() const override;

    void handle_stream_open(const xml::stream_open& header) override;
    boost::asio::awaitable<void> handle_element(stanza s) override;
    boost::asio::awaitable<void> handle_sasl(const stanza& s);
    boost::asio::awaitable<void> finish_sasl(sasl_step step);
    void handle_bind(const stanza& iq);
    boost::asio::awaitable<void> handle_stanza(stanza s);
    boost::asio::awaitable<void> handle_own_presence(const stanza& p);
    void track_directed_presence(const stanza& p);
    void set_client_active(bool active);
    void send_features();

    server_context& ctx_;
    std::shared_ptr<void> connection_slot_;
    bool direct_tls_;

    phase phase_ = phase::connected;
    std::string domain_;
    std::string stream_lang_;  // the xml:lang of the client's stream header, when it gave a plausible one
    std::string stream_id_;
    jid jid_;  // bound full JID
    std::unique_ptr<sasl_authenticator> sasl_;
    unsigned auth_failures_ = 0;
    registration_session registration_;  // XEP-0445: a token accepted on this stream, for XEP-0077
    // Both maps below grow from what peers send, so they are bounded (least recently used forgotten first):
    // past 1000 directed-presence recipients the oldest is not told we left; past 2000 held presences (about the
    // 1 MB outbox a flush must fit in) the stalest sender's is dropped.
    static constexpr std::size_t max_directed = 1000;
    static constexpr std::size_t max_held_presence = 2000;

    bool available_ = false;           // sent available presence (and not unavailable since)
    antispim::bounded_map<std::string, std::monostate> directed_;  // JIDs we sent directed presence to: they get
                                                                   // unavailable at the end
    bool client_inactive_ = false;     // XEP-0352: presence is held while the client says it is inactive
    antispim::bounded_map<std::string, shared_bytes> held_presence_;  // latest per sender
};

}  // namespace hush
