#pragma once
// Internal to the config loader: the [pubsub] section, XEP-0060 and PEP (server/config/config_pubsub.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

void load_pubsub(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
