#include "server/app/listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "server/c2s/c2s_session.hpp"
#include "server/http/http_api.hpp"
#include "server/s2s/s2s_incoming.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/stream/supervised.hpp"

namespace hush {

namespace asio = boost::asio;
using asio::ip::tcp;

listener::listener(asio::any_io_executor executor, const listener_config& where, server_context& ctx,
                   s2s_manager& federation, http_api& http, executor_picker pick)
    : acceptor_(executor), where_(where), ctx_(ctx), federation_(federation), http_(http), pick_(std::move(pick)) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(where.address, ec);
    if (ec) {
        throw std::runtime_error("listen address '" + where.address + "' is not an IP address");
    }
    const tcp::endpoint endpoint(address, where.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
        acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error("cannot listen on " + where.address + ":" + std::to_string(where.port) + ": " +
                                 ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
}

std::string_view listener::kind_name() const {
    using kind = listener_config::kind;
    switch (where_.type) {
    case kind::c2s_starttls:
        return "c2s";
    case kind::c2s_direct_tls:
        return "c2s_direct_tls";
    case kind::s2s_starttls:
        return "s2s";
    case kind::s2s_direct_tls:
        return "s2s_direct_tls";
    case kind::http:
        return "http";
    case kind::https:
        return "https";
    }
    return "unknown";
}

void listener::start() {
    // Restarted should it fail: a listener that stops accepting would leave its port dead until a restart.
    spawn_supervised_loop(
        acceptor_.get_executor(), fmt::format("accept loop on {}:{}", where_.address, port_),
        [this] { return accept_loop(); }, [this] { return acceptor_.is_open(); }, std::chrono::seconds(1));
}

void listener::stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

asio::awaitable<void> listener::accept_loop() {
    const bool direct_tls = where_.is_direct_tls();
    const bool s2s = where_.is_s2s();
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(pick_(), asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
                break;
            }
            // Out of descriptors and the like: log, back off briefly, keep serving.
            spdlog::warn("accept on {}:{} failed: {}", where_.address, port_, ec.message());
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        if (where_.is_http()) {
            auto executor = socket.get_executor();
            boost::system::error_code ep_ec;
            const auto peer = socket.remote_endpoint(ep_ec);
            const std::string from = ep_ec ? "unknown" : address_text(peer.address());
            auto slot = http_.admit(from);
            if (!slot) {
                // Too many at once from one address (slow headers, idle keep-alives): no answer, the socket closes.
                spdlog::warn("http {}: refused, over max_connections_per_ip ({})", from,
                             ctx_.cfg.limits.max_connections_per_ip);
                continue;
            }
            // A failure ends this one connection (its socket closes with the coroutine); logged, nothing more.
            const bool tls = where_.type == listener_config::kind::https;
            spawn_supervised(executor, std::string(tls ? "https" : "http") + " connection from " + from,
                             http_.serve(std::move(socket), tls, std::move(slot)));
            continue;
        }
        boost::system::error_code ep_ec;
        const auto peer = socket.remote_endpoint(ep_ec);
        const std::string address = ep_ec ? "unknown" : address_text(peer.address());
        auto slot = ctx_.connections.admit(address);
        if (!slot) {
            spdlog::warn("{} {}: refused, over max_connections_per_ip ({})", s2s ? "s2s-in" : "c2s", address,
                         ctx_.cfg.limits.max_connections_per_ip);
            if (!direct_tls) {
                // Tell a plain-text peer why; a direct-TLS peer only sees the connection close.
                const std::string refusal =
                    std::string("<?xml version='1.0'?><stream:stream xmlns='") + (s2s ? "jabber:server" : "jabber:client") +
                    "' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:error>"
                    "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too many connections from your address</text>"
                    "</stream:error></stream:stream>";
                boost::system::error_code wec;
                socket.non_blocking(true, wec);
                asio::write(socket, asio::buffer(refusal), wec);  // best effort, never blocks the loop
            }
            continue;
        }
        if (s2s) {
            std::make_shared<s2s_incoming_stream>(std::move(socket), direct_tls, ctx_, federation_, std::move(slot))
                ->start();
        } else {
            std::make_shared<c2s_session>(std::move(socket), direct_tls, ctx_, std::move(slot))->start();
        }
    }
}

}  // namespace hush
