#pragma once
// Internal to the config loader: the [antispim] section (server/config/config_antispim.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

// `dir`: the config file's directory, which relative paths (URL lists) are resolved against.
void load_antispim(toml_reader& reader, const toml::table& root, config& c, const std::filesystem::path& dir);
// [antispim.content] and [antispim.score] (server/config/config_content.cpp).
void load_content(toml_reader& reader, const toml::table& antispim, antispim_config& a, const std::filesystem::path& dir);

}  // namespace hush::config_detail
