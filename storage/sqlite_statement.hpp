#pragma once
// Internals of sqlite_store shared by its translation units (sqlite_store.cpp, sqlite_im_store.cpp).
#include <sqlite3.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "storage/sqlite_store.hpp"

namespace hush::storage {

// A cached prepared statement in use: binds with the first error remembered, and resets on scope exit so the
// statement never keeps a read transaction open.
class sqlite_store::statement {
public:
    explicit statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~statement() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    void bind_text(int index, std::string_view text) {
        keep(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    void bind_blob(int index, std::string_view bytes) {
        // data() is never null, so an empty value is bound as a zero-length blob, not NULL.
        keep(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
    }
    void bind_int64(int index, std::int64_t value) { keep(sqlite3_bind_int64(stmt_, index, value)); }
    // Binds ?1, ?2, ... in order.
    void bind(std::initializer_list<sql_arg> args) {
        int index = 1;
        for (const auto& arg : args) {
            if (const auto* number = std::get_if<std::int64_t>(&arg)) {
                bind_int64(index, *number);
            } else {
                bind_text(index, std::get<std::string_view>(arg));
            }
            ++index;
        }
    }

    // SQLITE_ROW, SQLITE_DONE or an error code (including a failed bind).
    int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

    std::string column_text(int col) const {
        const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    std::string column_blob(int col) const {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
        return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    std::int64_t column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    bool column_is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

private:
    void keep(int rc) {
        if (bind_rc_ == SQLITE_OK) {
            bind_rc_ = rc;
        }
    }

    sqlite3_stmt* stmt_;
    int bind_rc_ = SQLITE_OK;
};

// A transaction on the data path; rolled back on scope exit unless committed. Declare it before the statements
// used in it, so they are reset before it ends.
class sqlite_store::transaction {
public:
    explicit transaction(sqlite_store& owner) : owner_(owner) {}
    ~transaction() {
        if (open_) {
            owner_.rollback();
        }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    // IMMEDIATE takes the write lock up front (waiting up to the busy timeout): what the transaction reads stays
    // true until it commits, and it cannot fail halfway with SQLITE_BUSY when it starts writing.
    result<void> begin_write() { return begin("BEGIN IMMEDIATE"); }
    // A read snapshot (WAL) for reads that must agree with each other.
    result<void> begin_read() { return begin("BEGIN"); }
    result<void> commit() {
        auto done = owner_.execute_ddl("COMMIT");
        if (done) {
            open_ = false;
        }
        return done;
    }

private:
    result<void> begin(const char* sql) {
        auto begun = owner_.execute_ddl(sql);
        open_ = begun.has_value();
        return begun;
    }

    sqlite_store& owner_;
    bool open_ = false;
};

}  // namespace hush::storage
