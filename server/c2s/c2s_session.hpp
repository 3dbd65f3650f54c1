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
#include "server/sm/handover.hpp"
#include "server/sm/sm_state.hpp"
#include "server/stream/session.hpp"
#include "server/stream/xmpp_stream.hpp"

namespace hush {

// What a SASL2 <authenticate/> asks for besides authentication (XEP-0386 Bind2, XEP-0198 inline).
struct sasl2_request {
    bool bind = false;
    std::string tag;  // the client's, part of the resource
    bool carbons = false;
    bool sm_enable = false;
    std::string sm_resume;  // the <enable/>'s resume attribute
    std::string sm_max;
    bool resume = false;  // <resume/> instead of binding
    std::string previd;
    std::string h;
    std::string mechanism;
    std::string agent_id;       // XEP-0388 <user-agent id=…/>
    std::string token_request;  // XEP-0484 <request-token mechanism=…/>: the mechanism
    bool invalidate = false;    // XEP-0484 <fast invalidate='true'/>: end the token with this login
};

class c2s_session final : public xmpp_stream, public sm::resumable {
public:
    c2s_session(tcp::socket socket, bool direct_tls, server_context& ctx, std::shared_ptr<void> connection_slot);
    // XMPP over WebSocket (RFC 7395): the upgrade is done; TLS is the transport's (wss://, or a trusted proxy's).
    c2s_session(std::unique_ptr<message_transport> transport, server_context& ctx,
                std::shared_ptr<void> connection_slot);
    ~c2s_session() override;

    void start();
    void deliver(shared_bytes serialized) override;
    void deliver_presence(shared_bytes serialized, const std::string& from) override;
    // sm::resumable: the client resumed this session on another connection (c2s_stream_management.cpp).
    void take_over(const jid& claimant, std::shared_ptr<session> successor,
                   std::function<void(std::optional<sm::handover>)> done) override;

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
    // A failed authentication: counted, slowed down per address, answered with `element`; too many close.
    boost::asio::awaitable<void> sasl_failed(const std::string& condition, std::string element);
    void handle_bind(const stanza& iq);
    void bind_resource(const std::string& resource);
    // XEP-0388 SASL2 with XEP-0386 Bind2 and inline XEP-0198 (c2s_sasl2.cpp).
    std::string sasl2_feature();
    // This connection's channel-binding data of `type` (XEP-0440), if it has that type; for no type (a mechanism
    // without channel binding, HT-SHA-256-NONE), empty data.
    std::optional<std::string> binding_data(std::string_view type) const {
        if (type.empty()) {
            return std::string();
        }
        for (const auto& [name, data] : channel_bindings_) {
            if (name == type) {
                return data;
            }
        }
        return std::nullopt;
    }
    boost::asio::awaitable<void> handle_sasl2(const stanza& s);
    boost::asio::awaitable<void> finish_sasl2(sasl_step step);
    // XEP-0484: the <token/> for a SASL2 success (a new one asked for, or one replacing a token past half its life),
    // or nothing; an invalidating login revokes the client's tokens instead.
    boost::asio::awaitable<std::string> fast_token_for(const sasl2_request& request, const sasl_step& step);
    boost::asio::awaitable<void> handle_stanza(stanza s);
    boost::asio::awaitable<void> handle_own_presence(const stanza& p);
    void track_directed_presence(const stanza& p);
    void set_client_active(bool active);
    void send_features();

    // XEP-0198 (c2s_stream_management.cpp).
    boost::asio::awaitable<void> handle_sm(const stanza& s);
    void handle_enable(const stanza& s);
    // <enabled/> (or <failed/>) for an enable request: on its own or inline in Bind2.
    std::string enable_sm(std::string_view resume, std::string_view max);
    void handle_ack(const stanza& s);
    boost::asio::awaitable<void> handle_resume(const stanza& s);
    // Resumes `previd`: `announce` gets the <resumed/> element to send (alone, or inside a SASL2 <success/>) before
    // the stanzas sent again. Returns the <failed/> element when it cannot, else empty.
    boost::asio::awaitable<std::string> resume_session(std::string previd, std::string h,
                                                       std::function<void(const std::string&)> announce);
    void adopt(sm::handover state, std::uint32_t client_handled,
               const std::function<void(const std::string&)>& announce);
    // A stanza to the client: counted and kept until acknowledged once stream management is on; passed on to the
    // successor once resumed elsewhere.
    void emit(shared_bytes bytes);
    void send_stanza(std::string bytes) { emit(share(std::move(bytes))); }
    void request_ack();
    std::chrono::steady_clock::time_point timer_deadline() const override;
    void on_timer() override;
    // Whether the connection's end leaves the session waiting to be resumed (not a clean close, not a fatal error).
    bool may_hibernate() const;
    bool hibernate();
    sm::handover make_handover();
    std::shared_ptr<c2s_session> self() { return std::static_pointer_cast<c2s_session>(shared_from_this()); }

    server_context& ctx_;
    std::shared_ptr<void> connection_slot_;
    bool direct_tls_;

    phase phase_ = phase::connected;
    std::string domain_;
    std::string stream_lang_;  // the xml:lang of the client's stream header, when it gave a plausible one
    std::string stream_id_;
    jid jid_;  // bound full JID
    std::unique_ptr<sasl_authenticator> sasl_;
    std::optional<sasl2_request> sasl2_;  // a SASL2 exchange is under way
    std::vector<std::pair<std::string, std::string>> channel_bindings_;  // what SCRAM-*-PLUS may bind to (XEP-0440)
    unsigned auth_failures_ = 0;
    registration_session registration_;  // XEP-0445: a token accepted on this stream, for XEP-0077
    // Both maps below grow from what peers send, so they are bounded (least recently used forgotten first):
    // past 1000 directed-presence recipients the oldest is not told we left; past 2000 held presences (about the
    // 1 MB outbox a flush must fit in) the stalest sender's is dropped.
    static constexpr std::size_t max_directed = 1000;
    static constexpr std::size_t max_held_presence = 2000;
    static constexpr std::size_t max_status_bytes = 1024;

    bool available_ = false;           // sent available presence (and not unavailable since)
    std::string last_status_;          // the status text of its last unavailable presence (XEP-0012), bounded
    antispim::bounded_map<std::string, std::monostate> directed_;  // JIDs we sent directed presence to: they get
                                                                   // unavailable at the end
    bool client_inactive_ = false;     // XEP-0352: presence is held while the client says it is inactive
    antispim::bounded_map<std::string, shared_bytes> held_presence_;  // latest per sender

    // XEP-0198.
    sm::sm_state sm_;
    std::chrono::seconds resume_timeout_{0};
    std::uint32_t requested_at_ = 0;  // sent count at our last <r/>
    std::optional<std::chrono::steady_clock::time_point> ack_requested_since_;  // an <r/> not answered yet
    std::optional<std::chrono::steady_clock::time_point> unrequested_since_;    // a stanza sent since the last <r/>
    bool resuming_ = false;  // waiting for the state of the session it resumes
    std::vector<std::pair<std::string, shared_bytes>> early_;  // delivered meanwhile (from: presence only)
    bool handed_over_ = false;  // resumed on another connection (or detached): what still comes goes to successor_
    bool overflowed_ = false;   // too many unacknowledged stanzas: the session ends, it does not wait
    std::weak_ptr<session> successor_;
};

}  // namespace hush
