#include "server/http/http_util.hpp"

#include <openssl/sha.h>

#include <chrono>
#include <ctime>

#include "protocol/percent_encoding.hpp"
#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"

namespace hush::http_util {

namespace http = boost::beast::http;

namespace {

std::string utc(std::int64_t t, const char* format) {
    const std::time_t seconds = t;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, format, &tm);
    return buffer;
}

}  // namespace

std::int64_t now_unix() { return unix_now(); }

std::string iso(std::int64_t t) { return utc(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string http_date(std::int64_t t) { return utc(t, "%a, %d %b %Y %H:%M:%S GMT"); }

std::string sha256_hex(std::string_view data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::optional<std::string> query_parameter(std::string_view target, std::string_view key) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == key) {
            return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        }
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    }
    return std::nullopt;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    auto opaque = [](std::string_view tag) { return tag.starts_with("W/") ? tag.substr(2) : tag; };
    while (!if_none_match.empty()) {
        const std::size_t comma = if_none_match.find(',');
        std::string_view tag = if_none_match.substr(0, comma);
        while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) {
            tag.remove_prefix(1);
        }
        while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) {
            tag.remove_suffix(1);
        }
        if (tag == "*" || (!tag.empty() && opaque(tag) == opaque(etag))) {
            return true;
        }
        if_none_match = comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
    }
    return false;
}

response make_response(const request& req, http::status status, std::string body, std::string_view type) {
    response res{status, req.version()};
    res.set(http::field::server, "Hush");
    res.set(http::field::content_type, type);
    res.keep_alive(req.keep_alive());
    if (status == http::status::no_content || status == http::status::not_modified) {
        return res;  // no body, so no Content-Length either (RFC 9110 §8.6)
    }
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response json_response(const request& req, http::status status, const boost::json::value& value) {
    return make_response(req, status, boost::json::serialize(value), "application/json");
}

response json_error(const request& req, http::status status, std::string message) {
    return json_response(req, status, boost::json::object{{"error", std::move(message)}});
}

}  // namespace hush::http_util
