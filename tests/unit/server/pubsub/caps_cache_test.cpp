// The XEP-0115 caps cache: one query per ver, a verified answer stored and every JID announcing the ver told, forged
// answers (wrong hash, wrong sender) refused, an unverifiable ver believed for its one JID only, +notify filtering,
// forgetting, and the bounds (vers, JIDs, outstanding queries).
#include <doctest.h>

#include "protocol/caps.hpp"
#include "server/pubsub/caps_cache.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::parse_jid;
using test::run_sync;

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

stanza answer(const stanza& query, const std::string& from, const std::vector<std::string>& features) {
    return stanza::parse("<iq type='result' id='" + std::string(query.id()) + "' from='" + from + "' to='" +
                         std::string(query.from()) + "'>" + query_xml(features) + "</iq>");
}

struct fixture {
    caps_cache cache;
    std::vector<std::pair<std::string, std::size_t>> known;  // full JID, feature count

    explicit fixture(std::size_t max_entries = 100, std::size_t max_jids = 100)
        : cache("example.org", max_entries, max_jids) {
        cache.on_known([this](jid full, std::shared_ptr<const caps_cache::feature_set> f) -> boost::asio::awaitable<void> {
            known.emplace_back(full.full_string(), f->size());
            co_return;
        });
    }
    std::optional<stanza> available(const std::string& full, const stanza& p) {
        return run_sync(cache.presence(parse_jid(full), p));
    }
    bool handle(const stanza& s) { return run_sync(cache.handle(s)); }
};

}  // namespace

TEST_CASE("caps cache: a ver is asked once, the verified answer is stored and every JID announcing it is told") {
    fixture f;
    auto q = f.available("alice@example.org/phone", presence(exodus_ver));
    REQUIRE(q);
    CHECK(q->name() == "iq");
    CHECK(q->type() == "get");
    CHECK(q->from() == "example.org");
    CHECK(q->to() == "alice@example.org/phone");
    CHECK_FALSE(q->id().empty());
    const auto query = q->child("query", "http://jabber.org/protocol/disco#info");
    CHECK(std::string(query.attribute("node").value()) == std::string(node) + "#" + exodus_ver);
    CHECK(f.cache.outstanding() == 1);
    // The same ver from another JID, or again: no second query while one is outstanding.
    CHECK_FALSE(f.available("bob@remote.example/pc", presence(exodus_ver)));
    CHECK_FALSE(f.available("alice@example.org/phone", presence(exodus_ver)));
    CHECK_FALSE(f.cache.features(parse_jid("alice@example.org/phone")));

    CHECK(f.handle(answer(*q, "alice@example.org/phone", exodus_features)));
    CHECK(f.cache.outstanding() == 0);
    CHECK(f.cache.vers() == 1);
    auto features = f.cache.features(parse_jid("bob@remote.example/pc"));
    REQUIRE(features);
    CHECK(*features == exodus_features);
    REQUIRE(f.known.size() == 2);
    CHECK(f.known[0].second == 4);

    // A third JID announcing the cached ver is known at once: told, nothing asked.
    CHECK_FALSE(f.available("carol@example.org/desk", presence(exodus_ver)));
    REQUIRE(f.known.size() == 3);
    CHECK(f.known[2].first == "carol@example.org/desk");
    // Another presence with the same ver (a status change) tells nobody again.
    CHECK_FALSE(f.available("carol@example.org/desk", presence(exodus_ver)));
    CHECK(f.known.size() == 3);
    // The answer again is no longer ours.
    CHECK_FALSE(f.handle(answer(*q, "alice@example.org/phone", exodus_features)));
}

TEST_CASE("caps cache: forged answers are refused") {
    fixture f;
    auto q = f.available("alice@example.org/phone", presence(exodus_ver));
    REQUIRE(q);
    SUBCASE("from another JID than the one asked: not ours, the query stays") {
        CHECK_FALSE(f.handle(answer(*q, "mallory@evil.example/x", exodus_features)));
        CHECK_FALSE(f.handle(answer(*q, "alice@example.org/tablet", exodus_features)));
        CHECK(f.cache.outstanding() == 1);
        CHECK(f.handle(answer(*q, "alice@example.org/phone", exodus_features)));
        CHECK(f.cache.vers() == 1);
    }
    SUBCASE("an answer that does not hash to the ver is taken but not stored") {
        auto forged = exodus_features;
        forged.push_back("urn:xmpp:avatar:metadata+notify");
        CHECK(f.handle(answer(*q, "alice@example.org/phone", forged)));
        CHECK(f.cache.vers() == 0);
        CHECK(f.cache.outstanding() == 0);
        CHECK_FALSE(f.cache.features(parse_jid("alice@example.org/phone")));
        CHECK(f.known.empty());
        // That JID is not asked again while it announces the same (a status change each minute would be a query
        // each minute); another JID announcing the ver is, and a new ver from the first is.
        CHECK_FALSE(f.available("alice@example.org/phone", presence(exodus_ver)));
        auto other = f.available("bob@example.org/pc", presence(exodus_ver));
        REQUIRE(other);
        CHECK(f.handle(answer(*other, "bob@example.org/pc", exodus_features)));
        CHECK(f.cache.vers() == 1);
        REQUIRE(f.known.size() == 2);  // both announce it: alice's features are known now too
        CHECK(f.cache.features(parse_jid("alice@example.org/phone")));
    }
    SUBCASE("an answer §5.4 says not to cache, or an error, is taken and nothing stored") {
        auto dup = exodus_features;
        dup.push_back(exodus_features.front());
        CHECK(f.handle(answer(*q, "alice@example.org/phone", dup)));
        CHECK(f.cache.vers() == 0);
        auto again = f.available("bob@example.org/pc", presence(exodus_ver));
        REQUIRE(again);
        CHECK(f.handle(stanza::parse("<iq type='error' id='" + std::string(again->id()) +
                                     "' from='bob@example.org/pc' to='example.org'><error type='cancel'>"
                                     "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")));
        CHECK(f.cache.vers() == 0);
        CHECK_FALSE(f.available("bob@example.org/pc", presence(exodus_ver)));
        // Going offline and back is a new announcement: asked again.
        f.cache.forget(parse_jid("bob@example.org/pc"));
        CHECK(f.available("bob@example.org/pc", presence(exodus_ver)));
    }
    // Not an answer at all.
    CHECK_FALSE(f.handle(stanza::parse("<iq type='get' id='caps-1' from='alice@example.org/phone' to='example.org'/>")));
    CHECK_FALSE(f.handle(stanza::parse("<message from='alice@example.org/phone' to='example.org'/>")));
    CHECK_FALSE(f.handle(stanza::parse("<iq type='result' id='other' from='alice@example.org/phone' to='example.org'/>")));
}

TEST_CASE("caps cache: an unknown hash or a legacy <c/> is believed for that one JID only") {
    fixture f;
    for (const std::string hash : {"", "md5"}) {
        CAPTURE(hash);
        f.known.clear();
        auto q1 = f.available("alice@example.org/phone", presence("1.0", hash));
        auto q2 = f.available("bob@example.org/pc", presence("1.0", hash));
        REQUIRE(q1);
        REQUIRE(q2);  // each JID is asked: its answer says nothing about another's
        CHECK_FALSE(f.available("alice@example.org/phone", presence("1.0", hash)));
        CHECK(f.handle(answer(*q1, "alice@example.org/phone", {"urn:a", "urn:b"})));
        CHECK(f.cache.vers() == 0);
        REQUIRE(f.cache.features(parse_jid("alice@example.org/phone")));
        CHECK(f.cache.features(parse_jid("alice@example.org/phone"))->size() == 2);
        CHECK_FALSE(f.cache.features(parse_jid("bob@example.org/pc")));
        REQUIRE(f.known.size() == 1);
        CHECK(f.known[0].first == "alice@example.org/phone");
        CHECK(f.handle(answer(*q2, "bob@example.org/pc", {"urn:c"})));
        f.cache.forget(parse_jid("alice@example.org/phone"));
        f.cache.forget(parse_jid("bob@example.org/pc"));
    }
}

TEST_CASE("caps cache: sha-256 vers verify too") {
    fixture f;
    const std::string ver = ver_of(exodus_features, "sha-256");
    auto q = f.available("alice@example.org/phone", presence(ver, "sha-256"));
    REQUIRE(q);
    CHECK(f.handle(answer(*q, "alice@example.org/phone", exodus_features)));
    CHECK(f.cache.vers() == 1);
    CHECK(f.cache.features(parse_jid("alice@example.org/phone")));
}

TEST_CASE("caps cache: wanting() lists the available resources with +notify; unavailable and forget() drop them") {
    fixture f;
    auto with_notify = exodus_features;
    with_notify.push_back("urn:xmpp:avatar:metadata+notify");
    auto q = f.available("alice@example.org/phone", presence(ver_of(with_notify)));
    REQUIRE(q);
    CHECK(f.handle(answer(*q, "alice@example.org/phone", with_notify)));
    auto q2 = f.available("alice@example.org/laptop", presence(exodus_ver));
    REQUIRE(q2);
    CHECK(f.handle(answer(*q2, "alice@example.org/laptop", exodus_features)));
    CHECK_FALSE(f.available("alice@example.org/old", presence("")));  // no <c/>: no features, nothing asked
    REQUIRE(f.cache.features(parse_jid("alice@example.org/old")));
    CHECK(f.cache.features(parse_jid("alice@example.org/old"))->empty());
    CHECK_FALSE(f.available("bob@example.org/phone", presence(ver_of(with_notify))));

    const auto alice = parse_jid("alice@example.org");
    auto wanting = f.cache.wanting(alice, "urn:xmpp:avatar:metadata");
    REQUIRE(wanting.size() == 1);
    CHECK(wanting[0].full_string() == "alice@example.org/phone");
    CHECK(f.cache.wanting(alice, "urn:xmpp:avatar").empty());
    CHECK(f.cache.wanting(alice, "http://jabber.org/protocol/muc").empty());  // a feature, not +notify
    CHECK(f.cache.wanting(parse_jid("bob@example.org"), "urn:xmpp:avatar:metadata").size() == 1);

    CHECK_FALSE(f.available("alice@example.org/phone", presence("", "", "unavailable")));
    CHECK(f.cache.wanting(alice, "urn:xmpp:avatar:metadata").empty());
    CHECK_FALSE(f.cache.features(parse_jid("alice@example.org/phone")));
    f.cache.forget(parse_jid("bob@example.org/phone"));
    CHECK(f.cache.wanting(parse_jid("bob@example.org"), "urn:xmpp:avatar:metadata").empty());
    CHECK(f.cache.jids() == 2);
    // The ver stays cached: the resource coming back is known at once.
    CHECK_FALSE(f.available("alice@example.org/phone", presence(ver_of(with_notify))));
    CHECK(f.cache.wanting(alice, "urn:xmpp:avatar:metadata").size() == 1);
}

TEST_CASE("caps cache: bounds on vers, JIDs and outstanding queries") {
    SUBCASE("vers: the least recently announced goes") {
        fixture f(2, 100);
        std::vector<std::vector<std::string>> sets{{"urn:1"}, {"urn:2"}, {"urn:3"}};
        for (std::size_t i = 0; i < sets.size(); ++i) {
            const std::string who = "u" + std::to_string(i) + "@example.org/r";
            auto q = f.available(who, presence(ver_of(sets[i])));
            REQUIRE(q);
            CHECK(f.handle(answer(*q, who, sets[i])));
        }
        CHECK(f.cache.vers() == 2);
        CHECK_FALSE(f.cache.features(parse_jid("u0@example.org/r")));
        CHECK(f.cache.features(parse_jid("u2@example.org/r")));
    }
    SUBCASE("JIDs: the longest silent goes") {
        fixture f(100, 2);
        CHECK_FALSE(f.available("a@example.org/r", presence("")));
        CHECK_FALSE(f.available("b@example.org/r", presence("")));
        CHECK_FALSE(f.available("a@example.org/r", presence("")));  // a spoke again: b is now the oldest
        CHECK_FALSE(f.available("c@example.org/r", presence("")));
        CHECK(f.cache.jids() == 2);
        CHECK(f.cache.features(parse_jid("a@example.org/r")));
        CHECK_FALSE(f.cache.features(parse_jid("b@example.org/r")));
        CHECK(f.cache.features(parse_jid("c@example.org/r")));
    }
    SUBCASE("outstanding queries: at most max_outstanding, expired ones make room") {
        fixture f(100, 5000);
        auto now = caps_cache::clock::now();
        f.cache.set_clock([&now] { return now; });
        for (std::size_t i = 0; i < caps_cache::max_outstanding; ++i) {
            REQUIRE(f.available("u" + std::to_string(i) + "@example.org/r", presence("v" + std::to_string(i) + "=")));
        }
        CHECK_FALSE(f.available("late@example.org/r", presence("late=")));
        now += caps_cache::query_timeout;
        CHECK(f.available("late@example.org/r", presence("late=")));
        CHECK(f.cache.outstanding() == 1);
        // An unanswered ver is asked again (of another JID announcing it) once its query has expired.
        CHECK_FALSE(f.available("other@example.org/r", presence("late=")));
        now += caps_cache::query_timeout;
        CHECK(f.available("other@example.org/r", presence("late=")));
        CHECK(f.cache.outstanding() == 1);
    }
}
