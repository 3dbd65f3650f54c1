#pragma once
// One XML stream over TCP (and TLS), or over a message transport (XMPP over WebSocket), whatever is on the other end — a client today, a peer server for federation:
// a reader coroutine (bytes → parser → the derived class's handle_event), a writer coroutine (the only one that
// writes to the socket, draining a bounded outbox) and a watchdog (negotiation, idle and close deadlines). Only
// these coroutines own the stream; registries hold weak references. begin_close() is the one way down. The three
// are supervised (server/stream/supervised.hpp): if one throws, the stream closes with <internal-server-error/>
// and is torn down as on any disconnect (on_close_begun, then on_disconnected).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/stream_parser.hpp"
#include "protocol/websocket_framing.hpp"
#include "server/config/config.hpp"
#include "server/stream/message_transport.hpp"
#include "server/stream/session.hpp"
#include "server/stream/tls_connection.hpp"

namespace hush {

class xmpp_stream : public session, public std::enable_shared_from_this<xmpp_stream> {
public:
    using tcp = boost::asio::ip::tcp;

    // Starts the reader, writer and watchdog coroutines.
    void start();
    void deliver(shared_bytes serialized) override;
    void close(stream_error error) override;

protected:
    // `content_ns` is the stream's default namespace (jabber:client, jabber:server), used in the header an early
    // stream error needs.
    xmpp_stream(tcp::socket socket, const limits_config& limits, std::string_view content_ns);
    // The same stream carried by whole messages (RFC 7395): `transport` is connected and its handshake done.
    xmpp_stream(std::unique_ptr<message_transport> transport, const limits_config& limits, std::string_view content_ns);
    ~xmpp_stream() override = default;

    // What the derived stream does.
    virtual boost::asio::awaitable<bool> on_connected() = 0;  // false: close at once (e.g. a failed TLS handshake)
    virtual void handle_stream_open(const xml::stream_open& header) = 0;  // each (re)opened stream's header
    virtual boost::asio::awaitable<void> handle_element(stanza s) = 0;    // each top-level element
    virtual bool negotiated() const = 0;                      // past the negotiation deadline's reach
    virtual void on_close_begun() {}                          // e.g. leave the session registry
    virtual boost::asio::awaitable<void> on_disconnected() { co_return; }
    virtual std::string log_name() const = 0;                 // "c2s 127.0.0.1 alice@example.org/phone"
    // The parser was reset for a new stream (after STARTTLS or SASL): an initiating stream sends its header here.
    virtual void on_stream_restart() {}
    virtual std::chrono::seconds handshake_timeout() const { return limits_.handshake_timeout; }
    virtual std::chrono::seconds idle_timeout() const { return limits_.idle_timeout; }
    // Idle for idle_timeout(): a client is told why; an outgoing server stream just closes.
    virtual void on_idle() { begin_close(stream_error{"connection-timeout", "idle for too long"}); }
    // A deadline of the derived stream's own (stream management's ack timers), kept by the watchdog: on_timer()
    // runs once it has passed and must move it on. rearm_watchdog() after moving it earlier.
    virtual std::chrono::steady_clock::time_point timer_deadline() const {
        return std::chrono::steady_clock::time_point::max();
    }
    virtual void on_timer() {}
    void rearm_watchdog() { watchdog_timer_.cancel(); }
    // How the stream is ending: the peer closed it (</stream:stream>), or we did with this stream error.
    bool peer_closed_stream() const { return peer_closed_; }
    const std::string& close_condition() const { return close_condition_; }

    // A fresh, unguessable stream id (dialback keys are bound to it).
    static std::string new_stream_id();
    // The checks every stream we accept makes of the peer's header (RFC 6120 §4.9.3): the streams namespace, our
    // content namespace, a `to` we serve — the same one as before when the stream restarts — and version 1.0.
    // Returns the nameprepped local domain, or nullopt after closing with the matching stream error.
    std::optional<std::string> accept_stream_header(const xml::stream_open& header,
                                                    const std::function<bool(std::string_view)>& is_local,
                                                    const std::string& current_domain);

    void send(std::string bytes);
    void enqueue(shared_bytes bytes);
    void begin_close(std::optional<stream_error> error);
    // Waits until everything queued has been written (before a TLS handshake, say).
    boost::asio::awaitable<void> wait_flushed();
    // TLS as the server side of the handshake with `context` (kept alive as long as the stream).
    boost::asio::awaitable<bool> start_tls_server(std::shared_ptr<boost::asio::ssl::context> context);
    // The receiving side of STARTTLS (RFC 6120 §5.4.3.3), for client and server streams alike: <proceed/>, the
    // handshake, then a new stream. Returns false when the handshake failed (the socket is then closed).
    boost::asio::awaitable<bool> accept_starttls(std::shared_ptr<boost::asio::ssl::context> context);
    // TLS as the client side (outgoing server streams), with `server_name` as SNI. Certificates are judged by the
    // caller afterwards (tls_handle()).
    boost::asio::awaitable<bool> start_tls_client(std::shared_ptr<boost::asio::ssl::context> context,
                                                  const std::string& server_name);
    // The OpenSSL connection once TLS is on, else null.
    SSL* tls_handle() const { return transport_ ? transport_->tls_handle() : tls_ ? tls_->native() : nullptr; }
    bool tls_active() const { return transport_ ? transport_->secure() : tls_ != nullptr; }
    // Whether the stream is framed in messages (WebSocket): no STARTTLS, no whitespace, <open/> and <close/>.
    bool framed() const { return transport_ != nullptr; }
    // The TCP socket (under TLS, if any: an outgoing stream connects it; nothing else should touch it).
    tcp::socket& raw_socket();
    // Takes a newly connected socket in (accepted, or after an outgoing connect): the peer's address, no Nagle.
    void socket_connected();
    // Counts as activity for the idle timeout (an outgoing stream sending stanzas is not idle).
    void touch() { last_activity_ = std::chrono::steady_clock::now(); }
    // The next stream on this connection starts after the current batch of events (STARTTLS, SASL success).
    void restart_stream() { restart_stream_ = true; }
    void mark_header_sent() { header_sent_ = true; }
    // Drops the connection without a closing handshake (a failed TLS handshake, say).
    void close_socket();

    boost::asio::any_io_executor executor_;
    const limits_config& limits_;
    std::string peer_address_;
    bool closing_ = false;
    bool socket_closed_ = false;

private:
    boost::asio::awaitable<void> reader();
    // The reader's and writer's loops over a message transport.
    boost::asio::awaitable<void> read_messages();
    boost::asio::awaitable<boost::system::error_code> write_messages(const std::vector<shared_bytes>& batch);
    // What a parser fed `bytes` did: events handled, a restart or an error acted on.
    boost::asio::awaitable<void> parse(std::string_view bytes);
    boost::asio::awaitable<void> handle_event(xml::stream_event& event);
    boost::asio::awaitable<void> writer();
    boost::asio::awaitable<void> watchdog();
    // What the reader does once input is over, however it ended: close if not closing yet, on_disconnected()
    // (once), then let the writer flush and close the socket.
    boost::asio::awaitable<void> finish_input();
    // The failure actions of the three coroutines (an exception ended them).
    void reader_failed();
    void writer_failed();
    void watchdog_failed();

    std::string_view content_ns_;
    tcp::socket socket_;
    std::unique_ptr<tls_connection> tls_;  // on socket_, once TLS is on
    std::unique_ptr<message_transport> transport_;  // instead of socket_, when framed
    std::optional<websocket_framing::outbound_splitter> framing_out_;
    bool framed_open_ = false;  // the client's <open/> for the current stream has come
    std::shared_ptr<boost::asio::ssl::context> tls_context_;

    xml::stream_parser parser_;
    bool restart_stream_ = false;
    bool header_sent_ = false;
    bool disconnected_ = false;  // on_disconnected() has been called
    bool peer_closed_ = false;
    std::string close_condition_;

    // Queued, not yet taken by the writer, which takes it whole (a deque would keep a 512-byte node for the life
    // of an idle connection). outbox_bytes_ counts what is queued or being written.
    std::vector<shared_bytes> outbox_;
    std::size_t outbox_bytes_ = 0;
    bool writing_ = false;
    boost::asio::steady_timer writer_wake_;
    boost::asio::steady_timer flushed_;
    boost::asio::steady_timer watchdog_timer_;
    std::chrono::steady_clock::time_point connected_at_;
    std::chrono::steady_clock::time_point last_activity_;
    std::chrono::steady_clock::time_point close_deadline_;
};

}  // namespace hush
