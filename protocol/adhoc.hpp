#pragma once
// XEP-0050 ad-hoc commands, the parts every command of this server shares: a command node's disco#info answer,
// the values a submitted data form (XEP-0004) gives a field, and a note to the user.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/stanza.hpp"

namespace hush::adhoc {

inline constexpr std::string_view commands_ns = "http://jabber.org/protocol/commands";

// The disco#info result for command node `node` (identity automation/command-node named `name`), when `iq` is a
// disco#info get for that node; nullopt otherwise.
std::optional<stanza> node_info(const stanza& iq, std::string_view node, std::string_view name);

// Every <value/> of field `var` in a submitted form, in order.
std::vector<std::string> form_values(pugi::xml_node form, std::string_view var);

// <note type='TYPE'>text</note> inside a command (type: info, warn, error).
void add_note(pugi::xml_node command, std::string_view type, const std::string& text);

}  // namespace hush::adhoc
