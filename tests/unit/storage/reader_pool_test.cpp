// async_store::read() and the SQLite reader pool on every backend: a read after a completed write sees it,
// readers never write, readers and the writer work at the same time, and each job's call site reaches the observer.
#include <doctest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/async_store.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/spawn_on.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

namespace asio = boost::asio;
using namespace hush::storage;
using namespace hush::storage::testing;

}  // namespace

TEST_CASE_TEMPLATE("async_store: read() sees what a completed run() wrote, and reads never write", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(2));
    asio::io_context ctx;
    std::optional<result<bool>> before, created, after;
    std::optional<result<std::vector<account>>> listed;
    std::optional<result<bool>> written_by_reader;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        before = co_await storage.read([](store& s) { return s.account_exists("example.org", "alice"); });
        created = co_await storage.run(
            [&](store& s) { return s.create_account("example.org", "alice", make_credentials('a')); });
        after = co_await storage.read([&](store& s) { return s.account_exists("example.org", "alice"); });
        // A transaction on a reader: one snapshot, still the committed write.
        listed = co_await storage.read([](store& s) { return s.list_accounts("example.org"); });
        written_by_reader = co_await storage.read(
            [](store& s) { return s.create_account("example.org", "bob", make_credentials('b')); });
    });
    ctx.run();
    REQUIRE(before.has_value());
    CHECK_FALSE(before->value());
    REQUIRE(created.has_value());
    CHECK(created->value());
    REQUIRE(after.has_value());
    CHECK(after->value());
    REQUIRE(listed.has_value());
    REQUIRE(listed->has_value());
    CHECK(listed->value().size() == 1);
    REQUIRE(written_by_reader.has_value());
    if (B::is_postgres) {
        // No readers: read() shares the pool (nothing stops a write there, so nothing may be asked to).
        CHECK(storage.reader_runs() == 0);
        CHECK(written_by_reader->value());
    } else {
        CHECK(storage.reader_runs() == 4);  // workers are strands on one pool: a thread id would prove nothing
        REQUIRE_FALSE(written_by_reader->has_value());  // query_only: the reader refuses the write
        CHECK(written_by_reader->error().message.find("readonly") != std::string::npos);
    }
    CHECK(storage.runs() == 5);
}

TEST_CASE_TEMPLATE("async_store: a write transaction on a reader fails before writing", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available() || B::is_postgres) {
        return;  // PostgreSQL has no readers
    }
    async_store storage(backend.options(1));
    asio::io_context ctx;
    std::optional<result<void>> done;
    bool ran = false;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        done = co_await storage.read([&](store& s) {
            return s.atomically("example.org", "alice", [&]() -> result<void> {
                ran = true;
                return {};
            });
        });
    });
    ctx.run();
    REQUIRE(done.has_value());
    REQUIRE_FALSE(done->has_value());
    CHECK(done->error().message.find("read-only") != std::string::npos);
    CHECK_FALSE(ran);
}

TEST_CASE("async_store: SQLite readers run at the same time as each other and as the writer") {
    sqlite_backend backend;
    auto options = backend.options(1);
    options.sqlite_readers = 2;
    async_store storage(options);
    REQUIRE(storage.readers() == 2);
    asio::io_context ctx;
    // The writer and both readers each wait, inside their job, until all three are inside theirs: with fewer
    // connections working at once this never completes (the futures time out and the test fails, no hang).
    std::promise<void> all_in;
    std::shared_future<void> go = all_in.get_future().share();
    std::atomic<int> inside{0};
    std::atomic<int> saw_all{0};
    auto wait_for_others = [&]() {
        if (inside.fetch_add(1) + 1 == 3) {
            all_in.set_value();
        }
        if (go.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
            saw_all.fetch_add(1);
        }
    };
    std::vector<std::optional<result<bool>>> results(3);
    // The reads are asked for first: a read asked for while a write is queued or running waits behind it.
    for (int i = 1; i < 3; ++i) {
        spawn(ctx, [&, i]() -> asio::awaitable<void> {
            results[i] = co_await storage.read([&](store& s) {
                wait_for_others();
                return s.account_exists("example.org", "nobody");
            });
        });
    }
    spawn(ctx, [&]() -> asio::awaitable<void> {
        results[0] = co_await storage.run([&](store& s) {
            wait_for_others();
            return s.create_account("example.org", "alice", make_credentials('a'));
        });
    });
    ctx.run();
    CHECK(saw_all.load() == 3);
    for (auto& r : results) {
        REQUIRE(r.has_value());
        CHECK(r->has_value());
    }
    CHECK(storage.reader_runs() == 2);
}

TEST_CASE("async_store: a read asked for while a write is queued sees that write") {
    // One session queues a write, another then reads. The write is held inside its job until the read is queued
    // behind it, or (the bug this guards) until the read has finished on a reader connection without it.
    sqlite_backend backend;
    auto options = backend.options(1);
    options.sqlite_readers = 2;
    async_store storage(options);
    std::promise<void> write_running, release_write;
    std::shared_future<void> release = release_write.get_future().share();
    std::atomic<bool> released{false};
    auto let_write_go = [&] {
        if (!released.exchange(true)) {
            release_write.set_value();
        }
    };
    storage.observe_jobs([&](const async_store::job_site& site) {
        if (site.read_only && !site.on_reader) {
            let_write_go();  // queued on the writer, behind the write
        }
    });
    std::optional<result<bool>> created, seen;
    asio::io_context writer_session, reader_session;
    spawn(writer_session, [&]() -> asio::awaitable<void> {
        created = co_await storage.run([&](store& s) {
            write_running.set_value();
            release.wait_for(std::chrono::seconds(10));  // bounded: a broken test fails, never hangs
            return s.create_account("example.org", "alice", make_credentials('a'));
        });
    });
    std::thread writer_thread([&] { writer_session.run(); });
    REQUIRE(write_running.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    spawn(reader_session, [&]() -> asio::awaitable<void> {
        seen = co_await storage.read([](store& s) { return s.account_exists("example.org", "alice"); });
        let_write_go();
    });
    reader_session.run();
    writer_thread.join();
    REQUIRE(created.has_value());
    CHECK(created->value());
    REQUIRE(seen.has_value());
    REQUIRE(seen->has_value());
    CHECK(seen->value());
    CHECK(storage.reader_runs() == 0);
    // With the writer idle again, reads go back to the readers.
    std::optional<result<bool>> later;
    asio::io_context again;
    spawn(again, [&]() -> asio::awaitable<void> {
        later = co_await storage.read([](store& s) { return s.account_exists("example.org", "alice"); });
    });
    again.run();
    REQUIRE(later.has_value());
    CHECK(later->value());
    CHECK(storage.reader_runs() == 1);
}

TEST_CASE("async_store: sqlite_readers = 0 sends reads to the writer") {
    sqlite_backend backend;
    auto options = backend.options(1);
    options.sqlite_readers = 0;
    async_store storage(options);
    CHECK(storage.readers() == 0);
    CHECK(storage.size() == 1);
    asio::io_context ctx;
    std::optional<result<bool>> created;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        created = co_await storage.read(
            [](store& s) { return s.create_account("example.org", "alice", make_credentials('a')); });
    });
    ctx.run();
    REQUIRE(created.has_value());
    CHECK(created->value());  // the writer's connection: the write goes through
    CHECK(storage.reader_runs() == 0);
}

TEST_CASE("async_store: every job's call site is told to the observer") {
    sqlite_backend backend;
    async_store storage(backend.options(1));
    std::vector<async_store::job_site> sites;
    storage.observe_jobs([&](const async_store::job_site& site) { sites.push_back(site); });
    asio::io_context ctx;
    unsigned write_line = 0, read_line = 0;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        write_line = __LINE__ + 1;
        (void)co_await storage.run([](store& s) { return s.account_exists("example.org", "a"); });
        read_line = __LINE__ + 1;
        (void)co_await storage.read([](store& s) { return s.account_exists("example.org", "a"); });
    });
    ctx.run();
    REQUIRE(sites.size() == 2);
    CHECK(std::string(sites[0].file).find("reader_pool_test.cpp") != std::string::npos);
    CHECK(sites[0].line == write_line);
    CHECK_FALSE(sites[0].read_only);
    CHECK(sites[1].line == read_line);
    CHECK(sites[1].read_only);
}
