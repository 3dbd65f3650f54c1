#pragma once
// Internal to the config loader: the [http] and [websocket] sections (server/config/config_web.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

void load_web(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
