// XEP-0060 RTBL: item ids per node become entries; pushes and retractions from the configured service apply, from
// anyone else nothing does.
#include <doctest.h>

#include "antispim/rtbl_service.hpp"
#include "server/config/config.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;

TEST_CASE("rtbl: item ids per node, pushes and retractions from the service only") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    antispim_config::rtbl_source source;
    source.service = "rtbl.example.net";
    source.trust = "greylist";
    cfg.antispim.rtbls = {source};
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    rtbl_service rtbl(cfg.antispim, cfg.hosts.front(), blocklist);

    auto domain = rtbl_service::entry_for(source, "spam_source_domains", "Spam.Test", 5);
    REQUIRE(domain);
    CHECK(domain->kind == "domain");
    CHECK(domain->value == "spam.test");
    CHECK(domain->source == "rtbl:rtbl.example.net/spam_source_domains");
    CHECK(domain->trust == "greylist");
    CHECK(rtbl_service::entry_for(source, "spam_source_ips", "192.0.2.0/24", 5)->kind == "ip");
    CHECK_FALSE(rtbl_service::entry_for(source, "spam_source_ips", "not an address", 5));
    CHECK_FALSE(rtbl_service::entry_for(source, "spam_source_jids_sha256", "abc", 5));

    auto push = [&](const char* from, const char* items) {
        return test::run_sync(rtbl.handle(stanza::parse(
            std::string("<message from='") + from + "' to='example.org'><event "
            "xmlns='http://jabber.org/protocol/pubsub#event'><items node='spam_source_domains'>" + items +
            "</items></event></message>")));
    };
    CHECK_FALSE(push("mallory@evil.test", "<item id='innocent.test'/>"));  // not the configured service
    CHECK(blocklist.current()->entries().empty());
    CHECK(push("rtbl.example.net", "<item id='spam.test'/><item id='bots.test'/>"));
    CHECK(blocklist.current()->entries().size() == 2);
    const auto* match = blocklist.current()->match(*jid::parse("x@upload.bots.test"), "", 10);
    REQUIRE(match);
    CHECK(match->trust == "greylist");
    CHECK(push("rtbl.example.net", "<retract id='bots.test'/>"));
    CHECK(blocklist.current()->entries().size() == 1);
    CHECK_FALSE(blocklist.current()->match(*jid::parse("x@bots.test"), "", 10));
}
