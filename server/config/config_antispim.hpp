#pragma once
// Internal to the config loader: the [antispim] section (server/config/config_antispim.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

void load_antispim(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
