#pragma once
// The admin REST API (JSON, bearer token checked by the caller, server/http/http_api.cpp):
//   GET    /api/blocklist                 every entry in force (local and imported) with its source and trust
//   POST   /api/blocklist                 add one: {"kind","value","reason","expires_hours","contacts_too"}
//   DELETE /api/blocklist/KIND/VALUE      remove one
//   GET    /api/reports[?limit=N]         XEP-0377 reports, newest first (default 100)
//   GET    /api/accounts/flagged          accounts outbound protection flagged or suspended
//   DELETE /api/accounts/flagged/JID      clear one (lifts a suspension)
//   GET    /api/verdicts[?limit=N]        the last deciding verdicts (in memory), newest first
//   GET    /api/invites                   registration invitations (admin_api_registration.cpp)
//   POST   /api/invites                   create one: {"uses","expires_hours","host","username"}; answers its "uri"
//   DELETE /api/invites/ID                revoke one (ID: its 12-character id)
//   GET    /api/registrations/pending     accounts waiting for approval
//   POST   /api/registrations/pending/JID/approve | /deny   let it log in, or delete it
//   GET    /api/muc/rooms[?service=DOMAIN]          chat rooms of every MUC service, or one (admin_api_muc.cpp)
//   DELETE /api/muc/rooms/ROOM_JID[?reason=TEXT]    close one: occupants told, a persistent room deleted
//   GET    /api/muc/bans[?service=DOMAIN]           service-wide bans
//   POST   /api/muc/bans                            ban {"service","jid","reason"} from every room of the service
//   DELETE /api/muc/bans/SERVICE/JID                lift one
//   (the /api/muc/ ones answer 404 when [muc] has no service)
// Bad input gets 400 with a message; unknown resources 404; storage trouble 503.
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "antispim/blocklist_service.hpp"
#include "server/http/http_util.hpp"
#include "antispim/recent_verdicts.hpp"
#include "server/pipeline/server_context.hpp"

namespace hush {

class muc_service;

class admin_api {
public:
    // `muc`: null when [muc] has no service.
    admin_api(server_context& ctx, blocklist_service& blocklist, const recent_verdicts& verdicts,
              muc_service* muc = nullptr);

    static bool handles(std::string_view path) { return path.starts_with("/api/"); }

    // `who` is the name of the token the request carried; `peer` its address (for the log).
    boost::asio::awaitable<http_util::response> handle(const http_util::request& req, const std::string& who,
                                                       const std::string& peer);

private:
    boost::asio::awaitable<http_util::response> add_entry(const http_util::request& req, const std::string& who,
                                                          const std::string& peer);
    boost::asio::awaitable<http_util::response> remove_entry(const http_util::request& req, std::string_view rest,
                                                             const std::string& who, const std::string& peer);
    boost::asio::awaitable<http_util::response> reports(const http_util::request& req);
    boost::asio::awaitable<http_util::response> flagged(const http_util::request& req);
    boost::asio::awaitable<http_util::response> clear_flag(const http_util::request& req, std::string_view rest,
                                                           const std::string& who, const std::string& peer);

    http_util::response verdicts(const http_util::request& req) const;

    // admin_api_registration.cpp; nullopt when `path` is not one of theirs.
    boost::asio::awaitable<std::optional<http_util::response>> registration(const http_util::request& req,
                                                                            std::string_view path,
                                                                            const std::string& who,
                                                                            const std::string& peer);
    boost::asio::awaitable<http_util::response> create_invite(const http_util::request& req, const std::string& who,
                                                              const std::string& peer);
    boost::asio::awaitable<http_util::response> revoke_invite(const http_util::request& req, std::string_view id,
                                                              const std::string& who, const std::string& peer);
    boost::asio::awaitable<http_util::response> decide_pending(const http_util::request& req, std::string_view rest,
                                                               const std::string& who, const std::string& peer);

    // admin_api_muc.cpp; nullopt when `path` is not one of theirs.
    boost::asio::awaitable<std::optional<http_util::response>> muc_endpoints(const http_util::request& req,
                                                                             std::string_view path,
                                                                             const std::string& who,
                                                                             const std::string& peer);
    boost::asio::awaitable<http_util::response> close_room(const http_util::request& req, std::string_view rest,
                                                           const std::string& who, const std::string& peer);
    boost::asio::awaitable<http_util::response> muc_bans(const http_util::request& req);
    boost::asio::awaitable<http_util::response> add_muc_ban(const http_util::request& req, const std::string& who,
                                                            const std::string& peer);
    boost::asio::awaitable<http_util::response> remove_muc_ban(const http_util::request& req, std::string_view rest,
                                                               const std::string& who, const std::string& peer);

    server_context& ctx_;
    blocklist_service& blocklist_;
    const recent_verdicts& verdicts_;
    muc_service* muc_;
};

}  // namespace hush
