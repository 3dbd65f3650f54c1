// The admin API's chat room part (XEP-0045, docs/muc.md): rooms listed and closed, service-wide bans listed, added
// and lifted. The MUC service decides in memory; what it sends (occupants told of a closure or a ban) goes out
// through the router.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/percent_encoding.hpp"
#include "protocol/jid.hpp"
#include "server/http/admin_api.hpp"
#include "server/muc/muc_service.hpp"

namespace hush {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace http_util;

namespace {

constexpr std::string_view muc_prefix = "/api/muc/";
constexpr std::string_view rooms_path = "/api/muc/rooms";
constexpr std::string_view room_prefix = "/api/muc/rooms/";
constexpr std::string_view bans_path = "/api/muc/bans";
constexpr std::string_view ban_prefix = "/api/muc/bans/";

// The services a request is about: ?service=DOMAIN, or all of them; nullopt for an unknown one.
std::optional<std::vector<std::string>> services_of(const request& req, const muc_service& muc) {
    const auto service = query_parameter(req.target(), "service");
    if (!service) {
        return muc.domains();
    }
    if (!muc.serves(*service)) {
        return std::nullopt;
    }
    return std::vector<std::string>{*service};
}

}  // namespace

asio::awaitable<std::optional<response>> admin_api::muc_endpoints(const request& req, std::string_view path,
                                                                  const std::string& who, const std::string& peer) {
    if (path != "/api/muc" && !path.starts_with(muc_prefix)) {
        co_return std::nullopt;
    }
    if (muc_ == nullptr) {
        co_return json_error(req, http::status::not_found, "no chat room service here ([muc] has none)");
    }
    const auto method = req.method();
    if (path == rooms_path && method == http::verb::get) {
        const auto services = services_of(req, *muc_);
        if (!services) {
            co_return json_error(req, http::status::not_found, "no chat room service by that name");
        }
        json::array out;
        for (const auto& service : *services) {
            for (const auto& r : muc_->rooms(service)) {
                out.push_back(json::object{{"jid", r.jid},
                                           {"name", r.name},
                                           {"persistent", r.persistent},
                                           {"public_room", r.public_room},
                                           {"members_only", r.members_only},
                                           {"occupants", r.occupants}});
            }
        }
        co_return json_response(req, http::status::ok, out);
    }
    if (path.starts_with(room_prefix) && method == http::verb::delete_) {
        co_return co_await close_room(req, path.substr(room_prefix.size()), who, peer);
    }
    if (path == bans_path && method == http::verb::get) {
        co_return co_await muc_bans(req);
    }
    if (path == bans_path && method == http::verb::post) {
        co_return co_await add_muc_ban(req, who, peer);
    }
    if (path.starts_with(ban_prefix) && method == http::verb::delete_) {
        co_return co_await remove_muc_ban(req, path.substr(ban_prefix.size()), who, peer);
    }
    if (path == rooms_path || path.starts_with(room_prefix) || path == bans_path || path.starts_with(ban_prefix)) {
        co_return json_error(req, http::status::method_not_allowed, "method not allowed here");
    }
    co_return json_error(req, http::status::not_found, "no such resource");
}

asio::awaitable<response> admin_api::close_room(const request& req, std::string_view rest, const std::string& who,
                                                const std::string& peer) {
    const auto decoded = percent_decode(rest);
    const auto room = decoded ? jid::parse(*decoded) : std::nullopt;
    if (!room || !room->has_node() || !room->is_bare()) {
        co_return json_error(req, http::status::bad_request, "expected a room's bare JID (room@service)");
    }
    const std::string reason = query_parameter(req.target(), "reason").value_or("");
    outgoing out;
    const bool closed = co_await muc_->close_room(*room, reason, out);
    // Even a failed closure may have told someone something: send what there is.
    co_await ctx_.routes.carry_out(std::move(out));
    if (!closed) {
        co_return json_error(req, http::status::not_found, "no room " + room->bare_string());
    }
    spdlog::info("http {}: {} closed room {}", peer, who, room->bare_string());
    co_return make_response(req, http::status::no_content, "", "application/json");
}

asio::awaitable<response> admin_api::muc_bans(const request& req) {
    const auto services = services_of(req, *muc_);
    if (!services) {
        co_return json_error(req, http::status::not_found, "no chat room service by that name");
    }
    // Which bans are in force is the service's (memory); their reasons and times are storage's.
    auto list = [services = *services](storage::store& s) -> storage::result<std::vector<storage::muc_service_ban_record>> {
        std::vector<storage::muc_service_ban_record> all;
        for (const auto& service : services) {
            auto bans = s.list_muc_service_bans(service);
            if (!bans) {
                return hush::unexpected<storage::error>(bans.error());
            }
            all.insert(all.end(), bans->begin(), bans->end());
        }
        return all;
    };
    auto stored = co_await ctx_.store.read(std::move(list));
    if (!stored) {
        co_return json_error(req, http::status::service_unavailable, "storage unavailable");
    }
    json::array out;
    for (const auto& service : *services) {
        for (const auto& banned : muc_->service_bans(service)) {
            json::object o{{"service", service}, {"jid", banned}, {"reason", ""}, {"created", nullptr}};
            const auto it = std::find_if(stored->begin(), stored->end(), [&](const auto& b) {
                return b.service == service && b.jid == banned;
            });
            if (it != stored->end()) {
                o["reason"] = it->reason;
                o["created"] = iso(it->created_at);
            }
            out.push_back(std::move(o));
        }
    }
    co_return json_response(req, http::status::ok, out);
}

asio::awaitable<response> admin_api::add_muc_ban(const request& req, const std::string& who, const std::string& peer) {
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
    const std::string service = text("service");
    const std::string reason = text("reason");
    const auto target = jid::parse(text("jid"));
    if (!muc_->serves(service)) {
        co_return json_error(req, http::status::bad_request, "service must be one of this server's chat room services");
    }
    if (!target || !target->is_bare()) {
        co_return json_error(req, http::status::bad_request, "jid must be a bare JID (user@domain) or a domain");
    }
    outgoing out;
    const bool banned = co_await muc_->ban(service, target->bare_string(), reason, out);
    co_await ctx_.routes.carry_out(std::move(out));
    if (!banned) {
        co_return json_error(req, http::status::service_unavailable, "the chat rooms could not be loaded");
    }
    spdlog::info("http {}: {} banned {} from every room of {}", peer, who, target->bare_string(), service);
    co_return json_response(req, http::status::created,
                            json::object{{"service", service}, {"jid", target->bare_string()}, {"reason", reason}});
}

asio::awaitable<response> admin_api::remove_muc_ban(const request& req, std::string_view rest, const std::string& who,
                                                    const std::string& peer) {
    const auto slash = rest.find('/');
    const auto service = percent_decode(rest.substr(0, slash));
    const auto decoded = percent_decode(slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
    const auto target = decoded ? jid::parse(*decoded) : std::nullopt;
    if (!service || !target || !target->is_bare()) {
        co_return json_error(req, http::status::bad_request, "expected /api/muc/bans/SERVICE/JID");
    }
    if (!muc_->serves(*service)) {
        co_return json_error(req, http::status::not_found, "no chat room service " + *service);
    }
    if (!co_await muc_->unban(*service, target->bare_string())) {
        co_return json_error(req, http::status::not_found,
                             target->bare_string() + " is not banned from " + *service);
    }
    spdlog::info("http {}: {} lifted the ban of {} on {}", peer, who, target->bare_string(), *service);
    co_return make_response(req, http::status::no_content, "", "application/json");
}

}  // namespace hush
