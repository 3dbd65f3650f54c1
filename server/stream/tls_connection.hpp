#pragma once
// TLS on a stream's own socket without Asio's ssl::stream: OpenSSL reads and writes the socket's descriptor
// directly (SSL_set_fd), and Asio only says when the socket is ready (async_wait). ssl::stream keeps two 17 KiB
// engine buffers and a 2×17 KiB BIO pair resident for the life of every connection; here an idle connection
// holds only OpenSSL's own state, whose record buffers SSL_MODE_RELEASE_BUFFERS frees between records.
//
// One reader and one writer coroutine of the same stream may use it at once (they interleave only at their
// suspension points, on the stream's one thread), as OpenSSL allows for non-blocking I/O.
#include <memory>
#include <utility>

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace hush {

class tls_connection {
public:
    enum class role { server, client };

    // A connection on `socket`, which is made non-blocking; `server_name` (client role only) goes out as SNI.
    // Null SSL (native() == nullptr) when OpenSSL cannot make one (out of memory).
    tls_connection(SSL_CTX* context, boost::asio::ip::tcp::socket& socket, role r, const char* server_name = nullptr);

    SSL* native() const { return ssl_.get(); }

    boost::asio::awaitable<boost::system::error_code> handshake(boost::asio::ip::tcp::socket& socket);
    // Up to `buffer.size()` bytes; eof when the peer closed (with or without close_notify).
    boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
        boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer);
    // All of `buffer`, as one or more records.
    boost::asio::awaitable<boost::system::error_code> write(boost::asio::ip::tcp::socket& socket,
                                                            boost::asio::const_buffer buffer);

private:
    // What to do after OpenSSL returned `result`: nullopt-like "retry" (after waiting for the socket as OpenSSL
    // asked) or the error that ends the operation.
    boost::asio::awaitable<boost::system::error_code> wait_or_fail(boost::asio::ip::tcp::socket& socket, int result,
                                                                   bool& retry);

    struct ssl_free {
        void operator()(SSL* s) const { SSL_free(s); }
    };
    std::unique_ptr<SSL, ssl_free> ssl_;
};

}  // namespace hush
