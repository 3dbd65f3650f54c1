// XEP-0045 iq: disco of the service and its rooms, the owner's configuration and destruction (muc#owner), the
// admins' and moderators' lists and changes (muc#admin), room registration, and XEP-0410 self-ping.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/adhoc.hpp"
#include "server/muc/muc_service.hpp"

namespace hush {

using muc_detail::occupant;
using muc_detail::room;

namespace {

constexpr std::string_view disco_info_ns = "http://jabber.org/protocol/disco#info";
constexpr std::string_view disco_items_ns = "http://jabber.org/protocol/disco#items";
using muc_detail::max_affiliations_per_room;
constexpr std::size_t max_items_per_request = 100;

pugi::xml_node first_element(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

pugi::xml_node add_query(stanza& reply, std::string_view ns) {
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(ns).c_str());
    return q;
}

pugi::xml_node add_form_field(pugi::xml_node form, const char* var, const std::string& value,
                              const char* label = nullptr) {
    auto f = form.append_child("field");
    f.append_attribute("var").set_value(var);
    if (label != nullptr) {
        f.append_attribute("label").set_value(label);
    }
    f.append_child("value").text().set(value.c_str());
    return f;
}

}  // namespace

void muc_service::iq_locked(const stanza& s, const jid& from, const jid& to, outgoing& out) {
    const std::string_view type = s.type();
    if (type != "get" && type != "set") {
        return;  // results and errors: the room asked nothing
    }
    auto svc = services_.find(to.domain());
    if (svc == services_.end()) {
        return;
    }
    std::optional<stanza> reply;
    if (!to.has_node()) {
        reply = service_iq_locked(s, svc->second);
    } else if (room* r = find_locked(to.bare()); r == nullptr) {
        reply = make_error_reply(s, "item-not-found", error_type::cancel, {});
    } else if (!to.is_bare()) {
        // XEP-0410: a client asks whether it is still joined under this nick.
        const auto payload = first_element(s);
        occupant* o = r->occupant_of(from);
        if (std::string_view(payload.name()) == "ping" && std::string_view(payload.attribute("xmlns").value()) == muc::ping_ns &&
            o != nullptr && o->nick == to.resource()) {
            reply = make_iq_result(s);
        } else if (o == nullptr) {
            reply = make_error_reply(s, "not-acceptable", error_type::cancel, "you are not in this room");
        } else {
            // Iq to another occupant is not relayed (its real JID stays the room's to show).
            reply = make_error_reply(s, r->occupants.count(to.resource()) != 0 ? "service-unavailable" : "item-not-found",
                                     error_type::cancel, {});
        }
    } else {
        const auto payload = first_element(s);
        const std::string_view ns = payload.attribute("xmlns").value();
        if (ns == disco_info_ns && type == "get") {
            reply = std::string_view(payload.attribute("node").value()).empty()
                        ? disco_info_locked(*r, s)
                        : make_error_reply(s, "item-not-found", error_type::cancel, {});
        } else if (ns == disco_items_ns && type == "get") {
            reply = make_iq_result(s);
            auto q = add_query(*reply, disco_items_ns);
            // The occupants are listed only to occupants of a non-public room.
            if (r->config.public_room || r->occupant_of(from) != nullptr) {
                for (const auto& [nick, o] : r->occupants) {
                    q.append_child("item").append_attribute("jid").set_value(
                        r->address.with_resource(nick).full_string().c_str());
                }
            }
        } else if (ns == muc::admin_ns) {
            reply = admin_iq_locked(*r, s, from, out);
        } else if (ns == muc::owner_ns) {
            reply = owner_iq_locked(*r, s, from, out);
        } else if (ns == "jabber:iq:register") {
            reply = register_iq_locked(*r, s, from);
        } else if (std::string_view(payload.name()) == "ping" && ns == muc::ping_ns) {
            reply = make_iq_result(s);
        } else {
            reply = make_error_reply(s, "service-unavailable", error_type::cancel, {});
        }
    }
    if (reply) {
        out.route(std::move(*reply));
    }
}

std::optional<stanza> muc_service::service_iq_locked(const stanza& s, service_state& svc) {
    const auto payload = first_element(s);
    const std::string_view ns = payload.attribute("xmlns").value();
    if (s.type() == "get" && ns == disco_info_ns && std::string_view(payload.attribute("node").value()).empty()) {
        stanza reply = make_iq_result(s);
        auto q = add_query(reply, disco_info_ns);
        auto identity = q.append_child("identity");
        identity.append_attribute("category").set_value("conference");
        identity.append_attribute("type").set_value("text");
        identity.append_attribute("name").set_value("Chatrooms");
        for (const auto& f : service_features()) {
            q.append_child("feature").append_attribute("var").set_value(f.c_str());
        }
        return reply;
    }
    if (s.type() == "get" && ns == disco_items_ns && std::string_view(payload.attribute("node").value()).empty()) {
        stanza reply = make_iq_result(s);
        auto q = add_query(reply, disco_items_ns);
        std::size_t listed = 0;
        for (const auto& [name, r] : svc.rooms) {
            // Public, configured rooms only; a hidden room is found by those who know its name.
            if (!r->config.public_room || r->locked) {
                continue;
            }
            if (++listed > 1000) {
                break;  // bounded; XEP-0059 paging is not implemented
            }
            auto item = q.append_child("item");
            item.append_attribute("jid").set_value(r->address.bare_string().c_str());
            item.append_attribute("name").set_value(
                (r->config.name.empty() ? r->address.node() : r->config.name).c_str());
        }
        return reply;
    }
    return make_error_reply(s, "service-unavailable", error_type::cancel, {});
}

stanza muc_service::disco_info_locked(const room& r, const stanza& s) const {
    stanza reply = make_iq_result(s);
    auto q = add_query(reply, disco_info_ns);
    auto identity = q.append_child("identity");
    identity.append_attribute("category").set_value("conference");
    identity.append_attribute("type").set_value("text");
    identity.append_attribute("name").set_value((r.config.name.empty() ? r.address.node() : r.config.name).c_str());
    for (const auto& f : room_features(r, static_cast<bool>(archive_.append))) {
        q.append_child("feature").append_attribute("var").set_value(f.c_str());
    }
    auto form = q.append_child("x");
    form.append_attribute("xmlns").set_value("jabber:x:data");
    form.append_attribute("type").set_value("result");
    add_form_field(form, "FORM_TYPE", std::string(muc::roominfo_form)).append_attribute("type").set_value("hidden");
    add_form_field(form, "muc#roominfo_description", r.config.description, "Description");
    add_form_field(form, "muc#roominfo_occupants", std::to_string(r.occupants.size()), "Number of occupants");
    add_form_field(form, "muc#roominfo_subject", r.subject, "Subject");
    add_form_field(form, "muc#roomconfig_roomname", r.config.name, "Title");
    if (!r.config.language.empty()) {
        add_form_field(form, "muc#roominfo_lang", r.config.language, "Language");
    }
    return reply;
}

std::optional<stanza> muc_service::owner_iq_locked(room& r, const stanza& s, const jid& from, outgoing& out) {
    if (r.affiliation_of(from) != muc::affiliation::owner || banned_locked(r, from)) {
        return make_error_reply(s, "forbidden", error_type::auth, "only the room's owners may");
    }
    const auto query = s.child("query", muc::owner_ns);
    if (s.type() == "get") {
        stanza reply = make_iq_result(s);
        auto q = add_query(reply, muc::owner_ns);
        muc::append_config_form(q, r.config, "form", options_.max_occupants_limit);
        return reply;
    }
    if (auto destroy = query.child("destroy")) {
        const std::string reason = destroy.child_value("reason");
        const std::string alternate = destroy.attribute("jid").value();
        stanza reply = make_iq_result(s);
        destroy_locked(services_[r.address.domain()], r, reason, alternate, out);
        return reply;
    }
    auto form = query.child("x");
    if (!form || std::string_view(form.attribute("xmlns").value()) != "jabber:x:data") {
        return make_error_reply(s, "bad-request", error_type::modify, {});
    }
    if (std::string_view(form.attribute("type").value()) == "cancel") {
        if (r.locked) {
            // XEP-0045 §10.1.3: cancelling a new room's configuration destroys it.
            stanza reply = make_iq_result(s);
            destroy_locked(services_[r.address.domain()], r, {}, {}, out);
            return reply;
        }
        return make_iq_result(s);
    }
    const muc::room_config before = r.config;
    const auto outcome = muc::apply_config_form(form, r.config, options_.max_occupants_limit);
    if (!outcome.ok) {
        return make_error_reply(s, "not-acceptable", error_type::modify, outcome.field + ": " + outcome.text);
    }
    const bool was_locked = r.locked;
    r.locked = false;
    if (r.config.persistent) {
        persist_room_locked(r);
        if (!before.persistent) {
            for (const auto& [who, e] : r.affiliations) {
                storage::muc_affiliation_record record{who, std::string(muc::affiliation_name(e.value)), e.nick,
                                                       e.reason};
                writes_.push_back([service = r.address.domain(), name = r.address.node(), record](storage::store& st) {
                    return st.set_muc_affiliation(service, name, record);
                });
            }
        }
    } else if (before.persistent) {
        writes_.push_back([service = r.address.domain(), name = r.address.node()](storage::store& st)
                              -> storage::result<void> {
            auto deleted = st.delete_muc_room(service, name);
            if (!deleted) {
                return hush::unexpected<storage::error>(deleted.error());
            }
            return {};
        });
    }
    if (!was_locked) {
        // XEP-0045 §10.2.1: occupants hear that the configuration changed (and how, where privacy changed).
        std::vector<int> codes{104};
        if (before.whois != r.config.whois) {
            codes.push_back(r.config.whois == muc::whois_policy::anyone ? 172 : 173);
        }
        if (before.enable_logging != r.config.enable_logging) {
            codes.push_back(r.config.enable_logging ? 170 : 171);
        }
        status_message_locked(r, codes, out);
    }
    if (r.config.members_only && !before.members_only) {
        std::vector<std::string> gone;
        for (const auto& [nick, o] : r.occupants) {
            if (r.affiliation_of(o.real) < muc::affiliation::member) {
                gone.push_back(nick);
            }
        }
        for (const auto& nick : gone) {
            remove_occupant_locked(r, nick, {322}, "the room is now for members only", out);
        }
    }
    stanza reply = make_iq_result(s);
    if (was_locked) {
        spdlog::info("muc: room {} configured by its owner", r.address.bare_string());
    }
    destroy_if_abandoned_locked(r, out);  // `r` may be gone from here on
    return reply;
}

std::optional<stanza> muc_service::admin_iq_locked(room& r, const stanza& s, const jid& from, outgoing& out) {
    occupant* actor = r.occupant_of(from);
    const auto actor_affiliation = r.affiliation_of(from);
    const auto query = s.child("query", muc::admin_ns);
    std::vector<muc::admin_item> items;
    for (auto item : query.children("item")) {
        if (items.size() >= max_items_per_request) {
            return make_error_reply(s, "resource-constraint", error_type::wait, "too many items");
        }
        items.push_back(muc::parse_admin_item(item));
        if (items.back().bad) {
            return make_error_reply(s, "bad-request", error_type::modify, {});
        }
    }
    if (items.empty()) {
        return make_error_reply(s, "bad-request", error_type::modify, {});
    }
    if (s.type() == "get") {
        // XEP-0045 §8.5, §9.x: moderators list roles; admins list members, outcasts, admins and owners.
        const auto& want = items.front();
        stanza reply = make_iq_result(s);
        auto q = add_query(reply, muc::admin_ns);
        if (want.role_value) {
            if (actor == nullptr || actor->role != muc::role::moderator) {
                return make_error_reply(s, "forbidden", error_type::auth, {});
            }
            for (const auto& [nick, o] : r.occupants) {
                if (o.role == *want.role_value) {
                    auto item = q.append_child("item");
                    item.append_attribute("nick").set_value(nick.c_str());
                    item.append_attribute("role").set_value(std::string(muc::role_name(o.role)).c_str());
                    item.append_attribute("affiliation").set_value(
                        std::string(muc::affiliation_name(r.affiliation_of(o.real))).c_str());
                    item.append_attribute("jid").set_value(o.real.bare_string().c_str());
                }
            }
            return reply;
        }
        if (!want.affiliation_value || actor_affiliation < muc::affiliation::admin) {
            if (!(want.affiliation_value && *want.affiliation_value == muc::affiliation::member &&
                  r.config.members_only && actor_affiliation == muc::affiliation::member)) {
                return make_error_reply(s, "forbidden", error_type::auth, {});
            }
        }
        for (const auto& [who, e] : r.affiliations) {
            if (e.value == *want.affiliation_value) {
                auto item = q.append_child("item");
                item.append_attribute("affiliation").set_value(std::string(muc::affiliation_name(e.value)).c_str());
                item.append_attribute("jid").set_value(who.c_str());
                if (!e.nick.empty()) {
                    item.append_attribute("nick").set_value(e.nick.c_str());
                }
                if (!e.reason.empty()) {
                    item.append_child("reason").text().set(e.reason.c_str());
                }
            }
        }
        return reply;
    }
    // A set: every item is checked before any is applied (all or nothing).
    struct change {
        muc::admin_item item;
        std::string bare;  // affiliation changes: the JID (bare or domain)
    };
    std::vector<change> changes;
    std::size_t owners = r.owners();
    for (const auto& item : items) {
        change c{item, {}};
        if (item.role_value) {
            auto target = r.occupants.find(item.nick);
            if (actor == nullptr || actor->role != muc::role::moderator) {
                return make_error_reply(s, "forbidden", error_type::auth, "only moderators may change roles");
            }
            if (target == r.occupants.end()) {
                return make_error_reply(s, "item-not-found", error_type::cancel, "no occupant " + item.nick);
            }
            const auto target_affiliation = r.affiliation_of(target->second.real);
            const bool about_moderator =
                *item.role_value == muc::role::moderator || target->second.role == muc::role::moderator;
            if (target_affiliation >= muc::affiliation::admin && target_affiliation >= actor_affiliation &&
                !target->second.real.equals_bare(from)) {
                return make_error_reply(s, "not-allowed", error_type::cancel, "not against an admin or owner");
            }
            if (about_moderator && actor_affiliation < muc::affiliation::admin) {
                return make_error_reply(s, "not-allowed", error_type::cancel, "moderators are made by admins");
            }
        } else if (item.affiliation_value) {
            auto target = jid::parse(item.jid);
            if (!target) {
                // XEP-0045 allows the nick of an occupant instead.
                auto by_nick = r.occupants.find(item.nick);
                if (by_nick == r.occupants.end()) {
                    return make_error_reply(s, "bad-request", error_type::modify, "a jid is required");
                }
                target = by_nick->second.real;
            }
            c.bare = target->bare_string();
            const auto now_value = r.affiliation_of(*target);
            const auto next = *item.affiliation_value;
            if (next == muc::affiliation::outcast && target->equals_bare(from)) {
                return make_error_reply(s, "conflict", error_type::cancel, "nobody bans themselves");  // §9.1
            }
            if (actor_affiliation < muc::affiliation::admin) {
                return make_error_reply(s, "forbidden", error_type::auth, "only admins change affiliations");
            }
            if (actor_affiliation == muc::affiliation::admin &&
                (now_value >= muc::affiliation::admin || next >= muc::affiliation::admin)) {
                return make_error_reply(s, "not-allowed", error_type::cancel, "only owners manage admins and owners");
            }
            if (now_value == muc::affiliation::owner && next != muc::affiliation::owner) {
                if (owners <= 1) {
                    return make_error_reply(s, "conflict", error_type::cancel, "a room keeps at least one owner");
                }
                --owners;
            }
            if (next == muc::affiliation::owner && now_value != muc::affiliation::owner) {
                ++owners;
            }
            if (r.affiliations.size() >= max_affiliations_per_room && r.affiliations.count(c.bare) == 0 &&
                next != muc::affiliation::none) {
                return make_error_reply(s, "resource-constraint", error_type::wait, "the room's lists are full");
            }
        } else {
            return make_error_reply(s, "bad-request", error_type::modify, {});
        }
        changes.push_back(std::move(c));
    }
    // Copied now: an item may remove the actor itself (a self-kick, a ban of its own domain).
    const std::string actor_xml =
        actor != nullptr ? "<actor nick='" + xml_escape(actor->nick) + "'/>" : std::string();
    actor = nullptr;
    for (const auto& c : changes) {
        if (c.item.role_value) {
            auto target = r.occupants.find(c.item.nick);
            if (target == r.occupants.end()) {
                continue;  // removed by an earlier item
            }
            if (*c.item.role_value == muc::role::none) {
                spdlog::info("muc: {} kicked from {} by {}", c.item.nick, r.address.bare_string(), from.bare_string());
                remove_occupant_locked(r, c.item.nick, {307}, c.item.reason, out);
                continue;
            }
            target->second.role = *c.item.role_value;
            if (options_.new_occupants_visitors) {
                // A moderator decided: the newcomers' waiting period no longer applies to it.
                r.first_joined[target->second.real.bare_string()] = *c.item.role_value == muc::role::visitor
                                                                          ? muc_detail::held_by_moderator
                                                                          : muc_detail::voiced;
            }
            const std::string reason_xml =
                c.item.reason.empty() ? std::string() : "<reason>" + xml_escape(c.item.reason) + "</reason>";
            broadcast_presence_locked(r, target->second, "", {}, out, actor_xml + reason_xml);
            continue;
        }
        const auto next = *c.item.affiliation_value;
        set_affiliation_locked(r, c.bare, next, c.item.reason, c.item.nick);
        std::vector<std::string> affected;
        for (const auto& [nick, o] : r.occupants) {
            if (o.real.bare_string() == c.bare || (!o.real.has_node() && o.real.domain() == c.bare) ||
                o.real.domain() == c.bare) {
                affected.push_back(nick);
            }
        }
        for (const auto& nick : affected) {
            occupant& o = r.occupants.at(nick);
            if (next == muc::affiliation::outcast) {
                spdlog::info("muc: {} banned from {} by {}", c.bare, r.address.bare_string(), from.bare_string());
                remove_occupant_locked(r, nick, {301}, c.item.reason, out);
            } else if (r.config.members_only && next < muc::affiliation::member) {
                remove_occupant_locked(r, nick, {321}, c.item.reason, out);
            } else {
                o.role = default_role_locked(r, o.real, next);
                broadcast_presence_locked(r, o, "", {}, out);
            }
        }
    }
    stanza reply = make_iq_result(s);
    destroy_if_abandoned_locked(r, out);  // `r` may be gone from here on
    return reply;
}

std::optional<stanza> muc_service::register_iq_locked(room& r, const stanza& s, const jid& from) {
    const auto* entry = r.entry_of(from);
    const auto a = r.affiliation_of(from);
    if (a == muc::affiliation::outcast || banned_locked(r, from)) {
        return make_error_reply(s, "forbidden", error_type::auth, {});
    }
    if (s.type() == "get") {
        stanza reply = make_iq_result(s);
        auto q = add_query(reply, "jabber:iq:register");
        if (entry != nullptr && !entry->nick.empty()) {
            q.append_child("registered");
            q.append_child("username").text().set(entry->nick.c_str());
            return reply;
        }
        q.append_child("instructions").text().set("Choose a nickname to reserve in this room.");
        auto form = q.append_child("x");
        form.append_attribute("xmlns").set_value("jabber:x:data");
        form.append_attribute("type").set_value("form");
        auto type = form.append_child("field");
        type.append_attribute("var").set_value("FORM_TYPE");
        type.append_attribute("type").set_value("hidden");
        type.append_child("value").text().set(std::string(muc::register_form).c_str());
        auto nick = form.append_child("field");
        nick.append_attribute("var").set_value("muc#register_roomnick");
        nick.append_attribute("type").set_value("text-single");
        nick.append_attribute("label").set_value("Nickname");
        nick.append_child("required");
        return reply;
    }
    const auto query = s.child("query", "jabber:iq:register");
    if (query.child("remove")) {
        if (a == muc::affiliation::owner && r.owners() <= 1) {
            return make_error_reply(s, "conflict", error_type::cancel, "a room keeps at least one owner");
        }
        set_affiliation_locked(r, from.bare_string(), muc::affiliation::none, {}, {});
        return make_iq_result(s);
    }
    if (r.config.members_only && a < muc::affiliation::member) {
        // Registering would make a member: in a members-only room, the admins decide who is one.
        return make_error_reply(s, "registration-required", error_type::auth, {});
    }
    if (a < muc::affiliation::member && newcomers_wait(r)) {
        // A member speaks at once: registering is no way around the newcomers' wait. Voiced (by a moderator or by
        // the period) first, then welcome.
        const auto joined = r.first_joined.find(from.bare_string());
        const bool voiced = joined != r.first_joined.end() &&
                            (joined->second == muc_detail::voiced ||
                             (joined->second >= 0 && now() - joined->second >= options_.visitor_period.count()));
        if (!voiced) {
            return make_error_reply(s, "not-allowed", error_type::cancel, "newcomers register once they have voice");
        }
    }
    auto form = query.child("x");
    const auto values = adhoc::form_values(form, "muc#register_roomnick");
    if (values.empty() || values.front().empty()) {
        return make_error_reply(s, "not-acceptable", error_type::modify, "a nickname is required");
    }
    const auto nick = jid::from_parts(r.address.node(), r.address.domain(), values.front());
    if (!nick) {
        return make_error_reply(s, "jid-malformed", error_type::modify, "not a valid nickname");
    }
    const std::string& n = nick->resource();
    auto held = r.occupants.find(n);
    if (r.nick_reserved_by_other(n, from) || (held != r.occupants.end() && !held->second.real.equals_bare(from))) {
        return make_error_reply(s, "conflict", error_type::cancel, "that nickname is taken");
    }
    if (r.affiliations.size() >= max_affiliations_per_room && r.affiliations.count(from.bare_string()) == 0) {
        return make_error_reply(s, "resource-constraint", error_type::wait, "the room's lists are full");
    }
    set_affiliation_locked(r, from.bare_string(), std::max(a, muc::affiliation::member), {}, n);
    return make_iq_result(s);
}

}  // namespace hush
