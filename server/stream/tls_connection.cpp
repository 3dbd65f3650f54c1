#include "server/stream/tls_connection.hpp"

#include <openssl/err.h>

#include <cerrno>
#include <csignal>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hush {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// OpenSSL writes to the descriptor with write(2), which raises SIGPIPE when the peer has gone (Asio's own sends
// pass MSG_NOSIGNAL). A server ignores SIGPIPE and reads EPIPE instead.
void ignore_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

tls_connection::tls_connection(SSL_CTX* context, asio::ip::tcp::socket& socket, role r, const char* server_name)
    : ssl_(SSL_new(context)) {
    ignore_sigpipe();
    if (!ssl_) {
        return;
    }
    error_code ignored;
    socket.non_blocking(true, ignored);
    SSL_set_fd(ssl_.get(), static_cast<int>(socket.native_handle()));
    if (r == role::server) {
        SSL_set_accept_state(ssl_.get());
    } else {
        SSL_set_connect_state(ssl_.get());
        if (server_name != nullptr) {
            SSL_set_tlsext_host_name(ssl_.get(), server_name);  // RFC 6120 §13.7.1.2
        }
    }
}

asio::awaitable<error_code> tls_connection::wait_or_fail(asio::ip::tcp::socket& socket, int result, bool& retry) {
    retry = false;
    const int reason = SSL_get_error(ssl_.get(), result);
    if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
        auto [ec] = co_await socket.async_wait(reason == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                                                            : asio::socket_base::wait_write,
                                               tuple_awaitable);
        retry = !ec;
        co_return ec;
    }
    if (reason == SSL_ERROR_ZERO_RETURN) {
        co_return asio::error::eof;  // close_notify
    }
    if (reason == SSL_ERROR_SYSCALL) {
        const unsigned long queued = ERR_get_error();
        if (queued != 0) {
            co_return error_code(static_cast<int>(queued), asio::error::get_ssl_category());
        }
        // No close_notify: the peer dropped the connection (errno 0), or the socket failed.
        co_return errno != 0 ? error_code(errno, boost::system::system_category()) : error_code(asio::error::eof);
    }
    const unsigned long queued = ERR_get_error();
    co_return queued != 0 ? error_code(static_cast<int>(queued), asio::error::get_ssl_category())
                          : error_code(asio::error::connection_aborted);
}

asio::awaitable<error_code> tls_connection::handshake(asio::ip::tcp::socket& socket) {
    if (!ssl_) {
        co_return asio::error::no_memory;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int result = SSL_do_handshake(ssl_.get());
        if (result == 1) {
            co_return error_code{};
        }
        bool retry = false;
        const error_code ec = co_await wait_or_fail(socket, result, retry);
        if (!retry) {
            co_return ec;
        }
    }
}

asio::awaitable<std::pair<error_code, std::size_t>> tls_connection::read_some(asio::ip::tcp::socket& socket,
                                                                            asio::mutable_buffer buffer) {
    for (;;) {
        std::size_t n = 0;
        ERR_clear_error();
        errno = 0;
        const int result = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
        if (result == 1) {
            co_return std::pair{error_code{}, n};
        }
        bool retry = false;
        const error_code ec = co_await wait_or_fail(socket, result, retry);
        if (!retry) {
            co_return std::pair{ec, std::size_t{0}};
        }
    }
}

asio::awaitable<error_code> tls_connection::write(asio::ip::tcp::socket& socket, asio::const_buffer buffer) {
    const char* data = static_cast<const char*>(buffer.data());
    std::size_t left = buffer.size();
    while (left > 0) {
        std::size_t n = 0;
        ERR_clear_error();
        errno = 0;
        // A retry after WANT_WRITE passes the same bytes again, as OpenSSL requires.
        const int result = SSL_write_ex(ssl_.get(), data, left, &n);
        if (result == 1) {
            data += n;
            left -= n;
            continue;
        }
        bool retry = false;
        const error_code ec = co_await wait_or_fail(socket, result, retry);
        if (!retry) {
            co_return ec;
        }
    }
    co_return error_code{};
}

}  // namespace hush
