#include "server/config/endpoint_spec.hpp"

#include <charconv>

namespace hush {

std::optional<endpoint_spec> parse_endpoint_spec(std::string_view text) {
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() == 1) {
                return std::nullopt;
            }
            port = rest.substr(1);
        }
    } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
        // More than one colon is an IPv6 literal, which needs brackets to tell its last group from a port.
        if (text.find(':', colon + 1) != std::string_view::npos || colon + 1 == text.size()) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty() || host.find_first_of(" \t\r\n[]/") != std::string_view::npos) {
        return std::nullopt;
    }
    endpoint_spec spec;
    spec.host = std::string(host);
    if (!port.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
            return std::nullopt;
        }
        spec.port = static_cast<std::uint16_t>(value);
    }
    return spec;
}

std::optional<endpoint_spec> parse_static_host(std::string_view text) {
    constexpr std::string_view tls_prefix = "tls:";
    const bool direct_tls = text.starts_with(tls_prefix);
    auto spec = parse_endpoint_spec(direct_tls ? text.substr(tls_prefix.size()) : text);
    if (spec) {
        spec->direct_tls = direct_tls;
    }
    return spec;
}

}  // namespace hush
