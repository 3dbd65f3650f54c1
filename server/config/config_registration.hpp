#pragma once
// Internal to the config loader: the [registration] section (server/config/config_registration.cpp).
#include <array>
#include <string_view>

#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

// Local parts reserved whatever the file says: the addresses RFC 2142 and habit give to people who run a server,
// and names a user could be mistaken for the server with.
inline constexpr std::array<std::string_view, 16> default_reserved_names{
    "admin",     "administrator", "root",  "postmaster", "abuse",   "webmaster", "hostmaster", "support",
    "xmpp",      "jabber",        "security", "noc",     "info",    "hush",      "server",     "system"};

void load_registration(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
