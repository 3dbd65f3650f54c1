#include "server/websocket/websocket_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "server/c2s/c2s_session.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/websocket/websocket_transport.hpp"

namespace hush::websocket {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::chrono::seconds handshake_timeout{30};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// Whether the comma-separated Sec-WebSocket-Protocol list offers `xmpp`.
bool offers_xmpp(std::string_view list) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (item == subprotocol) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin) {
    const std::string o = lower(origin);
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const std::string& a) { return a == "*" || lower(a) == o; });
}

}  // namespace

admission admit(server_context& ctx, const upgrade_request& request, const client& who) {
    admission a;
    if (!offers_xmpp(request[http::field::sec_websocket_protocol])) {
        a.refusal = http::status::bad_request;
        a.reason = "XMPP over WebSocket needs the 'xmpp' subprotocol (RFC 7395 §3.1)";
        return a;
    }
    const auto origin = request[http::field::origin];
    if (!origin.empty() && !origin_allowed(ctx.cfg.websocket.allowed_origins, origin)) {
        spdlog::info("c2s-ws {}: refused, origin {} is not in [websocket] allowed_origins", who.address,
                     std::string(origin));
        a.refusal = http::status::forbidden;
        a.reason = "pages from this origin may not open XMPP sessions here";
        return a;
    }
    a.slot = ctx.connections.admit(who.address);
    if (!a.slot) {
        spdlog::warn("c2s-ws {}: refused, over max_connections_per_ip ({})", who.address,
                     ctx.cfg.limits.max_connections_per_ip);
        a.refusal = http::status::too_many_requests;
        a.reason = "too many connections from your address";
    }
    return a;
}

template <class Stream>
asio::awaitable<void> start_session(server_context& ctx, Stream stream, upgrade_request request, client who,
                                    std::shared_ptr<void> slot) {
    beast::get_lowest_layer(stream).expires_never();  // the WebSocket's own timeout option takes over
    beast::websocket::stream<Stream> ws(std::move(stream));
    beast::websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = handshake_timeout;
    timeouts.idle_timeout = beast::websocket::stream_base::none();  // the stream's watchdog decides
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    ws.set_option(beast::websocket::stream_base::decorator([](beast::websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, subprotocol);
        res.set(http::field::server, "hush");
    }));
    // One stanza per message (RFC 7395 §3.3.3): a message over the stanza limit is closed with 1009.
    ws.read_message_max(ctx.cfg.limits.max_stanza_bytes);
    ws.auto_fragment(false);
    auto [ec] = co_await ws.async_accept(request, asio::as_tuple(asio::use_awaitable));
    if (ec) {
        spdlog::info("c2s-ws {}: WebSocket handshake failed: {}", who.address, ec.message());
        co_return;
    }
    auto transport = std::make_unique<websocket_transport<Stream>>(std::move(ws), who.address, who.secure);
    std::make_shared<c2s_session>(std::move(transport), ctx, std::move(slot))->start();
}

template asio::awaitable<void> start_session(server_context&, beast::tcp_stream, upgrade_request, client,
                                             std::shared_ptr<void>);
template asio::awaitable<void> start_session(server_context&, beast::ssl_stream<beast::tcp_stream>, upgrade_request,
                                             client, std::shared_ptr<void>);

}  // namespace hush::websocket
