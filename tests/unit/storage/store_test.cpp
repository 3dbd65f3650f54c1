// Storage tests: schema, accounts and backend specifics (async_store and atomically: async_store_test.cpp). Every store
// test runs against both backends (see test_backends.hpp); the IM core tables are tested in im_store_test.cpp.
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
