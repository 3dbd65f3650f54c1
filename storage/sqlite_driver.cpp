#include "storage/sqlite_driver.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace hush::storage {
namespace {

// Long enough to ride out another process's write transaction (hushctl vs hushd), short enough to surface a
// genuinely stuck lock as an error.
constexpr int busy_timeout_ms = 10000;

// Resets a cached statement on scope exit, so it never keeps a read transaction open.
class statement_reset {
public:
    explicit statement_reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~statement_reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    statement_reset(const statement_reset&) = delete;
    statement_reset& operator=(const statement_reset&) = delete;

private:
    sqlite3_stmt* stmt_;
};

class sqlite_row final : public sql_row {
public:
    explicit sqlite_row(sqlite3_stmt* stmt) : stmt_(stmt) {}
    bool is_null(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    std::string text(int col) const override {
        const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    std::optional<std::string> blob(int col) const override {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
        return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    std::optional<std::int64_t> int64(int col) const override { return sqlite3_column_int64(stmt_, col); }

private:
    sqlite3_stmt* stmt_;
};

// Binds `value` to the parameter named $<number> (SQLite numbers $AAAA parameters by first appearance, not by
// name, so binding by index would be wrong for "... $3 ... $1").
int bind_one(sqlite3_stmt* stmt, std::size_t number, const sql_param& value) {
    const std::string name = "$" + std::to_string(number);
    const int index = sqlite3_bind_parameter_index(stmt, name.c_str());
    if (index == 0) {
        return SQLITE_RANGE;
    }
    if (const auto* integer = std::get_if<std::int64_t>(&value)) {
        return sqlite3_bind_int64(stmt, index, *integer);
    }
    if (const auto* bytes = std::get_if<sql_blob>(&value)) {
        // Views of std::string never have a null data(), so an empty value is a zero-length blob, not NULL.
        return sqlite3_bind_blob64(stmt, index, bytes->bytes.data(), bytes->bytes.size(), SQLITE_TRANSIENT);
    }
    const auto text = std::get<std::string_view>(value);
    return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

}  // namespace

sqlite_driver::sqlite_driver(const std::string& path, bool read_only) : path_(path), read_only_(read_only) {
    auto fail = [&](const std::string& why) {
        close();
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
    const int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
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
    // A reader refuses writes at the source, so a write sent to one by mistake fails in every test.
    if (read_only_ && sqlite3_exec(db_, "PRAGMA query_only=ON", nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message != nullptr ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        fail("PRAGMA query_only=ON: " + why);
    }
}

result<void> sqlite_driver::begin_write() {
    if (read_only_) {
        return unexpected(failure("begin write transaction", "this connection is read-only (a reader)"));
    }
    return execute_ddl("BEGIN IMMEDIATE");
}

sqlite_driver::~sqlite_driver() {
    close();
}

void sqlite_driver::close() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    statements_.clear();
    if (db_ != nullptr) {
        sqlite3_close(db_);
        db_ = nullptr;
    }
}

error sqlite_driver::last_error(std::string_view context) const {
    return failure(context, sqlite3_errmsg(db_));
}

error sqlite_driver::failure(std::string_view context, std::string_view what) const {
    return error{"sqlite " + path_ + ": " + std::string(context) + ": " + std::string(what)};
}

result<sqlite3_stmt*> sqlite_driver::prepare(const char* sql) {
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

result<long> sqlite_driver::run(std::string_view context, const char* sql, std::span<const sql_param> params,
                                const row_handler& on_row) {
    auto prepared = prepare(sql);
    if (!prepared) {
        return unexpected(prepared.error());
    }
    sqlite3_stmt* stmt = *prepared;
    statement_reset reset(stmt);
    if (static_cast<std::size_t>(sqlite3_bind_parameter_count(stmt)) != params.size()) {
        return unexpected(failure(context, "statement takes " + std::to_string(sqlite3_bind_parameter_count(stmt)) +
                                               " parameters, given " + std::to_string(params.size())));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (bind_one(stmt, i + 1, params[i]) != SQLITE_OK) {
            return unexpected(last_error(context));
        }
    }
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (on_row) {
            if (auto handled = on_row(sqlite_row(stmt)); !handled) {
                return unexpected(handled.error());
            }
        }
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error(context));
    }
    return static_cast<long>(sqlite3_changes(db_));
}

result<bool> sqlite_driver::schema_version_exists() {
    bool exists = false;
    auto done = run("schema_version", "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                    {}, [&](const sql_row&) -> result<void> {
                        exists = true;
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return exists;
}

result<void> sqlite_driver::execute_ddl(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        error e{"sqlite " + path_ + ": " + (message != nullptr ? message : sqlite3_errmsg(db_))};
        sqlite3_free(message);
        return unexpected(std::move(e));
    }
    return {};
}

void sqlite_driver::rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

}  // namespace hush::storage
