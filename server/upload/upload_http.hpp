#pragma once
// XEP-0363, the HTTP side: /upload/<id>/<name> on the http(s) listener. A slot's PUT (its bearer secret, once,
// before its deadline, exactly its size and type; the body streamed to disk, never held in memory), the stored
// file's GET and HEAD (single ranges, caching, and headers that keep user content from running script on this
// origin), and CORS for browser clients. server/http's endpoint reads a request's head and hands it here.
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "server/upload/upload_service.hpp"

namespace hush {

// Whether `path` (no query) belongs to the upload endpoint: "/upload/" prefix.
bool upload_handles(std::string_view path);

// Serves one request whose head `header` has been read from `stream` (with `buffer`); reads a PUT's body itself.
// Writes the response. Returns whether the connection may be kept alive. `peer` is the client's address (logs).
template <class Stream>
boost::asio::awaitable<bool> serve_upload(upload_service& service, Stream& stream, boost::beast::flat_buffer& buffer,
                                          boost::beast::http::request_parser<boost::beast::http::empty_body>& header,
                                          std::string peer);

extern template boost::asio::awaitable<bool> serve_upload<boost::beast::tcp_stream>(
    upload_service&, boost::beast::tcp_stream&, boost::beast::flat_buffer&,
    boost::beast::http::request_parser<boost::beast::http::empty_body>&, std::string);
extern template boost::asio::awaitable<bool> serve_upload<boost::beast::ssl_stream<boost::beast::tcp_stream>>(
    upload_service&, boost::beast::ssl_stream<boost::beast::tcp_stream>&, boost::beast::flat_buffer&,
    boost::beast::http::request_parser<boost::beast::http::empty_body>&, std::string);

}  // namespace hush
