#pragma once
// XEP-0484 FAST tokens and the Hashed Token SASL mechanisms they are used with (draft-schmaus-kitten-sasl-ht):
// HT-SHA-256-NONE, -ENDP (tls-server-end-point) and -EXPR (tls-exporter). One round trip: the client proves it
// holds the token with HMAC(token, "Initiator" || cb-data), the server answers HMAC(token, "Responder" || cb-data).
//
// The server stores no token: a token is derived from the server secret and a random token id, so the database
// alone (a backup, a dump) lets nobody log in, and a token is bound to the account and client it was issued to.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.hpp"

namespace hush::fast {

inline constexpr std::string_view ns = "urn:xmpp:fast:0";

enum class binding { none, endp, expr };

struct mechanism {
    binding type = binding::none;
    std::string_view name;             // "HT-SHA-256-NONE"
    std::string_view channel_binding;  // the XEP-0440 type whose data goes into the hashes; empty for NONE
};

// The mechanisms this server knows, best first.
const std::vector<mechanism>& mechanisms();
std::optional<mechanism> find_mechanism(std::string_view name);

// The token handed to the client (printable; the HMAC key on both sides).
std::string derive_token(std::string_view server_secret, std::string_view domain, std::string_view username,
                         std::string_view agent_id, std::string_view token_id);

// The HT initial response: authcid NUL initiator-hashed-token.
struct initial_response {
    std::string authcid;
    std::string hashed_token;
};
hush::expected<initial_response, std::string> parse_initial_response(std::string_view message);

// Whether a token issued at `created_at_us` (microseconds) that expires at `expires_at` (seconds) is past half its
// own life at `now` (seconds): then a login with it gets a new one.
bool past_half_life(std::int64_t created_at_us, std::int64_t expires_at, std::int64_t now);

std::string initiator_hash(std::string_view token, std::string_view cb_data);
std::string responder_hash(std::string_view token, std::string_view cb_data);

}  // namespace hush::fast
