// Storage tests: schema, accounts, backend specifics and async_store. Every store test runs against both backends
// (see test_backends.hpp); the IM core tables are tested in im_store_test.cpp.
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
#include "tests/unit/storage/test_backends.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace hush::storage;
using namespace hush::storage::testing;

}  // namespace

// ---- schema and migrations ----

TEST_CASE("migration list is ordered and renders for both dialects") {
    int expected = 1;
    for (const auto& m : migrations()) {
        CHECK(m.version == expected);
        ++expected;
        for (auto dialect : {sql_dialect::sqlite, sql_dialect::postgresql}) {
            CHECK(render_sql(m.sql, dialect).find('{') == std::string::npos);
        }
    }
    CHECK(latest_schema_version() == expected - 1);
    CHECK(render_sql("a {blob} b {int64} c {key}", sql_dialect::sqlite) == "a BLOB b INTEGER c TEXT");
    CHECK(render_sql("a {blob} b {int64} c {key}", sql_dialect::postgresql) ==
          "a BYTEA b BIGINT c TEXT COLLATE \"C\"");
}

TEST_CASE_TEMPLATE("migrate creates the schema once and is idempotent", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    auto before = s->schema_version();
    REQUIRE(before);
    CHECK(*before == 0);

    // Before migrating, data calls fail with an error value, not an exception.
    auto early = s->account_exists("example.org", "alice");
    REQUIRE_FALSE(early);
    CHECK_FALSE(early.error().message.empty());

    auto first = s->migrate();
    REQUIRE_MESSAGE(first, (first ? "" : first.error().message));
    CHECK(*first == latest_schema_version());
    auto second = s->migrate();
    REQUIRE(second);
    CHECK(*second == *first);
    auto version = s->schema_version();
    REQUIRE(version);
    CHECK(*version == *first);

    // A second connection (another process, in real life) sees the same version and has nothing to do.
    auto other = open_store(backend.options());
    auto third = other->migrate();
    REQUIRE(third);
    CHECK(*third == *first);
    REQUIRE(s->create_account("example.org", "alice", make_credentials('a')));
    CHECK(*other->account_exists("example.org", "alice"));
}

TEST_CASE_TEMPLATE("concurrent migrate from several connections is safe", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    constexpr int count = 4;
    std::vector<std::unique_ptr<store>> stores;
    for (int i = 0; i < count; ++i) {
        stores.push_back(open_store(backend.options()));
    }
    std::vector<std::string> outcomes(count);
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&, i] {
            auto r = stores[i]->migrate();
            outcomes[i] = r ? std::to_string(*r) : "error: " + r.error().message;
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& outcome : outcomes) {
        CHECK(outcome == std::to_string(latest_schema_version()));
    }
}

TEST_CASE_TEMPLATE("migrate refuses a database newer than this build", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    backend.exec_raw("INSERT INTO schema_version (version, description, applied_at) VALUES (999, 'future', 0)");
    auto r = s->migrate();
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("newer") != std::string::npos);
}

// ---- accounts ----

TEST_CASE_TEMPLATE("accounts: create, exists, get", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());

    CHECK_FALSE(*s->account_exists("example.org", "alice"));
    auto missing = s->get_credentials("example.org", "alice");
    REQUIRE(missing);
    CHECK_FALSE(missing->has_value());

    const auto creds = make_credentials('a');
    auto created = s->create_account("example.org", "alice", creds);
    REQUIRE_MESSAGE(created, (created ? "" : created.error().message));
    CHECK(*created);
    CHECK(*s->account_exists("example.org", "alice"));
    CHECK_FALSE(*s->account_exists("example.net", "alice"));  // accounts are per domain
    CHECK_FALSE(*s->account_exists("example.org", "alic"));

    auto got = s->get_credentials("example.org", "alice");
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(got->value().sha1 == creds.sha1);
    CHECK(got->value().sha256 == creds.sha256);

    // Duplicate create: false, and the original credentials are untouched.
    auto duplicate = s->create_account("example.org", "alice", make_credentials('z'));
    REQUIRE(duplicate);
    CHECK_FALSE(*duplicate);
    CHECK(s->get_credentials("example.org", "alice")->value().sha256 == creds.sha256);

    // The same username on another domain is a different account.
    CHECK(*s->create_account("example.net", "alice", make_credentials('b')));
}

TEST_CASE_TEMPLATE("accounts: empty and non-ASCII values round trip", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    account_credentials empty;  // zero-length keys must come back as empty, not fail as NULL
    CHECK(*s->create_account("example.org", "j\xc3\xbcrgen", empty));
    auto got = s->get_credentials("example.org", "j\xc3\xbcrgen");
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(got->value().sha1 == empty.sha1);
    CHECK(got->value().sha256 == empty.sha256);
}

TEST_CASE_TEMPLATE("accounts: set credentials", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    REQUIRE(*s->create_account("example.org", "alice", make_credentials('a')));
    REQUIRE(*s->create_account("example.org", "bob", make_credentials('b')));

    const auto updated = make_credentials('c');
    auto set = s->set_credentials("example.org", "alice", updated);
    REQUIRE(set);
    CHECK(*set);
    auto got = s->get_credentials("example.org", "alice");
    REQUIRE(got);
    CHECK(got->value().sha1 == updated.sha1);
    CHECK(got->value().sha256 == updated.sha256);
    // Only alice changed.
    CHECK(s->get_credentials("example.org", "bob")->value().sha1 == make_credentials('b').sha1);

    auto missing = s->set_credentials("example.org", "carol", updated);
    REQUIRE(missing);
    CHECK_FALSE(*missing);
    CHECK_FALSE(*s->account_exists("example.org", "carol"));
}

TEST_CASE_TEMPLATE("accounts: delete", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    REQUIRE(*s->create_account("example.org", "alice", make_credentials('a')));
    REQUIRE(*s->create_account("example.net", "alice", make_credentials('b')));

    auto deleted = s->delete_account("example.org", "alice");
    REQUIRE(deleted);
    CHECK(*deleted);
    CHECK_FALSE(*s->account_exists("example.org", "alice"));
    CHECK_FALSE(s->get_credentials("example.org", "alice")->has_value());
    CHECK(*s->account_exists("example.net", "alice"));

    auto again = s->delete_account("example.org", "alice");
    REQUIRE(again);
    CHECK_FALSE(*again);
    auto never = s->delete_account("example.org", "nobody");
    REQUIRE(never);
    CHECK_FALSE(*never);
}

TEST_CASE_TEMPLATE("accounts: list is filtered by domain and ordered", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    auto empty = s->list_accounts("");
    REQUIRE(empty);
    CHECK(empty->empty());

    const auto before = now_unix();
    // Inserted out of order; "\xc3\xa4rger" (ärger) sorts after "bob" byte-wise, whatever the server locale.
    const std::vector<std::pair<std::string, std::string>> inserted{
        {"b.example", "zed"}, {"a.example", "\xc3\xa4rger"}, {"b.example", "alice"},
        {"a.example", "bob"}, {"c.example", "carol"},        {"a.example", "Alice"},
    };
    for (const auto& [domain, user] : inserted) {
        REQUIRE(*s->create_account(domain, user, make_credentials('x')));
    }
    const auto after = now_unix();

    auto names = [](const std::vector<account>& accounts) {
        std::vector<std::string> out;
        for (const auto& a : accounts) {
            out.push_back(a.domain + "/" + a.username);
        }
        return out;
    };

    auto all = s->list_accounts("");
    REQUIRE(all);
    CHECK(names(*all) == std::vector<std::string>{"a.example/Alice", "a.example/bob", "a.example/\xc3\xa4rger",
                                                  "b.example/alice", "b.example/zed", "c.example/carol"});
    for (const auto& a : *all) {
        CHECK(a.created_at >= before);
        CHECK(a.created_at <= after);
    }

    auto b = s->list_accounts("b.example");
    REQUIRE(b);
    CHECK(names(*b) == std::vector<std::string>{"b.example/alice", "b.example/zed"});

    auto none = s->list_accounts("nowhere.example");
    REQUIRE(none);
    CHECK(none->empty());

    auto created = s->account_created_at("b.example", "zed");
    REQUIRE(created);
    REQUIRE(created->has_value());
    CHECK(**created >= before);
    CHECK(**created <= after);
    auto missing = s->account_created_at("b.example", "nobody");
    REQUIRE(missing);
    CHECK_FALSE(missing->has_value());
}

// ---- backend specifics ----

TEST_CASE("sqlite: WAL mode, and a second connection can write while the first is open") {
    temp_dir dir;
    const auto path = (dir.path() / "hush.db").string();
    store_options o;
    o.sqlite_path = path;
    auto daemon = open_store(o);
    REQUIRE(daemon->migrate());
    auto ctl = open_store(o);  // hushctl while hushd runs
    CHECK(*ctl->create_account("example.org", "alice", make_credentials('a')));
    CHECK(*daemon->account_exists("example.org", "alice"));

    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    std::string mode;
    sqlite3_exec(
        db, "PRAGMA journal_mode",
        [](void* out, int, char** values, char**) {
            *static_cast<std::string*>(out) = values[0];
            return 0;
        },
        &mode, nullptr);
    sqlite3_close(db);
    CHECK(mode == "wal");
}

TEST_CASE("open_store: clear start-up errors") {
    temp_dir dir;
    SUBCASE("sqlite: parent is a file") {
        const auto blocker = dir.path() / "file";
        std::ofstream(blocker) << "x";
        store_options o;
        o.sqlite_path = (blocker / "hush.db").string();
        try {
            open_store(o);
            FAIL("expected an exception");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).rfind("cannot open sqlite database " + o.sqlite_path + ": ", 0) == 0);
        }
    }
    SUBCASE("sqlite: no path") {
        store_options o;
        CHECK_THROWS_WITH_AS(open_store(o), doctest::Contains("cannot open sqlite database"), std::runtime_error);
    }
    SUBCASE("postgresql: the password never appears in the message") {
        for (const std::string url : {
                 "postgresql://hush:s3cretpw@127.0.0.1:1/nodb",
                 "postgresql://hush:s3cretpw@127.0.0.1:notaport/nodb",
                 "postgresql://hush:s3cret%zzpw@127.0.0.1:1/nodb",
                 "postgresql://hush@127.0.0.1:1/nodb?password=s3cretpw&bogus=1",
                 "host=127.0.0.1 port=1 password=s3cretpw dbname=nodb",
                 "host=127.0.0.1 port=1 password='s3cretpw' dbname",
             }) {
            CAPTURE(url);
            store_options o;
            o.backend = store_options::backend_kind::postgresql;
            o.postgres_url = url;
            try {
                open_store(o);
                FAIL("expected an exception");
            } catch (const std::runtime_error& e) {
                const std::string message = e.what();
                CAPTURE(message);
                CHECK(message.rfind("cannot connect to PostgreSQL: ", 0) == 0);
                CHECK(message.find("s3cret") == std::string::npos);
            }
        }
    }
}

TEST_CASE("postgresql: reconnects once after the server drops the connection") {
    postgres_backend backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_store(backend.options());
    REQUIRE(s->migrate());
    REQUIRE(*s->create_account("example.org", "alice", make_credentials('a')));
    REQUIRE(backend.terminate_sessions() == 1);
    auto exists = s->account_exists("example.org", "alice");
    REQUIRE_MESSAGE(exists, (exists ? "" : exists.error().message));
    CHECK(*exists);
    // And again: the retry budget is per statement, not per connection lifetime.
    REQUIRE(backend.terminate_sessions() == 1);
    CHECK(*s->create_account("example.org", "bob", make_credentials('b')));
}

// ---- async_store ----

namespace {

// Runs the coroutine to completion on `ctx` (on this thread); an exception escaping it fails the test.
template <class Coroutine>
void spawn(asio::io_context& ctx, Coroutine coroutine) {
    asio::co_spawn(ctx, std::move(coroutine), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    });
}

}  // namespace

TEST_CASE_TEMPLATE("async_store: migrates at start-up and resumes on the caller's executor", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    async_store storage(backend.options(3));
    CHECK(storage.size() == (B::is_postgres ? 3u : 1u));

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
    CHECK(connections.size() == storage.size());  // round robin reaches every connection

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
