#include "server/registration/invites.hpp"

#include <openssl/sha.h>

#include "protocol/scram.hpp"

namespace hush::invites {

namespace {

// RFC 4648 base32 in lower case: no characters a URI or a person reading it aloud trips over.
std::string base32(std::string_view raw) {
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : raw) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 5) {
            out += alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) {
        out += alphabet[(buffer << (5 - bits)) & 31];
    }
    return out;
}

// RFC 5122 §2.2: the characters of a node or domain a URI may carry as they are; anything else is %-encoded.
std::string uri_escape(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '.' || c == '_' || c == '~' || c == '@';
        if (plain) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace

std::string new_token() { return base32(sasl::random_bytes(15)); }

std::string digest(std::string_view token) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(d), sizeof d));
}

std::string id_of(const storage::registration_invite& invite) { return invite.token_sha256.substr(0, 12); }

created_invite make(const invite_request& request, std::int64_t now) {
    created_invite out;
    out.token = new_token();
    auto& r = out.record;
    r.token_sha256 = digest(out.token);
    r.domain = request.domain;
    r.username = request.username;
    r.inviter = request.inviter;
    r.uses_left = request.uses;
    r.uses_total = request.uses;
    r.created_at = now;
    r.expires_at = request.expires_in_seconds > 0 ? now + request.expires_in_seconds : 0;
    return out;
}

std::string uri(const storage::registration_invite& invite, std::string_view token) {
    if (!invite.inviter.empty()) {
        return "xmpp:" + uri_escape(invite.inviter) + "?roster;preauth=" + std::string(token) + ";ibr=y";
    }
    const std::string who = invite.username.empty() ? invite.domain : invite.username + "@" + invite.domain;
    return "xmpp:" + uri_escape(who) + "?register;preauth=" + std::string(token);
}

bool usable(const storage::registration_invite& invite, const std::string& domain, std::int64_t now) {
    return invite.domain == domain && invite.uses_left > 0 && (invite.expires_at == 0 || invite.expires_at > now);
}

}  // namespace hush::invites
