#pragma once
// Versioned schema migrations shared by every backend. The list is append-only: adding a table is one new entry
// at the end of `migrations()` in migrations.cpp. Each migration runs in its own transaction together with the
// row it adds to `schema_version`, so a crash leaves the schema at a well-defined version.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "storage/store.hpp"

namespace hush::storage {

enum class sql_dialect { sqlite, postgresql };

struct migration {
    int version;                   // 1, 2, 3, ... in list order
    std::string_view description;  // recorded in schema_version
    // DDL, possibly several ';'-separated statements. Portable SQL plus type tokens expanded by render_sql:
    //   {int64} INTEGER / BIGINT     {blob} BLOB / BYTEA
    //   {key}   TEXT / TEXT COLLATE "C"  (byte-wise ordering and equality on both backends)
    //   {serial} INTEGER PRIMARY KEY AUTOINCREMENT / BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
    //   {now}   the current unix time in seconds, as an expression
    std::string_view sql;
};

std::span<const migration> migrations();
int latest_schema_version();

// Expands the type tokens above for one backend.
std::string render_sql(std::string_view sql, sql_dialect dialect);

// The primitives a backend provides so that apply_migrations can drive the list the same way everywhere.
class migration_target {
public:
    virtual ~migration_target() = default;

    virtual sql_dialect dialect() const = 0;
    // Starts a transaction that excludes other migrators (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
    // transaction lock), so several processes may call migrate() at once.
    virtual result<void> begin_exclusive() = 0;
    virtual result<void> execute_ddl(const std::string& sql) = 0;  // no parameters, may hold several statements
    virtual result<int> read_version() = 0;                          // inside the transaction
    virtual result<void> record_version(int version, std::string_view description, std::int64_t applied_at) = 0;
    virtual result<void> commit() = 0;
    virtual void rollback() = 0;  // best effort; used on every error path
};

// Creates schema_version if needed and applies each pending migration in its own transaction.
// Returns the resulting schema version; fails if the database is newer than this build.
result<int> apply_migrations(migration_target& target);

}  // namespace hush::storage
