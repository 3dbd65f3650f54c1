#pragma once
// A connection that carries whole messages instead of a byte stream: XMPP over WebSocket (RFC 7395), implemented
// in server/websocket/. An xmpp_stream on one translates at the edge (protocol/websocket_framing.hpp) and keeps
// everything else — parser, limits, watchdog, outbox — as on TCP. Only the stream's own coroutines call it: one
// read and one write may be pending at once.
#include <functional>
#include <string>

#include <openssl/ssl.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace hush {

class message_transport {
public:
    virtual ~message_transport() = default;

    virtual boost::asio::any_io_executor executor() = 0;
    // The next whole message; `text` false for a binary one. A message over the limit the transport was made with
    // fails the read (and the transport answers with its own "too big" close).
    virtual boost::asio::awaitable<boost::system::error_code> read(std::string& message, bool& text) = 0;
    virtual boost::asio::awaitable<boost::system::error_code> write(const std::string& message) = 0;
    // The transport's closing handshake after the last write, then the connection closes.
    virtual boost::asio::awaitable<void> close() = 0;
    // Drops the connection at once (a peer that does not read, a failed coroutine).
    virtual void abort() = 0;
    // Called on traffic that is not a message (pings, pongs): the peer is alive.
    virtual void on_activity(std::function<void()> callback) = 0;

    // The client's address (behind a trusted proxy, the one it forwarded).
    virtual const std::string& peer_address() const = 0;
    // Whether the client's connection is encrypted: TLS here, or TLS at a trusted proxy.
    virtual bool secure() const = 0;
    // Our TLS connection when it is ours (channel binding), else null.
    virtual SSL* tls_handle() const = 0;
};

}  // namespace hush
