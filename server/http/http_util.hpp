#pragma once
// Small pieces the HTTP endpoint's handlers share (server/http/http_api.cpp, server/http/admin_api.cpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace hush::http_util {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

std::int64_t now_unix();
std::string iso(std::int64_t t);        // 2026-11-25T05:00:00Z
std::string http_date(std::int64_t t);  // Wed, 25 Nov 2026 05:00:00 GMT
std::string sha256_hex(std::string_view data);
// The value of `key` in the query string of `target` ("/api/x?limit=5"), if present.
std::optional<std::string> query_parameter(std::string_view target, std::string_view key);
// The target without its query string.
std::string_view path_of(std::string_view target);

// Whether an If-None-Match header value (a list of entity tags, "*", weak or strong) names `etag` (RFC 9110
// §13.1.2: weak comparison).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// A response with `body`; 204 and 304 carry neither a body nor a Content-Length (RFC 9110 §8.6).
response make_response(const request& req, boost::beast::http::status status, std::string body,
                       std::string_view type);
response json_response(const request& req, boost::beast::http::status status, const boost::json::value& value);
response json_error(const request& req, boost::beast::http::status status, std::string message);

}  // namespace hush::http_util
