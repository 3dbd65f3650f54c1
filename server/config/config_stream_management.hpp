#pragma once
// Internal to the config loader: the [stream_management] section (XEP-0198).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

void load_stream_management(toml_reader& reader, const toml::table& root, config& c);
// [push] (XEP-0357): the other half of keeping phones up to date.
void load_push(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
