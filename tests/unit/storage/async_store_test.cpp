// The storage worker pool (async_store) and atomic read-decide-write (storage::atomically) on every backend:
// start-up migration, executors, concurrency, exceptions, shutdown, the bounded queue and its deadline.
#include <doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/async_store.hpp"
#include "storage/migrations.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/spawn_on.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace hush::storage;
using namespace hush::storage::testing;

}  // namespace

TEST_CASE_TEMPLATE("async_store: migrates at start-up and resumes on the caller's executor", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(3));
    // PostgreSQL: the pool; SQLite: one writer and the default two readers.
    CHECK(storage.size() == 3u);
    CHECK(storage.readers() == (B::is_postgres ? 0u : 2u));

    asio::io_context ctx;
    const auto main_thread = std::this_thread::get_id();
    std::thread::id before, during, after;
    std::optional<result<int>> version;
    std::optional<result<bool>> created;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        version = co_await storage.run([](store& s) { return s.schema_version(); });
        before = std::this_thread::get_id();
        created = co_await storage.run([&](store& s) {
            during = std::this_thread::get_id();
            return s.create_account("example.org", "alice", make_credentials('a'));
        });
        after = std::this_thread::get_id();
    });
    ctx.run();

    REQUIRE(version.has_value());
    REQUIRE(version->has_value());
    CHECK(**version == latest_schema_version());
    REQUIRE(created.has_value());
    CHECK(created->value());
    CHECK(before == main_thread);
    CHECK(after == before);
    CHECK(during != before);
    CHECK(during != std::thread::id());
}

TEST_CASE_TEMPLATE("async_store: concurrent requests spread over the workers", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(3));
    asio::io_context ctx;
    constexpr int count = 30;
    std::mutex mutex;
    std::set<const store*> connections;
    int succeeded = 0;
    for (int i = 0; i < count; ++i) {
        spawn(ctx, [&, i]() -> asio::awaitable<void> {
            auto r = co_await storage.run([&, i](store& s) {
                {
                    std::lock_guard lock(mutex);
                    connections.insert(&s);
                }
                return s.create_account("example.org", "user" + std::to_string(i), make_credentials('u'));
            });
            if (r && *r) {
                ++succeeded;  // resumed on ctx's only thread: no race
            }
        });
    }
    ctx.run();
    CHECK(succeeded == count);
    // Writes go round robin over every writing connection (SQLite: its one writer).
    CHECK(connections.size() == storage.size() - storage.readers());

    std::optional<result<std::vector<account>>> listed;
    asio::io_context ctx2;
    spawn(ctx2, [&]() -> asio::awaitable<void> {
        listed = co_await storage.run([](store& s) { return s.list_accounts("example.org"); });
    });
    ctx2.run();
    REQUIRE(listed.has_value());
    REQUIRE(listed->has_value());
    CHECK(listed->value().size() == count);
}

TEST_CASE_TEMPLATE("async_store: an exception from fn reaches the coroutine", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(2));
    asio::io_context ctx;
    std::string caught;
    spawn(ctx, [&]() -> asio::awaitable<void> {
        try {
            (void)co_await storage.run([](store&) -> result<int> { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
    });
    ctx.run();
    CHECK(caught == "boom");
}

TEST_CASE_TEMPLATE("async_store: shutdown drains queued work, later calls get an error", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(2));
    asio::io_context ctx;
    constexpr int count = 20;
    std::atomic<int> ran{0};
    int resumed = 0;
    for (int i = 0; i < count; ++i) {
        spawn(ctx, [&, i]() -> asio::awaitable<void> {
            auto r = co_await storage.run([&, i](store& s) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                ++ran;
                return s.create_account("example.org", "user" + std::to_string(i), make_credentials('u'));
            });
            if (r && *r) {
                ++resumed;
            }
        });
    }
    ctx.poll();  // every coroutine has now queued its request and is suspended
    storage.shutdown();
    CHECK(ran.load() == count);  // nothing queued was dropped
    ctx.run();
    CHECK(resumed == count);

    std::optional<result<bool>> late;
    asio::io_context ctx2;
    spawn(ctx2, [&]() -> asio::awaitable<void> {
        late = co_await storage.run([](store& s) { return s.account_exists("example.org", "user0"); });
    });
    ctx2.run();
    REQUIRE(late.has_value());
    REQUIRE_FALSE(late->has_value());
    CHECK(late->error().message == "storage is shut down");
    storage.shutdown();  // idempotent
}

TEST_CASE_TEMPLATE("async_store: a full queue refuses at once, without running fn", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto options = backend.options(1);
    options.max_queued = 3;
    async_store storage(options);
    asio::io_context ctx;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::vector<int> order;  // written by the one worker only
    std::vector<std::optional<result<int>>> results(4);
    std::atomic<bool> fourth_ran{false};
    for (int i = 0; i < 4; ++i) {
        spawn(ctx, [&, i]() -> asio::awaitable<void> {
            results[i] = co_await storage.run([&, i](store&) -> result<int> {
                if (i == 0) {
                    released.wait();  // the worker is busy: 1 running, 2 queued
                }
                if (i == 3) {
                    fourth_ran = true;
                }
                order.push_back(i);
                return i;
            });
        });
    }
    ctx.poll();  // every coroutine has asked; the first blocks the worker
    REQUIRE(results[3].has_value());
    REQUIRE_FALSE(results[3]->has_value());
    CHECK(results[3]->error().message == "storage queue full");
    CHECK(storage.pending() == 3);
    release.set_value();
    ctx.run();
    for (int i = 0; i < 3; ++i) {
        REQUIRE(results[i].has_value());
        REQUIRE(results[i]->has_value());
        CHECK(**results[i] == i);
    }
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK_FALSE(fourth_ran.load());
    CHECK(storage.runs() == 3);
    CHECK(storage.pending() == 0);

    // Room again once the queue drained.
    std::optional<result<bool>> later;
    asio::io_context ctx2;
    spawn(ctx2, [&]() -> asio::awaitable<void> {
        later = co_await storage.run([](store& s) { return s.account_exists("example.org", "nobody"); });
    });
    ctx2.run();
    REQUIRE(later.has_value());
    CHECK(later->has_value());
    CHECK(storage.runs() == 4);
}

TEST_CASE_TEMPLATE("async_store: queued work runs in order; a job that waited too long is not run", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    SUBCASE("in order") {
        async_store storage(backend.options(1));
        asio::io_context ctx;
        std::vector<int> order;
        int resumed = 0;
        for (int i = 0; i < 50; ++i) {
            spawn(ctx, [&, i]() -> asio::awaitable<void> {
                auto r = co_await storage.run([&, i](store& s) {
                    order.push_back(i);  // the one worker
                    return s.account_exists("example.org", "alice");
                });
                resumed += r.has_value() ? 1 : 0;
            });
        }
        ctx.run();
        std::vector<int> expected(50);
        std::iota(expected.begin(), expected.end(), 0);
        CHECK(order == expected);
        CHECK(resumed == 50);
        CHECK(storage.runs() == 50);
    }
    SUBCASE("timed out") {
        auto options = backend.options(1);
        options.queue_timeout = std::chrono::milliseconds(50);
        async_store storage(options);
        asio::io_context ctx;
        std::atomic<bool> second_ran{false};
        std::optional<result<int>> first, second;
        spawn(ctx, [&]() -> asio::awaitable<void> {
            first = co_await storage.run([](store&) -> result<int> {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                return 1;
            });
        });
        spawn(ctx, [&]() -> asio::awaitable<void> {
            second = co_await storage.run([&](store&) -> result<int> {
                second_ran = true;
                return 2;
            });
        });
        ctx.run();
        REQUIRE(first.has_value());
        REQUIRE(first->has_value());
        CHECK(**first == 1);
        REQUIRE(second.has_value());
        REQUIRE_FALSE(second->has_value());
        CHECK(second->error().message == "storage timed out");
        CHECK_FALSE(second_ran.load());
        CHECK(storage.runs() == 1);
        CHECK(storage.pending() == 0);
    }
}

// ---- store::atomically ----

TEST_CASE_TEMPLATE("atomically: read-increment-write from several connections loses nothing", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto setup = open_with_accounts(backend);
    constexpr int threads = 4;
    constexpr int cycles = 20;
    std::mutex mutex;
    std::vector<std::string> failures;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            auto s = open_store(backend.options());  // a connection of its own, as each storage worker has
            for (int i = 0; i < cycles; ++i) {
                auto done = s->atomically(domain, "alice", [&]() -> result<void> {
                    auto doc = s->get_document(domain, "alice", "counter");
                    if (!doc) {
                        return hush::unexpected(doc.error());
                    }
                    const int n = *doc ? std::stoi(**doc) : 0;
                    // Wide open for a lost update, were the read and the write not one locked transaction.
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    return s->put_document(domain, "alice", "counter", std::to_string(n + 1));
                });
                if (!done) {
                    std::lock_guard lock(mutex);
                    failures.push_back(done.error().message);
                }
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    CHECK(failures.empty());
    for (const auto& f : failures) {
        MESSAGE(f);
    }
    CHECK(must(setup->get_document(domain, "alice", "counter")) ==
          std::optional<std::string>(std::to_string(threads * cycles)));
}

TEST_CASE_TEMPLATE("atomically: commits what fn wrote, or nothing when fn fails", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    roster_item carol;
    carol.contact = "carol@example.net";
    carol.name = "Carol";

    SUBCASE("an error from fn rolls everything back, nested transactions included") {
        auto done = s->atomically(domain, "alice", [&]() -> result<void> {
            if (auto r = s->put_document(domain, "alice", "note", "<n/>"); !r) {
                return r;
            }
            if (auto r = s->put_roster_item(domain, "alice", carol); !r) {  // opens a transaction of its own
                return hush::unexpected(r.error());
            }
            if (auto r = s->store_offline_message(domain, "alice", "<message/>", 1, 10); !r) {
                return hush::unexpected(r.error());
            }
            return hush::unexpected(error{"changed my mind"});
        });
        REQUIRE_FALSE(done);
        CHECK(done.error().message == "changed my mind");
        CHECK_FALSE(must(s->get_document(domain, "alice", "note")).has_value());
        CHECK(must(s->get_roster(domain, "alice")).empty());
        CHECK(must(s->roster_version(domain, "alice")) == 0);
        CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    }
    SUBCASE("success commits, and an inner transaction that undoes itself undoes only itself") {
        auto done = s->atomically(domain, "alice", [&]() -> result<void> {
            if (auto r = s->put_roster_item(domain, "alice", carol); !r) {
                return hush::unexpected(r.error());
            }
            // Nothing to remove: it bumps the version, then rolls back (to its savepoint) and returns nullopt.
            auto removed = s->remove_roster_item(domain, "alice", "nobody@example.net");
            if (!removed) {
                return hush::unexpected(removed.error());
            }
            if (removed->has_value()) {
                return hush::unexpected(error{"removed something"});
            }
            // Atomically inside atomically: one transaction.
            return s->atomically(domain, "alice", [&] { return s->put_document(domain, "alice", "note", "<n/>"); });
        });
        REQUIRE_MESSAGE(done, (done ? "" : done.error().message));
        CHECK(must(s->get_roster(domain, "alice")).size() == 1);
        CHECK(must(s->roster_version(domain, "alice")) == 1);
        CHECK(must(s->get_document(domain, "alice", "note")) == std::optional<std::string>("<n/>"));
    }
    SUBCASE("a value through the template form") {
        auto n = atomically(*s, domain, "bob", [&]() -> result<int> {
            if (auto r = s->put_document(domain, "bob", "note", "<n/>"); !r) {
                return hush::unexpected(r.error());
            }
            return 42;
        });
        REQUIRE(n);
        CHECK(*n == 42);
        auto failed = atomically(*s, domain, "bob", [&]() -> result<int> {
            if (auto r = s->put_document(domain, "bob", "other", "<n/>"); !r) {
                return hush::unexpected(r.error());
            }
            return hush::unexpected(error{"no"});
        });
        REQUIRE_FALSE(failed);
        CHECK(failed.error().message == "no");
        CHECK_FALSE(must(s->get_document(domain, "bob", "other")).has_value());
    }
    SUBCASE("a missing account: fn runs with nothing locked, and its writes fail") {
        bool ran = false;
        auto done = s->atomically(domain, "nobody", [&]() -> result<void> {
            ran = true;
            return s->put_document(domain, "nobody", "note", "<n/>");
        });
        CHECK(ran);
        CHECK_FALSE(done);
    }
    // The connection is usable afterwards, outside any transaction.
    must(s->put_document(domain, "bob", "after", "<a/>"));
    CHECK(must(s->get_document(domain, "bob", "after")) == std::optional<std::string>("<a/>"));
}

TEST_CASE_TEMPLATE("tentatively: a step that fails inside atomically undoes only itself", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    bool step_failed = false;
    auto done = s->atomically(domain, "alice", [&]() -> result<void> {
        if (auto r = s->put_document(domain, "alice", "before", "<b/>"); !r) {
            return r;
        }
        // Another account's write that fails (no such account: the foreign key): PostgreSQL would refuse every
        // later statement of the transaction, were it not a savepoint of its own.
        auto step = s->tentatively([&]() -> result<void> {
            if (auto r = s->put_document(domain, "bob", "undone", "<u/>"); !r) {
                return r;
            }
            return s->put_document(domain, "nobody", "note", "<n/>");
        });
        step_failed = !step;
        return s->put_document(domain, "alice", "after", "<a/>");
    });
    REQUIRE_MESSAGE(done, (done ? "" : done.error().message));
    CHECK(step_failed);
    CHECK(must(s->get_document(domain, "alice", "before")) == std::optional<std::string>("<b/>"));
    CHECK(must(s->get_document(domain, "alice", "after")) == std::optional<std::string>("<a/>"));
    CHECK_FALSE(must(s->get_document(domain, "bob", "undone")).has_value());  // the failed step's own write too

    SUBCASE("a step that succeeds is committed with the transaction, and alone it commits itself") {
        auto both = s->atomically(domain, "alice", [&]() -> result<void> {
            return s->tentatively([&] { return s->put_document(domain, "bob", "kept", "<k/>"); });
        });
        REQUIRE(both);
        CHECK(must(s->get_document(domain, "bob", "kept")) == std::optional<std::string>("<k/>"));
        REQUIRE(s->tentatively([&] { return s->put_document(domain, "bob", "alone", "<a/>"); }));
        CHECK(must(s->get_document(domain, "bob", "alone")) == std::optional<std::string>("<a/>"));
    }
}

TEST_CASE_TEMPLATE("atomically with a tentative step on the other account: crossing writers neither deadlock nor lose",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    // As two local users' first messages to each other: each decision locks the receiver and notes, in a step of
    // its own, that the sender wrote first (antispim_service::record_stranger_stanza).
    auto setup = open_with_accounts(backend);
    constexpr int threads = 4;
    constexpr int cycles = 25;
    std::mutex mutex;
    std::vector<std::string> failures;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            const std::string receiver = t % 2 == 0 ? "bob" : "alice";
            const std::string sender = t % 2 == 0 ? "alice" : "bob";
            auto s = open_store(backend.options());
            for (int i = 0; i < cycles; ++i) {
                auto done = s->atomically(domain, receiver, [&]() -> result<void> {
                    auto noted = s->tentatively(
                        [&] { return s->put_document(domain, sender, "contact:" + receiver, std::to_string(i)); });
                    if (!noted) {
                        return noted;
                    }
                    auto doc = s->get_document(domain, receiver, "counter");
                    if (!doc) {
                        return hush::unexpected(doc.error());
                    }
                    const int n = *doc ? std::stoi(**doc) : 0;
                    return s->put_document(domain, receiver, "counter", std::to_string(n + 1));
                });
                if (!done) {
                    std::lock_guard lock(mutex);
                    failures.push_back(done.error().message);
                }
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    CHECK(failures.empty());
    for (const auto& f : failures) {
        MESSAGE(f);
    }
    const auto each = std::optional<std::string>(std::to_string(threads / 2 * cycles));
    CHECK(must(setup->get_document(domain, "alice", "counter")) == each);
    CHECK(must(setup->get_document(domain, "bob", "counter")) == each);
}
