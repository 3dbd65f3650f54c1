#include "protocol/muc.hpp"

#include <charconv>
#include <initializer_list>
#include <utility>

#include "protocol/adhoc.hpp"
#include "protocol/data_form.hpp"
#include "protocol/pubsub.hpp"
#include "protocol/mam.hpp"

namespace hush::muc {

namespace {

using data_form::add_value;

using data_form::parse_bool;

template <class T>
std::optional<T> parse_number(std::string_view v) {
    T out{};
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || end != v.data() + v.size() || v.empty()) {
        return std::nullopt;
    }
    return out;
}

std::string_view pm_name(pm_policy p) {
    switch (p) {
    case pm_policy::anyone:
        return "anyone";
    case pm_policy::participants:
        return "participants";
    case pm_policy::moderators:
        return "moderators";
    case pm_policy::none:
        return "none";
    }
    return "anyone";
}

}  // namespace

std::string_view affiliation_name(affiliation a) {
    switch (a) {
    case affiliation::outcast:
        return "outcast";
    case affiliation::none:
        return "none";
    case affiliation::member:
        return "member";
    case affiliation::admin:
        return "admin";
    case affiliation::owner:
        return "owner";
    }
    return "none";
}

std::string_view role_name(role r) {
    switch (r) {
    case role::none:
        return "none";
    case role::visitor:
        return "visitor";
    case role::participant:
        return "participant";
    case role::moderator:
        return "moderator";
    }
    return "none";
}

std::optional<affiliation> parse_affiliation(std::string_view name) {
    for (auto a : {affiliation::outcast, affiliation::none, affiliation::member, affiliation::admin,
                   affiliation::owner}) {
        if (affiliation_name(a) == name) {
            return a;
        }
    }
    return std::nullopt;
}

std::optional<role> parse_role(std::string_view name) {
    for (auto r : {role::none, role::visitor, role::participant, role::moderator}) {
        if (role_name(r) == name) {
            return r;
        }
    }
    return std::nullopt;
}

form_outcome apply_config_form(pugi::xml_node form, room_config& c, std::size_t max_users_limit) {
    room_config next = c;
    form_outcome outcome;
    auto fail = [&](std::string_view var, std::string text) {
        outcome.ok = false;
        outcome.field = std::string(var);
        outcome.text = std::move(text);
    };
    for (auto field : form.children("field")) {
        const std::string_view var = field.attribute("var").value();
        const auto values = adhoc::form_values(form, var);
        const std::string value = values.empty() ? std::string() : values.front();
        auto boolean = [&](bool& target) {
            if (auto b = parse_bool(value)) {
                target = *b;
            } else {
                fail(var, "not a boolean");
            }
        };
        if (var == "muc#roomconfig_roomname") {
            next.name = value;
        } else if (var == "muc#roomconfig_roomdesc") {
            next.description = value;
        } else if (var == "muc#roomconfig_lang") {
            next.language = value;
        } else if (var == "muc#roomconfig_persistentroom") {
            boolean(next.persistent);
        } else if (var == "muc#roomconfig_publicroom") {
            boolean(next.public_room);
        } else if (var == "muc#roomconfig_membersonly") {
            boolean(next.members_only);
        } else if (var == "muc#roomconfig_moderatedroom") {
            boolean(next.moderated);
        } else if (var == "muc#roomconfig_passwordprotectedroom") {
            boolean(next.password_protected);
        } else if (var == "muc#roomconfig_roomsecret") {
            next.password = value;
        } else if (var == "muc#roomconfig_whois") {
            if (value == "moderators") {
                next.whois = whois_policy::moderators;
            } else if (value == "anyone") {
                next.whois = whois_policy::anyone;
            } else {
                fail(var, "moderators or anyone");
            }
        } else if (var == "muc#roomconfig_maxusers") {
            if (value == "none" || value.empty()) {
                next.max_users = max_users_limit;
            } else if (auto n = parse_number<std::size_t>(value); n && *n >= 1) {
                next.max_users = std::min(*n, max_users_limit);
            } else {
                fail(var, "a number of users");
            }
        } else if (var == "muc#roomconfig_allowinvites") {
            boolean(next.allow_invites);
        } else if (var == "muc#roomconfig_changesubject") {
            boolean(next.change_subject);
        } else if (var == "muc#roomconfig_allowpm") {
            bool known = false;
            for (auto p : {pm_policy::anyone, pm_policy::participants, pm_policy::moderators, pm_policy::none}) {
                if (pm_name(p) == value) {
                    next.allow_pm = p;
                    known = true;
                }
            }
            if (!known) {
                fail(var, "anyone, participants, moderators or none");
            }
        } else if (var == "muc#roomconfig_enablelogging") {
            boolean(next.enable_logging);
        } else if (var == "muc#roomconfig_defaultrole_participant") {
            boolean(next.members_by_default);
        }
        if (!outcome.ok) {
            return outcome;
        }
    }
    if (next.password_protected && next.password.empty()) {
        fail("muc#roomconfig_roomsecret", "a password-protected room needs a password");
        return outcome;
    }
    if (!next.password_protected) {
        next.password.clear();
    }
    c = std::move(next);
    return outcome;
}

void append_config_form(pugi::xml_node parent, const room_config& c, std::string_view type,
                        std::size_t max_users_limit) {
    data_form::builder form(parent, type, roomconfig_form);
    if (form.offers()) {
        form.form().prepend_child("title").text().set("Room configuration");  // XEP-0004: before the fields
    }
    form.text("muc#roomconfig_roomname", "Title", c.name);
    form.text("muc#roomconfig_roomdesc", "Description", c.description);
    form.text("muc#roomconfig_lang", "Language tag for room (e.g. 'en', 'de', 'fr' etc.)", c.language);
    form.boolean("muc#roomconfig_persistentroom", "Persistent (room should remain even when it is empty)",
                 c.persistent);
    form.boolean("muc#roomconfig_publicroom", "Include room information in public lists", c.public_room);
    form.boolean("muc#roomconfig_membersonly", "Only allow members to join", c.members_only);
    form.boolean("muc#roomconfig_moderatedroom", "Moderated (require voice to send messages)", c.moderated);
    form.boolean("muc#roomconfig_passwordprotectedroom", "Password protected", c.password_protected);
    form.text("muc#roomconfig_roomsecret", "Password", c.password, "text-private");
    form.list("muc#roomconfig_whois", "Addresses (JIDs) of room occupants may be viewed by:",
              c.whois == whois_policy::anyone ? "anyone" : "moderators",
              {{"moderators", "Moderators only"}, {"anyone", "Anyone"}});
    {
        auto f = form.field("muc#roomconfig_maxusers", "list-single", "Maximum number of occupants");
        for (std::size_t n : {10, 20, 50, 100, 200, 500, 1000}) {
            if (n <= max_users_limit) {
                form.option(f, std::to_string(n), std::to_string(n));
            }
        }
        add_value(f, std::to_string(c.max_users == 0 ? max_users_limit : c.max_users));
    }
    form.boolean("muc#roomconfig_allowinvites", "Allow members to invite new members", c.allow_invites);
    form.boolean("muc#roomconfig_changesubject", "Allow anyone to set the room's subject", c.change_subject);
    form.list("muc#roomconfig_allowpm", "Allow private messages", pm_name(c.allow_pm),
              {{"anyone", "Everyone"}, {"participants", "Participants"}, {"moderators", "Moderators"},
               {"none", "Nobody"}});
    form.boolean("muc#roomconfig_enablelogging", "Archive discussion (XEP-0313)", c.enable_logging);
    form.boolean("muc#roomconfig_defaultrole_participant", "New occupants may speak (else they join as visitors)",
                 c.members_by_default);
}

std::string serialize_config(const room_config& config) {
    pugi::xml_document doc;
    append_config_form(doc, config, "submit", 1000000);
    return pubsub::serialize_element(doc.first_child());
}

std::optional<room_config> parse_config(std::string_view stored, std::size_t max_users_limit) {
    pugi::xml_document doc;
    if (!doc.load_buffer(stored.data(), stored.size())) {
        return std::nullopt;
    }
    room_config c;
    if (!apply_config_form(doc.first_child(), c, max_users_limit).ok) {
        return std::nullopt;
    }
    return c;
}

history_request parse_history(pugi::xml_node history) {
    history_request h;
    if (!history) {
        return h;
    }
    if (auto v = history.attribute("maxchars")) {
        h.max_chars = parse_number<std::size_t>(v.value());
    }
    if (auto v = history.attribute("maxstanzas")) {
        h.max_stanzas = parse_number<std::size_t>(v.value());
    }
    if (auto v = history.attribute("seconds")) {
        h.seconds = parse_number<std::int64_t>(v.value());
    }
    if (auto v = history.attribute("since")) {
        if (auto t = mam::parse_datetime(v.value())) {
            h.since = *t / 1000000;  // microseconds
        }
    }
    return h;
}

admin_item parse_admin_item(pugi::xml_node item) {
    admin_item out;
    out.nick = item.attribute("nick").value();
    out.jid = item.attribute("jid").value();
    if (auto a = item.attribute("affiliation")) {
        out.affiliation_value = parse_affiliation(a.value());
        out.bad = out.bad || !out.affiliation_value;
    }
    if (auto r = item.attribute("role")) {
        out.role_value = parse_role(r.value());
        out.bad = out.bad || !out.role_value;
    }
    out.reason = item.child_value("reason");
    return out;
}

}  // namespace hush::muc
