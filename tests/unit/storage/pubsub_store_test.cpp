// XEP-0060 publish-subscribe storage (migration 13): nodes, items newest first (a replaced item moves to newest),
// trimming, purge, a node's deletion taking its items, subscriptions and affiliations, the lookups by JID, counts,
// and an account's PEP nodes going with the account. Both backends; the PostgreSQL row lock on its own.
#include <doctest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

using names = std::vector<std::string>;

const std::string pep = "alice@example.org";
const std::string service = "pubsub.example.org";

pubsub_node_record node_record(const std::string& host, const std::string& node, const std::string& config = "c1") {
    return pubsub_node_record{host, node, config, "alice@example.org", 1700000000};
}

pubsub_item_record item(const std::string& id, std::int64_t at, const std::string& payload = "<x/>") {
    return pubsub_item_record{id, "alice@example.org/phone", payload, at};
}

names item_ids(const std::vector<pubsub_item_record>& items) {
    names out;
    for (const auto& i : items) {
        out.push_back(i.id);
    }
    return out;
}

names sub_keys(const std::vector<pubsub_subscription_record>& subs) {
    names out;
    for (const auto& s : subs) {
        out.push_back(s.node + " " + s.jid + " " + s.subid + " " + s.state);
    }
    return out;
}

names aff_keys(const std::vector<pubsub_affiliation_record>& affs) {
    names out;
    for (const auto& a : affs) {
        out.push_back(a.node + " " + a.jid + " " + a.affiliation);
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("pubsub nodes: create, duplicate, config, list, count, delete", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK_FALSE(must(s->get_pubsub_node(pep, "urn:xmpp:avatar:data", false)).has_value());
    CHECK(must(s->create_pubsub_node(node_record(pep, "urn:xmpp:avatar:data"))));
    CHECK_FALSE(must(s->create_pubsub_node(node_record(pep, "urn:xmpp:avatar:data", "other"))));  // exists
    CHECK(must(s->create_pubsub_node(node_record(pep, "eu.siacs.conversations.axolotl.devicelist"))));
    CHECK(must(s->create_pubsub_node(node_record(service, "urn:xmpp:avatar:data"))));  // another host
    const auto got = must(s->get_pubsub_node(pep, "urn:xmpp:avatar:data", false));
    REQUIRE(got.has_value());
    CHECK(*got == node_record(pep, "urn:xmpp:avatar:data"));  // the duplicate changed nothing

    CHECK(must(s->set_pubsub_node_config(pep, "urn:xmpp:avatar:data", "c2")));
    CHECK_FALSE(must(s->set_pubsub_node_config(pep, "missing", "c2")));
    CHECK(must(s->get_pubsub_node(pep, "urn:xmpp:avatar:data", true))->config == "c2");  // lock outside a transaction
    CHECK(must(s->get_pubsub_node(service, "urn:xmpp:avatar:data", false))->config == "c1");

    std::vector<std::string> listed;
    for (const auto& n : must(s->list_pubsub_nodes(pep))) {
        CHECK(n.host == pep);
        listed.push_back(n.node);
    }
    CHECK(listed == names{"eu.siacs.conversations.axolotl.devicelist", "urn:xmpp:avatar:data"});
    CHECK(must(s->count_pubsub_nodes(pep)) == 2);
    CHECK(must(s->count_pubsub_nodes(service)) == 1);
    CHECK(must(s->count_pubsub_nodes("nobody@example.org")) == 0);

    CHECK(must(s->delete_pubsub_node(pep, "urn:xmpp:avatar:data")));
    CHECK_FALSE(must(s->delete_pubsub_node(pep, "urn:xmpp:avatar:data")));
    CHECK(must(s->count_pubsub_nodes(pep)) == 1);
    CHECK(must(s->get_pubsub_node(service, "urn:xmpp:avatar:data", false)).has_value());
}

TEST_CASE_TEMPLATE("pubsub items: newest first, replace moves to newest, get by ids and max, trim, purge", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->create_pubsub_node(node_record(pep, "n"))));
    REQUIRE(must(s->create_pubsub_node(node_record(pep, "other"))));
    must(s->put_pubsub_item(pep, "n", item("a", 100)));
    must(s->put_pubsub_item(pep, "n", item("b", 200)));
    must(s->put_pubsub_item(pep, "n", item("c", 300)));
    must(s->put_pubsub_item(pep, "other", item("a", 999)));
    CHECK(must(s->pubsub_item_ids(pep, "n")) == names{"c", "b", "a"});

    // Replacing keeps one row and makes it the newest, with the new content.
    must(s->put_pubsub_item(pep, "n", item("a", 400, "<y/>")));
    CHECK(must(s->pubsub_item_ids(pep, "n")) == names{"a", "c", "b"});
    CHECK(must(s->count_pubsub_items(pep, "n")) == 3);
    const auto all = must(s->get_pubsub_items(pep, "n", {}, 0));
    REQUIRE(all.size() == 3);
    CHECK(all[0] == item("a", 400, "<y/>"));
    CHECK(all[1] == item("c", 300));
    // Within one microsecond the item put last is the newest, replaced or not.
    must(s->put_pubsub_item(pep, "n", item("d", 400)));
    CHECK(must(s->pubsub_item_ids(pep, "n")) == names{"d", "a", "c", "b"});
    must(s->put_pubsub_item(pep, "n", item("a", 400, "<z/>")));
    CHECK(must(s->pubsub_item_ids(pep, "n")) == names{"a", "d", "c", "b"});

    CHECK(item_ids(must(s->get_pubsub_items(pep, "n", {}, 2))) == names{"a", "d"});
    // By ids: those that exist, newest first whatever order they were asked in, each once.
    CHECK(item_ids(must(s->get_pubsub_items(pep, "n", {"b", "missing", "a", "b"}, 0))) == names{"a", "b"});
    CHECK(must(s->get_pubsub_items(pep, "n", {"missing"}, 0)).empty());
    CHECK(must(s->get_pubsub_items(pep, "nonode", {}, 0)).empty());
    // More ids than one query takes.
    names many;
    for (int i = 0; i < 450; ++i) {
        many.push_back("x" + std::to_string(i));
    }
    many.push_back("c");
    many.push_back("d");
    CHECK(item_ids(must(s->get_pubsub_items(pep, "n", many, 0))) == names{"d", "c"});
    must(s->put_pubsub_item(pep, "other", item("y1", 5)));
    many.push_back("y1");  // the last chunk, "a" the first
    many.push_back("a");
    CHECK(item_ids(must(s->get_pubsub_items(pep, "other", many, 0))) == names{"a", "y1"});

    // Trim keeps the newest and reports what went; the other node is untouched.
    CHECK(must(s->trim_pubsub_items(pep, "n", 4)).empty());
    CHECK(must(s->trim_pubsub_items(pep, "n", 2)) == names{"c", "b"});
    CHECK(must(s->pubsub_item_ids(pep, "n")) == names{"a", "d"});
    CHECK(must(s->pubsub_item_ids(pep, "other")) == names{"a", "y1"});

    CHECK(must(s->delete_pubsub_item(pep, "n", "d")));
    CHECK_FALSE(must(s->delete_pubsub_item(pep, "n", "d")));
    CHECK(must(s->purge_pubsub_node(pep, "n")) == 1);
    CHECK(must(s->count_pubsub_items(pep, "n")) == 0);
    CHECK(must(s->get_pubsub_node(pep, "n", false)).has_value());  // a purge keeps the node
    CHECK(must(s->count_pubsub_items(pep, "other")) == 2);
    must(s->put_pubsub_item(pep, "n", item("e", 1)));
    CHECK(must(s->trim_pubsub_items(pep, "n", 0)) == names{"e"});
    // An item needs its node.
    CHECK_FALSE(s->put_pubsub_item(pep, "nonode", item("a", 1)).has_value());
}

TEST_CASE_TEMPLATE("pubsub subscriptions: put replaces, delete by subid and all, bare and full lookups", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->create_pubsub_node(node_record(service, "n1"))));
    REQUIRE(must(s->create_pubsub_node(node_record(service, "n2"))));
    REQUIRE(must(s->create_pubsub_node(node_record("pubsub.other.org", "n1"))));
    must(s->put_pubsub_subscription(service, {"n1", "bob@example.org", "s1", "pending"}));
    must(s->put_pubsub_subscription(service, {"n1", "bob@example.org", "s1", "subscribed"}));  // replaces
    must(s->put_pubsub_subscription(service, {"n1", "bob@example.org", "s2", "unconfigured"}));
    must(s->put_pubsub_subscription(service, {"n1", "bob@example.org/phone", "s3", "subscribed"}));
    must(s->put_pubsub_subscription(service, {"n2", "bob@example.org/laptop", "s4", "subscribed"}));
    must(s->put_pubsub_subscription(service, {"n2", "bob@example.org.evil/x", "s5", "subscribed"}));
    must(s->put_pubsub_subscription(service, {"n2", "bobby@example.org", "s6", "subscribed"}));
    must(s->put_pubsub_subscription("pubsub.other.org", {"n1", "bob@example.org", "s7", "subscribed"}));
    CHECK_FALSE(s->put_pubsub_subscription(service, {"n1", "carol@example.org", "s8", "bogus"}).has_value());

    CHECK(sub_keys(must(s->get_pubsub_subscriptions(service, "n1"))) ==
          names{"n1 bob@example.org s1 subscribed", "n1 bob@example.org s2 unconfigured",
                "n1 bob@example.org/phone s3 subscribed"});
    CHECK(must(s->get_pubsub_subscriptions(service, "")).size() == 6);
    CHECK(must(s->count_pubsub_subscriptions(service, "n1")) == 3);
    CHECK(must(s->count_pubsub_subscriptions(service, "n2")) == 3);

    // Bare: its own rows and its full JIDs' (not a JID that only starts the same); full: exact.
    CHECK(sub_keys(must(s->pubsub_subscriptions_of(service, "bob@example.org"))) ==
          names{"n1 bob@example.org s1 subscribed", "n1 bob@example.org s2 unconfigured",
                "n1 bob@example.org/phone s3 subscribed", "n2 bob@example.org/laptop s4 subscribed"});
    CHECK(sub_keys(must(s->pubsub_subscriptions_of(service, "bob@example.org/laptop"))) ==
          names{"n2 bob@example.org/laptop s4 subscribed"});
    CHECK(must(s->pubsub_subscriptions_of(service, "bob@example.org/tablet")).empty());

    CHECK(must(s->delete_pubsub_subscription(service, "n1", "bob@example.org", "s2")) == 1);
    CHECK(must(s->delete_pubsub_subscription(service, "n1", "bob@example.org", "s2")) == 0);
    must(s->put_pubsub_subscription(service, {"n1", "bob@example.org", "s9", "subscribed"}));
    CHECK(must(s->delete_pubsub_subscription(service, "n1", "bob@example.org", "")) == 2);  // s1, s9
    CHECK(sub_keys(must(s->get_pubsub_subscriptions(service, "n1"))) ==
          names{"n1 bob@example.org/phone s3 subscribed"});
    CHECK(must(s->count_pubsub_subscriptions("pubsub.other.org", "n1")) == 1);
}

TEST_CASE_TEMPLATE("pubsub affiliations: put replaces, none deletes, by node and by JID", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->create_pubsub_node(node_record(service, "n1"))));
    REQUIRE(must(s->create_pubsub_node(node_record(service, "n2"))));
    must(s->put_pubsub_affiliation(service, {"n1", "alice@example.org", "owner"}));
    must(s->put_pubsub_affiliation(service, {"n1", "bob@example.org", "member"}));
    must(s->put_pubsub_affiliation(service, {"n1", "bob@example.org", "publisher"}));  // replaces
    must(s->put_pubsub_affiliation(service, {"n2", "bob@example.org", "outcast"}));
    must(s->put_pubsub_affiliation(service, {"n2", "carol@example.org", "publish-only"}));
    CHECK_FALSE(s->put_pubsub_affiliation(service, {"n2", "dave@example.org", "bogus"}).has_value());
    CHECK(aff_keys(must(s->get_pubsub_affiliations(service, "n1"))) ==
          names{"n1 alice@example.org owner", "n1 bob@example.org publisher"});
    CHECK(aff_keys(must(s->get_pubsub_affiliations(service, ""))) ==
          names{"n1 alice@example.org owner", "n1 bob@example.org publisher", "n2 bob@example.org outcast",
                "n2 carol@example.org publish-only"});
    CHECK(aff_keys(must(s->pubsub_affiliations_of(service, "bob@example.org"))) ==
          names{"n1 bob@example.org publisher", "n2 bob@example.org outcast"});

    must(s->put_pubsub_affiliation(service, {"n2", "bob@example.org", "none"}));
    must(s->put_pubsub_affiliation(service, {"n2", "nobody@example.org", "none"}));  // nothing to delete: fine
    CHECK(aff_keys(must(s->pubsub_affiliations_of(service, "bob@example.org"))) ==
          names{"n1 bob@example.org publisher"});
    CHECK(must(s->get_pubsub_affiliations("pubsub.other.org", "")).empty());
}

TEST_CASE_TEMPLATE("pubsub: deleting a node takes its items, subscriptions and affiliations", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    for (const auto* name : {"n1", "n2"}) {
        REQUIRE(must(s->create_pubsub_node(node_record(service, name))));
        must(s->put_pubsub_item(service, name, item("i", 1)));
        must(s->put_pubsub_subscription(service, {name, "bob@example.org", "s", "subscribed"}));
        must(s->put_pubsub_affiliation(service, {name, "alice@example.org", "owner"}));
    }
    REQUIRE(must(s->delete_pubsub_node(service, "n1")));
    CHECK(backend.query_int("SELECT COUNT(*) FROM pubsub_items WHERE node = 'n1'") == 0);
    CHECK(backend.query_int("SELECT COUNT(*) FROM pubsub_subscriptions WHERE node = 'n1'") == 0);
    CHECK(backend.query_int("SELECT COUNT(*) FROM pubsub_affiliations WHERE node = 'n1'") == 0);
    CHECK(must(s->count_pubsub_items(service, "n2")) == 1);
    CHECK(must(s->count_pubsub_subscriptions(service, "n2")) == 1);
    CHECK(must(s->get_pubsub_affiliations(service, "n2")).size() == 1);
    // A node created again under the name starts empty.
    REQUIRE(must(s->create_pubsub_node(node_record(service, "n1"))));
    CHECK(must(s->count_pubsub_items(service, "n1")) == 0);
}

TEST_CASE_TEMPLATE("pubsub: an account's PEP nodes go with the account, a service's stay", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::string bob = "bob@example.org";
    for (const auto& host : {pep, bob, service}) {
        auto record = node_record(host, "n");
        record.owner = host == pep ? "alice@example.org" : host == bob ? bob : "";
        REQUIRE(must(s->create_pubsub_node(record)));
        must(s->put_pubsub_item(host, "n", item("i", 1)));
        must(s->put_pubsub_subscription(host, {"n", "alice@example.org", "s", "subscribed"}));
        must(s->put_pubsub_subscription(host, {"n", "alice@example.org/phone", "s", "subscribed"}));
        must(s->put_pubsub_subscription(host, {"n", "alice@example.org.evil/x", "s", "subscribed"}));  // not hers
        must(s->put_pubsub_affiliation(host, {"n", "alice@example.org", "member"}));
    }
    REQUIRE(must(s->create_pubsub_node(node_record(service, "alices"))));  // a service node alice created
    REQUIRE(must(s->delete_account(domain, "alice")));
    for (const auto* table : {"pubsub_nodes", "pubsub_items", "pubsub_subscriptions", "pubsub_affiliations"}) {
        CAPTURE(table);
        CHECK(backend.query_int(std::string("SELECT COUNT(*) FROM ") + table + " WHERE host = 'alice@example.org'") ==
              0);
    }
    // Other hosts keep their nodes and items, and lose what alice held there: a name registered again inherits no
    // subscription, membership or node.
    for (const auto& host : {bob, service}) {
        CAPTURE(host);
        CHECK(must(s->count_pubsub_items(host, "n")) == 1);
        const auto subs = must(s->get_pubsub_subscriptions(host, "n"));
        REQUIRE(subs.size() == 1);
        CHECK(subs[0].jid == "alice@example.org.evil/x");
        CHECK(must(s->get_pubsub_affiliations(host, "n")).empty());
    }
    CHECK_FALSE(must(s->get_pubsub_node(service, "alices", false)));
    // Created again, the account starts without PEP nodes.
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->list_pubsub_nodes(pep)).empty());
    // A failed deletion inside a transaction undoes the PEP rows' deletion too.
    REQUIRE(must(s->create_pubsub_node(node_record(pep, "n"))));
    auto failed = s->atomically(domain, "alice", [&]() -> result<void> {
        if (auto deleted = s->delete_account(domain, "alice"); !deleted) {
            return hush::unexpected(deleted.error());
        }
        return hush::unexpected(error{"changed my mind"});
    });
    CHECK_FALSE(failed.has_value());
    CHECK(must(s->account_exists(domain, "alice")));
    CHECK(must(s->count_pubsub_nodes(pep)) == 1);
}

TEST_CASE_TEMPLATE("pubsub: a denied pending account's PEP nodes go with it", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    backend.exec_raw("INSERT INTO pending_accounts (domain, username, requested_at, address) "
                     "VALUES ('example.org', 'bob', 0, '')");
    REQUIRE(must(s->create_pubsub_node(node_record("bob@example.org", "n"))));
    REQUIRE(must(s->create_pubsub_node(node_record(pep, "n"))));
    CHECK_FALSE(must(s->deny_pending(domain, "alice")));  // not pending: nothing goes
    CHECK(must(s->count_pubsub_nodes(pep)) == 1);
    CHECK(must(s->deny_pending(domain, "bob")));
    CHECK(must(s->count_pubsub_nodes("bob@example.org")) == 0);
    CHECK(must(s->count_pubsub_nodes(pep)) == 1);
}

// PostgreSQL only: SQLite's write transaction holds the whole database, so there is no row lock to see.
TEST_CASE("pubsub: a locked node makes another transaction's locking read wait until commit (PostgreSQL)") {
    postgres_backend backend;
    if (!backend.available()) {
        return;
    }
    auto first = open_with_accounts(backend);
    auto second = open_store(backend.options());
    REQUIRE(must(first->create_pubsub_node(node_record(service, "n"))));

    std::atomic<bool> second_done{false};
    std::optional<result<std::optional<pubsub_node_record>>> seen;
    std::optional<result<void>> second_tx;
    std::thread waiter;
    bool saw_wait = false;
    bool done_before_commit = true;
    auto held = first->tentatively([&]() -> result<void> {
        auto mine = first->get_pubsub_node(service, "n", true);
        if (!mine || !*mine) {
            return hush::unexpected(error{"the node is not there"});
        }
        waiter = std::thread([&] {
            second_tx = second->tentatively([&]() -> result<void> {
                seen = second->get_pubsub_node(service, "n", true);
                return {};
            });
            second_done = true;
        });
        // Until the server reports the second session waiting on a lock (no sleeping for a guessed time: the
        // wait is observed; the deadline only keeps a broken lock from hanging the test).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!second_done && std::chrono::steady_clock::now() < deadline) {
            if (backend.query_int("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND application_name = current_schema()") > 0) {
                saw_wait = true;
                break;
            }
            std::this_thread::yield();
        }
        done_before_commit = second_done;
        if (auto written = first->set_pubsub_node_config(service, "n", "written under the lock"); !written) {
            return hush::unexpected(written.error());
        }
        return {};
    });
    waiter.join();
    must(held);
    CHECK(saw_wait);
    CHECK_FALSE(done_before_commit);
    REQUIRE(second_tx.has_value());
    must(*second_tx);
    REQUIRE(seen.has_value());
    const auto node = must(*seen);
    REQUIRE(node.has_value());
    CHECK(node->config == "written under the lock");  // it read the row after the first committed
}
