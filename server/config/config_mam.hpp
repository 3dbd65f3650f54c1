#pragma once
// Internal to the config loader: the [mam] section, the XEP-0313 message archive (server/config/config_mam.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

void load_mam(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
