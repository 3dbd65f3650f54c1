#pragma once
// Invitation tokens (XEP-0445) and the links that carry them (XEP-0401): shared by hushd (the ad-hoc command),
// hushctl and the admin API. A token is 120 random bits (OpenSSL RAND_bytes) in base32; only its SHA-256 is
// stored, so the database never holds a usable token and lookups by digest leak nothing about it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/records.hpp"

namespace hush::invites {

// What an invite is for: `domain` (required), optionally the one `username` it may register and the inviter (a
// local bare JID) whose contact the invitee becomes.
struct invite_request {
    std::string domain;
    std::string username;
    std::string inviter;
    std::int64_t uses = 1;
    std::int64_t expires_in_seconds = 7 * 24 * 3600;  // 0: never
};

struct created_invite {
    std::string token;  // shown once; never stored
    storage::registration_invite record;
};

// Invitations used up, or expired longer ago than this, are deleted whenever a new one is made (the table stays
// about as small as the live invitations).
inline constexpr std::int64_t dead_after_seconds = 7 * 24 * 3600;

std::string new_token();
std::string digest(std::string_view token);
// The public id of an invite: the first 12 hex digits of the digest (enough to name it, useless to register).
std::string id_of(const storage::registration_invite& invite);
created_invite make(const invite_request& request, std::int64_t now);

// XEP-0401 / XEP-0445 URIs: "xmpp:DOMAIN?register;preauth=T", "xmpp:USER@DOMAIN?register;preauth=T" for an invite
// bound to a name, and "xmpp:INVITER?roster;preauth=T;ibr=y" for a user's invitation.
std::string uri(const storage::registration_invite& invite, std::string_view token);

// Is the invite usable to start a registration at `now` on `domain`? (XEP-0445: expiry is checked here only.)
bool usable(const storage::registration_invite& invite, const std::string& domain, std::int64_t now);

}  // namespace hush::invites
