#include "antispim/blocklist_import.hpp"

#include <algorithm>

#include <ctime>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <pugixml.hpp>

#include "antispim/blocklist.hpp"

namespace hush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace as = antispim;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t max_list_bytes = 4 * 1024 * 1024;

struct parsed_url {
    bool tls = false;
    std::string host;
    std::string port;
    std::string authority;
    std::string target;
};

std::optional<parsed_url> parse_url(const std::string& url) {
    parsed_url out;
    std::string rest;
    if (url.starts_with("https://")) {
        out.tls = true;
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else {
        return std::nullopt;
    }
    const auto slash = rest.find('/');
    out.authority = rest.substr(0, slash);
    out.target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto bracket = out.authority.find(']');
    const auto colon = out.authority.rfind(':');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
        out.host = out.authority.substr(0, colon);
        out.port = out.authority.substr(colon + 1);
    } else {
        out.host = out.authority;
        out.port = out.tls ? "443" : "80";
    }
    if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
        out.host = out.host.substr(1, out.host.size() - 2);
    }
    if (out.host.empty()) {
        return std::nullopt;
    }
    return out;
}

template <class Stream>
asio::awaitable<hush::expected<fetched_list, std::string>> exchange(Stream& stream, const parsed_url& u,
                                                                    const std::string& etag) {
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    req.set(http::field::host, u.authority);
    req.set(http::field::user_agent, "Hush blocklist importer");
    if (!etag.empty()) {
        req.set(http::field::if_none_match, etag);
    }
    auto [wec, written] = co_await http::async_write(stream, req, tuple_awaitable);
    if (wec) {
        co_return hush::unexpected<std::string>("cannot send the request: " + wec.message());
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_list_bytes);
    auto [rec, read] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    if (rec) {
        co_return hush::unexpected<std::string>("cannot read the answer: " + rec.message());
    }
    auto res = parser.release();
    fetched_list out;
    out.status = res.result_int();
    out.etag = std::string(res[http::field::etag]);
    out.body = std::move(res.body());
    co_return out;
}

}  // namespace

asio::awaitable<hush::expected<fetched_list, std::string>> fetch_list(std::string url, std::string etag,
                                                                      std::filesystem::path extra_ca_file,
                                                                      std::chrono::seconds timeout) {
    const auto u = parse_url(url);
    if (!u) {
        co_return hush::unexpected<std::string>("not an http:// or https:// URL");
    }
    const auto executor = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(executor);
    auto [rec, results] = co_await resolver.async_resolve(u->host, u->port, tuple_awaitable);
    if (rec) {
        co_return hush::unexpected<std::string>("cannot resolve " + u->host + ": " + rec.message());
    }
    if (!u->tls) {
        beast::tcp_stream stream(executor);
        stream.expires_after(timeout);
        auto [cec, endpoint] = co_await stream.async_connect(results, tuple_awaitable);
        if (cec) {
            co_return hush::unexpected<std::string>("cannot connect: " + cec.message());
        }
        co_return co_await exchange(stream, *u, etag);
    }
    asio::ssl::context tls(asio::ssl::context::tls_client);
    boost::system::error_code ignored;
    tls.set_default_verify_paths(ignored);
    if (!extra_ca_file.empty()) {
        boost::system::error_code ca_ec;
        tls.load_verify_file(extra_ca_file.string(), ca_ec);
        if (ca_ec) {
            co_return hush::unexpected<std::string>("cannot load " + extra_ca_file.string() + ": " + ca_ec.message());
        }
    }
    tls.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
    stream.set_verify_callback(asio::ssl::host_name_verification(u->host));
    if (SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str()) != 1) {
        co_return hush::unexpected<std::string>("cannot set the TLS server name");
    }
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [cec, endpoint] = co_await beast::get_lowest_layer(stream).async_connect(results, tuple_awaitable);
    if (cec) {
        co_return hush::unexpected<std::string>("cannot connect: " + cec.message());
    }
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
    if (hec) {
        co_return hush::unexpected<std::string>("TLS handshake failed: " + hec.message());
    }
    auto got = co_await exchange(stream, *u, etag);
    auto [sec] = co_await stream.async_shutdown(tuple_awaitable);  // a peer that just closes is fine too
    (void)sec;
    co_return got;
}

hush::expected<std::vector<storage::blocklist_entry>, std::string> parse_blocklist_import(
    const std::string& format, const std::string& body, const std::string& url, std::int64_t now,
    const std::vector<std::string>& evidence) {
    std::vector<storage::blocklist_entry> out;
    auto add = [&](const std::string& kind, const std::string& value, std::string reason, std::int64_t expires,
                   std::string_view published_evidence = "unknown", std::string_view trust = "block") {
        if (!evidence.empty() && std::find(evidence.begin(), evidence.end(), published_evidence) == evidence.end()) {
            return;  // evidence this importer does not act on
        }
        auto normalized = as::normalize_blocklist_value(kind, value);
        if (!normalized) {
            return;  // one bad line must not cost the rest of the list
        }
        storage::blocklist_entry e;
        e.kind = kind;
        e.value = *normalized;
        e.reason = std::move(reason);
        e.source = "import:" + url;
        e.added_at = now;
        e.expires_at = expires;
        e.trust = trust == "greylist" || trust == "challenge" ? std::string(trust) : "block";
        out.push_back(std::move(e));
    };
    if (format == "domains") {
        std::istringstream in(body);
        std::string line;
        while (std::getline(in, line)) {
            const auto hash = line.find('#');
            line = line.substr(0, hash);
            const auto b = line.find_first_not_of(" \t\r");
            const auto e = line.find_last_not_of(" \t\r");
            if (b != std::string::npos) {
                add("domain", line.substr(b, e - b + 1), "listed by " + url, 0);
            }
        }
        return out;
    }
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size())) {
        return hush::unexpected<std::string>("not well-formed XML");
    }
    const auto root = doc.document_element();
    if (std::string_view(root.name()) != "blocklist" ||
        std::string_view(root.attribute("xmlns").value()) != "urn:hush:blocklist:0") {
        return hush::unexpected<std::string>("not a urn:hush:blocklist:0 <blocklist/>");
    }
    for (auto entry : root.children("entry")) {
        std::int64_t expires = 0;
        if (const std::string_view text = entry.attribute("expires").value(); !text.empty()) {
            std::tm tm{};
            if (strptime(std::string(text).c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) {
                continue;
            }
            expires = timegm(&tm);
            if (expires <= now) {
                continue;
            }
        }
        const std::string_view published = entry.attribute("evidence").value();
        add(entry.attribute("type").value(), entry.attribute("value").value(), entry.attribute("reason").value(),
            expires, published.empty() ? "unknown" : published, entry.attribute("trust").value());
    }
    return out;
}

}  // namespace hush
