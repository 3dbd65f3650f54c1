// IM core storage tests (migration 2): roster with versions and tombstones, subscription requests, offline
// messages, privacy lists, blocklist, documents, last activity, and cascade on account deletion. Every case runs
// against both backends (see test_backends.hpp).
#include <doctest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

roster_item make_item(std::string contact, std::string name, std::vector<std::string> groups = {}) {
    roster_item item;
    item.contact = std::move(contact);
    item.name = std::move(name);
    item.groups = std::move(groups);
    return item;
}

// `item` as the store returns it after a put at `version`.
roster_item stored(roster_item item, std::int64_t version) {
    item.version = version;
    item.removed = false;
    return item;
}

roster_item tombstone(std::string contact, std::int64_t version) {
    roster_item item;
    item.contact = std::move(contact);
    item.version = version;
    item.removed = true;
    return item;
}

std::vector<std::string> contacts(const std::vector<roster_item>& items) {
    std::vector<std::string> out;
    for (const auto& item : items) {
        out.push_back(item.contact);
    }
    return out;
}

}  // namespace

// ---- schema ----

TEST_CASE_TEMPLATE("im core: migration 2 upgrades a schema 1 database and keeps its accounts", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    const auto dialect = B::is_postgres ? sql_dialect::postgresql : sql_dialect::sqlite;
    auto s = open_store(backend.options());  // creates the SQLite file
    // A database as a build that only knew migration 1 left it.
    backend.exec_raw(render_sql("CREATE TABLE schema_version (version {int64} NOT NULL PRIMARY KEY, "
                                "description TEXT NOT NULL, applied_at {int64} NOT NULL)",
                                dialect));
    backend.exec_raw(render_sql(migrations()[0].sql, dialect));
    backend.exec_raw("INSERT INTO schema_version (version, description, applied_at) VALUES (1, 'accounts', 0)");
    REQUIRE(must(s->schema_version()) == 1);
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));

    CHECK(must(s->migrate()) == latest_schema_version());
    CHECK(must(s->schema_version()) == latest_schema_version());
    CHECK(must(s->account_exists(domain, "alice")));
    CHECK(must(s->put_roster_item(domain, "alice", make_item("bob@example.org", "Bob"))) == 1);
}

// ---- roster ----

TEST_CASE_TEMPLATE("roster: an empty roster is at version 0", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->get_roster(domain, "alice")).empty());
    CHECK_FALSE(must(s->get_roster_item(domain, "alice", "bob@example.org")).has_value());
    CHECK(must(s->roster_version(domain, "alice")) == 0);
    const auto delta = must(s->roster_changes_since(domain, "alice", 0));
    REQUIRE(delta.has_value());
    CHECK(delta->current_version == 0);
    CHECK(delta->changed.empty());
    CHECK_FALSE(must(s->roster_changes_since(domain, "alice", 1)).has_value());
    // Nothing to remove: no version, no error (also for an account that does not exist).
    CHECK_FALSE(must(s->remove_roster_item(domain, "alice", "bob@example.org")).has_value());
    CHECK_FALSE(must(s->remove_roster_item(domain, "nobody", "bob@example.org")).has_value());
    CHECK(must(s->roster_version(domain, "alice")) == 0);
}

TEST_CASE_TEMPLATE("roster: put, update, remove and revive bump the version; changes since", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    auto carol = make_item("carol@example.org", "Carol", {"Friends"});
    carol.sub = subscription::both;
    carol.version = 999;  // ignored: the store stamps the item
    auto bob = make_item("bob@example.org", "Bob");
    bob.sub = subscription::to;
    bob.pending_in = true;

    CHECK(must(s->put_roster_item(domain, "alice", carol)) == 1);
    CHECK(must(s->put_roster_item(domain, "alice", bob)) == 2);
    CHECK(must(s->roster_version(domain, "alice")) == 2);
    CHECK(must(s->get_roster_item(domain, "alice", "carol@example.org")) == stored(carol, 1));
    // Ordered by contact.
    CHECK(must(s->get_roster(domain, "alice")) == std::vector{stored(bob, 2), stored(carol, 1)});

    carol.name = "Carol C.";
    carol.groups = {"Work"};
    CHECK(must(s->put_roster_item(domain, "alice", carol)) == 3);
    CHECK(must(s->get_roster_item(domain, "alice", "carol@example.org")) == stored(carol, 3));

    // Changes come in version order; `since` equal to the current version means "nothing new".
    auto delta = must(s->roster_changes_since(domain, "alice", 0));
    REQUIRE(delta);
    CHECK(delta->current_version == 3);
    CHECK(delta->changed == std::vector{stored(bob, 2), stored(carol, 3)});
    delta = must(s->roster_changes_since(domain, "alice", 2));
    REQUIRE(delta);
    CHECK(delta->changed == std::vector{stored(carol, 3)});
    delta = must(s->roster_changes_since(domain, "alice", 3));
    REQUIRE(delta);
    CHECK(delta->current_version == 3);
    CHECK(delta->changed.empty());
    CHECK_FALSE(must(s->roster_changes_since(domain, "alice", 4)).has_value());

    // Removal leaves a clean tombstone (no name, groups or subscription) that only the delta shows.
    CHECK(must(s->remove_roster_item(domain, "alice", "carol@example.org")) == std::optional<std::int64_t>(4));
    CHECK_FALSE(must(s->get_roster_item(domain, "alice", "carol@example.org")).has_value());
    CHECK(must(s->get_roster(domain, "alice")) == std::vector{stored(bob, 2)});
    delta = must(s->roster_changes_since(domain, "alice", 3));
    REQUIRE(delta);
    CHECK(delta->current_version == 4);
    CHECK(delta->changed == std::vector{tombstone("carol@example.org", 4)});
    delta = must(s->roster_changes_since(domain, "alice", 0));
    REQUIRE(delta);
    CHECK(delta->changed == std::vector{stored(bob, 2), tombstone("carol@example.org", 4)});

    // Removing it again changes nothing.
    CHECK_FALSE(must(s->remove_roster_item(domain, "alice", "carol@example.org")).has_value());
    CHECK(must(s->roster_version(domain, "alice")) == 4);

    // A put revives the contact, with exactly the new state.
    auto revived = make_item("carol@example.org", "Carol again", {"Old friends", "Book club"});
    CHECK(must(s->put_roster_item(domain, "alice", revived)) == 5);
    CHECK(must(s->get_roster_item(domain, "alice", "carol@example.org")) == stored(revived, 5));
    delta = must(s->roster_changes_since(domain, "alice", 4));
    REQUIRE(delta);
    CHECK(delta->changed == std::vector{stored(revived, 5)});
    CHECK(contacts(must(s->get_roster(domain, "alice"))) ==
          std::vector<std::string>{"bob@example.org", "carol@example.org"});
}

TEST_CASE_TEMPLATE("roster: groups and every subscription state round trip", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);

    // Order kept (not sorted), case significant, a repeated name kept once at its first position.
    auto item = make_item("dave@example.org", "", {"Zeta", "alpha", "Alpha", "zeta", "Zeta", ""});
    must(s->put_roster_item(domain, "alice", item));
    auto got = must(s->get_roster_item(domain, "alice", "dave@example.org"));
    REQUIRE(got);
    CHECK(got->groups == std::vector<std::string>{"Zeta", "alpha", "Alpha", "zeta", ""});
    CHECK(got->name.empty());

    // An update replaces the groups, also with none at all.
    item.groups = {"Only"};
    must(s->put_roster_item(domain, "alice", item));
    CHECK(must(s->get_roster_item(domain, "alice", "dave@example.org"))->groups == std::vector<std::string>{"Only"});
    item.groups.clear();
    must(s->put_roster_item(domain, "alice", item));
    CHECK(must(s->get_roster_item(domain, "alice", "dave@example.org"))->groups.empty());

    // Every combination of subscription and the three flags.
    std::vector<roster_item> expected;
    std::int64_t version = must(s->roster_version(domain, "alice"));
    int n = 0;
    for (auto sub : {subscription::none, subscription::to, subscription::from, subscription::both}) {
        for (int flags = 0; flags < 8; ++flags) {
            auto combo = make_item("c" + std::to_string(n++) + "@example.net", "n", {"g1", "g2"});
            combo.sub = sub;
            combo.pending_out = (flags & 1) != 0;
            combo.pending_in = (flags & 2) != 0;
            combo.approved = (flags & 4) != 0;
            version = must(s->put_roster_item(domain, "alice", combo));
            expected.push_back(stored(combo, version));
        }
    }
    for (const auto& want : expected) {
        CAPTURE(want.contact);
        CHECK(must(s->get_roster_item(domain, "alice", want.contact)) == want);
    }
    auto roster = must(s->get_roster(domain, "alice"));
    CHECK(roster.size() == expected.size() + 1);  // and dave
}

TEST_CASE_TEMPLATE("roster: non-ASCII contacts, names and groups; byte-wise order", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const auto juergen =
        make_item("j\xc3\xbcrgen@ex\xc3\xa4mple.org", "J\xc3\xbcrgen \xf0\x9f\x8e\x89", {"Familie \xe2\x9d\xa4"});
    const auto zed = make_item("zed@example.org", "\xe6\x97\xa5\xe6\x9c\xac", {"\xe5\x8f\x8b\xe4\xba\xba"});
    const auto upper = make_item("Zed@example.org", "Z");
    must(s->put_roster_item(domain, "alice", juergen));
    must(s->put_roster_item(domain, "alice", zed));
    must(s->put_roster_item(domain, "alice", upper));
    CHECK(must(s->get_roster_item(domain, "alice", juergen.contact)) == stored(juergen, 1));
    CHECK(must(s->get_roster_item(domain, "alice", zed.contact)) == stored(zed, 2));
    // Byte-wise: 'Z' < 'j' < 'z' whatever the server's locale.
    CHECK(contacts(must(s->get_roster(domain, "alice"))) ==
          std::vector<std::string>{"Zed@example.org", juergen.contact, "zed@example.org"});
    CHECK(must(s->remove_roster_item(domain, "alice", juergen.contact)) == std::optional<std::int64_t>(4));
    CHECK(contacts(must(s->get_roster(domain, "alice"))) ==
          std::vector<std::string>{"Zed@example.org", "zed@example.org"});
}

TEST_CASE_TEMPLATE("roster: accounts are separate; writes for an unknown account fail cleanly", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_roster_item(domain, "alice", make_item("carol@example.org", "Carol of Alice", {"A"})));
    must(s->put_roster_item(domain, "alice", make_item("dave@example.org", "Dave")));
    CHECK(must(s->put_roster_item(domain, "bob", make_item("carol@example.org", "Carol of Bob", {"B"}))) == 1);
    CHECK(must(s->get_roster_item(domain, "bob", "carol@example.org"))->name == "Carol of Bob");
    CHECK(must(s->get_roster_item(domain, "alice", "carol@example.org"))->groups == std::vector<std::string>{"A"});
    CHECK(must(s->roster_version(domain, "alice")) == 2);
    CHECK(must(s->roster_version(domain, "bob")) == 1);
    CHECK(must(s->remove_roster_item(domain, "bob", "carol@example.org")) == std::optional<std::int64_t>(2));
    CHECK(must(s->get_roster(domain, "alice")).size() == 2);
    CHECK_FALSE(must(s->remove_roster_item(domain, "bob", "dave@example.org")).has_value());

    // The same username on another domain is another account, which does not exist here.
    CHECK(must(s->get_roster("example.net", "alice")).empty());
    auto refused = s->put_roster_item("example.net", "alice", make_item("carol@example.org", "x"));
    CHECK_FALSE(refused.has_value());
    CHECK(must(s->roster_version("example.net", "alice")) == 0);
    // The connection is still usable after the failed transaction.
    CHECK(must(s->put_roster_item(domain, "alice", make_item("erin@example.org", "Erin"))) == 3);
}

TEST_CASE_TEMPLATE("roster: concurrent writers from several connections get distinct versions", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    constexpr int writers = 4;
    constexpr int puts = 10;
    std::vector<std::unique_ptr<store>> stores;
    for (int i = 0; i < writers; ++i) {
        stores.push_back(open_store(backend.options()));
    }
    std::vector<std::vector<std::int64_t>> versions(writers);
    std::vector<std::string> failures(writers);
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i) {
        threads.emplace_back([&, i] {
            for (int j = 0; j < puts; ++j) {
                // Half the writers share contacts, so updates race with each other as well as inserts.
                const auto contact = "c" + std::to_string(i % 2) + "-" + std::to_string(j) + "@example.org";
                auto r = stores[i]->put_roster_item(domain, "alice", make_item(contact, "w" + std::to_string(i)));
                if (!r) {
                    failures[i] = r.error().message;
                    return;
                }
                versions[i].push_back(*r);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    std::set<std::int64_t> all;
    for (int i = 0; i < writers; ++i) {
        CHECK_MESSAGE(failures[i].empty(), failures[i]);
        all.insert(versions[i].begin(), versions[i].end());
    }
    CHECK(all.size() == static_cast<std::size_t>(writers * puts));
    CHECK(must(s->roster_version(domain, "alice")) == writers * puts);
    CHECK(*all.rbegin() == writers * puts);
    // Every item carries the version of its last write: the versions in the roster are distinct too.
    auto roster = must(s->get_roster(domain, "alice"));
    CHECK(roster.size() == 2 * puts);
    std::set<std::int64_t> stamped;
    for (const auto& item : roster) {
        stamped.insert(item.version);
    }
    CHECK(stamped.size() == roster.size());
}

// ---- subscription requests ----

TEST_CASE_TEMPLATE("subscription requests: one per requester, replaced, deleted", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->get_subscription_requests(domain, "alice")).empty());
    const subscription_request carol{"carol@example.org", "<presence type='subscribe'/>", 200};
    const subscription_request dave{"d\xc3\xa4ve@example.org", "<presence type='subscribe'><status>\xe2\x9c\x8b"
                                                               "</status></presence>",
                                    100};
    must(s->put_subscription_request(domain, "alice", carol));
    must(s->put_subscription_request(domain, "alice", dave));
    must(s->put_subscription_request(domain, "bob", carol));

    auto requests = must(s->get_subscription_requests(domain, "alice"));
    REQUIRE(requests.size() == 2);  // oldest first
    CHECK(requests[0].from == dave.from);
    CHECK(requests[0].stanza == dave.stanza);
    CHECK(requests[0].received_at == 100);
    CHECK(requests[1].from == carol.from);

    // A new request from carol replaces hers.
    must(s->put_subscription_request(domain, "alice", {carol.from, "<presence type='subscribe' id='2'/>", 300}));
    requests = must(s->get_subscription_requests(domain, "alice"));
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].from == carol.from);
    CHECK(requests[1].stanza == "<presence type='subscribe' id='2'/>");
    CHECK(requests[1].received_at == 300);

    CHECK(must(s->delete_subscription_request(domain, "alice", carol.from)));
    CHECK_FALSE(must(s->delete_subscription_request(domain, "alice", carol.from)));
    CHECK_FALSE(must(s->delete_subscription_request(domain, "alice", "nobody@example.org")));
    requests = must(s->get_subscription_requests(domain, "alice"));
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].from == dave.from);
    CHECK(must(s->get_subscription_requests(domain, "bob")).size() == 1);  // bob's copy untouched
    CHECK_FALSE(s->put_subscription_request(domain, "nobody", carol).has_value());
}

// ---- offline messages ----

TEST_CASE_TEMPLATE("offline messages: ordered by id, quota, delete by id", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    const std::string big(100000, 'x');
    CHECK(must(s->store_offline_message(domain, "alice", "<message><body>1</body></message>", 1000, 3)));
    CHECK(must(s->store_offline_message(domain, "bob", "<message><body>bob</body></message>", 1500, 3)));
    CHECK(must(s->store_offline_message(domain, "alice", "<message><body>\xc3\xbc\xf0\x9f\x98\x80</body></message>",
                                        999, 3)));
    CHECK(must(s->store_offline_message(domain, "alice", big, 2000, 3)));
    // At the quota: refused, nothing stored. Other accounts have their own count.
    CHECK_FALSE(must(s->store_offline_message(domain, "alice", "<message>4</message>", 3000, 3)));
    CHECK_FALSE(must(s->store_offline_message(domain, "alice", "<message>4</message>", 3000, 0)));
    CHECK(must(s->store_offline_message(domain, "alice", "<message>4</message>", 3000, 4)));

    auto messages = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(messages.size() == 4);
    CHECK(messages[0].stanza == "<message><body>1</body></message>");
    CHECK(messages[0].stored_at == 1000);
    CHECK(messages[1].stanza == "<message><body>\xc3\xbc\xf0\x9f\x98\x80</body></message>");
    CHECK(messages[1].stored_at == 999);  // ordered by id, not by time
    CHECK(messages[2].stanza == big);
    CHECK(messages[3].stanza == "<message>4</message>");
    for (std::size_t i = 1; i < messages.size(); ++i) {
        CHECK(messages[i].id > messages[i - 1].id);
    }
    const auto bob_messages = must(s->get_offline_messages(domain, "bob"));
    REQUIRE(bob_messages.size() == 1);

    // Deleting: only the given ids, only this account's; unknown ids and an empty list are harmless.
    must(s->delete_offline_messages(domain, "alice", {}));
    must(s->delete_offline_messages(domain, "alice", {messages[1].id, messages[3].id, bob_messages[0].id, 987654}));
    auto left = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(left.size() == 2);
    CHECK(left[0].id == messages[0].id);
    CHECK(left[1].id == messages[2].id);
    CHECK(must(s->get_offline_messages(domain, "bob")).size() == 1);

    // Ids are never reused, even those of deleted messages with the highest id.
    CHECK(must(s->store_offline_message(domain, "alice", "<message>5</message>", 4000, 3)));
    left = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(left.size() == 3);
    CHECK(left[2].id > messages[3].id);
    CHECK_FALSE(must(s->store_offline_message(domain, "alice", "<message>6</message>", 4000, 3)));
    must(s->delete_offline_messages(domain, "alice", {left[0].id, left[1].id, left[2].id}));
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());

    CHECK_FALSE(s->store_offline_message(domain, "nobody", "<message/>", 1, 10).has_value());
}

TEST_CASE_TEMPLATE("offline messages: the quota holds under concurrent stores", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    constexpr int writers = 4;
    constexpr int attempts = 10;
    constexpr std::size_t quota = 17;
    std::vector<std::unique_ptr<store>> stores;
    for (int i = 0; i < writers; ++i) {
        stores.push_back(open_store(backend.options()));
    }
    std::vector<int> accepted(writers, 0);
    std::vector<std::string> failures(writers);
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i) {
        threads.emplace_back([&, i] {
            for (int j = 0; j < attempts; ++j) {
                auto r = stores[i]->store_offline_message(domain, "alice", "<message/>", j, quota);
                if (!r) {
                    failures[i] = r.error().message;
                    return;
                }
                accepted[i] += *r ? 1 : 0;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    int total = 0;
    for (int i = 0; i < writers; ++i) {
        CHECK_MESSAGE(failures[i].empty(), failures[i]);
        total += accepted[i];
    }
    CHECK(total == static_cast<int>(quota));
    CHECK(must(s->get_offline_messages(domain, "alice")).size() == quota);
}
