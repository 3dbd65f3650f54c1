// The MUC service's storage sync: hushctl works offline on the database (it deletes persistent rooms, adds and
// lifts service-wide bans), while hushd keeps rooms and bans in memory. sync_from_storage(), run every few seconds
// by the server, brings memory in line with what hushctl did.
#include <set>

#include <spdlog/spdlog.h>

#include "server/muc/muc_service.hpp"

namespace hush {

using muc_detail::room;

namespace {

struct stored_service {
    std::map<std::string, std::string> bans;  // JID or domain -> reason
    std::set<std::string> rooms;              // localparts
};

}  // namespace

boost::asio::awaitable<void> muc_service::sync_from_storage(outgoing& out) {
    if (!co_await load()) {
        co_return;
    }
    {
        std::lock_guard lock(mutex_);
        if (flushing_ || !writes_.empty()) {
            co_return;  // this service's own writes are on their way: storage is behind memory; next round
        }
        // The flusher's role, held while storage is read: none of this service's writes land meanwhile, so what
        // storage says differently is hushctl's doing, unless a write was queued meanwhile (then skip the round).
        flushing_ = true;
    }
    // Released however this coroutine ends: a flusher's role left held would stop every later write.
    struct release {
        muc_service& self;
        bool held = true;
        ~release() {
            if (held) {
                std::lock_guard lock(self.mutex_);
                self.flushing_ = false;
            }
        }
    } flusher{*this};

    const auto domains = options_.services;
    auto got = co_await store_.read(
        [domains](storage::store& s) -> storage::result<std::map<std::string, stored_service>> {
            std::map<std::string, stored_service> found;
            for (const auto& domain : domains) {
                auto bans = s.list_muc_service_bans(domain);
                if (!bans) {
                    return hush::unexpected<storage::error>(bans.error());
                }
                auto rooms = s.list_muc_rooms(domain);
                if (!rooms) {
                    return hush::unexpected<storage::error>(rooms.error());
                }
                auto& svc = found[domain];
                for (auto& b : *bans) {
                    svc.bans[b.jid] = std::move(b.reason);
                }
                for (const auto& r : *rooms) {
                    svc.rooms.insert(r.room);
                }
            }
            return found;
        });
    {
        std::lock_guard lock(mutex_);
        flushing_ = false;
        flusher.held = false;
        if (!got) {
            spdlog::warn("muc: cannot read rooms and bans for the sync with storage: {}", got.error().message);
        } else if (writes_.empty()) {
            const auto t = now();
            for (auto& [domain, stored] : *got) {
                auto& svc = services_[domain];
                for (const auto& [who, reason] : stored.bans) {
                    auto it = svc.bans.find(who);
                    if (it == svc.bans.end()) {
                        spdlog::info("muc: {} banned from {} (from storage)", who, domain);
                        apply_ban_locked(svc, who, reason, out);
                    } else {
                        it->second = reason;
                    }
                }
                for (auto it = svc.bans.begin(); it != svc.bans.end();) {
                    if (stored.bans.count(it->first) == 0) {
                        spdlog::info("muc: ban of {} on {} lifted (gone from storage)", it->first, domain);
                        it = svc.bans.erase(it);
                    } else {
                        ++it;
                    }
                }
                // Only a room that was stored and whose last write is old enough: a newer one may be queued still,
                // or the room just created (not yet written) is simply not there yet.
                std::vector<room*> gone;
                for (auto& [name, r] : svc.rooms) {
                    if (r->config.persistent && r->persisted_at != 0 && t - r->persisted_at >= sync_grace &&
                        stored.rooms.count(name) == 0) {
                        gone.push_back(r.get());
                    }
                }
                for (room* r : gone) {
                    destroy_locked(svc, *r, "closed by the server's admins", {}, out);
                }
            }
        }
    }
    co_await purge();  // the closed rooms' archives
    co_await flush();  // what was queued while storage was read (and the closed rooms' deletions, now no-ops)
}

void muc_service::apply_ban_locked(service_state& svc, const std::string& who, const std::string& reason,
                                          outgoing& out) {
    svc.bans[who] = reason;
    const auto target = jid::parse(who);
    if (!target) {
        return;  // unparsable: it still refuses a join matching it exactly, and removes no one
    }
    std::vector<room*> emptied;
    for (auto& [name, r] : svc.rooms) {
        std::vector<std::string> banned;
        for (const auto& [nick, o] : r->occupants) {
            if (o.real.equals_bare(*target) || (!target->has_node() && o.real.domain() == target->domain())) {
                banned.push_back(nick);
            }
        }
        for (const auto& nick : banned) {
            remove_occupant_locked(*r, nick, {301}, reason, out);
        }
        if (!banned.empty()) {
            emptied.push_back(r.get());
        }
    }
    for (room* r : emptied) {
        destroy_if_abandoned_locked(*r, out);  // a temporary room nobody is in goes
    }
}

}  // namespace hush
