// Invitation tokens and links: random, stored as a digest, the XEP-0401/0445 URI forms, usability.
#include <doctest.h>

#include <set>
#include <string>

#include "server/registration/invites.hpp"

using namespace hush;

TEST_CASE("invite tokens: 120 random bits in base32, a SHA-256 digest stored instead") {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const std::string t = invites::new_token();
        CHECK(t.size() == 24);
        CHECK(t.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567") == std::string::npos);
        seen.insert(t);
    }
    CHECK(seen.size() == 100);
    // SHA-256("abc"), FIPS 180-2.
    CHECK(invites::digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("invites::make: the record holds the digest, uses and expiry, never the token") {
    const auto made = invites::make({"example.org", "", "", 3, 3600}, 1000);
    CHECK(made.record.token_sha256 == invites::digest(made.token));
    CHECK(made.record.token_sha256.find(made.token) == std::string::npos);
    CHECK(made.record.domain == "example.org");
    CHECK(made.record.uses_left == 3);
    CHECK(made.record.uses_total == 3);
    CHECK(made.record.created_at == 1000);
    CHECK(made.record.expires_at == 4600);
    CHECK(invites::id_of(made.record) == made.record.token_sha256.substr(0, 12));
    CHECK(invites::make({"example.org", "", "", 1, 0}, 1000).record.expires_at == 0);
}

TEST_CASE("invite URIs: XEP-0445 register forms and the XEP-0401 roster form") {
    auto made = invites::make({"example.org", "", "", 1, 0}, 0);
    CHECK(invites::uri(made.record, "TOKEN") == "xmpp:example.org?register;preauth=TOKEN");
    made.record.username = "juliet";
    CHECK(invites::uri(made.record, "TOKEN") == "xmpp:juliet@example.org?register;preauth=TOKEN");
    made.record.username.clear();
    made.record.inviter = "romeo@example.org";
    CHECK(invites::uri(made.record, "TOKEN") == "xmpp:romeo@example.org?roster;preauth=TOKEN;ibr=y");
    made.record.inviter = "r\xc3\xb6mer o@example.org";
    CHECK(invites::uri(made.record, "T") == "xmpp:r%C3%B6mer%20o@example.org?roster;preauth=T;ibr=y");
}

TEST_CASE("invites::usable: right host, a use left, not expired") {
    auto r = invites::make({"example.org", "", "", 1, 100}, 1000).record;
    CHECK(invites::usable(r, "example.org", 1099));
    CHECK_FALSE(invites::usable(r, "example.org", 1100));
    CHECK_FALSE(invites::usable(r, "example.com", 1000));
    r.uses_left = 0;
    CHECK_FALSE(invites::usable(r, "example.org", 1000));
    r.uses_left = 1;
    r.expires_at = 0;
    CHECK(invites::usable(r, "example.org", 1'000'000'000));
}
