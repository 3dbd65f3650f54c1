// One HTTP connection on the http or https listener: TLS (https), the request head read under limits, then the
// request dispatched — a WebSocket upgrade becomes a client session, anything else is read whole and answered.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "server/http/http_api.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/stream/tls_context.hpp"
#include "server/upload/upload_http.hpp"
#include "server/websocket/websocket_endpoint.hpp"

namespace hush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace http_util;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t max_body = 64 * 1024;
constexpr std::size_t max_header = 8 * 1024;
constexpr std::chrono::seconds read_deadline{30};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// The value of the last `name` line: a proxy appends its own line (HAProxy's forwardfor), so earlier ones may be
// the client's own.
std::string_view last_line(const http::request_header<>& head, std::string_view name) {
    std::string_view value;
    for (auto [it, end] = head.equal_range(name); it != end; ++it) {
        value = it->value();
    }
    return value;
}

// The client behind the connection from `peer`: a trusted proxy's X-Forwarded-For (the last entry, the one the
// proxy added) and X-Forwarded-Proto are believed; nobody else's. The Host is the request's own (a proxy passes it
// on, or [http] public_url names it): X-Forwarded-Host is not believed, so that no client can choose the
// WebSocket URL discovery hands to others through a cache.
websocket::client client_of(const config& cfg, const std::string& peer, bool tls,
                            const http::request_header<>& head) {
    websocket::client who{peer, tls, std::string(head[http::field::host])};
    const auto& proxies = cfg.http.trusted_proxies;
    if (std::find(proxies.begin(), proxies.end(), peer) == proxies.end()) {
        return who;
    }
    std::string_view forwarded = last_line(head, "X-Forwarded-For");
    if (const auto comma = forwarded.rfind(','); comma != std::string_view::npos) {
        forwarded = forwarded.substr(comma + 1);
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(trim(forwarded), ec);
    if (!ec) {
        who.address = address_text(address);
    }
    if (trim(last_line(head, "X-Forwarded-Proto")) == "https") {
        who.secure = true;
    }
    return who;
}

template <class Stream>
void expires_after(Stream& stream, std::chrono::seconds d) {
    beast::get_lowest_layer(stream).expires_after(d);
}

template <class Stream>
asio::awaitable<void> shut_down(Stream& stream) {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
        expires_after(stream, std::chrono::seconds(5));
        co_await stream.async_shutdown(tuple_awaitable);
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

response text_refusal(unsigned version, http::status status, const std::string& reason) {
    request bad;
    bad.version(version);
    response res = json_error(bad, status, reason);
    res.keep_alive(false);
    return res;
}

}  // namespace

std::shared_ptr<void> http_api::admit(const std::string& address) {
    const auto& proxies = ctx_.cfg.http.trusted_proxies;
    if (std::find(proxies.begin(), proxies.end(), address) != proxies.end()) {
        return std::make_shared<int>(0);  // not counted: everyone behind the proxy comes from its address
    }
    return http_connections_.admit(address);
}

asio::awaitable<void> http_api::serve(asio::ip::tcp::socket socket, bool tls, std::shared_ptr<void> slot) {
    boost::system::error_code ep_ec;
    const auto endpoint = socket.remote_endpoint(ep_ec);
    const std::string peer = ep_ec ? "unknown" : address_text(endpoint.address());
    if (!tls) {
        co_await serve_connection(beast::tcp_stream(std::move(socket)), peer, false);
        co_return;
    }
    // The XMPP certificate, reloaded on SIGHUP: each connection takes the context current when it starts.
    auto context = ctx_.tls.current(tls_role::c2s_server);
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *context);
    expires_after(stream, read_deadline);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
    if (ec) {
        spdlog::debug("https {}: TLS handshake failed: {}", peer, ec.message());
        co_return;
    }
    co_await serve_connection(std::move(stream), peer, true, std::move(context));
}

template <class Stream>
asio::awaitable<void> http_api::serve_connection(Stream stream, std::string peer, bool tls,
                                                 std::shared_ptr<asio::ssl::context> keep) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::empty_body> head;
        head.header_limit(max_header);
        expires_after(stream, read_deadline);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, head, tuple_awaitable);
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
            break;
        }
        if (ec) {
            response res = text_refusal(11, ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                                           : http::status::bad_request,
                                        "bad request: " + ec.message());
            co_await http::async_write(stream, res, tuple_awaitable);
            break;
        }
        const websocket::client who = client_of(ctx_.cfg, peer, tls, head.get());
        const std::string path(path_of(head.get().target()));
        if (path == websocket::path && beast::websocket::is_upgrade(head.get())) {
            if (!ctx_.cfg.websocket.enabled) {
                response res = text_refusal(head.get().version(), http::status::not_found, "no such resource");
                co_await http::async_write(stream, res, tuple_awaitable);
                break;
            }
            auto admitted = websocket::admit(ctx_, head.get(), who);
            if (!admitted.admitted()) {
                response res = text_refusal(head.get().version(), admitted.refusal, admitted.reason);
                co_await http::async_write(stream, res, tuple_awaitable);
                break;
            }
            co_await websocket::start_session(ctx_, std::move(stream), head.release(), who, std::move(admitted.slot));
            co_return;  // the session owns the connection now
        }
        if (upload_ != nullptr && upload_handles(path)) {
            // An upload's body is the upload endpoint's to read: streamed to disk, with the slot's own limit.
            if (!co_await serve_upload(*upload_, stream, buffer, head, who.address)) {
                break;
            }
            continue;
        }
        if (head.content_length() && *head.content_length() > max_body) {
            // Refused from its Content-Length, before the client sends it.
            response res = text_refusal(head.get().version(), http::status::payload_too_large,
                                        "bad request: body limit exceeded");
            co_await http::async_write(stream, res, tuple_awaitable);
            break;
        }
        http::request_parser<http::string_body> parser(std::move(head));
        parser.body_limit(max_body);
        auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
        if (body_ec) {
            response res = text_refusal(11, body_ec == http::error::body_limit ? http::status::payload_too_large
                                                                               : http::status::bad_request,
                                        "bad request: " + body_ec.message());
            co_await http::async_write(stream, res, tuple_awaitable);
            break;
        }
        request req = parser.release();
        response res = co_await respond(req, who);
        const bool keep_alive = res.keep_alive();
        auto [wec, written] = co_await http::async_write(stream, res, tuple_awaitable);
        if (wec || !keep_alive) {
            break;
        }
    }
    co_await shut_down(stream);
}

}  // namespace hush
