#pragma once
// One XML stream over TCP (and TLS), whatever is on the other end — a client today, a peer server for federation:
// a reader coroutine (bytes → parser → the derived class's handle_event), a writer coroutine (the only one that
// writes to the socket, draining a bounded outbox) and a watchdog (negotiation, idle and close deadlines). Only
// these coroutines own the stream; registries hold weak references. begin_close() is the one way down.
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/stream_parser.hpp"
#include "server/config.hpp"
#include "server/session.hpp"

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
    ~xmpp_stream() override = default;

    // What the derived stream does.
    virtual boost::asio::awaitable<bool> on_connected() = 0;  // false: close at once (e.g. a failed TLS handshake)
    virtual boost::asio::awaitable<void> handle_event(xml::stream_event& event) = 0;
    virtual bool negotiated() const = 0;                      // past the negotiation deadline's reach
    virtual void on_close_begun() {}                          // e.g. leave the session registry
    virtual boost::asio::awaitable<void> on_disconnected() { co_return; }
    virtual std::string log_name() const = 0;                 // "c2s 127.0.0.1 alice@example.org/phone"

    void send(std::string bytes);
    void enqueue(shared_bytes bytes);
    void begin_close(std::optional<stream_error> error);
    // Waits until everything queued has been written (before a TLS handshake, say).
    boost::asio::awaitable<void> wait_flushed();
    // TLS as the server side of the handshake with `context` (kept alive as long as the stream).
    boost::asio::awaitable<bool> start_tls_server(std::shared_ptr<boost::asio::ssl::context> context);
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
    boost::asio::awaitable<void> writer();
    boost::asio::awaitable<void> watchdog();
    tcp::socket& raw_socket();

    std::string_view content_ns_;
    tcp::socket socket_;
    std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> tls_;
    std::shared_ptr<boost::asio::ssl::context> tls_context_;

    xml::stream_parser parser_;
    bool restart_stream_ = false;
    bool header_sent_ = false;

    std::deque<shared_bytes> outbox_;
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
