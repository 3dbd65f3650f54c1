// Message archive storage tests (migration 10, XEP-0313): append with colliding ids, forward and backward pages
// with their complete flags, with/start/end/ids filters, unknown references, counts, retention, the per-account cap,
// preferences, and the archive going with the account. Every case runs against both backends (test_backends.hpp).
#include <doctest.h>

#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

archived_message item(std::int64_t id, std::string with, archive_direction d = archive_direction::incoming) {
    return archived_message{id, std::move(with), d, "<message id='m" + std::to_string(id) + "'/>"};
}

std::vector<std::int64_t> ids(const archive_page& page) {
    std::vector<std::int64_t> out;
    for (const auto& i : page.items) {
        out.push_back(i.id);
    }
    return out;
}

using id_list = std::vector<std::int64_t>;

// alice's archive: ids 10, 20, ..., 100; odd tens with carol, even tens with dave.
template <class B>
std::unique_ptr<store> seeded(B& backend) {
    auto s = open_with_accounts(backend);
    for (std::int64_t i = 1; i <= 10; ++i) {
        const std::string with = i % 2 == 1 ? "carol@example.net" : "dave@example.net";
        CHECK(must(s->append_archive(domain, "alice", item(i * 10, with))) == i * 10);
    }
    return s;
}

}  // namespace

TEST_CASE_TEMPLATE("archive: append keeps items in order; a colliding id moves on to the next free one", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->append_archive(domain, "alice", item(5, "bob@example.org", archive_direction::outgoing))) == 5);
    CHECK(must(s->append_archive(domain, "alice", item(5, "bob@example.org"))) == 6);
    CHECK(must(s->append_archive(domain, "alice", item(5, "bob@example.org"))) == 7);
    // Ids are per account: bob's 5 is free.
    CHECK(must(s->append_archive(domain, "bob", item(5, "alice@example.org"))) == 5);
    // No account needed: a room's archive lives here too, under the room's JID (migration 15).
    CHECK(must(s->append_archive("conference.example.org", "lobby", item(5, "lobby@conference.example.org/x"))) == 5);

    archive_query q;
    const auto page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{5, 6, 7});
    CHECK(page.complete);
    CHECK(page.items[0].direction == archive_direction::outgoing);
    CHECK(page.items[1].direction == archive_direction::incoming);
    CHECK(page.items[0].with == "bob@example.org");
    CHECK(page.items[0].stanza == "<message id='m5'/>");
    CHECK_FALSE(page.count.has_value());
}

TEST_CASE_TEMPLATE("archive: RSM paging forward and backward, complete at each end", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = seeded(backend);
    archive_query q;
    q.max = 4;
    auto page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{10, 20, 30, 40});
    CHECK_FALSE(page.complete);
    q.after = 40;
    page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{50, 60, 70, 80});
    CHECK_FALSE(page.complete);
    q.after = 80;
    page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{90, 100});
    CHECK(page.complete);

    // Backward: the last page first, each oldest first.
    archive_query b;
    b.max = 4;
    b.backward = true;
    page = must(s->query_archive(domain, "alice", b));
    CHECK(ids(page) == id_list{70, 80, 90, 100});
    CHECK_FALSE(page.complete);
    b.before = 70;
    page = must(s->query_archive(domain, "alice", b));
    CHECK(ids(page) == id_list{30, 40, 50, 60});
    b.before = 30;
    page = must(s->query_archive(domain, "alice", b));
    CHECK(ids(page) == id_list{10, 20});
    CHECK(page.complete);

    // Exactly max left: complete, without an empty page after it.
    archive_query exact;
    exact.max = 10;
    CHECK(must(s->query_archive(domain, "alice", exact)).complete);
    // max 0: nothing, with the count.
    archive_query none;
    none.max = 0;
    none.count = true;
    page = must(s->query_archive(domain, "alice", none));
    CHECK(page.items.empty());
    CHECK(page.count == 10);
}

TEST_CASE_TEMPLATE("archive: filters by with, time (id) range and ids; unknown references", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = seeded(backend);
    archive_query q;
    q.with = "carol@example.net";
    q.count = true;
    q.max = 2;
    auto page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{10, 30});
    CHECK(page.count == 5);
    q.after = 30;
    page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{50, 70});
    CHECK(page.count == 5);  // the whole result set, not what is left

    archive_query t;
    t.start = 30;
    t.end = 70;
    t.count = true;
    page = must(s->query_archive(domain, "alice", t));
    CHECK(ids(page) == id_list{30, 40, 50, 60, 70});
    CHECK(page.count == 5);
    CHECK(page.complete);
    t.with = "dave@example.net";
    page = must(s->query_archive(domain, "alice", t));
    CHECK(ids(page) == id_list{40, 60});

    archive_query by_id;
    by_id.ids = {20, 90, 95};
    CHECK(ids(must(s->query_archive(domain, "alice", by_id))) == id_list{20, 90});

    archive_query unknown;
    unknown.after = 35;
    page = must(s->query_archive(domain, "alice", unknown));
    CHECK(page.unknown_reference);
    CHECK(page.items.empty());
    unknown.after.reset();
    unknown.before = 35;
    unknown.backward = true;
    CHECK(must(s->query_archive(domain, "alice", unknown)).unknown_reference);
    // Another account's id is unknown here.
    CHECK(must(s->append_archive(domain, "bob", item(12345, "alice@example.org"))) == 12345);
    archive_query others;
    others.after = 12345;
    CHECK(must(s->query_archive(domain, "alice", others)).unknown_reference);
    // Nothing of bob's is in alice's archive, and the other way round.
    CHECK(ids(must(s->query_archive(domain, "bob", archive_query{}))) == id_list{12345});
}

TEST_CASE_TEMPLATE("archive: one item deleted, retention over all accounts, the per-account cap", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = seeded(backend);
    CHECK(must(s->append_archive(domain, "bob", item(15, "alice@example.org"))) == 15);
    CHECK(must(s->delete_archive_item(domain, "alice", 20)));
    CHECK_FALSE(must(s->delete_archive_item(domain, "alice", 20)));
    CHECK_FALSE(must(s->delete_archive_item(domain, "bob", 30)));  // alice's, not bob's

    // Retention: before 45, at most 2 at a time, oldest first, over both accounts.
    CHECK(must(s->delete_archive_before(45, 2)) == 2);  // alice's 10, bob's 15
    CHECK(must(s->delete_archive_before(45, 100)) == 2);  // alice's 30, 40
    CHECK(must(s->delete_archive_before(45, 100)) == 0);
    CHECK(ids(must(s->query_archive(domain, "alice", archive_query{}))) == id_list{50, 60, 70, 80, 90, 100});
    CHECK(must(s->query_archive(domain, "bob", archive_query{})).items.empty());

    CHECK(must(s->trim_archive(domain, "alice", 4)) == 2);
    CHECK(ids(must(s->query_archive(domain, "alice", archive_query{}))) == id_list{70, 80, 90, 100});
    CHECK(must(s->trim_archive(domain, "alice", 4)) == 0);
    CHECK(must(s->trim_archive(domain, "alice", 100)) == 0);
    CHECK(must(s->trim_archive(domain, "alice", 0)) == 4);
}

TEST_CASE_TEMPLATE("archive: preferences; the archive and preferences go with the account", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = seeded(backend);
    CHECK_FALSE(must(s->get_archive_prefs(domain, "alice")).has_value());
    archive_prefs p;
    p.mode = archive_default::roster;
    p.always = {"zed@example.net", "carol@example.net"};
    p.never = {"spam@example.net"};
    must(s->put_archive_prefs(domain, "alice", p));
    auto got = must(s->get_archive_prefs(domain, "alice"));
    REQUIRE(got.has_value());
    CHECK(got->mode == archive_default::roster);
    CHECK(got->always == std::vector<std::string>{"carol@example.net", "zed@example.net"});
    CHECK(got->never == std::vector<std::string>{"spam@example.net"});
    p = archive_prefs{};
    p.mode = archive_default::never;
    must(s->put_archive_prefs(domain, "alice", p));
    got = must(s->get_archive_prefs(domain, "alice"));
    REQUIRE(got.has_value());
    CHECK(*got == p);

    CHECK(must(s->delete_account(domain, "alice")));
    CHECK(backend.query_int("SELECT COUNT(*) FROM message_archive") == 0);
    CHECK(backend.query_int("SELECT COUNT(*) FROM message_archive_prefs") == 0);
    // Re-created, it starts empty.
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->query_archive(domain, "alice", archive_query{})).items.empty());
    CHECK_FALSE(must(s->get_archive_prefs(domain, "alice")).has_value());
}

TEST_CASE_TEMPLATE("archive: the highest id over all accounts, for the ids to go on from at start-up", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->max_archive_id()) == 0);
    CHECK(must(s->append_archive(domain, "alice", item(70, "bob@example.org"))) == 70);
    CHECK(must(s->append_archive(domain, "bob", item(90, "alice@example.org"))) == 90);
    CHECK(must(s->append_archive(domain, "alice", item(80, "bob@example.org"))) == 80);
    CHECK(must(s->max_archive_id()) == 90);
}

TEST_CASE_TEMPLATE("archive: a page stops at its byte budget (rows past it unread); ids counted; references", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = seeded(backend);  // each stanza "<message id='mNN'/>": 19 bytes (20 for m100)
    archive_query q;
    q.max = 5;
    q.max_bytes = 3 * (20 + 100);
    q.item_overhead = 100;
    auto page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{10, 20, 30});
    CHECK_FALSE(page.complete);
    q.backward = true;
    page = must(s->query_archive(domain, "alice", q));
    CHECK(ids(page) == id_list{80, 90, 100});  // the newest kept
    CHECK_FALSE(page.complete);
    // The first item always fits, however large.
    archive_query tiny;
    tiny.max_bytes = 1;
    page = must(s->query_archive(domain, "alice", tiny));
    CHECK(ids(page) == id_list{10});
    CHECK_FALSE(page.complete);
    tiny.ids = {30, 40, 50};
    CHECK(ids(must(s->query_archive(domain, "alice", tiny))) == id_list{30});
    // A budget the whole set fits in: complete.
    archive_query roomy;
    roomy.max_bytes = 100000;
    CHECK(must(s->query_archive(domain, "alice", roomy)).complete);

    // The count of an ids query is of the listed items that exist (within with/start/end), not of the archive.
    archive_query listed;
    listed.ids = {20, 30, 30, 35, 90};
    listed.count = true;
    listed.max = 0;
    page = must(s->query_archive(domain, "alice", listed));
    CHECK(page.items.empty());
    CHECK(page.count == 3);
    CHECK_FALSE(page.complete);
    listed.with = "carol@example.net";
    CHECK(must(s->query_archive(domain, "alice", listed)).count == 2);  // 30, 90 (20 is dave's)
    listed.with.clear();
    listed.start = 40;
    CHECK(must(s->query_archive(domain, "alice", listed)).count == 1);  // 90

    // Every reference must name an item, not only `after`.
    archive_query both;
    both.after = 40;
    both.references = {40, 35};
    CHECK(must(s->query_archive(domain, "alice", both)).unknown_reference);
    both.references = {40, 20};
    page = must(s->query_archive(domain, "alice", both));
    CHECK_FALSE(page.unknown_reference);
    CHECK(ids(page).front() == 50);
}
