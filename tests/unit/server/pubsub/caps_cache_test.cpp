// The XEP-0115 caps cache: what a JID announces is recorded, a verified answer is kept for every JID announcing the
// ver, an answer that does not hash to it is refused, an unverifiable ver is believed for its one JID only, +notify
// filtering, forgetting, and the bounds (vers, JIDs).
#include <doctest.h>

#include "protocol/caps.hpp"
#include "server/pubsub/caps_cache.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::parse_jid;

namespace {

constexpr const char* node = "https://client.example";
const std::vector<std::string> exodus_features{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
                                               "http://jabber.org/protocol/disco#items",
                                               "http://jabber.org/protocol/muc"};
constexpr const char* exodus_ver = "QgayPKawpkPSDYmwT/WM94uAlu0=";  // XEP-0115 §5.2

std::string query_xml(const std::vector<std::string>& features, const std::string& name = "Exodus 0.9.1") {
    std::string q = "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' name='" + name +
                    "' type='pc'/>";
    for (const auto& f : features) {
        q += "<feature var='" + f + "'/>";
    }
    return q + "</query>";
}

std::string ver_of(const std::vector<std::string>& features, const std::string& hash = "sha-1") {
    caps::disco_info info;
    info.identities.push_back({"client", "pc", "", "Exodus 0.9.1"});
    info.features = features;
    return *caps::ver(hash, info);
}

stanza presence(const std::string& ver, const std::string& hash = "sha-1", const std::string& type = "") {
    std::string xml = "<presence" + (type.empty() ? std::string() : " type='" + type + "'") + ">";
    if (!ver.empty()) {
        xml += "<c xmlns='http://jabber.org/protocol/caps' " + (hash.empty() ? std::string() : "hash='" + hash + "' ") +
               "node='" + node + "' ver='" + ver + "'/>";
    }
    return stanza::parse(xml + "</presence>");
}

stanza answer(const std::string& from, const std::vector<std::string>& features) {
    return stanza::parse("<iq type='result' id='disco' from='" + from + "' to='alice@example.org'>" +
                         query_xml(features) + "</iq>");
}

}  // namespace

TEST_CASE("caps cache: a verified answer is kept by ver, for every JID announcing it") {
    caps_cache cache(100, 100);
    const auto alice = parse_jid("alice@example.org/phone");
    const auto bob = parse_jid("bob@example.net/pc");
    const auto announced = cache.announce(alice, presence(exodus_ver));
    REQUIRE(announced);
    CHECK(announced->node == node);
    CHECK(announced->ver == exodus_ver);
    CHECK(cache.features(alice) == nullptr);  // not known yet: the engine asks
    CHECK(cache.learn(alice, answer(alice.full_string(), exodus_features)));
    REQUIRE(cache.features(alice) != nullptr);
    CHECK(*cache.features(alice) == exodus_features);  // sorted
    CHECK(cache.vers() == 1);
    // Someone else with the same client: known as soon as announced.
    cache.announce(bob, presence(exodus_ver));
    REQUIRE(cache.features(bob) != nullptr);
    CHECK(cache.features(bob)->size() == exodus_features.size());
}

TEST_CASE("caps cache: an answer that does not hash to the ver is not kept") {
    caps_cache cache(100, 100);
    const auto alice = parse_jid("alice@example.org/phone");
    cache.announce(alice, presence(exodus_ver));
    auto forged = exodus_features;
    forged.push_back("urn:xmpp:avatar:metadata+notify");
    CHECK_FALSE(cache.learn(alice, answer(alice.full_string(), forged)));
    CHECK(cache.features(alice) == nullptr);
    CHECK(cache.vers() == 0);
    // An ill-formed answer (a duplicate feature, XEP-0115 §5.4) neither.
    auto twice = exodus_features;
    twice.push_back(exodus_features.front());
    CHECK_FALSE(cache.learn(alice, answer(alice.full_string(), twice)));
    CHECK(cache.vers() == 0);
}

TEST_CASE("caps cache: a legacy or unknown-hash announcement's answer is believed for that JID only") {
    caps_cache cache(100, 100);
    const auto alice = parse_jid("alice@example.org/phone");
    const auto bob = parse_jid("bob@example.org/phone");
    const std::vector<std::string> features{"urn:xmpp:avatar:metadata+notify"};
    for (const std::string hash : {"", "md5"}) {
        cache.announce(alice, presence("legacy-1", hash));
        cache.announce(bob, presence("legacy-1", hash));
        CHECK(cache.learn(alice, answer(alice.full_string(), features)));
        REQUIRE(cache.features(alice) != nullptr);
        CHECK(*cache.features(alice) == features);
        CHECK(cache.features(bob) == nullptr);
        CHECK(cache.vers() == 0);
        cache.forget(alice);
        cache.forget(bob);
    }
}

TEST_CASE("caps cache: +notify picks the resources that want a node") {
    caps_cache cache(100, 100);
    const auto phone = parse_jid("alice@example.org/phone");
    const auto desk = parse_jid("alice@example.org/desk");
    const auto quiet = parse_jid("alice@example.org/quiet");
    std::vector<std::string> wants = exodus_features;
    wants.push_back("urn:xmpp:avatar:metadata+notify");
    std::sort(wants.begin(), wants.end());
    cache.announce(phone, presence(ver_of(wants)));
    CHECK(cache.learn(phone, stanza::parse("<iq type='result' from='alice@example.org/phone'>" + query_xml(wants) +
                                           "</iq>")));
    cache.announce(desk, presence(ver_of(wants)));
    cache.announce(quiet, presence(""));  // no caps: wants nothing
    REQUIRE(cache.features(quiet) != nullptr);
    CHECK(cache.features(quiet)->empty());
    auto who = cache.wanting(parse_jid("alice@example.org"), "urn:xmpp:avatar:metadata");
    CHECK(who.size() == 2);
    CHECK(cache.wanting(parse_jid("alice@example.org"), "urn:xmpp:avatar:data").empty());
    cache.forget(desk);
    who = cache.wanting(parse_jid("alice@example.org"), "urn:xmpp:avatar:metadata");
    REQUIRE(who.size() == 1);
    CHECK(who.front().full_string() == "alice@example.org/phone");
}

TEST_CASE("caps cache: bounded in vers and in JIDs") {
    caps_cache cache(2, 3);
    std::vector<std::vector<std::string>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back({"urn:example:" + std::to_string(i)});
        const auto who = parse_jid("u" + std::to_string(i) + "@example.org/r");
        cache.announce(who, presence(ver_of(clients.back())));
        CHECK(cache.learn(who, stanza::parse("<iq type='result'>" + query_xml(clients.back()) + "</iq>")));
    }
    CHECK(cache.vers() == 2);  // the least recently announced ver went
    CHECK(cache.features(parse_jid("u0@example.org/r")) == nullptr);
    cache.announce(parse_jid("u3@example.org/r"), presence(""));
    CHECK(cache.jids() == 3);  // the longest silent JID went
}
