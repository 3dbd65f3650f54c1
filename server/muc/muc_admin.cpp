// The MUC service's admin side and periodic work: admins closing rooms and banning JIDs service-wide (the admin API,
// hushctl through muc_sync.cpp), the rooms listed, newcomers voiced once their wait is over, and XEP-0377 reports
// passed to a room's moderators.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/xep0082.hpp"
#include "server/muc/muc_service.hpp"

namespace hush {

using muc_detail::occupant;
using muc_detail::room;

boost::asio::awaitable<bool> muc_service::close_room(const jid& address, const std::string& reason, outgoing& out) {
    if (!co_await load()) {
        co_return false;
    }
    {
        std::lock_guard lock(mutex_);
        room* r = find_locked(address);
        if (r == nullptr) {
            co_return false;
        }
        destroy_locked(services_[address.domain()], *r, reason.empty() ? "closed by the server's admins" : reason,
                       {}, out);
    }
    co_await purge();
    co_await flush();
    co_return true;
}

boost::asio::awaitable<bool> muc_service::ban(const std::string& service, const std::string& who,
                                              const std::string& reason, outgoing& out) {
    auto target = jid::parse(who);
    if (!serves(service) || !target || !target->is_bare() || !co_await load()) {
        co_return false;
    }
    {
        std::lock_guard lock(mutex_);
        apply_ban_locked(services_[service], target->bare_string(), reason, out);
        storage::muc_service_ban_record record{service, target->bare_string(), reason, now()};
        writes_.push_back([record](storage::store& s) -> storage::result<void> {
            auto put = s.put_muc_service_ban(record);
            if (!put) {
                return hush::unexpected<storage::error>(put.error());
            }
            return {};
        });
    }
    co_await purge();  // the rooms the ban emptied
    co_await flush();
    co_return true;
}

boost::asio::awaitable<bool> muc_service::unban(const std::string& service, const std::string& who) {
    if (!serves(service) || !co_await load()) {
        co_return false;
    }
    {
        std::lock_guard lock(mutex_);
        if (services_[service].bans.erase(who) == 0) {
            co_return false;
        }
        writes_.push_back([service, who](storage::store& s) -> storage::result<void> {
            auto deleted = s.delete_muc_service_ban(service, who);
            if (!deleted) {
                return hush::unexpected<storage::error>(deleted.error());
            }
            return {};
        });
    }
    co_await flush();
    co_return true;
}

std::vector<muc_room_summary> muc_service::rooms(const std::string& service) const {
    std::lock_guard lock(mutex_);
    std::vector<muc_room_summary> out;
    auto svc = services_.find(service);
    if (svc == services_.end()) {
        return out;
    }
    for (const auto& [name, r] : svc->second.rooms) {
        out.push_back({r->address.bare_string(), r->config.name, r->config.persistent, r->config.public_room,
                       r->config.members_only, r->occupants.size()});
    }
    return out;
}

std::vector<std::string> muc_service::service_bans(const std::string& service) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    if (auto svc = services_.find(service); svc != services_.end()) {
        for (const auto& [who, reason] : svc->second.bans) {
            out.push_back(who);
        }
    }
    return out;
}

void muc_service::tick(outgoing& out) {
    if (!options_.new_occupants_visitors) {
        return;
    }
    std::lock_guard lock(mutex_);
    const auto t = now();
    for (auto& [domain, svc] : services_) {
        for (auto& [name, r] : svc.rooms) {
            if (r->config.moderated) {
                continue;  // visitors there are the room's own rule, not the waiting period's
            }
            for (auto& [nick, o] : r->occupants) {
                auto first = r->first_joined.find(o.real.bare_string());
                if (o.role == muc::role::visitor && first != r->first_joined.end() && first->second >= 0 &&
                    t - first->second >= options_.visitor_period.count()) {
                    o.role = muc::role::participant;
                    first->second = muc_detail::voiced;  // settled: a later devoice by a moderator stands
                    broadcast_presence_locked(*r, o, "", {}, out);
                }
            }
        }
    }
}

bool muc_service::report(const jid& reporter, const jid& target, const std::string& reason, outgoing& out) {
    std::lock_guard lock(mutex_);
    room* r = find_locked(target.bare());
    if (r == nullptr || target.is_bare()) {
        return false;
    }
    auto reported = r->occupants.find(target.resource());
    const bool reporter_in = std::any_of(r->occupants.begin(), r->occupants.end(),
                                         [&](const auto& o) { return o.second.real.equals_bare(reporter); });
    if (reported == r->occupants.end() || !reporter_in) {
        return false;
    }
    for (auto& [nick, o] : r->occupants) {
        if (o.real.equals_bare(reporter) && !take_token_locked(o)) {
            return false;  // reports spend the reporter's allowance like its messages
        }
    }
    // Moderators can act on it (kick, ban); they learn who was reported, by whom they can see, and why.
    for (const auto& [nick, o] : r->occupants) {
        if (o.role != muc::role::moderator) {
            continue;
        }
        stanza m = stanza::make("message");
        m.set_attribute("type", "normal");
        m.set_attribute("from", r->address.bare_string());
        std::string text = "Spam report: " + target.resource() + " (" + reported->second.real.bare_string() +
                           ") was reported as spam";
        if (!reason.empty()) {
            text += ": " + reason.substr(0, 200);  // the moderators read a reason, not a letter
        }
        m.element().append_child("body").text().set(text.c_str());
        send_to_occupant(o, m, out);
    }
    return true;
}

}  // namespace hush
