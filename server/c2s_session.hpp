#pragma once
// One client connection (RFC 6120): a reader coroutine (parse, negotiate, route), a writer coroutine (the only
// one that writes to the socket, draining a bounded outbox) and a watchdog (handshake, idle and close
// deadlines). Only these coroutines own the session; the registry and router hold weak references.
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/stream_parser.hpp"
#include "server/sasl_authenticator.hpp"
#include "server/server_context.hpp"
#include "server/session.hpp"

namespace hush {

class c2s_session final : public session, public std::enable_shared_from_this<c2s_session> {
public:
    using tcp = boost::asio::ip::tcp;

    c2s_session(tcp::socket socket, bool direct_tls, server_context& ctx, std::shared_ptr<void> connection_slot);
    ~c2s_session() override;

    void start();
    void deliver(shared_bytes serialized) override;
    void deliver_presence(shared_bytes serialized, const std::string& from) override;
    void close(stream_error error) override;

private:
    enum class phase { connected, tls_done, authenticated, bound };

    boost::asio::awaitable<void> reader();
    boost::asio::awaitable<void> writer();
    boost::asio::awaitable<void> watchdog();

    boost::asio::awaitable<bool> start_tls();
    boost::asio::awaitable<void> handle_event(xml::stream_event& event);
    void handle_stream_open(const xml::stream_open& header);
    boost::asio::awaitable<void> handle_element(stanza s);
    boost::asio::awaitable<void> handle_sasl(const stanza& s);
    boost::asio::awaitable<void> finish_sasl(sasl_step step);
    void handle_bind(const stanza& iq);
    boost::asio::awaitable<void> handle_stanza(stanza s);
    boost::asio::awaitable<void> handle_own_presence(const stanza& p);
    void track_directed_presence(const stanza& p);
    void set_client_active(bool active);

    void send(std::string bytes);
    void send_features();
    void enqueue(shared_bytes bytes);
    void begin_close(std::optional<stream_error> error);
    boost::asio::awaitable<void> wait_flushed();
    tcp::socket& raw_socket();
    void close_socket();

    boost::asio::any_io_executor executor_;
    server_context& ctx_;
    tcp::socket socket_;
    std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> tls_;
    std::shared_ptr<boost::asio::ssl::context> tls_context_;
    std::shared_ptr<void> connection_slot_;
    bool direct_tls_;
    std::string peer_address_;

    xml::stream_parser parser_;
    bool restart_stream_ = false;
    bool header_sent_ = false;
    phase phase_ = phase::connected;
    std::string domain_;
    std::string stream_id_;
    jid jid_;  // bound full JID
    std::unique_ptr<sasl_authenticator> sasl_;
    unsigned auth_failures_ = 0;
    bool available_ = false;           // sent available presence (and not unavailable since)
    std::set<std::string> directed_;   // JIDs we sent directed presence to: they get unavailable at the end
    bool client_inactive_ = false;     // XEP-0352: presence is held while the client says it is inactive
    std::map<std::string, shared_bytes> held_presence_;  // latest per sender

    std::deque<shared_bytes> outbox_;
    std::size_t outbox_bytes_ = 0;
    bool writing_ = false;
    bool closing_ = false;
    bool socket_closed_ = false;
    boost::asio::steady_timer writer_wake_;
    boost::asio::steady_timer flushed_;
    boost::asio::steady_timer watchdog_timer_;
    std::chrono::steady_clock::time_point connected_at_;
    std::chrono::steady_clock::time_point last_activity_;
    std::chrono::steady_clock::time_point close_deadline_;
};

}  // namespace hush
