#pragma once
// The HTTP endpoint (Boost.Beast), on the `http` listener (127.0.0.1:5280 by default):
//   GET  /blocklist.xml                 the server-wide blocklist for other servers (ETag/If-None-Match, Last-Modified)
//   GET  /metrics                       Prometheus text: verdicts per policy, connections, S2S streams, blocklist size
//   GET  /api/blocklist                 the entries as JSON                        } bearer token
//   POST /api/blocklist                 add one: {"kind","value","reason",...}     } (hushctl token create NAME)
//   DELETE /api/blocklist/KIND/VALUE    remove one                                 }
// Every read has a byte limit and a deadline; bad input gets a 4xx with a JSON message.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "antispim/chain.hpp"
#include "server/blocklist_service.hpp"
#include "server/server_context.hpp"

namespace hush {

class s2s_manager;

class http_api {
public:
    http_api(server_context& ctx, blocklist_service& blocklist, antispim::chain& chain);

    // Serves one connection (keep-alive) until the peer closes, errs or idles out.
    boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

    // The blocklist document, and its ETag (for tests and hushctl alike).
    struct document {
        std::string body;
        std::string etag;
        std::string last_modified;  // HTTP-date
    };
    document blocklist_document() const;
    std::string metrics_text() const;

private:
    server_context& ctx_;
    blocklist_service& blocklist_;
    antispim::chain& chain_;
};

}  // namespace hush
