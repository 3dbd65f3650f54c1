#pragma once
// message_transport over Beast's WebSocket stream, on plain TCP (behind a trusted proxy) or on TLS (wss://).
// Beast answers pings and reads control frames itself; the stream's watchdog, not Beast's timers, decides when a
// silent client has gone (one idle rule for TCP and WebSocket).
#include <functional>
#include <string>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "server/stream/message_transport.hpp"

namespace hush::websocket {

template <class Stream>
class websocket_transport final : public message_transport {
public:
    using ws_stream = boost::beast::websocket::stream<Stream>;

    websocket_transport(ws_stream ws, std::string peer_address, bool secure)
        : ws_(std::move(ws)), peer_address_(std::move(peer_address)), secure_(secure) {}

    boost::asio::any_io_executor executor() override { return ws_.get_executor(); }

    boost::asio::awaitable<boost::system::error_code> read(std::string& message, bool& text) override {
        boost::beast::flat_buffer buffer;  // per read: an idle connection keeps no read buffer of its own
        auto [ec, n] = co_await ws_.async_read(buffer, boost::asio::as_tuple(boost::asio::use_awaitable));
        if (ec) {
            co_return ec;
        }
        text = ws_.got_text();
        message = boost::beast::buffers_to_string(buffer.data());
        co_return boost::system::error_code{};
    }

    boost::asio::awaitable<boost::system::error_code> write(const std::string& message) override {
        ws_.text(true);
        auto [ec, n] = co_await ws_.async_write(boost::asio::buffer(message),
                                                boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return ec;
    }

    boost::asio::awaitable<void> close() override {
        if (!ws_.is_open()) {
            co_return;
        }
        co_await ws_.async_close(boost::beast::websocket::close_code::normal,
                                 boost::asio::as_tuple(boost::asio::use_awaitable));
    }

    void abort() override {
        boost::beast::get_lowest_layer(ws_).close();
    }

    void on_activity(std::function<void()> callback) override {
        ws_.control_callback([callback = std::move(callback)](boost::beast::websocket::frame_type,
                                                              boost::beast::string_view) { callback(); });
    }

    const std::string& peer_address() const override { return peer_address_; }
    bool secure() const override { return secure_; }

    SSL* tls_handle() const override {
        if constexpr (std::is_same_v<Stream, boost::beast::ssl_stream<boost::beast::tcp_stream>>) {
            return const_cast<ws_stream&>(ws_).next_layer().native_handle();
        } else {
            return nullptr;
        }
    }

private:
    ws_stream ws_;
    std::string peer_address_;
    bool secure_;
};

}  // namespace hush::websocket
