#include "server/app/hushctl_muc.hpp"

#include <algorithm>
#include <cstdio>

#include "protocol/jid.hpp"
#include "protocol/muc.hpp"
#include "server/app/hushctl_common.hpp"

namespace hush {

namespace {

using hushctl::fail;
using hushctl::stamp;
using hushctl::unix_now;

bool is_service(const config& cfg, const std::string& service) {
    return std::find(cfg.muc.services.begin(), cfg.muc.services.end(), service) != cfg.muc.services.end();
}

int unknown_service(const config& cfg, const std::string& service) {
    return fail(service + " is not a chat room service of this server (see [muc] services in " + cfg.source.string() +
                ")");
}

int rooms_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    std::vector<std::string> services = cfg.muc.services;
    if (args.size() == 3) {
        if (!is_service(cfg, args[2])) {
            return unknown_service(cfg, args[2]);
        }
        services = {args[2]};
    } else if (args.size() != 2) {
        return 2;
    }
    for (const auto& service : services) {
        auto rooms = store.list_muc_rooms(service);
        if (!rooms) {
            return fail(rooms.error().message);
        }
        for (const auto& r : *rooms) {
            const auto config = muc::parse_config(r.config, cfg.muc.max_occupants_limit);
            std::printf("%s@%s\t%s\t%s\n", r.room.c_str(), service.c_str(), stamp(r.created_at).c_str(),
                        config ? config->name.c_str() : "(unreadable configuration)");
        }
    }
    return 0;
}

int close_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() != 3) {
        return 2;
    }
    const auto room = jid::parse(args[2]);
    if (!room || !room->has_node() || !room->is_bare()) {
        return fail("'" + args[2] + "' is not a room address (room@service)");
    }
    if (!is_service(cfg, room->domain())) {
        return unknown_service(cfg, room->domain());
    }
    auto deleted = store.delete_muc_room(room->domain(), room->node());
    if (!deleted) {
        return fail(deleted.error().message);
    }
    if (!*deleted) {
        // Temporary rooms live in hushd's memory only: the admin API closes those (DELETE /api/muc/rooms/...).
        return fail("no stored room " + room->bare_string() + " (a temporary room is closed with the admin API)");
    }
    std::printf("closed %s (a running hushd tells its occupants within a minute)\n", room->bare_string().c_str());
    return 0;
}

int ban_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    const bool ban = args[1] == "ban";
    if (ban ? (args.size() < 4 || args.size() > 5) : args.size() != 4) {
        return 2;
    }
    const std::string& service = args[2];
    if (!is_service(cfg, service)) {
        return unknown_service(cfg, service);
    }
    const auto target = jid::parse(args[3]);
    if (!target || !target->is_bare()) {
        return fail("'" + args[3] + "' is not a bare JID (user@domain) or a domain");
    }
    const std::string who = target->bare_string();
    if (ban) {
        const storage::muc_service_ban_record record{service, who, args.size() == 5 ? args[4] : "", unix_now()};
        auto put = store.put_muc_service_ban(record);
        if (!put) {
            return fail(put.error().message);
        }
        std::printf("%s %s from every room of %s\n", *put ? "banned" : "ban updated:", who.c_str(), service.c_str());
        return 0;
    }
    auto deleted = store.delete_muc_service_ban(service, who);
    if (!deleted) {
        return fail(deleted.error().message);
    }
    if (!*deleted) {
        return fail(who + " is not banned from " + service);
    }
    std::printf("lifted the ban of %s on %s\n", who.c_str(), service.c_str());
    return 0;
}

int bans_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() != 3) {
        return 2;
    }
    if (!is_service(cfg, args[2])) {
        return unknown_service(cfg, args[2]);
    }
    auto bans = store.list_muc_service_bans(args[2]);
    if (!bans) {
        return fail(bans.error().message);
    }
    for (const auto& b : *bans) {
        std::printf("%s\t%s\t%s\n", b.jid.c_str(), stamp(b.created_at).c_str(), b.reason.c_str());
    }
    return 0;
}

}  // namespace

int run_muc_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() < 2) {
        return 2;
    }
    const std::string& sub = args[1];
    if (sub == "rooms") {
        return rooms_command(cfg, store, args);
    }
    if (sub == "close") {
        return close_command(cfg, store, args);
    }
    if (sub == "ban" || sub == "unban") {
        return ban_command(cfg, store, args);
    }
    if (sub == "bans") {
        return bans_command(cfg, store, args);
    }
    return 2;
}

}  // namespace hush
