#pragma once
// Internal to the config loader: the [muc] section, XEP-0045 multi-user chat (server/config/config_muc.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

// Runs after load_pubsub: a room service must not take the pubsub service's domain.
void load_muc(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
