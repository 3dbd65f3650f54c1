#pragma once
// XEP-0016 privacy lists: the model, its one parser and one serializer (<list/> element), and the matching
// rules (§2.1 JID matching, §2.2 ordering and stanza kinds). XEP-0191 blocklists are evaluated with the same code
// by turning them into a list of deny items.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/expected.hpp"
#include "protocol/jid.hpp"
#include "protocol/roster_item.hpp"

namespace hush::privacy {

enum class item_type { any, jid, group, subscription };  // any: an item without 'type' (fall-through)
enum class action { allow, deny };

// What a stanza is, seen from the list owner (XEP-0016 §2.2).
// presence_other: any presence that is not a notification (subscription stanzas, probes, errors); XEP-0016 §2
// counts only type-less and "unavailable" presence as notifications, so only items without child elements
// (blocking every kind) apply to it.
enum class stanza_class { message, iq, presence_in, presence_out, presence_other };

struct item {
    item_type type = item_type::any;
    std::string value;  // a normalized JID, a group name, or none/to/from/both
    action act = action::allow;
    std::uint32_t order = 0;
    // Empty = every kind of stanza.
    bool message = false;
    bool iq = false;
    bool presence_in = false;
    bool presence_out = false;

    bool operator==(const item&) const = default;
};

struct privacy_list {
    std::string name;
    std::vector<item> items;  // sorted by order

    bool operator==(const privacy_list&) const = default;
};

// Parses <list name='..'><item .../>...</list> (namespace jabber:iq:privacy). Errors say what is wrong;
// the caller answers <bad-request/>. Items with duplicate 'order' are an error.
hush::expected<privacy_list, std::string> parse_list(pugi::xml_node list);
// Appends <list name='..'>...</list> to `parent`.
void serialize_list(const privacy_list& list, pugi::xml_node parent);
std::string serialize_list(const privacy_list& list);  // standalone, with xmlns='jabber:iq:privacy'

// What the list owner knows about the other party.
struct contact_info {
    hush::jid address;  // the other party's full or bare JID
    std::vector<std::string> groups;
    subscription sub = subscription::none;
};

// The action of the first matching item, or nullopt when none matches (then the stanza is allowed).
std::optional<action> evaluate(const privacy_list& list, const contact_info& contact, stanza_class kind);

// XEP-0191: blocked entries as strings (JID, bare JID, domain/resource or domain), matched like a privacy list
// jid item that blocks every kind of stanza.
bool is_blocked(const std::vector<std::string>& blocklist, const hush::jid& other);

}  // namespace hush::privacy
