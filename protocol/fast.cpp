#include "protocol/fast.hpp"

#include "protocol/scram.hpp"

namespace hush::fast {

namespace {

constexpr std::size_t sha256_bytes = 32;
constexpr std::size_t max_authcid_bytes = 1023;  // a nodeprepped local part is at most 1023 bytes (RFC 7622)

}  // namespace

const std::vector<mechanism>& mechanisms() {
    static const std::vector<mechanism> all{
        {binding::expr, "HT-SHA-256-EXPR", "tls-exporter"},
        {binding::endp, "HT-SHA-256-ENDP", "tls-server-end-point"},
        {binding::none, "HT-SHA-256-NONE", ""},
    };
    return all;
}

std::optional<mechanism> find_mechanism(std::string_view name) {
    for (const auto& m : mechanisms()) {
        if (m.name == name) {
            return m;
        }
    }
    return std::nullopt;
}

std::string derive_token(std::string_view server_secret, std::string_view domain, std::string_view username,
                         std::string_view agent_id, std::string_view token_id) {
    // NUL separates the parts: none of them can contain one (JID parts, a client's id from an XML attribute).
    std::string input = "hush FAST token";
    for (std::string_view part : {domain, username, agent_id, token_id}) {
        input += '\0';
        input += part;
    }
    return sasl::base64_encode(sasl::hmac_sha256(server_secret, input));
}

hush::expected<initial_response, std::string> parse_initial_response(std::string_view message) {
    const auto nul = message.find('\0');
    if (nul == std::string_view::npos || nul == 0 || nul > max_authcid_bytes) {
        return hush::unexpected(std::string("malformed-request"));
    }
    initial_response r{std::string(message.substr(0, nul)), std::string(message.substr(nul + 1))};
    if (r.hashed_token.size() != sha256_bytes) {
        return hush::unexpected(std::string("malformed-request"));
    }
    return r;
}

bool past_half_life(std::int64_t created_at_us, std::int64_t expires_at, std::int64_t now) {
    const std::int64_t created = created_at_us / 1000000;
    return now - created >= (expires_at - created) / 2;
}

std::string initiator_hash(std::string_view token, std::string_view cb_data) {
    return sasl::hmac_sha256(token, std::string("Initiator").append(cb_data));
}

std::string responder_hash(std::string_view token, std::string_view cb_data) {
    return sasl::hmac_sha256(token, std::string("Responder").append(cb_data));
}

}  // namespace hush::fast
