#pragma once
// Accepts client connections on one address and hands each to a session on the next event-loop thread.
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/config/config.hpp"
#include "server/pipeline/server_context.hpp"

namespace hush {

class s2s_manager;
class http_api;

class listener {
public:
    using executor_picker = std::function<boost::asio::any_io_executor()>;

    // Binds at construction (throws std::runtime_error at start-up if the address is unusable). `federation`
    // is needed by s2s listeners (dialback verification), `http` by http listeners.
    listener(boost::asio::any_io_executor executor, const listener_config& where, server_context& ctx,
             s2s_manager& federation, http_api& http, executor_picker pick);

    void start();
    void stop();
    std::uint16_t port() const { return port_; }
    std::string_view kind_name() const;

private:
    boost::asio::awaitable<void> accept_loop();

    boost::asio::ip::tcp::acceptor acceptor_;
    listener_config where_;
    server_context& ctx_;
    s2s_manager& federation_;
    http_api& http_;
    executor_picker pick_;
    std::uint16_t port_ = 0;
};

}  // namespace hush
