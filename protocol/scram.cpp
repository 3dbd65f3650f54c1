#include "protocol/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "protocol/jid.hpp"

namespace hush::sasl {

namespace {

constexpr std::size_t server_nonce_bytes = 24;
constexpr std::size_t salt_bytes = 16;

const EVP_MD* digest_of(scram_hash hash) {
    return hash == scram_hash::sha1 ? EVP_sha1() : EVP_sha256();
}

std::size_t digest_size(scram_hash hash) {
    return hash == scram_hash::sha1 ? 20 : 32;
}

// OpenSSL wants non-null pointers even for empty input.
const unsigned char* bytes_of(std::string_view s) {
    static const unsigned char empty = 0;
    return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (key.size() > INT_MAX ||
        HMAC(md, bytes_of(key), static_cast<int>(key.size()), bytes_of(data), data.size(), out, &len) == nullptr) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string digest(const EVP_MD* md, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(bytes_of(data), data.size(), out, &len, md, nullptr) != 1) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string xor_bytes(std::string_view a, std::string_view b) {
    std::string out(a.size(), '\0');
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        out[i] = static_cast<char>(a[i] ^ b[i]);
    }
    return out;
}

sasl_failure malformed(std::string text) {
    return sasl_failure{"malformed-request", std::move(text)};
}

// printable = %x21-2B / %x2D-7E (RFC 5802 §7): what a nonce may contain.
bool is_printable_nonce(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x21 && u <= 0x7E && c != ',';
    });
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// attr-val = ALPHA "=" value, value = 1*value-char (any UTF-8 but NUL and ',', checked on the whole message).
bool is_attr_val(std::string_view s) {
    return s.size() >= 3 && is_alpha(s[0]) && s[1] == '=';
}

// saslname: '=' must introduce "=2C" (',') or "=3D" ('='); anything else is malformed.
std::optional<std::string> decode_saslname(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out += s[i];
            continue;
        }
        const std::string_view esc = s.substr(i + 1, 2);
        if (esc == "2C") {
            out += ',';
        } else if (esc == "3D") {
            out += '=';
        } else {
            return std::nullopt;
        }
        i += 2;
    }
    return out;
}

std::vector<std::string_view> split_commas(std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) {
            parts.push_back(s.substr(start));
            return parts;
        }
        parts.push_back(s.substr(start, comma - start));
        start = comma + 1;
    }
}

bool clean_text(std::string_view s) {
    return s.find('\0') == std::string_view::npos && valid_utf8(s);
}

int base64_index(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

}  // namespace

std::string_view mechanism_name(scram_hash hash) {
    return hash == scram_hash::sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

scram_credentials derive_credentials(scram_hash hash, std::string_view password, std::string_view salt,
                                     std::uint32_t iterations) {
    scram_credentials creds;
    creds.salt = std::string(salt);
    creds.iterations = iterations;
    // Out-of-range inputs leave the keys empty, which never verify.
    if (iterations == 0 || iterations > INT_MAX || password.size() > INT_MAX || salt.size() > INT_MAX) {
        return creds;
    }
    const EVP_MD* md = digest_of(hash);
    std::string salted(digest_size(hash), '\0');
    if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(bytes_of(password)), static_cast<int>(password.size()),
                          bytes_of(salt), static_cast<int>(salt.size()), static_cast<int>(iterations), md,
                          static_cast<int>(salted.size()), reinterpret_cast<unsigned char*>(salted.data())) != 1) {
        return creds;
    }
    creds.stored_key = digest(md, hmac(md, salted, "Client Key"));
    creds.server_key = hmac(md, salted, "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
    return creds;
}

scram_credentials make_credentials(scram_hash hash, std::string_view password, std::uint32_t iterations) {
    const std::string salt = random_bytes(salt_bytes);
    // SASLprep is idempotent, so a caller that already prepped loses nothing; one that did not gets keys that
    // match what verify_password and SCRAM clients compute.
    const auto prepped = saslprep(password);
    if (!prepped) {
        scram_credentials unusable;
        unusable.salt = salt;
        unusable.iterations = iterations;
        return unusable;
    }
    return derive_credentials(hash, *prepped, salt, iterations);
}

scram_credentials decoy_credentials(scram_hash hash, std::string_view username, std::string_view server_secret,
                                    std::uint32_t iterations) {
    // The mechanism is part of every label: a real account has a different random salt per mechanism, so decoys
    // sharing one salt across SCRAM-SHA-1 and SCRAM-SHA-256 would give them away.
    const std::string tag = std::string(mechanism_name(hash)) + ":" + std::string(username);
    const EVP_MD* sha256 = EVP_sha256();
    scram_credentials creds;
    creds.salt = hmac(sha256, server_secret, "salt:" + tag).substr(0, salt_bytes);
    creds.iterations = iterations;
    // Random-looking keys nobody knows a preimage for, so no proof can match.
    creds.stored_key = hmac(sha256, server_secret, "stored-key:" + tag).substr(0, digest_size(hash));
    creds.server_key = hmac(sha256, server_secret, "server-key:" + tag).substr(0, digest_size(hash));
    return creds;
}

std::string random_bytes(std::size_t count) {
    std::string out(count, '\0');
    std::size_t done = 0;
    while (done < count) {
        const int chunk = static_cast<int>(std::min<std::size_t>(count - done, 1 << 20));
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) {
            // Predictable salts or nonces would silently break authentication security; stop instead.
            std::fputs("hush: RAND_bytes failed, no usable randomness\n", stderr);
            std::abort();
        }
        done += static_cast<std::size_t>(chunk);
    }
    return out;
}

std::string hex_encode(std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (const char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        out += digits[c >> 4];
        out += digits[c & 0x0f];
    }
    return out;
}

std::string random_hex(std::size_t count) { return hex_encode(random_bytes(count)); }

std::string hmac_sha256(std::string_view key, std::string_view data) { return hmac(EVP_sha256(), key, data); }

std::string base64_encode(std::string_view raw) {
    constexpr std::size_t chunk = 3 * 4096;  // a multiple of 3, so padding only ever ends the last chunk
    std::string out;
    out.reserve((raw.size() + 2) / 3 * 4);
    unsigned char buf[chunk / 3 * 4 + 1];
    for (std::size_t pos = 0; pos < raw.size(); pos += chunk) {
        const std::string_view part = raw.substr(pos, chunk);
        const int n = EVP_EncodeBlock(buf, bytes_of(part), static_cast<int>(part.size()));
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    }
    return out;
}

hush::expected<std::string, std::string> base64_decode(std::string_view text) {
    auto bad = hush::unexpected{std::string("bad base64")};
    if (text.size() % 4 != 0) {
        return bad;
    }
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') {
        ++pad;
    }
    const std::string_view data = text.substr(0, text.size() - pad);
    for (const char c : data) {
        if (base64_index(c) < 0) {
            return bad;  // also rejects a third '=', '=' in the middle, whitespace
        }
    }
    // Only the canonical encoding is accepted: the bits a padded group leaves over must be zero.
    if (pad == 1 && (base64_index(data.back()) & 0x03) != 0) {
        return bad;
    }
    if (pad == 2 && (base64_index(data.back()) & 0x0F) != 0) {
        return bad;
    }

    constexpr std::size_t chunk = 4 * 4096;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    unsigned char buf[chunk / 4 * 3];
    for (std::size_t pos = 0; pos < text.size(); pos += chunk) {
        const std::string_view part = text.substr(pos, chunk);
        const int n = EVP_DecodeBlock(buf, bytes_of(part), static_cast<int>(part.size()));
        if (n < 0) {
            return bad;
        }
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    }
    // EVP_DecodeBlock counts padding as zero bytes.
    out.resize(out.size() - pad);
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;  // lengths are public (digest sizes); only the contents are secret
    }
    if (a.empty()) {
        return true;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

scram_server::scram_server(scram_hash hash, std::string server_nonce, channel_binding binding)
    : hash_(hash), binding_(std::move(binding)) {
    // A fixed nonce is for tests; anything a client could not echo back falls back to a random one.
    server_nonce_ = is_printable_nonce(server_nonce) ? std::move(server_nonce)
                                                     : base64_encode(random_bytes(server_nonce_bytes));
}

hush::expected<std::string, sasl_failure> scram_server::receive_client_first(std::string_view message) {
    if (!client_first_bare_.empty()) {
        return hush::unexpected{malformed("unexpected client-first-message")};
    }
    if (!clean_text(message)) {
        return hush::unexpected{malformed("invalid UTF-8 or NUL")};
    }

    // gs2-header = gs2-cbind-flag "," [authzid] ","; gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
    std::size_t flag_end = 1;
    if (binding_.plus) {
        const std::size_t comma = message.find(',');
        if (!message.starts_with("p=") || comma == std::string_view::npos) {
            return hush::unexpected{malformed("a -PLUS mechanism needs channel binding (p=)")};
        }
        const std::string_view type = message.substr(2, comma - 2);
        for (const auto& [name, data] : binding_.available) {
            if (name == type) {
                binding_data_ = data;
            }
        }
        if (binding_data_.empty()) {
            return hush::unexpected{sasl_failure{"not-authorized", "unsupported channel binding type"}};
        }
        flag_end = comma;
    } else if (message.starts_with("p=")) {
        return hush::unexpected{malformed("channel binding needs a -PLUS mechanism")};
    } else if (message.starts_with("y,") && binding_.offered() && binding_.refuse_downgrade) {
        // The client can bind, and believes we cannot: our -PLUS offer was stripped on the way (RFC 5802 §6).
        return hush::unexpected{sasl_failure{"not-authorized", "channel binding was offered"}};
    } else if (message.size() < 2 || (message[0] != 'n' && message[0] != 'y')) {
        return hush::unexpected{malformed("bad gs2 header")};
    }
    if (message.size() <= flag_end || message[flag_end] != ',') {
        return hush::unexpected{malformed("bad gs2 header")};
    }
    const std::size_t authz_end = message.find(',', flag_end + 1);
    if (authz_end == std::string_view::npos) {
        return hush::unexpected{malformed("bad gs2 header")};
    }
    const std::string_view authz_field = message.substr(flag_end + 1, authz_end - flag_end - 1);
    std::string authzid;
    if (!authz_field.empty()) {
        auto decoded = authz_field.starts_with("a=") ? decode_saslname(authz_field.substr(2)) : std::nullopt;
        if (!decoded) {
            return hush::unexpected{malformed("bad authzid")};
        }
        authzid = std::move(*decoded);
    }
    const std::string_view gs2_header = message.substr(0, authz_end + 1);
    const std::string_view bare = message.substr(authz_end + 1);

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const auto attrs = split_commas(bare);
    if (attrs[0].starts_with("m=")) {
        return hush::unexpected{malformed("mandatory extensions are not supported")};
    }
    if (attrs.size() < 2 || !attrs[0].starts_with("n=") || !attrs[1].starts_with("r=")) {
        return hush::unexpected{malformed("expected n= and r=")};
    }
    for (std::size_t i = 2; i < attrs.size(); ++i) {
        if (!is_attr_val(attrs[i])) {
            return hush::unexpected{malformed("bad extension")};
        }
    }
    const auto username = decode_saslname(attrs[0].substr(2));
    if (!username) {
        return hush::unexpected{malformed("bad username")};
    }
    auto prepped = saslprep(*username);
    if (!prepped || prepped->empty()) {
        return hush::unexpected{malformed("username fails SASLprep")};
    }
    const std::string_view nonce = attrs[1].substr(2);
    if (!is_printable_nonce(nonce)) {
        return hush::unexpected{malformed("bad nonce")};
    }

    gs2_header_ = std::string(gs2_header);
    client_first_bare_ = std::string(bare);
    client_nonce_ = std::string(nonce);
    authzid_ = std::move(authzid);
    return std::move(*prepped);
}

std::string scram_server::server_first(const scram_credentials& creds) {
    if (client_first_bare_.empty() || !server_first_.empty()) {
        return {};  // out of order: nothing sensible to send
    }
    creds_ = creds;
    server_first_ = "r=" + client_nonce_ + server_nonce_ + ",s=" + base64_encode(creds.salt) +
                    ",i=" + std::to_string(creds.iterations);
    return server_first_;
}

hush::expected<std::string, sasl_failure> scram_server::receive_client_final(std::string_view message) {
    if (server_first_.empty()) {
        return hush::unexpected{malformed("unexpected client-final-message")};
    }
    // One attempt per exchange: whatever happens below, later calls fail.
    const std::string server_first = std::move(server_first_);
    server_first_.clear();
    const scram_credentials creds = std::move(creds_);
    creds_ = {};

    if (!clean_text(message)) {
        return hush::unexpected{malformed("invalid UTF-8 or NUL")};
    }
    // client-final-message = "c=" base64 "," "r=" nonce ["," extensions] "," "p=" base64
    const auto attrs = split_commas(message);
    if (attrs.size() < 3 || !attrs[0].starts_with("c=") || !attrs[1].starts_with("r=") ||
        !attrs.back().starts_with("p=")) {
        return hush::unexpected{malformed("expected c=, r= and p=")};
    }
    for (std::size_t i = 2; i + 1 < attrs.size(); ++i) {
        if (!is_attr_val(attrs[i])) {
            return hush::unexpected{malformed("bad extension")};
        }
    }
    const auto binding = base64_decode(attrs[0].substr(2));
    if (!binding || !binding->starts_with(gs2_header_) || (!binding_.plus && binding->size() != gs2_header_.size())) {
        return hush::unexpected{malformed("channel binding does not match the gs2 header")};
    }
    // The data the client bound to must be this connection's: else someone in the middle relays the exchange.
    if (!constant_time_equal(std::string_view(*binding).substr(gs2_header_.size()), binding_data_)) {
        return hush::unexpected{sasl_failure{"not-authorized", "channel binding does not match this connection"}};
    }
    if (attrs[1].substr(2) != client_nonce_ + server_nonce_) {
        return hush::unexpected{malformed("nonce mismatch")};
    }
    const auto proof = base64_decode(attrs.back().substr(2));
    if (!proof || proof->size() != digest_size(hash_)) {
        return hush::unexpected{malformed("bad proof")};
    }

    const std::string_view without_proof = message.substr(0, message.size() - attrs.back().size() - 1);
    std::string auth_message;
    auth_message.reserve(client_first_bare_.size() + server_first.size() + without_proof.size() + 2);
    auth_message += client_first_bare_;
    auth_message += ',';
    auth_message += server_first;
    auth_message += ',';
    auth_message += without_proof;

    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it is right when H(ClientKey) == StoredKey.
    const EVP_MD* md = digest_of(hash_);
    const std::string client_signature = hmac(md, creds.stored_key, auth_message);
    std::string client_key = xor_bytes(*proof, client_signature);
    const bool ok = creds.stored_key.size() == digest_size(hash_) &&
                    constant_time_equal(digest(md, client_key), creds.stored_key);
    OPENSSL_cleanse(client_key.data(), client_key.size());
    if (!ok) {
        return hush::unexpected{sasl_failure{"not-authorized", {}}};
    }
    return "v=" + base64_encode(hmac(md, creds.server_key, auth_message));
}

hush::expected<plain_message, sasl_failure> parse_plain(std::string_view message) {
    // message = [authzid] NUL authcid NUL passwd
    const std::size_t first = message.find('\0');
    const std::size_t second = first == std::string_view::npos ? first : message.find('\0', first + 1);
    if (second == std::string_view::npos) {
        return hush::unexpected{malformed("expected authzid NUL authcid NUL password")};
    }
    const std::string_view authzid = message.substr(0, first);
    const std::string_view authcid = message.substr(first + 1, second - first - 1);
    const std::string_view password = message.substr(second + 1);
    if (authcid.empty() || password.empty()) {
        return hush::unexpected{malformed("empty authcid or password")};
    }
    // A third NUL is caught here: clean_text refuses NUL inside any field.
    if (!clean_text(authzid) || !clean_text(authcid) || !clean_text(password)) {
        return hush::unexpected{malformed("invalid UTF-8 or NUL")};
    }
    auto prepped_authcid = saslprep(authcid);
    auto prepped_password = saslprep(password);
    if (!prepped_authcid || prepped_authcid->empty() || !prepped_password || prepped_password->empty()) {
        return hush::unexpected{malformed("authcid or password fails SASLprep")};
    }
    plain_message out;
    out.authzid = std::string(authzid);
    out.authcid = std::move(*prepped_authcid);
    out.password = std::move(*prepped_password);
    return out;
}

bool verify_password(scram_hash hash, std::string_view password, const scram_credentials& creds) {
    const auto prepped = saslprep(password);
    if (!prepped || creds.stored_key.size() != digest_size(hash)) {
        return false;
    }
    const scram_credentials derived = derive_credentials(hash, *prepped, creds.salt, creds.iterations);
    return constant_time_equal(derived.stored_key, creds.stored_key);
}

}  // namespace hush::sasl
