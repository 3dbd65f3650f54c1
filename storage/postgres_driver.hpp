#pragma once
// PostgreSQL connection for sql_store over libpq: parameterised statements only, results as text (bytea as raw
// bytes on the way in), one reconnect attempt when the connection is found broken outside a transaction.
#include <memory>
#include <string>
#include <vector>

#include "storage/sql_driver.hpp"

struct pg_conn;
struct pg_result;

namespace hush::storage {

class postgres_driver final : public sql_driver {
public:
    // `url` is a libpq URI or keyword/value string. Throws std::runtime_error (never echoing the password).
    explicit postgres_driver(const std::string& url);
    ~postgres_driver() override;

    postgres_driver(const postgres_driver&) = delete;
    postgres_driver& operator=(const postgres_driver&) = delete;

    result<long> run(std::string_view context, const char* sql, std::span<const sql_param> params,
                     const row_handler& on_row) override;
    // READ COMMITTED: each statement sees what committed before it started, so a statement that waited for a row
    // lock sees the lock holder's changes.
    result<void> begin_write() override { return begin("BEGIN"); }
    result<void> begin_read() override { return begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }
    result<bool> schema_version_exists() override;
    error failure(std::string_view context, std::string_view what) const override;
    // NO KEY UPDATE does not block the foreign key checks of other writers.
    const char* lock_account_sql() const override {
        return "SELECT 1 FROM accounts WHERE domain = $1 AND username = $2 FOR NO KEY UPDATE";
    }
    bool has_int64_arrays() const override { return true; }

    sql_dialect dialect() const override { return sql_dialect::postgresql; }
    result<void> begin_exclusive() override;
    result<void> execute_ddl(const std::string& sql) override;
    result<void> commit() override;
    void rollback() override;

private:
    struct result_deleter {
        void operator()(pg_result* r) const;
    };
    using result_ptr = std::unique_ptr<pg_result, result_deleter>;

    // While a transaction is open exec() does not reconnect: a dropped connection fails the transaction instead
    // of silently losing its first half.
    result<void> begin(const char* sql);
    result<result_ptr> exec(const char* sql, std::span<const sql_param> params = {});
    bool ensure_connected();
    error connection_error(std::string_view context) const;
    std::string scrub(std::string message) const;

    std::vector<std::string> secrets_;  // the password from the URL (as written and decoded), never echoed
    pg_conn* conn_ = nullptr;
    bool in_transaction_ = false;
};

}  // namespace hush::storage
