#include "server/http/discovery.hpp"

#include <boost/json.hpp>

#include "protocol/stanza.hpp"

namespace hush::discovery {

namespace http = boost::beast::http;
using namespace http_util;

namespace {

constexpr std::string_view xrd_path = "/.well-known/host-meta";
constexpr std::string_view json_path = "/.well-known/host-meta.json";
constexpr std::string_view websocket_rel = "urn:xmpp:alt-connections:websocket";

bool plausible_host(std::string_view host) {
    if (host.empty() || host.size() > 255) {
        return false;
    }
    for (const char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '.' || c == ':' || c == '[' || c == ']';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void allow_any_origin(response& res) {
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::cache_control, "max-age=3600");
}

}  // namespace

bool handles(std::string_view path) { return path == xrd_path || path == json_path; }

std::string base_url(const config& cfg, std::string_view host, bool secure) {
    if (!cfg.http.public_url.empty()) {
        return cfg.http.public_url;
    }
    if (!plausible_host(host)) {
        return {};
    }
    return std::string(secure ? "https://" : "http://") + std::string(host);
}

response respond(const config& cfg, const request& req, std::string_view path, std::string_view host, bool secure) {
    if (req.method() == http::verb::options) {
        response res = make_response(req, http::status::no_content, "", "text/plain");
        allow_any_origin(res);
        res.set(http::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
        res.set(http::field::access_control_max_age, "86400");
        return res;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        return json_error(req, http::status::method_not_allowed, "only GET here");
    }
    std::string websocket_url;
    if (cfg.websocket.enabled) {
        const std::string base = base_url(cfg, host, secure);
        if (base.empty()) {
            return json_error(req, http::status::bad_request, "a Host header (host[:port]) is required");
        }
        // https://x/prefix -> wss://x/prefix/xmpp-websocket
        websocket_url = (base.starts_with("https://") ? "wss://" + base.substr(8) : "ws://" + base.substr(7)) +
                        "/xmpp-websocket";
    }
    response res;
    if (path == json_path) {
        boost::json::array links;
        if (!websocket_url.empty()) {
            links.push_back(boost::json::object{{"rel", websocket_rel}, {"href", websocket_url}});
        }
        res = json_response(req, http::status::ok, boost::json::object{{"links", std::move(links)}});
    } else {
        std::string body =
            "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n";
        if (!websocket_url.empty()) {
            body += "  <Link rel='" + std::string(websocket_rel) + "' href='" + xml_escape(websocket_url) + "'/>\n";
        }
        body += "</XRD>\n";
        res = make_response(req, http::status::ok, std::move(body), "application/xrd+xml; charset=utf-8");
    }
    allow_any_origin(res);
    if (cfg.http.public_url.empty()) {
        res.set(http::field::vary, "Host");  // the link names the host asked for: a cache must keep them apart
    }
    if (req.method() == http::verb::head) {
        const auto length = res.body().size();
        res.body().clear();
        res.content_length(length);
    }
    return res;
}

}  // namespace hush::discovery
