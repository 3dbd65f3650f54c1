// The MUC service's frame: dispatch, loading and writing through to storage, rooms' archives, destruction. Presence
// (joining, leaving, nicks) is in muc_presence.cpp, messages in muc_messages.cpp, iq in muc_iq.cpp, the admins' side
// and periodic work in muc_admin.cpp, picking up hushctl's changes in muc_sync.cpp.
#include "server/muc/muc_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/mam.hpp"
#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"

namespace hush {

using muc_detail::occupant;
using muc_detail::room;

muc_service::muc_service(storage::async_store& store, const muc_config& options, std::vector<std::string> local_hosts,
                         std::vector<std::string> admins, std::string secret)
    : store_(store),
      options_(options),
      local_hosts_(std::move(local_hosts)),
      admins_(std::move(admins)),
      secret_(std::move(secret)) {
    for (const auto& domain : options_.services) {
        services_[domain];
    }
}

bool muc_service::serves(std::string_view domain) const {
    return std::find(options_.services.begin(), options_.services.end(), domain) != options_.services.end();
}

std::int64_t muc_service::now() const { return unix_now(); }

bool muc_service::is_admin(const jid& who) const {
    return std::find(admins_.begin(), admins_.end(), who.bare_string()) != admins_.end();
}

bool muc_service::is_local(const jid& who) const {
    return who.has_node() && std::find(local_hosts_.begin(), local_hosts_.end(), who.domain()) != local_hosts_.end();
}

std::string muc_service::occupant_id(const room& r, const jid& who) const {
    // XEP-0421: stable for a JID in a room, unlinkable across rooms, and no digest of a guessable string alone.
    return sasl::base64_encode(sasl::hmac_sha256(secret_, r.address.bare_string() + " " + who.bare_string()));
}

room* muc_service::find_locked(const jid& address) {
    auto svc = services_.find(address.domain());
    if (svc == services_.end()) {
        return nullptr;
    }
    auto it = svc->second.rooms.find(address.node());
    return it == svc->second.rooms.end() ? nullptr : it->second.get();
}

boost::asio::awaitable<bool> muc_service::load() {
    {
        std::lock_guard lock(mutex_);
        if (loaded_) {
            co_return true;
        }
    }
    struct loaded_room {
        storage::muc_room_record record;
        std::vector<storage::muc_affiliation_record> affiliations;
    };
    struct loaded_service {
        std::vector<loaded_room> rooms;
        std::vector<storage::muc_service_ban_record> bans;
    };
    const auto domains = options_.services;
    auto got = co_await store_.read([domains](storage::store& s) -> storage::result<std::map<std::string, loaded_service>> {
        std::map<std::string, loaded_service> out;
        for (const auto& domain : domains) {
            auto rooms = s.list_muc_rooms(domain);
            if (!rooms) {
                return hush::unexpected<storage::error>(rooms.error());
            }
            auto& svc = out[domain];
            for (auto& record : *rooms) {
                auto affiliations = s.get_muc_affiliations(domain, record.room);
                if (!affiliations) {
                    return hush::unexpected<storage::error>(affiliations.error());
                }
                svc.rooms.push_back({std::move(record), std::move(*affiliations)});
            }
            auto bans = s.list_muc_service_bans(domain);
            if (!bans) {
                return hush::unexpected<storage::error>(bans.error());
            }
            svc.bans = std::move(*bans);
        }
        return out;
    });
    if (!got) {
        spdlog::error("muc: cannot load the rooms: {}", got.error().message);
        co_return false;
    }
    std::lock_guard lock(mutex_);
    if (loaded_) {
        co_return true;  // another call loaded them first
    }
    std::size_t count = 0;
    for (auto& [domain, loaded] : *got) {
        auto& svc = services_[domain];
        for (auto& lr : loaded.rooms) {
            auto address = jid::from_parts(lr.record.room, domain, {});
            auto config = muc::parse_config(lr.record.config, options_.max_occupants_limit);
            if (!address || !config) {
                spdlog::error("muc: stored room {}@{} is unreadable; left out", lr.record.room, domain);
                continue;
            }
            auto r = std::make_unique<room>();
            r->address = *address;
            r->config = std::move(*config);
            r->created_at = lr.record.created_at;
            r->persisted_at = now();
            r->subject = lr.record.subject;
            r->subject_by = lr.record.subject_by;
            r->has_subject = !lr.record.subject.empty();
            for (const auto& a : lr.affiliations) {
                if (auto value = muc::parse_affiliation(a.affiliation)) {
                    r->affiliations[a.jid] = {*value, a.nick, a.reason};
                }
            }
            svc.rooms[lr.record.room] = std::move(r);
            ++count;
        }
        for (const auto& b : loaded.bans) {
            svc.bans[b.jid] = b.reason;
        }
    }
    loaded_ = true;
    spdlog::info("muc: {} persistent room(s) loaded on {} service(s)", count, got->size());
    co_return true;
}

boost::asio::awaitable<void> muc_service::handle(const stanza& s, const jid& from, const jid& to, outgoing& out) {
    if (!co_await load()) {
        if (!s.is_error() && s.type() != "result") {
            out.route(make_error_reply(s, "internal-server-error", error_type::wait, "rooms could not be loaded"));
        }
        co_return;
    }
    if (s.kind() == stanza_kind::iq && to.has_node() && to.is_bare() && s.child("query", mam::ns)) {
        co_await archive_query(s, from, to, out);
        co_return;
    }
    std::optional<archived_broadcast> archived;
    {
        std::lock_guard lock(mutex_);
        switch (s.kind()) {
        case stanza_kind::presence:
            presence_locked(s, from, to, out);
            break;
        case stanza_kind::message:
            message_locked(s, from, to, out, archived);
            break;
        case stanza_kind::iq:
            iq_locked(s, from, to, out);
            break;
        case stanza_kind::other:
            break;
        }
    }
    if (archived) {
        co_await archive_and_send(std::move(*archived), out);
    }
    co_await purge();
    co_await flush();
}

boost::asio::awaitable<void> muc_service::purge() {
    std::vector<jid> rooms;
    {
        std::lock_guard lock(mutex_);
        rooms = std::exchange(purges_, {});
    }
    if (!archive_.purge) {
        co_return;
    }
    for (const auto& room : rooms) {
        co_await archive_.purge(room);
    }
}

void muc_service::account_removed(const jid& account) {
    std::lock_guard lock(mutex_);
    const std::string bare = account.bare_string();
    for (auto& [domain, svc] : services_) {
        for (auto& [name, r] : svc.rooms) {
            if (auto it = r->affiliations.find(bare); it != r->affiliations.end() &&
                                                      it->second.value != muc::affiliation::outcast) {
                r->affiliations.erase(it);
            }
        }
    }
}

boost::asio::awaitable<void> muc_service::archive_and_send(archived_broadcast b, outgoing& out) {
    const auto id = co_await archive_.append(b.room, b.occupant, b.message.serialize());
    if (id) {
        const std::string text = std::to_string(*id);
        auto stamp = [&](stanza& m) {
            auto sid = m.element().append_child("stanza-id");
            sid.append_attribute("xmlns").set_value(mam::sid_ns.data());
            sid.append_attribute("id").set_value(text.c_str());
            sid.append_attribute("by").set_value(b.room.bare_string().c_str());
        };
        {
            std::lock_guard lock(mutex_);  // the history entry shares the message's document
            stamp(b.message);
        }
        for (auto& copy : b.copies) {
            stamp(copy);
        }
    }
    for (auto& copy : b.copies) {
        out.route(std::move(copy));
    }
}

boost::asio::awaitable<void> muc_service::archive_query(const stanza& s, const jid& from, const jid& to,
                                                        outgoing& out) {
    std::optional<stanza> refused;
    {
        std::lock_guard lock(mutex_);
        room* r = find_locked(to.bare());
        if (r == nullptr) {
            refused = make_error_reply(s, "item-not-found", error_type::cancel, {});
        } else if (!r->config.enable_logging || !archive_.query) {
            refused = make_error_reply(s, "feature-not-implemented", error_type::cancel, "this room is not archived");
        } else {
            const auto a = r->affiliation_of(from);
            const bool open = r->config.public_room && !r->config.members_only && !r->config.password_protected;
            if (a == muc::affiliation::outcast || banned_locked(*r, from) ||
                (!open && a < muc::affiliation::member && r->occupant_of(from) == nullptr)) {
                refused = make_error_reply(s, "forbidden", error_type::auth, "only the room's occupants and members");
            }
        }
    }
    if (refused) {
        out.route(std::move(*refused));
        co_return;
    }
    out.route(co_await archive_.query(s, to.bare(), from, is_local(from), out));
}

boost::asio::awaitable<void> muc_service::flush() {
    {
        std::lock_guard lock(mutex_);
        if (flushing_ || writes_.empty()) {
            co_return;  // the flusher at work takes what was just added, in order
        }
        flushing_ = true;
    }
    for (;;) {
        std::vector<write> batch;
        {
            std::lock_guard lock(mutex_);
            batch = std::exchange(writes_, {});
            if (batch.empty()) {
                flushing_ = false;
                co_return;
            }
        }
        // Each write on its own: one that fails (logged) does not take the others of the batch with it.
        auto done = co_await store_.run([batch = std::move(batch)](storage::store& s) -> storage::result<std::size_t> {
            std::size_t failed = 0;
            for (const auto& w : batch) {
                if (auto r = w(s); !r) {
                    spdlog::error("muc: writing a room to storage failed: {}", r.error().message);
                    ++failed;
                }
            }
            return failed;
        });
        if (!done) {
            spdlog::error("muc: writing rooms to storage failed: {}", done.error().message);
        }
    }
}

void muc_service::persist_room_locked(room& r) {
    if (!r.config.persistent) {
        return;
    }
    r.persisted_at = now();
    storage::muc_room_record record;
    record.service = r.address.domain();
    record.room = r.address.node();
    record.config = muc::serialize_config(r.config);
    record.subject = r.subject;
    record.subject_by = r.subject_by;
    record.created_at = r.created_at;
    writes_.push_back([record](storage::store& s) { return s.put_muc_room(record); });
}

void muc_service::set_affiliation_locked(room& r, const std::string& who, muc::affiliation a,
                                         const std::string& reason, const std::string& nick) {
    if (a == muc::affiliation::none) {
        r.affiliations.erase(who);
    } else {
        auto& e = r.affiliations[who];
        e.value = a;
        e.reason = reason;
        if (!nick.empty() || a == muc::affiliation::outcast) {
            e.nick = nick;
        }
    }
    if (!r.config.persistent) {
        return;
    }
    storage::muc_affiliation_record record;
    record.jid = who;
    record.affiliation = std::string(muc::affiliation_name(a));
    if (auto it = r.affiliations.find(who); it != r.affiliations.end()) {
        record.nick = it->second.nick;
        record.reason = it->second.reason;
    }
    writes_.push_back([service = r.address.domain(), name = r.address.node(), record](storage::store& s) {
        return s.set_muc_affiliation(service, name, record);
    });
}

void muc_service::send_to_occupant(const occupant& o, const stanza& s, outgoing& out) const {
    for (const auto& session : o.sessions) {
        stanza copy = s.clone();
        copy.set_attribute("to", session.full_string());
        out.route(std::move(copy));
    }
}

void muc_service::status_message_locked(const room& r, const std::vector<int>& codes, outgoing& out) const {
    stanza m = stanza::make("message");
    m.set_attribute("type", "groupchat");
    m.set_attribute("from", r.address.bare_string());
    auto x = m.element().append_child("x");
    x.append_attribute("xmlns").set_value(muc::user_ns.data());
    muc_detail::add_status(x, codes);
    for (const auto& [nick, o] : r.occupants) {
        send_to_occupant(o, m, out);
    }
}

void muc_service::destroy_locked(service_state& svc, room& r, const std::string& reason, const std::string& alternate,
                                 outgoing& out) {
    for (const auto& [nick, o] : r.occupants) {
        stanza p = r.presence_of(o, &o, "unavailable", {});
        auto x = p.child("x", muc::user_ns);
        auto destroy = x.append_child("destroy");
        if (!alternate.empty()) {
            destroy.append_attribute("jid").set_value(alternate.c_str());
        }
        if (!reason.empty()) {
            destroy.append_child("reason").text().set(reason.c_str());
        }
        send_to_occupant(o, p, out);
    }
    if (r.config.persistent) {
        writes_.push_back([service = r.address.domain(), name = r.address.node()](storage::store& s)
                              -> storage::result<void> {
            auto deleted = s.delete_muc_room(service, name);
            if (!deleted) {
                return hush::unexpected<storage::error>(deleted.error());
            }
            return {};
        });
    }
    // The archive goes through the archive's own queue, after anything of the room still being written there.
    purges_.push_back(r.address);
    spdlog::info("muc: room {} destroyed{}", r.address.bare_string(), reason.empty() ? "" : " (" + reason + ")");
    for (const auto& [nick, o] : r.occupants) {
        occupant_removed_locked(r, o);
    }
    svc.rooms.erase(r.address.node());  // `r` is gone from here on
}

bool muc_service::banned_locked(const room& r, const jid& who) const {
    auto svc = services_.find(r.address.domain());
    return svc != services_.end() &&
           (svc->second.bans.count(who.bare_string()) != 0 || svc->second.bans.count(who.domain()) != 0);
}

bool muc_service::destroy_if_abandoned_locked(room& r, outgoing& out) {
    if (!r.occupants.empty() || r.config.persistent) {
        return false;
    }
    destroy_locked(services_[r.address.domain()], r, {}, {}, out);
    return true;
}

std::vector<std::string> muc_service::service_features() {
    return {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
            std::string(muc::ns), std::string(muc::occupant_id_ns)};
}

std::vector<std::string> muc_service::room_features(const room& r, bool archived) {
    const auto& c = r.config;
    std::vector<std::string> f = {"http://jabber.org/protocol/disco#info",
                                  "http://jabber.org/protocol/disco#items",
                                  std::string(muc::ns),
                                  std::string(muc::stable_id_feature),
                                  std::string(muc::self_ping_feature),
                                  std::string(muc::occupant_id_ns),
                                  "jabber:iq:register",
                                  c.public_room ? "muc_public" : "muc_hidden",
                                  c.persistent ? "muc_persistent" : "muc_temporary",
                                  c.members_only ? "muc_membersonly" : "muc_open",
                                  c.moderated ? "muc_moderated" : "muc_unmoderated",
                                  c.password_protected ? "muc_passwordprotected" : "muc_unsecured",
                                  c.whois == muc::whois_policy::anyone ? "muc_nonanonymous" : "muc_semianonymous"};
    if (archived && c.enable_logging) {
        f.emplace_back(mam::ns);
    }
    std::sort(f.begin(), f.end());
    return f;
}

}  // namespace hush
