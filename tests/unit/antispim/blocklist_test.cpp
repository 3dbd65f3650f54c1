// The server-wide blocklist snapshot: IP ranges, normalization, and which entry matches a sender.
#include <doctest.h>

#include "antispim/blocklist.hpp"

using namespace hush;
using namespace hush::antispim;

namespace {

jid j(std::string_view text) {
    auto parsed = jid::parse(text);
    REQUIRE(parsed);
    return *parsed;
}

storage::blocklist_entry entry(std::string kind, std::string value, std::int64_t expires = 0, bool contacts = false) {
    return {std::move(kind), std::move(value), "test", "admin", 1, expires, contacts};
}

}  // namespace

TEST_CASE("IP ranges: v4 and v6, canonical text, host bits refused") {
    auto r = parse_ip_range("192.0.2.0/24");
    REQUIRE(r);
    CHECK(r->to_string() == "192.0.2.0/24");
    CHECK(r->contains(*parse_ip_range("192.0.2.77")));
    CHECK_FALSE(r->contains(*parse_ip_range("192.0.3.1")));
    CHECK_FALSE(r->contains(*parse_ip_range("2001:db8::1")));
    auto v6 = parse_ip_range("2001:DB8:0:0::/48");
    REQUIRE(v6);
    CHECK(v6->to_string() == "2001:db8::/48");
    CHECK(v6->contains(*parse_ip_range("2001:db8:0:ffff::1")));
    CHECK_FALSE(v6->contains(*parse_ip_range("2001:db8:1::1")));
    CHECK(parse_ip_range("198.51.100.7")->to_string() == "198.51.100.7");
    CHECK(parse_ip_range("0.0.0.0/0")->contains(*parse_ip_range("203.0.113.9")));
    CHECK_FALSE(parse_ip_range("192.0.2.7/24"));  // host bits set
    CHECK_FALSE(parse_ip_range("192.0.2.0/33"));
    CHECK_FALSE(parse_ip_range("192.0.2.0/"));
    CHECK_FALSE(parse_ip_range("example.org"));
}

TEST_CASE("values are normalized per kind") {
    CHECK(*normalize_blocklist_value("jid", "Bot@Spam.TEST") == "bot@spam.test");
    CHECK(*normalize_blocklist_value("jid", "bot@spam.test/res") == "bot@spam.test");
    CHECK_FALSE(normalize_blocklist_value("jid", "spam.test"));
    CHECK(*normalize_blocklist_value("domain", "Spam.Test.") == "spam.test");
    CHECK(*normalize_blocklist_value("ip", "2001:DB8::/32") == "2001:db8::/32");
    CHECK(normalize_blocklist_value("host", "x").error() == "kind must be jid, domain or ip");
}

TEST_CASE("matching: JID before domain before range; subdomains; expiry") {
    const blocklist list({entry("domain", "spam.test"), entry("jid", "bot@spam.test", 0, true),
                          entry("ip", "192.0.2.0/24", 500), entry("domain", "gone.test", 50)},
                         100);
    CHECK(list.entries().size() == 3);  // gone.test had expired
    REQUIRE(list.match(j("bot@spam.test/x"), "", 100));
    CHECK(list.match(j("bot@spam.test/x"), "", 100)->kind == "jid");
    CHECK(list.match(j("other@spam.test"), "", 100)->kind == "domain");
    CHECK(list.match(j("room@conference.spam.test"), "", 100)->value == "spam.test");
    CHECK_FALSE(list.match(j("someone@notspam.test"), "", 100));
    CHECK(list.match(j("someone@clean.test"), "192.0.2.9", 100)->kind == "ip");
    CHECK_FALSE(list.match(j("someone@clean.test"), "192.0.2.9", 600));  // the range entry expired meanwhile
    CHECK_FALSE(list.match(j("someone@clean.test"), "198.51.100.1", 100));
    CHECK_FALSE(list.match(j("someone@clean.test"), "not-an-ip", 100));
}

TEST_CASE("blocklist: hashed JIDs, parent domains, and the first entry for a value wins") {
    using hush::storage::blocklist_entry;
    const std::string digest = jid_sha256(*hush::jid::parse("Bot@Spam.test/res"));
    CHECK(digest == jid_sha256(*hush::jid::parse("bot@spam.test")));
    CHECK(digest.size() == 64);
    CHECK(normalize_blocklist_value("jid-sha256", "ABCDEF" + digest.substr(6)).value() == "abcdef" + digest.substr(6));
    CHECK_FALSE(normalize_blocklist_value("jid-sha256", "xyz"));
    blocklist_entry hashed{"jid-sha256", digest, "rtbl", "import:x", 1, 0, false};
    blocklist_entry service{"domain", "spam.test", "open registration", "admin", 1, 0, false};
    blocklist_entry imported_service = service;
    imported_service.source = "import:y";
    imported_service.trust = "greylist";
    blocklist list({service, imported_service, hashed}, 10);
    const auto* e = list.match(*hush::jid::parse("bot@spam.test"), "", 10);
    REQUIRE(e);
    CHECK(e->kind == "jid-sha256");
    e = list.match(*hush::jid::parse("other@upload.spam.test"), "", 10);
    REQUIRE(e);
    CHECK(e->source == "admin");  // the local entry, listed first, wins over the imported one
    CHECK(e->trust == "block");
    CHECK_FALSE(list.match(*hush::jid::parse("x@notspam.test"), "", 10));
}

TEST_CASE("overlapping ranges: the most severe live entry decides, whatever the order") {
    auto with_trust = [](std::string value, std::string trust, std::int64_t expires = 0) {
        auto e = entry("ip", std::move(value), expires);
        e.trust = std::move(trust);
        return e;
    };
    const blocklist list({with_trust("100.100.1.0/24", "greylist"), with_trust("100.64.0.0/10", "block", 500),
                          with_trust("100.100.0.0/16", "challenge")},
                         100);
    REQUIRE(list.match_address("100.100.1.7", 100));
    CHECK(list.match_address("100.100.1.7", 100)->value == "100.64.0.0/10");  // block beats the greylisted /24
    CHECK(list.match_address("100.100.1.7", 600)->value == "100.100.1.0/24");  // the block expired: the greylist
    CHECK(list.match_address("100.100.2.7", 600)->trust == "challenge");
    CHECK_FALSE(list.match_address("198.51.100.1", 100));
    CHECK(trust_severity("challenge") < trust_severity("greylist"));
    CHECK(trust_severity("greylist") < trust_severity("block"));
    CHECK(milder_trust("block", "greylist") == "greylist");
    CHECK(milder_trust("challenge", "block") == "challenge");
}
