#include "server/http_api.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <sstream>

#include "antispim/blocklist.hpp"
#include "protocol/scram.hpp"
#include "protocol/stanza.hpp"
#include "server/connection_tracker.hpp"
#include "server/s2s_manager.hpp"

namespace hush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t max_body = 64 * 1024;
constexpr std::size_t max_header = 8 * 1024;
constexpr std::chrono::seconds read_deadline{30};
constexpr std::string_view blocklist_ns = "urn:hush:blocklist:0";

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string utc(std::int64_t t, const char* format) {
    const std::time_t seconds = t;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, format, &tm);
    return buffer;
}

std::string iso(std::int64_t t) { return utc(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string http_date(std::int64_t t) { return utc(t, "%a, %d %b %Y %H:%M:%S GMT"); }

std::string sha256_hex(std::string_view data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

response make_response(const request& req, http::status status, std::string body, std::string_view type) {
    response res{status, req.version()};
    res.set(http::field::server, "Hush");
    res.set(http::field::content_type, type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response json_response(const request& req, http::status status, const json::value& value) {
    return make_response(req, status, json::serialize(value), "application/json");
}

response json_error(const request& req, http::status status, std::string message) {
    return json_response(req, status, json::object{{"error", std::move(message)}});
}

json::object entry_json(const storage::blocklist_entry& e) {
    json::object o{{"kind", e.kind},       {"value", e.value},           {"reason", e.reason},
                   {"source", e.source},   {"added", iso(e.added_at)},   {"contacts_too", e.contacts_too}};
    o["expires"] = e.expires_at == 0 ? json::value(nullptr) : json::value(iso(e.expires_at));
    return o;
}

std::string url_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

}  // namespace

http_api::http_api(server_context& ctx, blocklist_service& blocklist, antispim::chain& chain)
    : ctx_(ctx), blocklist_(blocklist), chain_(chain) {}

http_api::document http_api::blocklist_document() const {
    // Only this server's own entries: what it learned from others is theirs to publish.
    const auto entries = blocklist_.local_entries();
    std::int64_t newest = 0;
    std::string body = "<?xml version='1.0' encoding='UTF-8'?>\n<blocklist xmlns='" + std::string(blocklist_ns) +
                       "' server='" + xml_escape(ctx_.cfg.hosts.front()) + "'>\n";
    for (const auto& e : entries) {
        newest = std::max(newest, e.added_at);
        body += "  <entry type='" + xml_escape(e.kind) + "' value='" + xml_escape(e.value) + "' reason='" +
                xml_escape(e.reason) + "' source='" + xml_escape(e.source) + "' added='" + iso(e.added_at) + "'";
        if (e.expires_at != 0) {
            body += " expires='" + iso(e.expires_at) + "'";
        }
        body += "/>\n";
    }
    body += "</blocklist>\n";
    document doc;
    doc.etag = "\"" + sha256_hex(body).substr(0, 32) + "\"";
    doc.last_modified = http_date(newest != 0 ? newest : 0);
    doc.body = std::move(body);
    return doc;
}

std::string http_api::metrics_text() const {
    std::ostringstream out;
    out << "# HELP hush_antispim_verdicts_total Verdicts per anti-SPIM policy (mode: enforced or dry_run).\n"
        << "# TYPE hush_antispim_verdicts_total counter\n";
    const auto names = chain_.policy_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto counters = chain_.counters(i);
        for (std::size_t k = 0; k < antispim::verdict_kind_count; ++k) {
            const auto verdict = antispim::verdict_name(static_cast<antispim::verdict_kind>(k));
            out << "hush_antispim_verdicts_total{policy=\"" << names[i] << "\",verdict=\"" << verdict
                << "\",mode=\"enforced\"} " << counters.enforced[k] << "\n";
            out << "hush_antispim_verdicts_total{policy=\"" << names[i] << "\",verdict=\"" << verdict
                << "\",mode=\"dry_run\"} " << counters.dry_run[k] << "\n";
        }
        out << "hush_antispim_policy_failures_total{policy=\"" << names[i] << "\"} " << counters.failures << "\n";
    }
    out << "# HELP hush_connections Open client and server connections.\n# TYPE hush_connections gauge\n"
        << "hush_connections " << ctx_.connections.size() << "\n";
    out << "# HELP hush_s2s_outgoing_streams Outgoing server-to-server streams.\n"
        << "# TYPE hush_s2s_outgoing_streams gauge\n"
        << "hush_s2s_outgoing_streams " << (ctx_.s2s != nullptr ? ctx_.s2s->stream_count() : 0) << "\n";
    out << "# HELP hush_blocklist_entries Entries in the server-wide blocklist.\n# TYPE hush_blocklist_entries gauge\n"
        << "hush_blocklist_entries " << blocklist_.current()->entries().size() << "\n";
    return out.str();
}

asio::awaitable<void> http_api::serve(asio::ip::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ep_ec;
    const auto peer = stream.socket().remote_endpoint(ep_ec);
    const std::string peer_address = ep_ec ? "unknown" : peer.address().to_string();
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_body);
        parser.header_limit(max_header);
        stream.expires_after(read_deadline);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset) {
            break;
        }
        if (ec) {
            // Malformed or too large: say so, then close.
            request bad;
            bad.version(11);
            response res = json_error(bad, ec == http::error::body_limit || ec == http::error::header_limit
                                               ? http::status::payload_too_large
                                               : http::status::bad_request,
                                      "bad request: " + ec.message());
            res.keep_alive(false);
            co_await http::async_write(stream, res, tuple_awaitable);
            break;
        }
        request req = parser.release();
        response res;
        const std::string target(req.target());
        const bool api = target == "/api/blocklist" || target.starts_with("/api/blocklist/");
        if (target == "/blocklist.xml" && req.method() == http::verb::get) {
            const auto doc = blocklist_document();
            if (req[http::field::if_none_match] == doc.etag) {
                res = make_response(req, http::status::not_modified, "", "application/xml");
            } else {
                res = make_response(req, http::status::ok, doc.body, "application/xml; charset=utf-8");
            }
            res.set(http::field::etag, doc.etag);
            res.set(http::field::last_modified, doc.last_modified);
            res.prepare_payload();
        } else if (target == "/metrics" && req.method() == http::verb::get) {
            res = make_response(req, http::status::ok, metrics_text(), "text/plain; version=0.0.4");
        } else if (api) {
            // Bearer token: only its digest is stored.
            std::string token(req[http::field::authorization]);
            std::optional<std::string> who;
            if (token.starts_with("Bearer ")) {
                auto lookup = [digest = sha256_hex(token.substr(7))](storage::store& s) {
                    return s.admin_token_name(digest);
                };
                auto found = co_await ctx_.store.run(std::move(lookup));
                if (found && *found) {
                    who = **found;
                }
            }
            if (!who) {
                spdlog::warn("http {}: {} {}: refused, missing or wrong token", peer_address,
                             std::string(req.method_string()), target);
                res = json_error(req, http::status::unauthorized, "a valid bearer token is required");
                res.set(http::field::www_authenticate, "Bearer realm=\"hush\"");
            } else if (target == "/api/blocklist" && req.method() == http::verb::get) {
                json::array entries;
                for (const auto& e : blocklist_.current()->entries()) {
                    entries.push_back(entry_json(e));
                }
                res = json_response(req, http::status::ok, entries);
            } else if (target == "/api/blocklist" && req.method() == http::verb::post) {
                boost::system::error_code jec;
                const json::value body = json::parse(req.body(), jec);
                const json::object* o = jec ? nullptr : body.if_object();
                auto text = [&](const char* key) -> std::string {
                    const json::value* v = o != nullptr ? o->if_contains(key) : nullptr;
                    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
                };
                storage::blocklist_entry entry;
                entry.kind = text("kind");
                auto value = antispim::normalize_blocklist_value(entry.kind, text("value"));
                const json::value* hours = o != nullptr ? o->if_contains("expires_hours") : nullptr;
                const json::value* contacts = o != nullptr ? o->if_contains("contacts_too") : nullptr;
                if (o == nullptr) {
                    res = json_error(req, http::status::bad_request, "expected a JSON object");
                } else if (!value) {
                    res = json_error(req, http::status::bad_request, value.error());
                } else if (hours != nullptr && !(hours->is_int64() && hours->as_int64() > 0)) {
                    res = json_error(req, http::status::bad_request, "expires_hours must be a positive integer");
                } else if (contacts != nullptr && !contacts->is_bool()) {
                    res = json_error(req, http::status::bad_request, "contacts_too must be true or false");
                } else {
                    entry.value = *value;
                    entry.reason = text("reason").empty() ? "blocked by an administrator" : text("reason");
                    entry.source = "admin:" + *who;
                    entry.added_at = now_unix();
                    entry.expires_at = hours != nullptr ? entry.added_at + hours->as_int64() * 3600 : 0;
                    entry.contacts_too = contacts != nullptr && contacts->as_bool();
                    auto put = [entry](storage::store& s) { return s.put_blocklist_entry(entry); };
                    if (auto stored = co_await ctx_.store.run(std::move(put)); !stored) {
                        res = json_error(req, http::status::service_unavailable, "storage unavailable");
                    } else {
                        co_await blocklist_.reload();
                        spdlog::info("http {}: {} blocked {} {}", peer_address, *who, entry.kind, entry.value);
                        res = json_response(req, http::status::created, entry_json(entry));
                    }
                }
            } else if (target.starts_with("/api/blocklist/") && req.method() == http::verb::delete_) {
                const std::string rest = target.substr(std::string_view("/api/blocklist/").size());
                const auto slash = rest.find('/');
                const std::string kind = slash == std::string::npos ? rest : rest.substr(0, slash);
                auto value = antispim::normalize_blocklist_value(
                    kind, slash == std::string::npos ? "" : url_decode(rest.substr(slash + 1)));
                if (!value) {
                    res = json_error(req, http::status::bad_request, value.error());
                } else {
                    auto remove = [kind, v = *value](storage::store& s) { return s.remove_blocklist_entry(kind, v); };
                    auto removed = co_await ctx_.store.run(std::move(remove));
                    if (!removed) {
                        res = json_error(req, http::status::service_unavailable, "storage unavailable");
                    } else if (!*removed) {
                        res = json_error(req, http::status::not_found, "no entry " + kind + " " + *value);
                    } else {
                        co_await blocklist_.reload();
                        spdlog::info("http {}: {} unblocked {} {}", peer_address, *who, kind, *value);
                        res = make_response(req, http::status::no_content, "", "application/json");
                    }
                }
            } else {
                res = json_error(req, http::status::method_not_allowed, "method not allowed here");
            }
        } else if (target == "/blocklist.xml" || target == "/metrics") {
            res = json_error(req, http::status::method_not_allowed, "only GET here");
        } else {
            res = json_error(req, http::status::not_found, "no such resource");
        }
        const bool keep_alive = res.keep_alive();
        auto [wec, written] = co_await http::async_write(stream, res, tuple_awaitable);
        if (wec || !keep_alive) {
            break;
        }
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace hush
