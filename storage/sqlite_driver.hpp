#pragma once
// SQLite connection for sql_store: WAL mode with a busy timeout (so hushctl can write while hushd runs), prepared
// statements cached per SQL text, $N parameters bound by name.
#include <map>
#include <string>

#include "storage/sql_driver.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hush::storage {

class sqlite_driver final : public sql_driver {
public:
    // Creates the parent directory and the file if missing. Throws std::runtime_error on failure. `read_only`: a
    // reader of a database the writer already set up (WAL): every write, and any write transaction, fails.
    explicit sqlite_driver(const std::string& path, bool read_only = false);
    ~sqlite_driver() override;

    sqlite_driver(const sqlite_driver&) = delete;
    sqlite_driver& operator=(const sqlite_driver&) = delete;

    result<long> run(std::string_view context, const char* sql, std::span<const sql_param> params,
                     const row_handler& on_row) override;
    // IMMEDIATE takes the write lock up front (waiting up to the busy timeout): what the transaction reads stays
    // true until it commits, and it cannot fail halfway with SQLITE_BUSY when it starts writing.
    result<void> begin_write() override;
    // A read snapshot (WAL).
    result<void> begin_read() override { return execute_ddl("BEGIN"); }
    result<bool> schema_version_exists() override;
    error failure(std::string_view context, std::string_view what) const override;
    const char* lock_account_sql() const override { return nullptr; }
    bool has_int64_arrays() const override { return false; }

    sql_dialect dialect() const override { return sql_dialect::sqlite; }
    // IMMEDIATE also keeps two migrators from interleaving.
    result<void> begin_exclusive() override { return begin_write(); }
    result<void> execute_ddl(const std::string& sql) override;
    result<void> commit() override { return execute_ddl("COMMIT"); }
    void rollback() override;

private:
    // Prepared once per SQL text and reused; the key is the address of a string literal.
    result<sqlite3_stmt*> prepare(const char* sql);
    error last_error(std::string_view context) const;
    void close();

    std::string path_;
    bool read_only_ = false;
    sqlite3* db_ = nullptr;
    std::map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace hush::storage
