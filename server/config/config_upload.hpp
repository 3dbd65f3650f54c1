#pragma once
// Internal to the config loader: the [upload] section, XEP-0363 HTTP file upload (server/config/config_upload.cpp).
#include "server/config/config.hpp"
#include "server/config/config_reader.hpp"

namespace hush::config_detail {

// Runs after load_muc and the listeners: an upload service must not take a host's, the pubsub service's or a MUC
// service's domain, and its default URL comes from an http(s) listener.
void load_upload(toml_reader& reader, const toml::table& root, config& c);

}  // namespace hush::config_detail
