// XEP-0045 presence: entering a room (creating it), leaving, changing nick or status, and the broadcasts.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/xep0082.hpp"
#include "server/muc/muc_service.hpp"

namespace hush {

using muc_detail::occupant;
using muc_detail::room;

namespace {

constexpr std::size_t max_sessions_per_occupant = 10;
constexpr std::size_t max_first_joined = 10000;

}  // namespace

void muc_service::broadcast_presence_locked(const room& r, const occupant& subject, std::string_view type,
                                            const std::vector<int>& codes, outgoing& out,
                                            const std::string& extra_xml) {
    for (const auto& [nick, viewer] : r.occupants) {
        std::vector<int> viewer_codes = codes;
        if (&viewer == &subject) {
            viewer_codes.push_back(110);
        }
        stanza p = r.presence_of(subject, &viewer, type, viewer_codes);
        if (!extra_xml.empty()) {
            pugi::xml_document extra;
            if (extra.load_string(extra_xml.c_str())) {
                auto item = p.child("x", muc::user_ns).child("item");
                for (auto c : extra.children()) {
                    item.append_copy(c);
                }
            }
        }
        send_to_occupant(viewer, p, out);
    }
}

muc::role muc_service::default_role_locked(room& r, const jid& who, muc::affiliation a) {
    if (a >= muc::affiliation::admin) {
        return muc::role::moderator;
    }
    if (a == muc::affiliation::member) {
        return muc::role::participant;
    }
    if (r.config.moderated || !r.config.members_by_default) {
        return muc::role::visitor;
    }
    if (options_.new_occupants_visitors && r.config.public_room && !r.config.members_only) {
        // Anti-SPIM: a newcomer to a public room listens first, until a moderator voices it or the period passes.
        const auto t = now();
        const std::string key = who.bare_string();
        auto [it, fresh] = r.first_joined.try_emplace(key, t);
        if (it->second == muc_detail::voiced) {
            return muc::role::participant;
        }
        if (it->second == muc_detail::held_by_moderator) {
            return muc::role::visitor;
        }
        const bool waits = t - it->second < options_.visitor_period.count();
        if (fresh && r.first_joined.size() > max_first_joined) {
            // Bounded: the newcomer who came first is forgotten (it waited longest). A moderator's decision and
            // the one just made are never the ones to go; when only those are left, the newcomer is not kept.
            auto oldest = r.first_joined.end();
            for (auto e = r.first_joined.begin(); e != r.first_joined.end(); ++e) {
                if (e->second >= 0 && e->first != key && (oldest == r.first_joined.end() || e->second < oldest->second)) {
                    oldest = e;
                }
            }
            r.first_joined.erase(oldest != r.first_joined.end() ? oldest : r.first_joined.find(key));
        }
        if (waits) {
            return muc::role::visitor;
        }
    }
    return muc::role::participant;
}

std::size_t muc_service::rooms_of_locked(const service_state& svc, const jid& who, bool owned) const {
    if (!owned) {
        auto it = svc.rooms_joined.find(who.bare_string());
        return it == svc.rooms_joined.end() ? 0 : it->second;
    }
    std::size_t n = 0;  // rooms owned: counted on creation only, which is rare
    for (const auto& [name, r] : svc.rooms) {
        n += r->affiliation_of(who) == muc::affiliation::owner ? 1 : 0;
    }
    return n;
}

void muc_service::occupant_added_locked(const room& r, const occupant& o) {
    ++services_[r.address.domain()].rooms_joined[o.real.bare_string()];
}

void muc_service::occupant_removed_locked(const room& r, const occupant& o) {
    auto& joined = services_[r.address.domain()].rooms_joined;
    if (auto it = joined.find(o.real.bare_string()); it != joined.end() && --it->second == 0) {
        joined.erase(it);  // bounded by the occupants there are
    }
}

void muc_service::presence_locked(const stanza& s, const jid& from, const jid& to, outgoing& out) {
    const std::string_view type = s.type();
    auto svc_it = services_.find(to.domain());
    if (svc_it == services_.end()) {
        return;
    }
    room* r = find_locked(to.bare());
    if (type == "unavailable" || type == "error") {
        // Leaving (an error from an occupant's client means it is gone: XEP-0045 §7.14 lets rooms treat it so).
        if (r == nullptr) {
            return;
        }
        if (occupant* o = r->occupant_of(from)) {
            leave_locked(*r, *o, from, type == "unavailable" ? s.element().child_value("status") : "", out);
            if (r->occupants.empty() && !r->config.persistent) {
                destroy_locked(svc_it->second, *r, {}, {}, out);
            }
        }
        return;
    }
    if (!type.empty()) {
        // Subscriptions and probes are not for rooms.
        if (type == "subscribe" || type == "probe") {
            out.route(make_error_reply(s, "bad-request", error_type::modify, {}));
        }
        return;
    }
    if (to.is_bare() || !to.has_node()) {
        out.route(make_error_reply(s, "jid-malformed", error_type::modify, "a room and a nickname are required"));
        return;
    }
    if (r != nullptr) {
        if (occupant* o = r->occupant_of(from)) {
            if (o->nick != to.resource()) {
                change_nick_locked(*r, *o, s, from, to, out);
            } else if (s.child("x", muc::ns)) {
                // A join from a session that is joined already (a client that lost track, a resumed stream): the
                // whole join again, as a client waits for it — presences, its own with 110, history, subject.
                o->presence = s.clone();
                for (const auto& [other_nick, other] : r->occupants) {
                    if (&other != o) {
                        stanza p = r->presence_of(other, o, "", {});
                        p.set_attribute("to", from.full_string());
                        out.route(std::move(p));
                    }
                }
                stanza self = r->presence_of(*o, o, "", {110});
                self.set_attribute("to", from.full_string());
                out.route(std::move(self));
                history_locked(*r, from, s.child("x", muc::ns), out);
            } else if (!take_token_locked(*o)) {
                // Status text reaches every occupant: it spends from the same allowance as messages.
                out.route(make_error_reply(s, "policy-violation", error_type::wait, "too many presence changes"));
            } else {
                o->presence = s.clone();  // a status change
                broadcast_presence_locked(*r, *o, "", {}, out);
            }
            return;
        }
    }
    join_locked(s, from, to, svc_it->second, r, out);
}

void muc_service::join_locked(const stanza& s, const jid& from, const jid& to, service_state& svc, room* r,
                              outgoing& out) {
    const auto x = s.child("x", muc::ns);
    const std::string& nick = to.resource();
    std::vector<int> self_codes;
    if (svc.bans.count(from.bare_string()) != 0 || svc.bans.count(from.domain()) != 0) {
        out.route(make_error_reply(s, "forbidden", error_type::auth, "banned from this service"));
        return;
    }
    const bool another_session = r != nullptr && r->occupants.count(nick) != 0 &&
                                 r->occupants.at(nick).real.equals_bare(from);
    if (!another_session && rooms_of_locked(svc, from, false) >= options_.max_rooms_per_user) {
        // Checked before anything is created: a refused join leaves no empty room behind.
        out.route(make_error_reply(s, "resource-constraint", error_type::wait, "you are in as many rooms as one may be"));
        return;
    }
    if (r == nullptr) {
        // Creating a room (XEP-0045 §10.1): this server's accounts (or only its admins) may.
        if (!is_local(from) || (options_.room_creators_admins_only && !is_admin(from))) {
            out.route(make_error_reply(s, "not-allowed", error_type::cancel, "rooms are created by this server's users"));
            return;
        }
        if (svc.rooms.size() >= options_.max_rooms) {
            out.route(make_error_reply(s, "resource-constraint", error_type::wait, "this service has all the rooms it keeps"));
            return;
        }
        if (rooms_of_locked(svc, from, true) >= options_.max_rooms_per_owner) {
            out.route(make_error_reply(s, "not-allowed", error_type::cancel, "you own as many rooms as one may"));
            return;
        }
        auto created = std::make_unique<room>();
        created->address = to.bare();
        created->created_at = now();
        created->config.max_users = options_.max_occupants;
        created->config.enable_logging = static_cast<bool>(archive_.append);  // XEP-0313 where the server archives
        // A client that speaks MUC gets a locked room to configure; one that does not (no <x/>), an instant room.
        created->locked = static_cast<bool>(x);
        created->affiliations[from.bare_string()] = {muc::affiliation::owner, {}, {}};
        r = created.get();
        svc.rooms[to.node()] = std::move(created);
        self_codes.push_back(201);
        purges_.push_back(r->address);  // nothing of an earlier room of that name is this room's archive
        spdlog::info("muc: room {} created by {}", r->address.bare_string(), from.bare_string());
    } else {
        const auto a = r->affiliation_of(from);
        if (r->locked && a != muc::affiliation::owner) {
            out.route(make_error_reply(s, "item-not-found", error_type::cancel, "the room is being configured"));
            return;
        }
        if (a == muc::affiliation::outcast) {
            out.route(make_error_reply(s, "forbidden", error_type::auth, "banned from this room"));
            return;
        }
        if (r->config.members_only && a < muc::affiliation::member) {
            out.route(make_error_reply(s, "registration-required", error_type::auth, "this room is for its members"));
            return;
        }
        if (r->config.password_protected && a < muc::affiliation::admin &&
            (!x || std::string_view(x.child_value("password")) != r->config.password)) {
            out.route(make_error_reply(s, "not-authorized", error_type::auth, "a password is required"));
            return;
        }
        if (r->nick_reserved_by_other(nick, from)) {
            out.route(make_error_reply(s, "conflict", error_type::cancel, "that nickname is reserved"));
            return;
        }
        if (auto held = r->occupants.find(nick); held != r->occupants.end()) {
            if (!held->second.real.equals_bare(from)) {
                out.route(make_error_reply(s, "conflict", error_type::cancel, "that nickname is in use"));
                return;
            }
            // XEP-0045 §7.2: the same person from another device shares the nick.
            occupant& o = held->second;
            if (o.sessions.size() >= max_sessions_per_occupant) {
                out.route(make_error_reply(s, "resource-constraint", error_type::wait, "too many sessions under one nick"));
                return;
            }
            o.sessions.push_back(from);
            o.presence = s.clone();
            for (const auto& [other_nick, other] : r->occupants) {
                if (&other != &o) {
                    stanza p = r->presence_of(other, &o, "", {});
                    p.set_attribute("to", from.full_string());
                    out.route(std::move(p));
                }
            }
            broadcast_presence_locked(*r, o, "", {}, out);
            history_locked(*r, from, x, out);
            return;
        }
        const std::size_t limit = r->config.max_users == 0 ? options_.max_occupants_limit : r->config.max_users;
        if (r->occupants.size() >= limit && a < muc::affiliation::admin) {
            out.route(make_error_reply(s, "service-unavailable", error_type::wait, "the room is full"));
            return;
        }
    }
    {
        occupant o;
        o.nick = nick;
        o.real = from.bare();
        o.sessions = {from};
        o.role = default_role_locked(*r, from, r->affiliation_of(from));
        o.presence = s.clone();
        o.occupant_id = occupant_id(*r, from);
        o.tokens = static_cast<double>(options_.flood_burst);
        o.refilled = muc_detail::clock::now();
        // Everyone already there, to the newcomer; then the newcomer to everyone (itself last, with 110).
        for (const auto& [other_nick, other] : r->occupants) {
            stanza p = r->presence_of(other, &o, "", {});
            p.set_attribute("to", from.full_string());
            out.route(std::move(p));
        }
        auto [it, inserted] = r->occupants.emplace(nick, std::move(o));
        occupant& joined = it->second;
        occupant_added_locked(*r, joined);
        if (r->config.whois == muc::whois_policy::anyone) {
            self_codes.push_back(100);
        }
        if (r->config.enable_logging) {
            self_codes.push_back(170);
        }
        for (const auto& [other_nick, viewer] : r->occupants) {
            std::vector<int> codes;
            if (&viewer == &joined) {
                codes = self_codes;
                codes.push_back(110);
            }
            stanza p = r->presence_of(joined, &viewer, "", codes);
            send_to_occupant(viewer, p, out);
        }
        // A new, locked room has no history; its (empty) subject still ends the join, which clients wait for.
    }
    history_locked(*r, from, x, out);
}

void muc_service::history_locked(const room& r_, const jid& from, pugi::xml_node x, outgoing& out) const {
    const room* r = &r_;
    {
        const auto h = muc::parse_history(x ? x.child("history") : pugi::xml_node());
        const auto t = now();
        std::vector<const muc_detail::history_entry*> chosen;
        std::size_t chars = 0;
        for (auto it = r->history.rbegin(); it != r->history.rend(); ++it) {
            if (h.max_stanzas && chosen.size() >= *h.max_stanzas) {
                break;
            }
            if (h.seconds && t - it->at > *h.seconds) {
                break;
            }
            if (h.since && it->at < *h.since) {
                break;
            }
            if (h.max_chars && chars + it->chars > *h.max_chars) {
                break;
            }
            chars += it->chars;
            chosen.push_back(&*it);
        }
        for (auto it = chosen.rbegin(); it != chosen.rend(); ++it) {
            stanza m = (*it)->message.clone();
            m.set_attribute("to", from.full_string());
            auto delay = m.element().append_child("delay");
            delay.append_attribute("xmlns").set_value("urn:xmpp:delay");
            delay.append_attribute("from").set_value(r->address.bare_string().c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp((*it)->at).c_str());
            out.route(std::move(m));
        }
        // XEP-0045 §7.2.15: the subject comes last, also when there is none (clients wait for it).
        stanza subject = stanza::make("message");
        subject.set_attribute("type", "groupchat");
        subject.set_attribute("from", r->has_subject && !r->subject_by.empty()
                                          ? r->address.with_resource(r->subject_by).full_string()
                                          : r->address.bare_string());
        subject.set_attribute("to", from.full_string());
        subject.element().append_child("subject").text().set(r->subject.c_str());
        out.route(std::move(subject));
    }
}

void muc_service::leave_locked(room& r, occupant& o, const jid& session, const std::string& status, outgoing& out) {
    if (o.sessions.size() > 1) {
        // One device of a multi-session occupant: only that session hears it left.
        stanza p = r.presence_of(o, &o, "unavailable", {110});
        p.set_attribute("to", session.full_string());
        out.route(std::move(p));
        o.sessions.erase(std::remove_if(o.sessions.begin(), o.sessions.end(),
                                        [&](const jid& s) { return s.equals_full(session); }),
                         o.sessions.end());
        return;
    }
    std::string extra;
    for (const auto& [nick, viewer] : r.occupants) {
        std::vector<int> codes;
        if (&viewer == &o) {
            codes.push_back(110);
        }
        stanza p = r.presence_of(o, &viewer, "unavailable", codes);
        if (!status.empty()) {
            p.element().append_child("status").text().set(status.c_str());
        }
        send_to_occupant(viewer, p, out);
    }
    occupant_removed_locked(r, o);
    const std::string nick = o.nick;  // `o` is the map's own element
    r.occupants.erase(nick);
}

void muc_service::change_nick_locked(room& r, occupant& o, const stanza& s, const jid& from, const jid& to,
                                     outgoing& out) {
    const std::string& nick = to.resource();
    if (r.occupants.count(nick) != 0 || r.nick_reserved_by_other(nick, from)) {
        out.route(make_error_reply(s, "conflict", error_type::cancel, "that nickname is in use"));
        return;
    }
    // XEP-0045 §7.6: unavailable with 303 and the new nick under the old one, then available under the new one.
    for (const auto& [other_nick, viewer] : r.occupants) {
        std::vector<int> codes{303};
        if (&viewer == &o) {
            codes.push_back(110);
        }
        stanza p = r.presence_of(o, &viewer, "unavailable", codes);
        p.child("x", muc::user_ns).child("item").append_attribute("nick").set_value(nick.c_str());
        send_to_occupant(viewer, p, out);
    }
    occupant moved = std::move(o);
    r.occupants.erase(moved.nick);
    moved.nick = nick;
    moved.presence = s.clone();
    auto [it, inserted] = r.occupants.emplace(nick, std::move(moved));
    broadcast_presence_locked(r, it->second, "", {}, out);
}

void muc_service::remove_occupant_locked(room& r, const std::string& nick, const std::vector<int>& codes,
                                         const std::string& reason, outgoing& out) {
    auto it = r.occupants.find(nick);
    if (it == r.occupants.end()) {
        return;
    }
    occupant& o = it->second;
    for (const auto& [other_nick, viewer] : r.occupants) {
        std::vector<int> viewer_codes = codes;
        if (&viewer == &o) {
            viewer_codes.push_back(110);
        }
        stanza p = r.presence_of(o, &viewer, "unavailable", viewer_codes);
        if (!reason.empty()) {
            p.child("x", muc::user_ns).child("item").append_child("reason").text().set(reason.c_str());
        }
        send_to_occupant(viewer, p, out);
    }
    occupant_removed_locked(r, o);
    r.occupants.erase(it);
}

}  // namespace hush
