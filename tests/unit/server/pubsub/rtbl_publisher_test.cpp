// The blocklist published as RTBL nodes (server/pubsub/rtbl_publisher): which item ids each node should hold
// (domains, hashed JIDs whatever hash_jids said, addresses and ranges; nothing expired, nothing that only
// greylists), how a node gets there (publish the missing, retract the rest), the nodes' configuration, and whole
// passes against the engine on both backends: items published once, a removal retracted with a notification to a
// remote subscriber, an expiry the same, an unchanged list touching nothing.
#include <doctest.h>

#include <algorithm>

#include "antispim/blocklist.hpp"
#include "protocol/xep0082.hpp"
#include "server/pubsub/node_access.hpp"
#include "server/pubsub/rtbl_publisher.hpp"
#include "tests/unit/storage/test_backends.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::run_sync;
namespace rp = rtbl_publication;

namespace {

storage::blocklist_entry entry(std::string kind, std::string value, std::int64_t expires_at = 0,
                               std::string trust = "block") {
    storage::blocklist_entry e;
    e.kind = std::move(kind);
    e.value = std::move(value);
    e.source = "admin";
    e.added_at = 100;
    e.expires_at = expires_at;
    e.trust = std::move(trust);
    return e;
}

std::set<std::string> ids(std::initializer_list<std::string> list) { return {list}; }

}  // namespace

TEST_CASE("rtbl publication: each kind on its node, JIDs only hashed, nothing expired or merely greylisting") {
    const std::string digest = antispim::jid_sha256(*jid::parse("bot@spam.test"));
    const std::string other = antispim::jid_sha256(*jid::parse("other@spam.test"));
    const auto w = rp::wanted({entry("domain", "spam.test", 500), entry("jid", "bot@spam.test"),
                               entry("jid-sha256", other),  // hash_jids = true: already hashed
                               entry("ip", "192.0.2.0/24"), entry("ip", "2001:db8::1", 300),
                               entry("domain", "gone.test", 150),                   // expired at now = 200
                               entry("ip", "198.51.100.0/24", 0, "greylist")},      // a DoS greylist: not an RTBL item
                              200);
    CHECK(w.ids.size() == 3);
    CHECK(w.ids.at("spam_source_domains") == ids({"spam.test"}));
    CHECK(w.ids.at("spam_source_jids_sha256") == ids({digest, other}));
    CHECK(w.ids.at("spam_source_ips") == ids({"192.0.2.0/24", "2001:db8::1"}));
    CHECK(w.next_expiry == 300);  // the soonest expiry of what is published: the next pass then
    for (const auto& [node, items] : w.ids) {
        CHECK(std::none_of(items.begin(), items.end(),
                           [](const std::string& id) { return id.find('@') != std::string::npos; }));
    }

    const auto empty = rp::wanted({}, 200);
    CHECK(empty.ids.size() == 3);  // every node is looked at: removing the last entry retracts its item
    CHECK(empty.ids.at("spam_source_ips").empty());
    CHECK(empty.next_expiry == 0);
}

TEST_CASE("rtbl publication: the difference publishes what is missing and retracts the rest") {
    auto c = rp::diff(ids({"a.test", "b.test", "c.test"}), {"c.test", "d.test", "a.test"});
    CHECK(c.publish == std::vector<std::string>{"b.test"});
    CHECK(c.retract == std::vector<std::string>{"d.test"});
    CHECK(rp::diff(ids({"a.test"}), {"a.test"}).empty());
    CHECK(rp::diff({}, {"x.test", "y.test"}).retract == std::vector<std::string>{"x.test", "y.test"});
    CHECK(rp::diff(ids({"x.test"}), {}).publish == std::vector<std::string>{"x.test"});
}

TEST_CASE("rtbl publication: the nodes are open, the server's to publish on, persistent, retractions notified") {
    const auto c = rp::node_configuration("spam_source_domains");
    CHECK(c.access == pubsub::access_model::open);
    CHECK(c.publish == pubsub::publish_model::publishers);
    CHECK(c.persist_items);
    CHECK(c.max_items == pubsub_detail::own_node_max_items);
    CHECK(c.send_last_published_item == pubsub::send_last::never);
    CHECK(c.notify_retract);
    CHECK(c.deliver_notifications);
}

namespace {

// An engine with a service on `options`' storage, a publisher fed by `entries`, and what it delivered.
struct publisher_world {
    explicit publisher_world(const storage::store_options& options) : store(options) {}

    storage::async_store store;
    pubsub_config options = [] {
        pubsub_config p;
        p.service = "pubsub.example.org";
        return p;
    }();
    session_registry sessions;
    pubsub_engine engine{store, options, {"example.org"}, {}, sessions, nullptr};
    std::vector<storage::blocklist_entry> entries;
    std::uint64_t generation = 0;
    std::vector<stanza> delivered;
    rtbl_publisher publisher{engine, [this] { return entries; }, [this] { return generation; },
                             [this](outgoing out) -> boost::asio::awaitable<void> {
                                 for (auto& o : out.take()) {
                                     delivered.push_back(std::move(o.content));
                                 }
                                 co_return;
                             }};

    std::vector<std::string> items(const std::string& node) {
        auto got = run_sync(engine.own_item_ids(node));
        REQUIRE(got);
        std::sort(got->begin(), got->end());
        return *got;
    }
};

}  // namespace

TEST_CASE_TEMPLATE("rtbl publisher: a pass publishes, a removal and an expiry retract with notifications, nothing else",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    publisher_world w(backend.options());
    const auto now = unix_now();
    w.entries = {entry("domain", "spam.test"), entry("jid", "bot@spam.test"), entry("ip", "192.0.2.7", now + 3600)};
    REQUIRE(run_sync(w.publisher.sync()));
    const std::string digest = antispim::jid_sha256(*jid::parse("bot@spam.test"));
    CHECK(w.items("spam_source_domains") == std::vector<std::string>{"spam.test"});
    CHECK(w.items("spam_source_jids_sha256") == std::vector<std::string>{digest});
    CHECK(w.items("spam_source_ips") == std::vector<std::string>{"192.0.2.7"});

    // A remote server follows the domains node, as [[antispim.rtbl]] does (from its domain, over S2S).
    outgoing out;
    auto subscribed = run_sync(w.engine.handle(
        stanza::parse("<iq type='set' id='s1' from='remote.test' to='pubsub.example.org'>"
                      "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                      "<subscribe node='spam_source_domains' jid='remote.test'/></pubsub></iq>"),
        *jid::parse("pubsub.example.org"), out));
    REQUIRE(subscribed);
    CHECK(subscribed->type() == "result");
    auto fetched = run_sync(w.engine.handle(
        stanza::parse("<iq type='get' id='f1' from='remote.test' to='pubsub.example.org'>"
                      "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                      "<items node='spam_source_domains'/></pubsub></iq>"),
        *jid::parse("pubsub.example.org"), out));
    REQUIRE(fetched);
    CHECK(fetched->serialize().find("<report xmlns=\"urn:xmpp:reporting:1\" reason=\"urn:xmpp:reporting:spam\"") !=
          std::string::npos);

    // The same list again: nothing published, nothing notified.
    REQUIRE(run_sync(w.publisher.sync()));
    CHECK(w.delivered.empty());

    // An addition and a removal: one item notified, one retraction notified, both to the subscriber.
    w.entries = {entry("domain", "other.test"), entry("jid", "bot@spam.test"), entry("ip", "192.0.2.7", now + 3600)};
    REQUIRE(run_sync(w.publisher.sync()));
    CHECK(w.items("spam_source_domains") == std::vector<std::string>{"other.test"});
    REQUIRE(w.delivered.size() == 2);
    for (const auto& m : w.delivered) {
        CHECK(m.from() == "pubsub.example.org");
        CHECK(m.to() == "remote.test");
    }
    CHECK(w.delivered[0].serialize().find("<item id=\"other.test\"") != std::string::npos);
    CHECK(w.delivered[1].serialize().find("<retract id=\"spam.test\"") != std::string::npos);

    // An entry that has expired goes, like a removed one.
    w.entries = {entry("domain", "other.test"), entry("jid", "bot@spam.test"), entry("ip", "192.0.2.7", now - 1)};
    REQUIRE(run_sync(w.publisher.sync()));
    CHECK(w.items("spam_source_ips").empty());
    CHECK(w.items("spam_source_jids_sha256") == std::vector<std::string>{digest});
}

TEST_CASE("rtbl publisher: the RTBL's names are the server's: nobody creates them, a squatted one is taken back") {
    test::temp_dir dir;
    publisher_world w(test::sqlite_options(dir.path()));
    auto create = [&](const char* id) {
        outgoing out;
        auto answer = run_sync(w.engine.handle(
            stanza::parse(std::string("<iq type='set' id='") + id + "' from='mallory@example.org/x' "
                          "to='pubsub.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                          "<create node='spam_source_ips'/></pubsub></iq>"),
            *jid::parse("pubsub.example.org"), out));
        REQUIRE(answer);
        return std::string(answer->type());
    };
    // Made while nothing reserved the name (the publisher was off then)...
    REQUIRE(create("c1") == "result");
    w.entries = {entry("ip", "192.0.2.7")};
    // ...the server takes it back: other servers trust what is on it in this server's name.
    REQUIRE(run_sync(w.publisher.sync()));
    CHECK(w.items("spam_source_ips") == std::vector<std::string>{"192.0.2.7"});
    w.engine.reserve_nodes({"spam_source_ips"});
    outgoing out;
    auto deleted = run_sync(w.engine.handle(
        stanza::parse("<iq type='set' id='d1' from='mallory@example.org/x' to='pubsub.example.org'>"
                      "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='spam_source_ips'/>"
                      "</pubsub></iq>"),
        *jid::parse("pubsub.example.org"), out));
    REQUIRE(deleted);
    CHECK(deleted->type() == "error");  // no longer hers
    CHECK(create("c2") == "error");     // and not to be made again by anyone
    CHECK(w.items("spam_source_ips") == std::vector<std::string>{"192.0.2.7"});
}
