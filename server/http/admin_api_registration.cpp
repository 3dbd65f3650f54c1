// The admin API's registration part: invitations and the approval queue (docs/registration.md).
#include <spdlog/spdlog.h>

#include "protocol/percent_encoding.hpp"
#include "protocol/jid.hpp"
#include "server/http/admin_api.hpp"
#include "server/registration/invites.hpp"

namespace hush {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace http_util;

namespace {

constexpr std::string_view invites_path = "/api/invites";
constexpr std::string_view invite_prefix = "/api/invites/";
constexpr std::string_view pending_path = "/api/registrations/pending";
constexpr std::string_view pending_prefix = "/api/registrations/pending/";

json::object invite_json(const storage::registration_invite& i, std::int64_t now) {
    json::object o{{"id", invites::id_of(i)},         {"host", i.domain},
                   {"username", i.username},          {"inviter", i.inviter},
                   {"uses_left", i.uses_left},        {"uses_total", i.uses_total},
                   {"created", iso(i.created_at)}};
    o["expires"] = i.expires_at == 0 ? json::value(nullptr) : json::value(iso(i.expires_at));
    o["state"] = i.uses_left <= 0 ? "used up" : (i.expires_at != 0 && i.expires_at <= now ? "expired" : "live");
    return o;
}

}  // namespace

asio::awaitable<std::optional<response>> admin_api::registration(const request& req, std::string_view path,
                                                                 const std::string& who, const std::string& peer) {
    const auto method = req.method();
    if (path == invites_path && method == http::verb::get) {
        auto list = [](storage::store& s) { return s.list_invites(); };
        auto found = co_await ctx_.store.run(std::move(list));
        if (!found) {
            co_return json_error(req, http::status::service_unavailable, "storage unavailable");
        }
        json::array out;
        const std::int64_t now = now_unix();
        for (const auto& i : *found) {
            out.push_back(invite_json(i, now));
        }
        co_return json_response(req, http::status::ok, out);
    }
    if (path == invites_path && method == http::verb::post) {
        co_return co_await create_invite(req, who, peer);
    }
    if (path.starts_with(invite_prefix) && method == http::verb::delete_) {
        co_return co_await revoke_invite(req, path.substr(invite_prefix.size()), who, peer);
    }
    if (path == pending_path && method == http::verb::get) {
        auto list = [](storage::store& s) { return s.list_pending_accounts(); };
        auto found = co_await ctx_.store.run(std::move(list));
        if (!found) {
            co_return json_error(req, http::status::service_unavailable, "storage unavailable");
        }
        json::array out;
        for (const auto& p : *found) {
            out.push_back(json::object{
                {"jid", p.username + "@" + p.domain}, {"requested", iso(p.requested_at)}, {"address", p.address}});
        }
        co_return json_response(req, http::status::ok, out);
    }
    if (path.starts_with(pending_prefix) && method == http::verb::post) {
        co_return co_await decide_pending(req, path.substr(pending_prefix.size()), who, peer);
    }
    if (path == invites_path || path.starts_with(invite_prefix) || path == pending_path ||
        path.starts_with(pending_prefix)) {
        co_return json_error(req, http::status::method_not_allowed, "method not allowed here");
    }
    co_return std::nullopt;
}

asio::awaitable<response> admin_api::create_invite(const request& req, const std::string& who,
                                                   const std::string& peer) {
    boost::system::error_code jec;
    const json::value body = req.body().empty() ? json::value(json::object{}) : json::parse(req.body(), jec);
    const json::object* o = jec ? nullptr : body.if_object();
    if (o == nullptr) {
        co_return json_error(req, http::status::bad_request, "expected a JSON object");
    }
    const auto& cfg = ctx_.cfg;
    invites::invite_request request;
    request.domain = cfg.hosts.front();
    request.expires_in_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(cfg.registration.invite_expiry).count();
    if (const json::value* uses = o->if_contains("uses"); uses != nullptr && !uses->is_null()) {
        if (!uses->is_int64() || uses->as_int64() < 1 || uses->as_int64() > 1000000) {
            co_return json_error(req, http::status::bad_request, "uses must be an integer from 1 to 1000000");
        }
        request.uses = uses->as_int64();
    }
    if (const json::value* hours = o->if_contains("expires_hours"); hours != nullptr && !hours->is_null()) {
        if (!hours->is_int64() || hours->as_int64() < 0 || hours->as_int64() > 24 * 365 * 10) {
            co_return json_error(req, http::status::bad_request,
                                 "expires_hours must be an integer from 0 (never) to 87600");
        }
        request.expires_in_seconds = hours->as_int64() * 3600;
    }
    if (const json::value* host = o->if_contains("host"); host != nullptr && !host->is_null()) {
        const auto prepped = host->is_string() ? nameprep(std::string(host->as_string())) : std::nullopt;
        if (!prepped || std::find(cfg.hosts.begin(), cfg.hosts.end(), *prepped) == cfg.hosts.end()) {
            co_return json_error(req, http::status::bad_request, "host must be one of this server's hosts");
        }
        request.domain = *prepped;
    }
    if (const json::value* name = o->if_contains("username");
        name != nullptr && !name->is_null() && !(name->is_string() && name->as_string().empty())) {
        const auto node = name->is_string() ? nodeprep(std::string(name->as_string())) : std::nullopt;
        if (!node || node->empty()) {
            co_return json_error(req, http::status::bad_request, "username is not a valid local part");
        }
        request.username = *node;
    }
    const auto made = invites::make(request, now_unix());
    // As every new invitation does: the used-up ones and those expired over a week ago go.
    auto put = [record = made.record, cutoff = now_unix() - invites::dead_after_seconds](
                   storage::store& s) -> storage::result<void> {
        if (auto swept = s.delete_dead_invites(cutoff); !swept) {
            return hush::unexpected(swept.error());
        }
        return s.put_invite(record);
    };
    if (auto stored = co_await ctx_.store.run(std::move(put)); !stored) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    spdlog::info("http {}: {} created invite {} on {} ({} uses)", peer, who, invites::id_of(made.record),
                 made.record.domain, request.uses);
    json::object out = invite_json(made.record, now_unix());
    out["uri"] = invites::uri(made.record, made.token);  // the only time the token is shown
    co_return json_response(req, http::status::created, out);
}

asio::awaitable<response> admin_api::revoke_invite(const request& req, std::string_view id, const std::string& who,
                                                   const std::string& peer) {
    if (id.size() < 12 || id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        co_return json_error(req, http::status::bad_request, "expected an invite's 12-character id");
    }
    auto revoke = [id = std::string(id)](storage::store& s) -> storage::result<bool> {
        auto list = s.list_invites();
        if (!list) {
            return hush::unexpected(list.error());
        }
        for (const auto& i : *list) {
            if (i.token_sha256.starts_with(id)) {
                return s.remove_invite(i.token_sha256);
            }
        }
        return false;
    };
    auto removed = co_await ctx_.store.run(std::move(revoke));
    if (!removed) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    if (!*removed) {
        co_return json_error(req, http::status::not_found, "no invite " + std::string(id));
    }
    spdlog::info("http {}: {} revoked invite {}", peer, who, id);
    co_return make_response(req, http::status::no_content, "", "application/json");
}

asio::awaitable<response> admin_api::decide_pending(const request& req, std::string_view rest, const std::string& who,
                                                    const std::string& peer) {
    const auto slash = rest.rfind('/');
    const std::string_view action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (action != "approve" && action != "deny") {
        co_return json_error(req, http::status::not_found, "expected .../JID/approve or .../JID/deny");
    }
    const auto decoded = percent_decode(rest.substr(0, slash));
    const auto account = decoded ? jid::parse(*decoded) : std::nullopt;
    if (!account || !account->has_node() || !account->is_bare()) {
        co_return json_error(req, http::status::bad_request, "expected an account's bare JID");
    }
    const bool approve = action == "approve";
    auto decide = [approve, domain = account->domain(), node = account->node()](storage::store& s) {
        return approve ? s.approve_pending(domain, node) : s.deny_pending(domain, node);
    };
    auto done = co_await ctx_.store.run(std::move(decide));
    if (!done) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    if (!*done) {
        co_return json_error(req, http::status::not_found, account->bare_string() + " is not waiting for approval");
    }
    spdlog::info("http {}: {} {} {}", peer, who, approve ? "approved" : "denied", account->bare_string());
    co_return make_response(req, http::status::no_content, "", "application/json");
}

}  // namespace hush
