#include "server/muc/muc_room.hpp"

#include <algorithm>

namespace hush::muc_detail {

bool occupant::has_session(const jid& full) const {
    return std::any_of(sessions.begin(), sessions.end(), [&](const jid& s) { return s.equals_full(full); });
}

const affiliation_entry* room::entry_of(const jid& who) const {
    if (auto it = affiliations.find(who.bare_string()); it != affiliations.end()) {
        return &it->second;
    }
    if (auto it = affiliations.find(who.domain()); it != affiliations.end()) {
        return &it->second;  // a whole server's affiliation (an outcast domain)
    }
    return nullptr;
}

muc::affiliation room::affiliation_of(const jid& who) const {
    const auto* e = entry_of(who);
    return e != nullptr ? e->value : muc::affiliation::none;
}

occupant* room::occupant_of(const jid& full) {
    for (auto& [nick, o] : occupants) {
        if (o.has_session(full)) {
            return &o;
        }
    }
    return nullptr;
}

std::size_t room::owners() const {
    return static_cast<std::size_t>(std::count_if(affiliations.begin(), affiliations.end(), [](const auto& a) {
        return a.second.value == muc::affiliation::owner;
    }));
}

bool room::nick_reserved_by_other(const std::string& nick, const jid& who) const {
    for (const auto& [bare, e] : affiliations) {
        if (!e.nick.empty() && e.nick == nick && bare != who.bare_string()) {
            return true;
        }
    }
    return false;
}

bool room::sees_jids(const occupant* viewer) const {
    return config.whois == muc::whois_policy::anyone ||
           (viewer != nullptr && viewer->role == muc::role::moderator);
}

void add_status(pugi::xml_node x, const std::vector<int>& codes) {
    for (int code : codes) {
        x.append_child("status").append_attribute("code").set_value(code);
    }
}

void strip(stanza& s, std::string_view name, std::string_view ns) {
    auto e = s.element();
    for (auto c = e.first_child(); c;) {
        auto next = c.next_sibling();
        if (c.type() == pugi::node_element && std::string_view(c.name()) == name &&
            std::string_view(c.attribute("xmlns").value()) == ns) {
            e.remove_child(c);
        }
        c = next;
    }
}

stanza room::presence_of(const occupant& o, const occupant* viewer, std::string_view type,
                         const std::vector<int>& codes) const {
    stanza p = o.presence.valid() && type.empty() ? o.presence.clone() : stanza::make("presence");
    auto e = p.element();
    for (auto a = e.first_attribute(); a;) {
        auto next = a.next_attribute();
        e.remove_attribute(a);
        a = next;
    }
    if (!type.empty()) {
        e.remove_children();
        p.set_attribute("type", type);
    }
    // Whatever the client put in these, the room says them itself.
    strip(p, "x", muc::ns);
    strip(p, "x", muc::user_ns);
    strip(p, "occupant-id", muc::occupant_id_ns);
    p.set_attribute("from", address.with_resource(o.nick).full_string());
    auto x = e.append_child("x");
    x.append_attribute("xmlns").set_value(muc::user_ns.data());
    auto item = x.append_child("item");
    item.append_attribute("affiliation").set_value(std::string(muc::affiliation_name(affiliation_of(o.real))).c_str());
    item.append_attribute("role").set_value(
        std::string(muc::role_name(type == "unavailable" ? muc::role::none : o.role)).c_str());
    if (sees_jids(viewer) && !o.sessions.empty()) {
        item.append_attribute("jid").set_value(o.sessions.front().full_string().c_str());
    }
    add_status(x, codes);
    auto id = e.append_child("occupant-id");
    id.append_attribute("xmlns").set_value(muc::occupant_id_ns.data());
    id.append_attribute("id").set_value(o.occupant_id.c_str());
    return p;
}

}  // namespace hush::muc_detail
