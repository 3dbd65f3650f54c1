#pragma once
// XEP-0156 connection discovery: /.well-known/host-meta (XRD) and host-meta.json, listing the WebSocket endpoint
// for browser clients that know only the JID's domain. Public documents: any origin may read them (CORS *).
#include <string>

#include "server/config/config.hpp"
#include "server/http/http_util.hpp"

namespace hush::discovery {

// Whether `path` is one of the documents.
bool handles(std::string_view path);

// The base URL browsers reach us at: [http] public_url, else the scheme and the Host the client asked for; empty
// when that host is missing or not a plausible host[:port].
std::string base_url(const config& cfg, std::string_view host, bool secure);

// The answer for `req` (GET, HEAD or the CORS preflight OPTIONS) at `path`; `host` and `secure` as for base_url.
http_util::response respond(const config& cfg, const http_util::request& req, std::string_view path,
                            std::string_view host, bool secure);

}  // namespace hush::discovery
