// Parsing other servers' published lists: Hush's XML and plain domain lists.
#include <doctest.h>

#include "antispim/blocklist_import.hpp"

using namespace hush;

TEST_CASE("a Hush list: entries normalized, expired and malformed ones left out") {
    const std::string xml =
        "<?xml version='1.0'?><blocklist xmlns='urn:hush:blocklist:0' server='a.test'>"
        "<entry type='domain' value='Spam.Test' reason='invites' source='admin' added='2026-11-25T03:00:00Z'/>"
        "<entry type='ip' value='192.0.2.0/24' reason='flood' source='dos' added='2026-11-25T03:00:00Z' "
        "expires='2099-01-01T00:00:00Z'/>"
        "<entry type='jid' value='old@spam.test' reason='x' source='admin' added='2020-01-01T00:00:00Z' "
        "expires='2020-02-01T00:00:00Z'/>"
        "<entry type='ip' value='192.0.2.7/24' reason='typo' source='admin' added='2026-11-25T03:00:00Z'/>"
        "</blocklist>";
    auto parsed = parse_blocklist_import("hush", xml, "http://a.test/blocklist.xml", 1'800'000'000);
    REQUIRE(parsed);
    REQUIRE(parsed->size() == 2);
    CHECK((*parsed)[0].kind == "domain");
    CHECK((*parsed)[0].value == "spam.test");
    CHECK((*parsed)[0].reason == "invites");
    CHECK((*parsed)[0].source == "import:http://a.test/blocklist.xml");
    CHECK((*parsed)[0].expires_at == 0);
    CHECK((*parsed)[1].value == "192.0.2.0/24");
    CHECK((*parsed)[1].expires_at == 4070908800);
    CHECK_FALSE(parse_blocklist_import("hush", "<blocklist/>", "u", 0));
    CHECK(parse_blocklist_import("hush", "not xml", "u", 0).error() == "not well-formed XML");
}

TEST_CASE("a plain domain list (one per line, # comments)") {
    auto parsed = parse_blocklist_import("domains", "# JabberSPAM\nspam.test\n  Other.Test  # why\n\nnot a domain!\n",
                                                  "http://lists.test/domains.txt", 1);
    REQUIRE(parsed);
    REQUIRE(parsed->size() == 2);
    CHECK((*parsed)[0].value == "spam.test");
    CHECK((*parsed)[1].value == "other.test");
    CHECK((*parsed)[1].reason == "listed by http://lists.test/domains.txt");
}

TEST_CASE("published evidence and trust: an importer takes the kinds it chose, a greylist stays a greylist") {
    const std::string xml =
        "<blocklist xmlns='urn:hush:blocklist:0' server='a.test'>"
        "<entry type='domain' value='farm.test' reason='r' source='dos detector' evidence='challenges' "
        "added='2026-11-25T03:00:00Z'/>"
        "<entry type='ip' value='192.0.2.0/24' reason='r' source='dos detector' evidence='challenges' "
        "trust='greylist' added='2026-11-25T03:00:00Z'/>"
        "<entry type='jid' value='victim@big.test' reason='r' source='user consensus' evidence='consensus' "
        "added='2026-11-25T03:00:00Z'/>"
        "<entry type='jid' value='old@hush.test' reason='r' source='admin' added='2026-11-25T03:00:00Z'/>"
        "<entry type='jid' value='odd@hush.test' reason='r' source='admin' evidence='admin' trust='nonsense' "
        "added='2026-11-25T03:00:00Z'/>"
        "</blocklist>";
    auto all = parse_blocklist_import("hush", xml, "u", 1'800'000'000);
    REQUIRE(all);
    REQUIRE(all->size() == 5);
    CHECK((*all)[0].trust == "block");
    CHECK((*all)[1].trust == "greylist");
    CHECK((*all)[4].trust == "block");  // an unknown trust level is the publisher's plain block
    auto chosen = parse_blocklist_import("hush", xml, "u", 1'800'000'000, {"challenges", "unknown"});
    REQUIRE(chosen);
    REQUIRE(chosen->size() == 3);  // not the consensus entry, not the one saying "admin"
    CHECK((*chosen)[0].value == "farm.test");
    CHECK((*chosen)[1].value == "192.0.2.0/24");
    CHECK((*chosen)[2].value == "old@hush.test");  // an older publisher that does not say: "unknown"
    auto lines = parse_blocklist_import("domains", "spam.test\n", "u", 1, {"admin"});
    REQUIRE(lines);
    CHECK(lines->empty());  // a plain list says nothing of its evidence
}
