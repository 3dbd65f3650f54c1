#pragma once
// Group chat bookmarks in their two forms: XEP-0048's <storage xmlns='storage:bookmarks'/> (kept by old clients in
// XEP-0049 private XML) and XEP-0402's one <conference xmlns='urn:xmpp:bookmarks:1'/> per PEP item (its id the room's
// JID). One parser and one serializer each; the server converts between them (XEP-0402 §5.3 compatibility).
#include <optional>
#include <string>
#include <vector>

#include <pugixml.hpp>

namespace hush::bookmarks {

inline constexpr std::string_view legacy_ns = "storage:bookmarks";
inline constexpr std::string_view pep_node = "urn:xmpp:bookmarks:1";
inline constexpr std::string_view compat_feature = "urn:xmpp:bookmarks:1#compat";

struct conference {
    std::string jid;  // the room, normalized bare JID
    std::string name;
    bool autojoin = false;
    std::string nick;
    std::string password;
    std::string extensions;  // XEP-0402's <extensions/>, serialized: kept, never shown to XEP-0048 clients

    bool operator==(const conference&) const = default;
    // The same bookmark as far as XEP-0048 can say (extensions aside).
    bool same_legacy(const conference& o) const {
        return jid == o.jid && name == o.name && autojoin == o.autojoin && nick == o.nick && password == o.password;
    }
};

// XEP-0048 <storage/>: its conferences (those with a valid room JID; URLs are not kept: XEP-0402 has none).
std::vector<conference> parse_storage(pugi::xml_node storage);
void append_storage(pugi::xml_node parent, const std::vector<conference>& conferences);

// XEP-0402: an item's payload, and the room JID its id names.
std::optional<conference> parse_conference(std::string_view item_id, std::string_view payload_xml);
std::string serialize_conference(const conference& c);

}  // namespace hush::bookmarks
