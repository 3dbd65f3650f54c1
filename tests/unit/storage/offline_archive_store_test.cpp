// Offline messages served from the archive (migration 11): a row that references an archive item keeps its own
// copy until drop_offline_copies finds the item written, the flood reads whichever copy there is, the archive's
// deletions skip referenced items, the quota is unchanged, and account deletion removes both. Both backends.
#include <doctest.h>

#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

// The archive item: the message as delivered before it got its stanza-id.
std::string item_xml(std::int64_t id) {
    return "<message id='m" + std::to_string(id) + "'><body>" + std::to_string(id) + "</body></message>";
}

// The offline copy: the same message with its stanza-id.
std::string offline_xml(std::int64_t id) {
    return "<message id='m" + std::to_string(id) + "'><body>" + std::to_string(id) +
           "</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='" + std::to_string(id) +
           "'/></message>";
}

archived_message item(std::int64_t id) {
    return archived_message{id, "bob@example.org", archive_direction::incoming, item_xml(id)};
}

std::vector<std::int64_t> archive_ids(store& s, const std::string& user) {
    archive_query q;
    q.max = 100;
    std::vector<std::int64_t> out;
    for (const auto& i : must(s.query_archive(domain, user, q)).items) {
        out.push_back(i.id);
    }
    return out;
}

using id_list = std::vector<std::int64_t>;

}  // namespace

TEST_CASE_TEMPLATE("offline in the archive: the copy stays until the item is written, then the flood reads the item",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->store_offline_message(domain, "alice", offline_xml(500), 1000, 10, 500)));
    REQUIRE(must(s->store_offline_message(domain, "alice", "<message><body>plain</body></message>", 1001, 10)));

    // The batch has not landed: nothing to drop, the flood reads the row's own copy.
    CHECK(must(s->drop_offline_copies(domain, "alice", 500)) == 0);
    auto rows = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].stanza == offline_xml(500));
    CHECK(rows[0].archive_id == 500);
    CHECK_FALSE(rows[0].from_archive);
    CHECK(rows[0].stored_at == 1000);
    CHECK(rows[1].stanza == "<message><body>plain</body></message>");
    CHECK_FALSE(rows[1].archive_id.has_value());
    CHECK_FALSE(rows[1].from_archive);

    // Another account's item of the same id drops nothing of alice's.
    CHECK(must(s->append_archive(domain, "bob", item(500))) == 500);
    CHECK(must(s->drop_offline_copies(domain, "bob", 500)) == 0);
    CHECK(must(s->drop_offline_copies(domain, "alice", 500)) == 0);

    // The item is written: the copy goes (once), and the flood reads the item, in the same order.
    CHECK(must(s->append_archive(domain, "alice", item(500))) == 500);
    CHECK(must(s->drop_offline_copies(domain, "alice", 500)) == 1);
    CHECK(must(s->drop_offline_copies(domain, "alice", 500)) == 0);
    rows = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].stanza == item_xml(500));
    CHECK(rows[0].archive_id == 500);
    CHECK(rows[0].from_archive);
    CHECK(rows[0].stored_at == 1000);
    CHECK(rows[1].stanza == "<message><body>plain</body></message>");

    // Delivered: the rows go, the item stays in the archive and may now go by the usual rules.
    must(s->delete_offline_messages(domain, "alice", {rows[0].id, rows[1].id}));
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    CHECK(archive_ids(*s, "alice") == id_list{500});
    CHECK(must(s->delete_archive_item(domain, "alice", 500)));
}

TEST_CASE_TEMPLATE("offline in the archive: the quota counts rows as before, with or without their own copy", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->store_offline_message(domain, "alice", offline_xml(1), 1, 2, 1)));
    must(s->append_archive(domain, "alice", item(1)));
    CHECK(must(s->drop_offline_copies(domain, "alice", 1)) == 1);
    REQUIRE(must(s->store_offline_message(domain, "alice", offline_xml(2), 2, 2, 2)));
    CHECK_FALSE(must(s->store_offline_message(domain, "alice", offline_xml(3), 3, 2, 3)));
    CHECK_FALSE(must(s->store_offline_message(domain, "alice", "<message/>", 3, 2)));
    CHECK(must(s->get_offline_messages(domain, "alice")).size() == 2);
    CHECK_FALSE(s->store_offline_message(domain, "nobody", offline_xml(4), 4, 2, 4).has_value());
}

TEST_CASE_TEMPLATE("offline in the archive: item deletion, retention and the cap skip referenced items; account "
                   "deletion removes both",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    for (std::int64_t id = 10; id <= 60; id += 10) {
        must(s->append_archive(domain, "alice", item(id)));
    }
    must(s->append_archive(domain, "bob", item(15)));
    // 20: its copy dropped (the item is the only one); 50: its copy kept (dropping may still come).
    REQUIRE(must(s->store_offline_message(domain, "alice", offline_xml(20), 1, 10, 20)));
    REQUIRE(must(s->store_offline_message(domain, "alice", offline_xml(50), 2, 10, 50)));
    CHECK(must(s->drop_offline_copies(domain, "alice", 20)) == 1);

    CHECK_FALSE(must(s->delete_archive_item(domain, "alice", 20)));
    CHECK_FALSE(must(s->delete_archive_item(domain, "alice", 50)));
    CHECK(must(s->delete_archive_item(domain, "alice", 30)));

    // Retention: referenced items do not take a place in the batch.
    CHECK(must(s->delete_archive_before(25, 1)) == 1);    // alice's 10 (20 skipped)
    CHECK(must(s->delete_archive_before(25, 100)) == 1);  // bob's 15
    CHECK(must(s->delete_archive_before(25, 100)) == 0);
    CHECK(archive_ids(*s, "alice") == id_list{20, 40, 50, 60});

    // The cap keeps the newest ones, and the older referenced ones besides.
    CHECK(must(s->trim_archive(domain, "alice", 1)) == 1);  // 40
    CHECK(archive_ids(*s, "alice") == id_list{20, 50, 60});
    CHECK(must(s->trim_archive(domain, "alice", 0)) == 1);  // 60
    CHECK(archive_ids(*s, "alice") == id_list{20, 50});

    // Nothing was lost: the flood still has both messages.
    auto rows = must(s->get_offline_messages(domain, "alice"));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].stanza == item_xml(20));
    CHECK(rows[0].from_archive);
    CHECK(rows[1].stanza == offline_xml(50));
    CHECK_FALSE(rows[1].from_archive);

    // Account deletion removes both, whatever references what.
    CHECK(must(s->delete_account(domain, "alice")));
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    CHECK(archive_ids(*s, "alice").empty());
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    CHECK(archive_ids(*s, "alice").empty());
}

TEST_CASE_TEMPLATE("migration 11: offline messages already stored keep their own copy", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    REQUIRE(must(s->store_offline_message(domain, "alice", "<message><body>old</body></message>", 7, 10)));
    // Back to version 10, the message kept.
    backend.exec_raw("DROP TABLE upload_files; DROP TABLE muc_affiliations; DROP TABLE muc_service_bans; DROP TABLE muc_rooms; "
                     "DROP TABLE pubsub_affiliations; DROP TABLE pubsub_subscriptions; DROP TABLE pubsub_items; "
                     "DROP TABLE pubsub_nodes; DROP TABLE fast_tokens; DROP INDEX offline_messages_by_archive_item; "
                     "ALTER TABLE offline_messages DROP COLUMN archive_id; "
                     "DELETE FROM schema_version WHERE version >= 11");
    auto old = open_store(backend.options());
    CHECK(must(old->schema_version()) == 10);
    CHECK(must(old->migrate()) == latest_schema_version());
    const auto rows = must(old->get_offline_messages(domain, "alice"));
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].stanza == "<message><body>old</body></message>");
    CHECK(rows[0].stored_at == 7);
    CHECK_FALSE(rows[0].archive_id.has_value());
    CHECK_FALSE(rows[0].from_archive);
}
