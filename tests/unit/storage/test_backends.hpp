#pragma once
// Fixtures shared by the storage tests: every store test runs against both backends, SQLite on a fresh temp file,
// PostgreSQL in a fresh schema of the database named by HUSH_TEST_POSTGRES_URL (see scripts/with-postgres).
// Without that variable the PostgreSQL cases are skipped, unless HUSH_REQUIRE_POSTGRES=1, which turns the skip
// into a failure.
#include <doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "storage/migrations.hpp"
#include "storage/store.hpp"

#include "tests/unit/test_support.hpp"

namespace hush::storage::testing {

namespace fs = std::filesystem;

inline std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

inline std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Built by hand: these tests must not depend on the SCRAM derivation code.
inline account_credentials make_credentials(char seed) {
    account_credentials creds;
    creds.sha1.salt = std::string("salt\0\xff", 6) + seed;
    creds.sha1.iterations = 4096;
    creds.sha1.stored_key = std::string(20, seed);
    creds.sha1.server_key = std::string("\x00\x01\x80\xfe", 4) + std::string(16, seed);
    creds.sha256.salt = std::string("pepper") + seed;
    creds.sha256.iterations = 4294967295u;  // the whole uint32 range must survive the round trip
    creds.sha256.stored_key = std::string(32, static_cast<char>(seed + 1));
    creds.sha256.server_key = std::string(31, static_cast<char>(seed + 2)) + '\0';
    return creds;
}

using hush::test::temp_dir;

// ---- backends ----

struct sqlite_backend {
    static constexpr bool is_postgres = false;

    bool available() { return true; }

    store_options options(unsigned pool_size = 1) const {
        store_options o;
        o.backend = store_options::backend_kind::sqlite;
        o.sqlite_path = (dir.path() / "nested" / "dir" / "hush.db").string();  // parents do not exist yet
        o.pool_size = pool_size;
        return o;
    }

    // Out-of-band SQL, to set up states the store API cannot produce.
    void exec_raw(const std::string& sql) const {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(options().sqlite_path.c_str(), &db) == SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
        const std::string message = sqlite3_errmsg(db);
        sqlite3_close(db);
        REQUIRE_MESSAGE(rc == SQLITE_OK, message);
    }

    // Out-of-band read of one integer (a COUNT(*), say), to look at rows the store API does not expose.
    std::int64_t query_int(const std::string& sql) const {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(options().sqlite_path.c_str(), &db) == SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
        std::int64_t value = -1;
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(stmt);
            if (rc == SQLITE_ROW) {
                value = sqlite3_column_int64(stmt, 0);
            }
        }
        const std::string message = sqlite3_errmsg(db);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        REQUIRE_MESSAGE(rc == SQLITE_ROW, message);
        return value;
    }

    temp_dir dir;
};

class postgres_backend {
public:
    static constexpr bool is_postgres = true;

    postgres_backend() : base_url_(env("HUSH_TEST_POSTGRES_URL")) {
        static std::atomic<int> counter{0};
        schema_ = "hush_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    }
    ~postgres_backend() {
        if (admin_ != nullptr) {
            PQclear(PQexec(admin_, ("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE").c_str()));
            PQfinish(admin_);
        }
    }
    postgres_backend(const postgres_backend&) = delete;
    postgres_backend& operator=(const postgres_backend&) = delete;

    // False (with a note) when no server is configured; a failed test when one is required.
    bool available() {
        if (base_url_.empty()) {
            if (env("HUSH_REQUIRE_POSTGRES") == "1") {
                FAIL("HUSH_REQUIRE_POSTGRES=1 but HUSH_TEST_POSTGRES_URL is not set (run under scripts/with-postgres)");
            }
            static bool noted = false;
            if (!noted) {
                noted = true;
                MESSAGE("skipping PostgreSQL storage tests: HUSH_TEST_POSTGRES_URL is not set");
            }
            return false;
        }
        admin_ = PQconnectdb(base_url_.c_str());
        REQUIRE_MESSAGE(PQstatus(admin_) == CONNECTION_OK, PQerrorMessage(admin_));
        PQsetNoticeProcessor(admin_, [](void*, const char*) {}, nullptr);
        // A fresh, empty schema per test: nothing left over from earlier runs or other tests.
        admin_exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_);
        return true;
    }

    store_options options(unsigned pool_size = 1) const {
        store_options o;
        o.backend = store_options::backend_kind::postgresql;
        o.postgres_url = url();
        o.pool_size = pool_size;
        return o;
    }

    void exec_raw(const std::string& sql) const { admin_exec("SET search_path TO " + schema_ + "; " + sql); }

    // Out-of-band read of one integer (a COUNT(*), say), to look at rows the store API does not expose.
    std::int64_t query_int(const std::string& sql) const {
        PGresult* res = PQexec(admin_, ("SET search_path TO " + schema_ + "; " + sql).c_str());
        const bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        const std::string message = PQresultErrorMessage(res);
        const std::int64_t value = ok ? std::stoll(PQgetvalue(res, 0, 0)) : -1;
        PQclear(res);
        REQUIRE_MESSAGE(ok, message);
        return value;
    }

    // Kills every server session a store of this test opened (they carry the schema as application_name) and
    // waits until they are gone; returns how many there were.
    int terminate_sessions() const {
        PGresult* res = PQexec(admin_, ("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                        "WHERE application_name = '" + schema_ + "'").c_str());
        REQUIRE_MESSAGE(PQresultStatus(res) == PGRES_TUPLES_OK, PQresultErrorMessage(res));
        const int killed = PQntuples(res);
        PQclear(res);
        return killed;
    }

private:
    std::string url() const {
        const bool is_uri = base_url_.rfind("postgresql://", 0) == 0 || base_url_.rfind("postgres://", 0) == 0;
        if (is_uri) {
            const char sep = base_url_.find('?') == std::string::npos ? '?' : '&';
            return base_url_ + sep + "options=-csearch_path%3D" + schema_ + "&application_name=" + schema_;
        }
        return base_url_ + " options='-csearch_path=" + schema_ + "' application_name=" + schema_;
    }

    void admin_exec(const std::string& sql) const {
        PGresult* res = PQexec(admin_, sql.c_str());
        const auto status = PQresultStatus(res);
        const std::string message = PQresultErrorMessage(res);
        PQclear(res);
        REQUIRE_MESSAGE((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK), message);
    }

    std::string base_url_;
    std::string schema_;
    PGconn* admin_ = nullptr;
};

// The value of a result that must have succeeded; fails the test with the storage error otherwise.
template <class T>
T must(result<T> r) {
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().message));
    return std::move(r).value();
}

inline void must(result<void> r) {
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().message));
}

inline const std::string domain = "example.org";

// A migrated store with the accounts alice and bob of `domain`.
template <class B>
std::unique_ptr<store> open_with_accounts(B& backend) {
    auto s = open_store(backend.options());
    REQUIRE(must(s->migrate()) == latest_schema_version());
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    REQUIRE(must(s->create_account(domain, "bob", make_credentials('b'))));
    return s;
}

}  // namespace hush::storage::testing

TYPE_TO_STRING_AS("sqlite_backend", hush::storage::testing::sqlite_backend);
TYPE_TO_STRING_AS("postgres_backend", hush::storage::testing::postgres_backend);

// The backends every TEST_CASE_TEMPLATE in the storage tests runs against.
#define HUSH_BACKENDS hush::storage::testing::sqlite_backend, hush::storage::testing::postgres_backend
