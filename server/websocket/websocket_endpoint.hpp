#pragma once
// The /xmpp-websocket endpoint (RFC 7395): whether an upgrade request may become a client session, and the session
// started on it. The HTTP side (server/http/) reads the request, asks admit(), writes a refusal itself, or hands the
// connection over to start_session().
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "server/pipeline/server_context.hpp"

namespace hush::websocket {

inline constexpr std::string_view path = "/xmpp-websocket";
inline constexpr std::string_view subprotocol = "xmpp";

using upgrade_request = boost::beast::http::request<boost::beast::http::empty_body>;

// Who is on the other end of the HTTP connection (after a trusted proxy's forwarding headers).
struct client {
    std::string address;
    bool secure = false;  // TLS to us, or to a trusted proxy that said so
    std::string host;     // the Host it asked for (a trusted proxy's X-Forwarded-Host, if any)
};

struct admission {
    std::shared_ptr<void> slot;  // the connection's per-IP slot when admitted
    boost::beast::http::status refusal = boost::beast::http::status::ok;
    std::string reason;  // why not, for the refusal's body
    bool admitted() const { return slot != nullptr; }
};

// The upgrade's checks: the xmpp subprotocol, the Origin, and a per-IP slot (counted with TCP clients).
admission admit(server_context& ctx, const upgrade_request& request, const client& who);

// Completes the WebSocket handshake on `stream` and runs a c2s_session on it (the session keeps the connection).
template <class Stream>
boost::asio::awaitable<void> start_session(server_context& ctx, Stream stream, upgrade_request request,
                                           client who, std::shared_ptr<void> slot);

extern template boost::asio::awaitable<void> start_session(server_context&, boost::beast::tcp_stream,
                                                           upgrade_request, client, std::shared_ptr<void>);
extern template boost::asio::awaitable<void> start_session(server_context&,
                                                           boost::beast::ssl_stream<boost::beast::tcp_stream>,
                                                           upgrade_request, client, std::shared_ptr<void>);

}  // namespace hush::websocket
