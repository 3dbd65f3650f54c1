#pragma once
// RFC 6121 §2.1 roster items on the wire: one parser (for roster sets) and one serializer (results and pushes).
#include <string>

#include <pugixml.hpp>

#include "protocol/expected.hpp"
#include "protocol/roster_item.hpp"

namespace hush::roster_payload {

inline constexpr const char* ns = "jabber:iq:roster";

// What a client may set: jid, name, groups, or removal. Subscription state is the server's (RFC 6121 §2.1.2.5).
struct item_update {
    std::string contact;  // normalized bare JID
    std::string name;
    std::vector<std::string> groups;
    bool remove = false;
};

// Errors carry the stanza error condition to answer with (bad-request, not-acceptable, jid-malformed).
struct parse_error {
    std::string condition;
    std::string text;
};

// Parses the single <item/> of a roster set query (RFC 6121 §2.3.3).
hush::expected<item_update, parse_error> parse_set(pugi::xml_node query);

// Appends <item jid name subscription [ask]><group/>...</item> to `query`.
void append_item(pugi::xml_node query, const roster_item& item);

}  // namespace hush::roster_payload
