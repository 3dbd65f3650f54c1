#include "protocol/percent_encoding.hpp"
#include "server/http/admin_api.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "antispim/blocklist.hpp"
#include "protocol/jid.hpp"

namespace hush {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace http_util;

namespace {

json::object entry_json(const storage::blocklist_entry& e) {
    json::object o{{"kind", e.kind},         {"value", e.value},         {"reason", e.reason},
                   {"source", e.source},     {"added", iso(e.added_at)}, {"contacts_too", e.contacts_too},
                   {"trust", e.trust}};
    o["expires"] = e.expires_at == 0 ? json::value(nullptr) : json::value(iso(e.expires_at));
    return o;
}

}  // namespace

admin_api::admin_api(server_context& ctx, blocklist_service& blocklist, const recent_verdicts& verdicts,
                     muc_service* muc)
    : ctx_(ctx), blocklist_(blocklist), verdicts_(verdicts), muc_(muc) {}

asio::awaitable<response> admin_api::handle(const request& req, const std::string& who, const std::string& peer) {
    const std::string_view target = req.target();
    const std::string_view path = path_of(target);
    const auto method = req.method();
    constexpr std::string_view entries_prefix = "/api/blocklist/";
    constexpr std::string_view flagged_prefix = "/api/accounts/flagged/";
    if (path == "/api/blocklist" && method == http::verb::get) {
        json::array entries;
        for (const auto& e : blocklist_.current()->entries()) {
            entries.push_back(entry_json(e));
        }
        co_return json_response(req, http::status::ok, entries);
    }
    if (path == "/api/blocklist" && method == http::verb::post) {
        co_return co_await add_entry(req, who, peer);
    }
    if (path.starts_with(entries_prefix) && method == http::verb::delete_) {
        co_return co_await remove_entry(req, path.substr(entries_prefix.size()), who, peer);
    }
    if (path == "/api/verdicts" && method == http::verb::get) {
        co_return verdicts(req);
    }
    if (path == "/api/reports" && method == http::verb::get) {
        co_return co_await reports(req);
    }
    if (path == "/api/accounts/flagged" && method == http::verb::get) {
        co_return co_await flagged(req);
    }
    if (path.starts_with(flagged_prefix) && method == http::verb::delete_) {
        co_return co_await clear_flag(req, path.substr(flagged_prefix.size()), who, peer);
    }
    if (auto answered = co_await registration(req, path, who, peer)) {
        co_return std::move(*answered);
    }
    if (auto answered = co_await muc_endpoints(req, path, who, peer)) {
        co_return std::move(*answered);
    }
    const bool known = path == "/api/blocklist" || path == "/api/verdicts" || path.starts_with(entries_prefix) || path == "/api/reports" ||
                       path == "/api/accounts/flagged" || path.starts_with(flagged_prefix);
    co_return known ? json_error(req, http::status::method_not_allowed, "method not allowed here")
                    : json_error(req, http::status::not_found, "no such resource");
}

asio::awaitable<response> admin_api::add_entry(const request& req, const std::string& who, const std::string& peer) {
    boost::system::error_code jec;
    const json::value body = json::parse(req.body(), jec);
    const json::object* o = jec ? nullptr : body.if_object();
    if (o == nullptr) {
        co_return json_error(req, http::status::bad_request, "expected a JSON object");
    }
    auto text = [&](const char* key) -> std::string {
        const json::value* v = o->if_contains(key);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    storage::blocklist_entry entry;
    entry.kind = text("kind");
    auto value = antispim::normalize_blocklist_value(entry.kind, text("value"));
    const json::value* hours = o->if_contains("expires_hours");
    const json::value* contacts = o->if_contains("contacts_too");
    if (!value || entry.kind == "jid-sha256") {
        co_return json_error(req, http::status::bad_request,
                             value ? "kind must be jid, domain or ip" : value.error());
    }
    if (hours != nullptr && !hours->is_null() && !(hours->is_int64() && hours->as_int64() > 0)) {
        co_return json_error(req, http::status::bad_request, "expires_hours must be a positive integer");
    }
    if (contacts != nullptr && !contacts->is_bool()) {
        co_return json_error(req, http::status::bad_request, "contacts_too must be true or false");
    }
    entry.value = *value;
    entry.reason = text("reason").empty() ? "blocked by an administrator" : text("reason");
    entry.source = "admin:" + who;
    entry.added_at = now_unix();
    entry.expires_at = hours != nullptr && hours->is_int64() ? entry.added_at + hours->as_int64() * 3600 : 0;
    entry.contacts_too = contacts != nullptr && contacts->as_bool();
    auto put = [entry](storage::store& s) { return s.put_blocklist_entry(entry); };
    if (auto stored = co_await ctx_.store.run(std::move(put)); !stored) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    co_await blocklist_.reload();
    spdlog::info("http {}: {} blocked {} {}", peer, who, entry.kind, entry.value);
    co_return json_response(req, http::status::created, entry_json(entry));
}

asio::awaitable<response> admin_api::remove_entry(const request& req, std::string_view rest, const std::string& who,
                                                  const std::string& peer) {
    const auto slash = rest.find('/');
    const std::string kind(rest.substr(0, slash));
    const auto decoded = percent_decode(slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
    if (!decoded) {
        co_return json_error(req, http::status::bad_request, "malformed percent-encoding in the value");
    }
    auto value = antispim::normalize_blocklist_value(kind, *decoded);
    if (!value) {
        co_return json_error(req, http::status::bad_request, value.error());
    }
    auto remove = [kind, v = *value](storage::store& s) { return s.remove_blocklist_entry(kind, v); };
    auto removed = co_await ctx_.store.run(std::move(remove));
    if (!removed) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    if (!*removed) {
        co_return json_error(req, http::status::not_found, "no entry " + kind + " " + *value);
    }
    co_await blocklist_.reload();
    spdlog::info("http {}: {} unblocked {} {}", peer, who, kind, *value);
    co_return make_response(req, http::status::no_content, "", "application/json");
}

namespace {

// ?limit=N, 1..max; `fallback` when absent; nullopt when malformed.
std::optional<std::size_t> limit_of(const request& req, std::size_t fallback, std::size_t max) {
    const auto text = query_parameter(req.target(), "limit");
    if (!text) {
        return fallback;
    }
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc{} || end != text->data() + text->size() || n == 0 || n > max) {
        return std::nullopt;
    }
    return n;
}

}  // namespace

response admin_api::verdicts(const request& req) const {
    const auto limit = limit_of(req, verdicts_.capacity(), verdicts_.capacity());
    if (!limit) {
        return json_error(req, http::status::bad_request,
                          "limit must be an integer from 1 to " + std::to_string(verdicts_.capacity()));
    }
    json::array records;
    for (const auto& r : verdicts_.newest(*limit)) {
        records.push_back(json::object{{"time", r.time},     {"policy", r.policy},     {"verdict", r.verdict},
                                       {"reason", r.reason}, {"sender", r.sender},     {"receiver", r.receiver},
                                       {"stanza", r.stanza}, {"explanation", r.explanation}});
    }
    return json_response(req, http::status::ok, records);
}

asio::awaitable<response> admin_api::reports(const request& req) {
    const auto limit = limit_of(req, 100, 10000);
    if (!limit) {
        co_return json_error(req, http::status::bad_request, "limit must be an integer from 1 to 10000");
    }
    auto list = [n = *limit](storage::store& s) { return s.list_spam_reports(n); };
    auto found = co_await ctx_.store.run(std::move(list));
    if (!found) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    json::array out;
    for (const auto& r : *found) {
        json::array ids;
        for (const auto& id : r.stanza_ids) {
            ids.push_back(json::value(id));
        }
        out.push_back(json::object{{"id", r.id},
                                   {"reporter", r.reporter},
                                   {"reported", r.reported},
                                   {"reason", r.reason},
                                   {"text", r.text},
                                   {"stanza_ids", std::move(ids)},
                                   {"at", iso(r.at)}});
    }
    co_return json_response(req, http::status::ok, out);
}

asio::awaitable<response> admin_api::flagged(const request& req) {
    auto list = [](storage::store& s) { return s.list_account_flags(); };
    auto found = co_await ctx_.store.run(std::move(list));
    if (!found) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    json::array out;
    for (const auto& f : *found) {
        out.push_back(json::object{{"account", f.account}, {"state", f.state}, {"reason", f.reason}, {"at", iso(f.at)}});
    }
    co_return json_response(req, http::status::ok, out);
}

asio::awaitable<response> admin_api::clear_flag(const request& req, std::string_view rest, const std::string& who,
                                                const std::string& peer) {
    const auto decoded = percent_decode(rest);
    const auto account = decoded ? jid::parse(*decoded) : std::nullopt;
    if (!account || !account->has_node()) {
        co_return json_error(req, http::status::bad_request, "expected an account's bare JID");
    }
    auto remove = [a = account->bare_string()](storage::store& s) { return s.remove_account_flag(a); };
    auto removed = co_await ctx_.store.run(std::move(remove));
    if (!removed) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    if (!*removed) {
        co_return json_error(req, http::status::not_found, account->bare_string() + " is not flagged");
    }
    spdlog::info("http {}: {} cleared the outbound flag of {}", peer, who, account->bare_string());
    co_return make_response(req, http::status::no_content, "", "application/json");
}

}  // namespace hush
