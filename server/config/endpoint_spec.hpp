#pragma once
// Where to connect for a remote XMPP domain before address resolution: from the configuration's [s2s.hosts] or an
// SRV record. Its own file because the configuration (hush_config) parses these too.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hush {

inline constexpr std::uint16_t xmpp_server_port = 5269;

// Where to connect before address resolution: a static table entry, an SRV target or the fallback.
struct endpoint_spec {
    std::string host;
    std::uint16_t port = xmpp_server_port;
    bool direct_tls = false;  // XEP-0368: TLS from the first byte, no STARTTLS

    bool operator==(const endpoint_spec&) const = default;
};

// "host:port", "[v6-address]:port" or a bare "host" (port 5269); nullopt for anything else.
std::optional<endpoint_spec> parse_endpoint_spec(std::string_view text);

// A [s2s.hosts] value: parse_endpoint_spec's forms, with a "tls:" prefix for XEP-0368 direct TLS.
std::optional<endpoint_spec> parse_static_host(std::string_view text);

}  // namespace hush
