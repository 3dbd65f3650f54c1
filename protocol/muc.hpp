#pragma once
// XEP-0045 Multi-User Chat, the payloads: affiliations and roles, a room's configuration and its muc#roomconfig
// form (one parser, one serializer: the stored form is the submitted one), the history a joining occupant asks for,
// and the muc#user / muc#admin items. No decisions here (server/muc/ makes them).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

namespace hush::muc {

inline constexpr std::string_view ns = "http://jabber.org/protocol/muc";
inline constexpr std::string_view user_ns = "http://jabber.org/protocol/muc#user";
inline constexpr std::string_view admin_ns = "http://jabber.org/protocol/muc#admin";
inline constexpr std::string_view owner_ns = "http://jabber.org/protocol/muc#owner";
inline constexpr std::string_view roomconfig_form = "http://jabber.org/protocol/muc#roomconfig";
inline constexpr std::string_view roominfo_form = "http://jabber.org/protocol/muc#roominfo";
inline constexpr std::string_view register_form = "http://jabber.org/protocol/muc#register";
inline constexpr std::string_view request_form = "http://jabber.org/protocol/muc#request";
inline constexpr std::string_view direct_invite_ns = "jabber:x:conference";       // XEP-0249
inline constexpr std::string_view occupant_id_ns = "urn:xmpp:occupant-id:0";     // XEP-0421
inline constexpr std::string_view ping_ns = "urn:xmpp:ping";                     // XEP-0199 / XEP-0410
inline constexpr std::string_view stable_id_feature = "http://jabber.org/protocol/muc#stable_id";
inline constexpr std::string_view self_ping_feature = "http://jabber.org/protocol/muc#self-ping-optimization";

// Ordered by privilege: a comparison says who may act on whom.
enum class affiliation : std::uint8_t { outcast, none, member, admin, owner };
enum class role : std::uint8_t { none, visitor, participant, moderator };

std::string_view affiliation_name(affiliation a);
std::string_view role_name(role r);
std::optional<affiliation> parse_affiliation(std::string_view name);
std::optional<role> parse_role(std::string_view name);

// Who may send private messages (muc#roomconfig_allowpm).
enum class pm_policy : std::uint8_t { anyone, participants, moderators, none };
// Who sees occupants' real JIDs (muc#roomconfig_whois): semi-anonymous (moderators) or non-anonymous (anyone).
enum class whois_policy : std::uint8_t { moderators, anyone };

// A room's configuration (XEP-0045 §10.2 / §15.5.3, the fields this server implements).
struct room_config {
    std::string name;
    std::string description;
    std::string language;
    bool persistent = false;
    bool public_room = true;          // listed in disco#items
    bool members_only = false;
    bool moderated = false;
    bool password_protected = false;
    std::string password;
    whois_policy whois = whois_policy::moderators;
    std::size_t max_users = 200;      // 0 means the service's limit
    bool allow_invites = false;       // occupants (not only admins) may invite
    bool change_subject = false;      // participants (not only moderators) may set the subject
    pm_policy allow_pm = pm_policy::anyone;
    bool enable_logging = false;      // the room is archived (XEP-0313), said to joiners with status 170
    bool members_by_default = true;   // new occupants without affiliation are participants (else visitors)

    bool operator==(const room_config&) const = default;
};

struct form_outcome {
    bool ok = true;
    std::string field;  // the offending field
    std::string text;
};

// Applies a submitted muc#roomconfig form (type submit). Fields not in the form keep their value; unknown fields are
// ignored (XEP-0045 §10.2: clients send the fields they were given). `max_users_limit` caps roomconfig_maxusers.
form_outcome apply_config_form(pugi::xml_node form, room_config& config, std::size_t max_users_limit);

// The configuration as a form: type "form" (what an owner fills, with labels and options) or "submit" (how it is
// stored, parsed back by apply_config_form).
void append_config_form(pugi::xml_node parent, const room_config& config, std::string_view type,
                        std::size_t max_users_limit);

// The stored form of a configuration and back (a submit form: one parser and one serializer).
std::string serialize_config(const room_config& config);
std::optional<room_config> parse_config(std::string_view stored, std::size_t max_users_limit);

// What a joining occupant asks of the history (XEP-0045 §7.2.15), from <x xmlns=muc><history/></x>.
struct history_request {
    std::optional<std::size_t> max_chars;
    std::optional<std::size_t> max_stanzas;
    std::optional<std::int64_t> seconds;
    std::optional<std::int64_t> since;  // unix seconds
};
history_request parse_history(pugi::xml_node history);

// One <item/> of a muc#admin request or a muc#user invitation/decline.
struct admin_item {
    std::string nick;
    std::string jid;
    std::optional<affiliation> affiliation_value;
    std::optional<role> role_value;
    std::string reason;
    bool bad = false;  // an affiliation or role attribute that names nothing
};
admin_item parse_admin_item(pugi::xml_node item);

}  // namespace hush::muc
