// Offline messages kept in the archive, on a real SQLite store, as the router drives them: the archiver stamps the
// message, it is stored offline referencing its item, the writer drops the row's own copy, and the flood at login
// sends exactly the stanza it sent when it read the row's own copy (stanza-id, delay stamp); the sweep keeps what an
// offline message references.
#include <doctest.h>

#include <string>
#include <string_view>

#include "protocol/mam.hpp"
#include "server/im/presence_service.hpp"
#include "server/mam/archive_writer.hpp"
#include "server/mam/archiver.hpp"
#include "tests/unit/server/im/im_fixture.hpp"

using namespace hush;
using namespace hush::im_testing;

namespace {

struct offline_fixture : im_world {
    offline_fixture() : archive(cfg, store), roster(ctx), privacy(ctx, roster), presence(ctx, roster, privacy) {}

    // bob's message for alice, archived and stored offline as the router does; returns the item's id.
    std::int64_t arrives(std::string_view body) {
        stanza s = parse("<message type='chat' id='b1' from='bob@example.net/laptop' to='alice@example.org'><body>" +
                         std::string(body) + "</body></message>");
        const auto id = run_sync(archive.inbound(s, parse_jid(s.from()), alice, false));
        REQUIRE(id);
        REQUIRE(run_sync(presence.store_offline(alice, s, id)));
        return *id;
    }

    // What a session of `full` receives at login.
    std::vector<stanza> login(std::string_view full) {
        auto session = bind(full);
        run(presence.own_presence(parse_jid(full), parse("<presence/>"), out));
        return of_type(session->delivered, "message", "chat");
    }

    mam_config cfg;
    archiver archive;
    roster_service roster;
    privacy_service privacy;
    presence_service presence;
    const jid alice = parse_jid("alice@example.org");
};

}  // namespace

TEST_CASE("offline in the archive: the flood sends the same stanza from the archive item as from its own copy") {
    offline_fixture f;
    const std::int64_t id = f.arrives("hello");
    auto rows = f.offline();
    REQUIRE(rows.size() == 1);
    CHECK_FALSE(rows[0].from_archive);  // the batch may have landed, but nothing dropped the copy yet
    CHECK(rows[0].archive_id == id);
    const auto own_copy = rows[0];

    // The writer drops the copy once the item is written: stored once.
    run_sync(f.archive.stored_offline(f.alice, id));
    run_sync(f.archive.flush());
    rows = f.offline();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].from_archive);
    CHECK(rows[0].stanza != own_copy.stanza);  // the item has no stanza-id
    CHECK(rows[0].stored_at == own_copy.stored_at);

    const auto from_archive = f.login(phone);
    REQUIRE(from_archive.size() == 1);
    CHECK(f.offline().empty());
    CHECK(mam::stanza_id(from_archive[0], "alice@example.org") == std::to_string(id));
    CHECK(from_archive[0].child("delay", "urn:xmpp:delay"));

    // The same row with its own copy, as every offline message was stored before: the flood sends it unchanged.
    REQUIRE(run_sync(f.store.run([&](storage::store& s) {
        return s.store_offline_message("example.org", "alice", own_copy.stanza, own_copy.stored_at, 10);
    })));
    const auto from_copy = f.login(desk);
    REQUIRE(from_copy.size() == 1);
    CHECK(from_copy[0].serialize() == from_archive[0].serialize());
}

TEST_CASE("offline in the archive: a flood before the batch lands, and a message never archived, as before") {
    offline_fixture f;
    f.arrives("early");
    // The copy was not dropped (the drop not queued yet, or it found no item): the row's own copy serves.
    REQUIRE(run_sync(f.presence.store_offline(
        f.alice, parse("<message type='chat' from='bob@example.net/laptop' to='alice@example.org'>"
                       "<body>not archived</body></message>"))));
    auto rows = f.offline();
    REQUIRE(rows.size() == 2);
    CHECK_FALSE(rows[0].from_archive);
    CHECK_FALSE(rows[1].archive_id.has_value());
    const auto messages = f.login(phone);
    REQUIRE(messages.size() == 2);
    CHECK(std::string(messages[0].element().child_value("body")) == "early");
    CHECK_FALSE(mam::stanza_id(messages[0], "alice@example.org").empty());
    CHECK(mam::stanza_id(messages[1], "alice@example.org").empty());
}

TEST_CASE("offline in the archive: the sweep keeps an item an offline message references") {
    offline_fixture f;
    f.cfg.max_items_per_user = 1;
    const std::int64_t kept = f.arrives("offline");
    run_sync(f.archive.stored_offline(f.alice, kept));
    for (const char* body : {"online 1", "online 2"}) {  // delivered online: archived only
        stanza s = parse(std::string("<message type='chat' from='bob@example.net/laptop' to='alice@example.org'>"
                                     "<body>") + body + "</body></message>");
        REQUIRE(run_sync(f.archive.inbound(s, parse_jid(s.from()), f.alice, false)));
    }
    run_sync(f.archive.sweep());  // the cap: the newest ("online 2") and the referenced "offline" stay
    auto page = run_sync(f.store.read([](storage::store& s) {
        return s.query_archive("example.org", "alice", storage::archive_query{});
    }));
    REQUIRE(page);
    REQUIRE(page->items.size() == 2);
    CHECK(page->items[0].id == kept);
    const auto rows = f.offline();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].from_archive);
    const auto messages = f.login(phone);
    REQUIRE(messages.size() == 1);
    CHECK(std::string(messages[0].element().child_value("body")) == "offline");
}

TEST_CASE("offline in the archive: an item written under another id leaves the offline copy alone") {
    offline_fixture f;
    archive_writer writer(f.store);
    // Ids the writer makes are predictable past a seed in the future: future + 1, future + 2.
    constexpr std::int64_t future = 4'000'000'000'000'000;
    writer.seed_last_id(future);
    // Another writer took them first (only with a second hushd on the database): our items move on.
    for (const std::int64_t taken : {future + 1, future + 2}) {
        REQUIRE(run_sync(f.store.run([taken](storage::store& s) {
            return s.append_archive("example.org", "alice",
                                    storage::archived_message{taken, "carol@example.net",
                                                              storage::archive_direction::incoming,
                                                              "<message><body>someone else's</body></message>"});
        })));
    }
    for (const int n : {1, 2}) {
        const std::int64_t id = future + n;
        const std::string mine = "<message><body>mine " + std::to_string(n) + "</body></message>";
        REQUIRE(run_sync(f.store.run([&](storage::store& s) {
            return s.store_offline_message("example.org", "alice", mine, 1, 10, id);
        })));
        CHECK(run_sync(writer.append("example.org", "alice",
                                     storage::archived_message{0, "bob@example.net",
                                                               storage::archive_direction::incoming, mine})) == id);
        if (n == 2) {
            run_sync(writer.flush());  // the move is known from an earlier batch
        }
        run_sync(writer.drop_offline_copy("example.org", "alice", id));
        run_sync(writer.flush());
    }
    const auto rows = f.offline();
    REQUIRE(rows.size() == 2);
    CHECK_FALSE(rows[0].from_archive);
    CHECK(rows[0].stanza == "<message><body>mine 1</body></message>");
    CHECK_FALSE(rows[1].from_archive);
    CHECK(rows[1].stanza == "<message><body>mine 2</body></message>");
}
