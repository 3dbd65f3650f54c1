#pragma once
// The HTTP endpoint (Boost.Beast), on the `http` listener (127.0.0.1:5280 by default):
//   GET  /blocklist.xml   the server-wide blocklist for other servers (ETag/If-None-Match, Last-Modified); which
//                         sources it publishes and whether JIDs are hashed is [antispim.publish]
//   GET  /metrics         Prometheus text: verdicts per policy, registrations, consensus, outbound protection, evictions from
//                         bounded defence state, held requests, sessions, connections, S2S streams, blocklist size
//   /api/...              the admin REST API (server/http/admin_api.hpp), bearer token (hushctl token create NAME)
//   GET  /admin, /admin/admin.{js,css}   the admin page (no data in it: it asks for a token and calls the API)
//   GET  /.well-known/host-meta[.json]    XEP-0156 discovery of the WebSocket endpoint (server/http/discovery.hpp)
//        /xmpp-websocket                  RFC 7395 XMPP over WebSocket (server/websocket/)
//        /upload/...                      XEP-0363 file uploads and downloads (server/upload/upload_http.hpp), when [upload] is on
// On the https listener the same over TLS (http_connection.cpp). Every read has a byte limit and a deadline; bad
// input gets a 4xx with a JSON message.
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "antispim/content_service.hpp"
#include "antispim/chain.hpp"
#include "server/http/admin_api.hpp"
#include "antispim/blocklist_service.hpp"
#include "antispim/recent_verdicts.hpp"
#include "server/http/http_util.hpp"
#include "server/pipeline/server_context.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/websocket/websocket_endpoint.hpp"

namespace hush {

class consensus;
class outbound_guard;
namespace antispim {
class challenge_evidence;
}

// What /metrics counts besides the router, the chain and the registries; a null or empty one is not there.
struct metrics_sources {
    const consensus* consensus_state = nullptr;
    const outbound_guard* outbound_state = nullptr;
    const antispim::challenge_evidence* evidence = nullptr;
    const antispim::content_service* content = nullptr;
    std::function<std::size_t()> s2s_streams;  // outgoing server-to-server streams
    std::function<std::size_t()> caps_vers;    // XEP-0115 vers whose verified features are cached
};

class upload_service;

class http_api {
public:
    // `muc`: the MUC service for the admin API's /api/muc/ endpoints; null when [muc] has no service.
    // `upload`: XEP-0363's files under /upload/ (server/upload/upload_http.hpp); null when [upload] is off.
    http_api(server_context& ctx, blocklist_service& blocklist, antispim::chain& chain,
             const recent_verdicts& verdicts, metrics_sources sources, muc_service* muc = nullptr,
             upload_service* upload = nullptr);

    // Serves one connection (keep-alive) until the peer closes, errs or idles out, or hands it to a WebSocket
    // session; `tls`: the https listener's connection, TLS first (http_connection.cpp).
    boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, bool tls, std::shared_ptr<void> slot);
    // A slot for one HTTP connection from `address` (at most [limits] max_connections_per_ip at once; a trusted
    // proxy is not counted, its clients are limited where they count: WebSocket sessions), or null when it is over.
    std::shared_ptr<void> admit(const std::string& address);

    // The blocklist document, and its ETag (for tests and hushctl alike).
    struct document {
        std::string body;
        std::string etag;
        std::string last_modified;  // HTTP-date
    };
    document blocklist_document() const;
    // `held_requests`: senders with stanzas held for a receiver (read from storage by the caller).
    std::string metrics_text(std::int64_t held_requests) const;

private:
    template <class Stream>
    boost::asio::awaitable<void> serve_connection(Stream stream, std::string peer, bool tls,
                                                  std::shared_ptr<boost::asio::ssl::context> keep = nullptr);
    // The answer to one request read whole, from `who`.
    boost::asio::awaitable<http_util::response> respond(http_util::request& req, const websocket::client& from);

    server_context& ctx_;
    connection_tracker http_connections_;  // HTTP connections per IP; an upgraded one counts with XMPP's instead
    blocklist_service& blocklist_;
    antispim::chain& chain_;
    admin_api admin_;
    metrics_sources sources_;
    upload_service* upload_;
};

}  // namespace hush
