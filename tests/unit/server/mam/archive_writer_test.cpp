// server/mam/archive_writer: batches in id order behind delivery, bounded in items and bytes; a batch the storage
// refuses tried again (or, past the bound, logged lost) without stopping the writer; a flush that waits for every
// earlier id; closing at shutdown; a deleted account's queued items dropped.
#include <doctest.h>

#include "tests/unit/server/mam/mam_fixture.hpp"

using namespace hush;
using namespace hush::mam_testing;

TEST_CASE("archive_writer: batches behind, bounded, in order; one bad item loses only itself") {
    fixture f;
    archive_writer writer(f.store, 3, 2);  // at most 3 queued, 2 per batch
    auto item = [](std::string body) {
        return storage::archived_message{0, "alice@example.org", storage::archive_direction::incoming,
                                         "<message><body>" + body + "</body></message>"};
    };
    std::vector<std::int64_t> kept;
    run_sync([&]() -> boost::asio::awaitable<void> {
        // More than max_pending: the later appends wait for the writer instead of growing the queue.
        std::vector<std::int64_t> made;
        for (int i = 0; i < 7; ++i) {
            made.push_back(co_await writer.append("example.org", "bob", item(std::to_string(i))));
            CHECK(writer.pending() <= 3);
        }
        // An account that does not exist: its item fails alone.
        co_await writer.append("example.org", "nobody", item("lost"));
        made.push_back(co_await writer.append("example.org", "bob", item("last")));
        co_await writer.remove("example.org", "bob", made[1]);  // after its append, whatever the batching
        CHECK(co_await writer.flush());
        CHECK(writer.pending() == 0);
        CHECK(writer.pending_bytes() == 0);
        CHECK(std::is_sorted(made.begin(), made.end()));
        kept = made;
        kept.erase(kept.begin() + 1);
    }());
    CHECK(stored_ids(f.store, "bob") == kept);
}

TEST_CASE("archive_writer: a flush returns only when every id before the ones it sees is written") {
    // Two event loops append at once (as hushd's do) while a third queries: the archive a query sees is always a
    // prefix of the ids in order, so paging after the last item seen never skips one.
    fixture f;
    archive_writer writer(f.store, 50, 7);
    std::vector<std::int64_t> made[2];
    std::vector<std::vector<std::int64_t>> seen;
    std::atomic<int> running{2};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            run_sync([&]() -> boost::asio::awaitable<void> {
                for (int i = 0; i < 300; ++i) {
                    made[t].push_back(co_await writer.append(
                        "example.org", "bob",
                        {0, "alice@example.org", storage::archive_direction::incoming, "<message/>"}));
                }
            }());
            --running;
        });
    }
    while (running > 0) {
        REQUIRE(run_sync(writer.flush()));
        seen.push_back(stored_ids(f.store, "bob"));
    }
    for (auto& t : threads) {
        t.join();
    }
    REQUIRE(run_sync(writer.flush()));
    std::vector<std::int64_t> all = made[0];
    all.insert(all.end(), made[1].begin(), made[1].end());
    std::sort(all.begin(), all.end());
    CHECK(stored_ids(f.store, "bob") == all);
    for (const auto& snapshot : seen) {
        REQUIRE(snapshot.size() <= all.size());
        CHECK(std::equal(snapshot.begin(), snapshot.end(), all.begin()));
    }
}

TEST_CASE("archive_writer: a batch the storage refuses goes back and is written once the storage recovers") {
    fixture f(1);  // one job at a time: while the blocker holds the storage, every write is refused ("queue full")
    archive_writer writer(f.store, 100, 10, archive_writer::default_max_pending_bytes, quick_retries());
    storage_blocker blocker(f.store);
    boost::asio::io_context io;
    std::vector<std::int64_t> made;
    auto refused = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<bool> {
            for (int i = 0; i < 3; ++i) {
                made.push_back(co_await writer.append("example.org", "bob", message_item("kept")));
            }
            co_return co_await writer.flush();  // false at once: the storage refuses the writer
        }(),
        boost::asio::use_future);
    run_until_ready(io, refused);
    CHECK_FALSE(refused.get());
    CHECK(writer.pending() == 3);  // put back, nothing lost
    blocker.release();
    io.restart();
    io.run();  // the writer tries again until the batch is written, then stops: the queue is empty
    CHECK(writer.pending() == 0);
    CHECK(run_sync(writer.flush()));
    CHECK(stored_ids(f.store, "bob") == made);
}

TEST_CASE("archive_writer: a batch refused for longer than the bound is logged lost, and the writer goes on") {
    fixture f(1);
    auto retry = quick_retries();
    retry.give_up_after = std::chrono::milliseconds(0);
    archive_writer writer(f.store, 100, 10, archive_writer::default_max_pending_bytes, retry);
    storage_blocker blocker(f.store);
    boost::asio::io_context io;
    auto lost = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<bool> {
            co_await writer.append("example.org", "bob", message_item("lost"));
            co_return co_await writer.flush();
        }(),
        boost::asio::use_future);
    run_until_ready(io, lost);
    CHECK(lost.get());  // done with, not waiting for ever
    blocker.release();
    const auto kept = run_sync(writer.append("example.org", "bob", message_item("kept")));
    REQUIRE(run_sync(writer.flush()));
    CHECK(stored_ids(f.store, "bob") == std::vector<std::int64_t>{kept});
}

TEST_CASE("archive_writer: a storage job that throws does not stop the writer") {
    fixture f;
    bool thrown = false;
    f.store.observe_jobs([&thrown](const storage::async_store::job_site& site) {
        if (!thrown && std::string_view(site.file).ends_with("archive_writer.cpp")) {
            thrown = true;
            throw std::runtime_error("injected");
        }
    });
    archive_writer writer(f.store, 100, 10, archive_writer::default_max_pending_bytes, quick_retries());
    const auto id = run_sync(writer.append("example.org", "bob", message_item("kept")));
    CHECK(run_sync(writer.flush()));
    CHECK(thrown);
    CHECK(stored_ids(f.store, "bob") == std::vector<std::int64_t>{id});
}

TEST_CASE("archive_writer: a deletion whose job throws lets the writer go") {
    fixture f;
    archive_writer writer(f.store, 100, 10, archive_writer::default_max_pending_bytes, quick_retries());
    bool threw = false;
    run_sync([&]() -> boost::asio::awaitable<void> {
        try {
            co_await writer.exclusively([](storage::store&) -> storage::result<std::int64_t> {
                throw std::runtime_error("injected");
            });
        } catch (const std::runtime_error&) {
            threw = true;
        }
    }());
    CHECK(threw);
    // Had the deletion kept the writing flag, this flush would wait for ever.
    const auto id = run_sync(writer.append("example.org", "bob", message_item("after the deletion")));
    CHECK(run_sync(writer.flush()));
    CHECK(stored_ids(f.store, "bob") == std::vector<std::int64_t>{id});
    // And another deletion runs.
    auto deleted = run_sync(writer.exclusively([](storage::store&) -> storage::result<std::int64_t> { return 0; }));
    CHECK(deleted.has_value());
}

TEST_CASE("archive_writer: bounded in bytes too; closing lets a waiting delivery through and it is written") {
    fixture f;
    const std::string big(1000, 'x');
    // Room for about two such items (queued or being written).
    archive_writer writer(f.store, 100, 1, 2 * (big.size() + 400));
    std::vector<std::int64_t> made;
    {
        boost::asio::io_context io;  // a loop that stops with items in flight, as at shutdown
        storage_blocker blocker(f.store);
        auto appended = boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                for (int i = 0; i < 3; ++i) {
                    made.push_back(co_await writer.append("example.org", "bob", message_item(big)));
                }
            }(),
            boost::asio::use_future);
        io.poll();
        // The first is being written (the storage is held), the second queued, the third waits: over the bytes.
        CHECK(made.size() == 2);
        CHECK(writer.pending() == 1);
        CHECK(writer.pending_bytes() <= 2 * (big.size() + 400));
        writer.close();  // shutdown: nothing waits for room any more
        run_until_ready(io, appended);
        CHECK(made.size() == 3);
        blocker.release();
        // The loops stop here; what is queued is written at exit.
        run_sync(writer.write_remaining());
    }
    CHECK(stored_ids(f.store, "bob") == made);
}

TEST_CASE("archiver: a deleted account's queued items and cached preferences are dropped") {
    fixture f;
    storage_blocker blocker(f.store);
    boost::asio::io_context io;
    archive_writer writer(f.store, 100, 1);
    std::vector<std::int64_t> bobs, alices;
    auto appended = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            bobs.push_back(co_await writer.append("example.org", "bob", message_item("written")));
            alices.push_back(co_await writer.append("example.org", "alice", message_item("hers")));
            co_await writer.append("example.org", "bob", message_item("dropped"));
        }(),
        boost::asio::use_future);
    run_until_ready(io, appended);
    io.poll();  // the writer takes the first and waits for the storage
    CHECK(writer.discard("example.org", "bob") == 1);  // the first is being written already
    blocker.release();
    auto flushed = boost::asio::co_spawn(io, writer.flush(), boost::asio::use_future);
    run_until_ready(io, flushed);
    CHECK(flushed.get());
    io.run();
    CHECK(stored_ids(f.store, "bob") == bobs);
    CHECK(stored_ids(f.store, "alice") == alices);

    // The preference cache: a name created again starts from the configured default.
    auto never = f.ask("<iq type='set' id='p' from='bob@example.org/desk' to='bob@example.org'>"
                       "<prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>",
                       "bob@example.org");
    REQUIRE(never.reply.type() == "result");
    REQUIRE(run_sync(f.store.run([](storage::store& s) { return s.delete_account("example.org", "bob"); })));
    f.archive.account_removed(parse_jid("bob@example.org"));
    auto creds = accounts::make_credentials("secret-password", 4096);
    REQUIRE(creds);
    REQUIRE(run_sync(f.store.run([creds = *creds](storage::store& s) {
        return s.create_account("example.org", "bob", creds);
    })));
    const stanza got = f.receive(chat(alice, "bob@example.org", "to the new bob"));
    CHECK_FALSE(mam::stanza_id(got, "bob@example.org").empty());  // archived: the old "never" is gone
}
