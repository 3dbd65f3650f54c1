#include "storage/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "storage/sqlite_statement.hpp"

namespace hush::storage {
namespace {

// Long enough to ride out another process's write transaction (hushctl vs hushd), short enough to surface a
// genuinely stuck lock as an error.
constexpr int busy_timeout_ms = 10000;

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void bind_credentials(auto& stmt, int first, const account_credentials& creds) {
    stmt.bind_blob(first, creds.sha1.salt);
    stmt.bind_int64(first + 1, creds.sha1.iterations);
    stmt.bind_blob(first + 2, creds.sha1.stored_key);
    stmt.bind_blob(first + 3, creds.sha1.server_key);
    stmt.bind_blob(first + 4, creds.sha256.salt);
    stmt.bind_int64(first + 5, creds.sha256.iterations);
    stmt.bind_blob(first + 6, creds.sha256.stored_key);
    stmt.bind_blob(first + 7, creds.sha256.server_key);
}

}  // namespace

sqlite_store::sqlite_store(const std::string& path) : path_(path) {
    auto fail = [&](const std::string& why) {
        for (auto& [sql, stmt] : statements_) {
            sqlite3_finalize(stmt);
        }
        statements_.clear();
        if (db_ != nullptr) {
            sqlite3_close(db_);
            db_ = nullptr;
        }
        throw std::runtime_error("cannot open sqlite database " + path + ": " + why);
    };

    if (path.empty()) {
        fail("no database path configured");
    }
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(parent, ec);
        if (ec) {
            fail("cannot create directory " + parent.string() + ": " + ec.message());
        }
    }

    // NOMUTEX: a store is only used by one thread at a time (its worker strand).
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) {
        fail(db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);

    // journal_mode answers with the mode actually in effect; anything but WAL means readers would block writers.
    std::string mode;
    char* message = nullptr;
    const int wal_rc = sqlite3_exec(
        db_, "PRAGMA journal_mode=WAL",
        [](void* out, int columns, char** values, char**) {
            if (columns > 0 && values[0] != nullptr) {
                *static_cast<std::string*>(out) = values[0];
            }
            return 0;
        },
        &mode, &message);
    if (wal_rc != SQLITE_OK) {
        std::string why = message != nullptr ? message : sqlite3_errstr(wal_rc);
        sqlite3_free(message);
        fail("cannot enable WAL journal mode: " + why);
    }
    if (mode != "wal" && mode != "memory") {
        fail("cannot enable WAL journal mode (database stays in '" + mode + "' mode)");
    }
    for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
        if (sqlite3_exec(db_, pragma, nullptr, nullptr, &message) != SQLITE_OK) {
            std::string why = message != nullptr ? message : sqlite3_errmsg(db_);
            sqlite3_free(message);
            fail(std::string(pragma) + ": " + why);
        }
    }
}

sqlite_store::~sqlite_store() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db_);
}

error sqlite_store::last_error(std::string_view context) const {
    return error{"sqlite " + path_ + ": " + std::string(context) + ": " + sqlite3_errmsg(db_)};
}

result<sqlite3_stmt*> sqlite_store::prepare(const char* sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) {
        return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return unexpected(last_error("prepare"));
    }
    statements_.emplace(sql, stmt);
    return stmt;
}

// ---- migrations ----

result<int> sqlite_store::migrate() {
    return apply_migrations(*this);
}

result<int> sqlite_store::schema_version() {
    auto exists = prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
    if (!exists) {
        return unexpected(exists.error());
    }
    {
        statement stmt(*exists);
        const int rc = stmt.step();
        if (rc == SQLITE_DONE) {
            return 0;  // never migrated
        }
        if (rc != SQLITE_ROW) {
            return unexpected(last_error("schema_version"));
        }
    }
    return read_version();
}

result<void> sqlite_store::begin_exclusive() {
    // IMMEDIATE takes the write lock now (waiting up to busy_timeout), so two migrators cannot interleave.
    return execute_ddl("BEGIN IMMEDIATE");
}

result<void> sqlite_store::execute_ddl(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        error e{"sqlite " + path_ + ": " + (message != nullptr ? message : sqlite3_errmsg(db_))};
        sqlite3_free(message);
        return unexpected(std::move(e));
    }
    return {};
}

result<int> sqlite_store::read_version() {
    auto prepared = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    if (stmt.step() != SQLITE_ROW) {
        return unexpected(last_error("read schema version"));
    }
    return static_cast<int>(stmt.column_int64(0));
}

result<void> sqlite_store::record_version(int version, std::string_view description, std::int64_t applied_at) {
    auto prepared = prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_int64(1, version);
    stmt.bind_text(2, description);
    stmt.bind_int64(3, applied_at);
    if (stmt.step() != SQLITE_DONE) {
        return unexpected(last_error("record schema version"));
    }
    return {};
}

result<void> sqlite_store::commit() {
    return execute_ddl("COMMIT");
}

void sqlite_store::rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

// ---- accounts ----

result<bool> sqlite_store::create_account(const std::string& domain, const std::string& username,
                                          const account_credentials& creds) {
    auto prepared = prepare(
        "INSERT INTO accounts (domain, username, created_at, sha1_salt, sha1_iterations, sha1_stored_key, "
        "sha1_server_key, sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (domain, username) DO NOTHING");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_text(1, domain);
    stmt.bind_text(2, username);
    stmt.bind_int64(3, now_unix());
    bind_credentials(stmt, 4, creds);
    if (stmt.step() != SQLITE_DONE) {
        return unexpected(last_error("create account"));
    }
    return sqlite3_changes(db_) > 0;
}

result<bool> sqlite_store::set_credentials(const std::string& domain, const std::string& username,
                                           const account_credentials& creds) {
    auto prepared = prepare(
        "UPDATE accounts SET sha1_salt = ?3, sha1_iterations = ?4, sha1_stored_key = ?5, sha1_server_key = ?6, "
        "sha256_salt = ?7, sha256_iterations = ?8, sha256_stored_key = ?9, sha256_server_key = ?10 "
        "WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_text(1, domain);
    stmt.bind_text(2, username);
    bind_credentials(stmt, 3, creds);
    if (stmt.step() != SQLITE_DONE) {
        return unexpected(last_error("set credentials"));
    }
    return sqlite3_changes(db_) > 0;
}

result<bool> sqlite_store::delete_account(const std::string& domain, const std::string& username) {
    auto prepared = prepare("DELETE FROM accounts WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_text(1, domain);
    stmt.bind_text(2, username);
    if (stmt.step() != SQLITE_DONE) {
        return unexpected(last_error("delete account"));
    }
    return sqlite3_changes(db_) > 0;
}

result<std::optional<account_credentials>> sqlite_store::get_credentials(const std::string& domain,
                                                                         const std::string& username) {
    auto prepared = prepare(
        "SELECT sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, "
        "sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key "
        "FROM accounts WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_text(1, domain);
    stmt.bind_text(2, username);
    const int rc = stmt.step();
    if (rc == SQLITE_DONE) {
        return std::optional<account_credentials>();
    }
    if (rc != SQLITE_ROW) {
        return unexpected(last_error("get credentials"));
    }
    account_credentials creds;
    creds.sha1.salt = stmt.column_blob(0);
    creds.sha1.iterations = static_cast<std::uint32_t>(stmt.column_int64(1));
    creds.sha1.stored_key = stmt.column_blob(2);
    creds.sha1.server_key = stmt.column_blob(3);
    creds.sha256.salt = stmt.column_blob(4);
    creds.sha256.iterations = static_cast<std::uint32_t>(stmt.column_int64(5));
    creds.sha256.stored_key = stmt.column_blob(6);
    creds.sha256.server_key = stmt.column_blob(7);
    return std::optional<account_credentials>(std::move(creds));
}

result<bool> sqlite_store::account_exists(const std::string& domain, const std::string& username) {
    auto prepared = prepare("SELECT 1 FROM accounts WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind_text(1, domain);
    stmt.bind_text(2, username);
    const int rc = stmt.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return unexpected(last_error("account exists"));
    }
    return rc == SQLITE_ROW;
}

result<std::vector<account>> sqlite_store::list_accounts(const std::string& domain) {
    // Two statements rather than "?1 = '' OR domain = ?1" so the filtered one can use the primary key.
    auto prepared = domain.empty()
                        ? prepare("SELECT domain, username, created_at FROM accounts ORDER BY domain, username")
                        : prepare("SELECT domain, username, created_at FROM accounts WHERE domain = ?1 "
                                  "ORDER BY domain, username");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    if (!domain.empty()) {
        stmt.bind_text(1, domain);
    }
    std::vector<account> accounts;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        account a;
        a.domain = stmt.column_text(0);
        a.username = stmt.column_text(1);
        a.created_at = stmt.column_int64(2);
        accounts.push_back(std::move(a));
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error("list accounts"));
    }
    return accounts;
}

}  // namespace hush::storage
