#pragma once
// SASL mechanisms for the server side: SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), and PLAIN (RFC 4616)
// checked against the same salted SCRAM keys, so no password is ever stored.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/expected.hpp"

namespace hush::sasl {

enum class scram_hash { sha1, sha256 };

std::string_view mechanism_name(scram_hash hash);  // "SCRAM-SHA-1" / "SCRAM-SHA-256"

// What the server keeps per account and hash: the salt, the iteration count, StoredKey and ServerKey (raw bytes).
struct scram_credentials {
    std::string salt;
    std::uint32_t iterations = 0;
    std::string stored_key;
    std::string server_key;

    bool operator==(const scram_credentials&) const = default;
};

// SaltedPassword = Hi(SASLprep(password), salt, i); StoredKey = H(HMAC(SaltedPassword, "Client Key"));
// ServerKey = HMAC(SaltedPassword, "Server Key"). The password must already be SASLprepped.
scram_credentials derive_credentials(scram_hash hash, std::string_view password, std::string_view salt,
                                     std::uint32_t iterations);

// New credentials with a fresh random 16-byte salt. The password is SASLprepped here (idempotent); one that
// SASLprep refuses gets empty keys that never verify, so callers should check saslprep() up front.
scram_credentials make_credentials(scram_hash hash, std::string_view password, std::uint32_t iterations);

// Credentials for an account that does not exist: deterministic per username (from a server secret), so the
// exchange looks the same as for a real account and never succeeds — no account enumeration. The salt differs per
// mechanism (as a real account's does); server_secret must be secret and non-empty.
scram_credentials decoy_credentials(scram_hash hash, std::string_view username, std::string_view server_secret,
                                    std::uint32_t iterations);

std::string random_bytes(std::size_t count);
// Lower-case hex of raw bytes; and `count` random bytes as hex (ids, keys).
std::string hex_encode(std::string_view raw);
std::string random_hex(std::size_t count);
std::string base64_encode(std::string_view raw);
hush::expected<std::string, std::string> base64_decode(std::string_view text);  // error: "bad base64"
bool constant_time_equal(std::string_view a, std::string_view b);
// HMAC-SHA-256 (raw bytes); empty only when OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);

// A SASL failure condition (RFC 6120 §6.5), e.g. "not-authorized", "malformed-request".
struct sasl_failure {
    std::string condition;
    std::string text;  // optional human-readable detail
};

// Channel binding for one SCRAM exchange (RFC 5802 §6, XEP-0440): what this connection can bind to, by type
// ("tls-exporter" RFC 9266, "tls-server-end-point" RFC 5929), and whether this exchange is a -PLUS mechanism.
struct channel_binding {
    std::vector<std::pair<std::string, std::string>> available;  // type -> binding data (raw bytes)
    bool plus = false;
    // With -PLUS offered on this connection, a client that says "y" (it supports channel binding but thinks the
    // server does not) may be downgraded by someone in the middle: RFC 5802 §6 has it fail. Off by default, since
    // clients that can only bind to tls-unique (which TLS 1.3 does not have; slixmpp, say) say "y" too.
    bool refuse_downgrade = false;
    bool offered() const { return !available.empty(); }
};

// One SCRAM exchange, server side. Usage:
//   auto user = s.receive_client_first(msg);      // -> username (SASLprepped)
//   auto first = s.server_first(creds);           // after looking up the credentials (or decoy ones)
//   auto final = s.receive_client_final(msg);     // -> server-final-message ("v=...") on success
// Each step is accepted once, in order; out-of-order calls fail (server_first returns "").
// A -PLUS exchange needs "p=<type>" with a type of `binding.available`, and the client-final c= must carry the
// gs2 header and that type's data; a plain one refuses "p=", and "y" when the connection offers channel binding.
class scram_server {
public:
    explicit scram_server(scram_hash hash, std::string server_nonce = {},  // empty: random nonce
                          channel_binding binding = {});

    hush::expected<std::string, sasl_failure> receive_client_first(std::string_view message);
    std::string server_first(const scram_credentials& creds);
    hush::expected<std::string, sasl_failure> receive_client_final(std::string_view message);

    scram_hash hash() const { return hash_; }
    const std::string& authzid() const { return authzid_; }

private:
    scram_hash hash_;
    std::string server_nonce_;
    std::string client_nonce_;
    channel_binding binding_;
    std::string binding_data_;  // of the type the client chose (-PLUS), else empty
    std::string gs2_header_;
    std::string client_first_bare_;
    std::string server_first_;
    std::string authzid_;
    scram_credentials creds_;
};

// PLAIN: message = [authzid] NUL authcid NUL passwd.
struct plain_message {
    std::string authzid;
    std::string authcid;   // SASLprepped
    std::string password;  // SASLprepped
};
hush::expected<plain_message, sasl_failure> parse_plain(std::string_view message);

// True when the password matches the stored credentials (recomputes StoredKey with the stored salt/iterations).
bool verify_password(scram_hash hash, std::string_view password, const scram_credentials& creds);

}  // namespace hush::sasl
