#pragma once
// The one thing that differs between the SQL backends: how a statement reaches the database. sql_store writes every
// query once, with PostgreSQL-style positional parameters ($1, $2, ...), against this interface; sqlite_driver and
// postgres_driver bind, run and read them. Values never travel in the SQL text.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "storage/migrations.hpp"
#include "storage/store.hpp"

namespace hush::storage {

// Bytes for a BLOB/BYTEA column (text goes as std::string_view).
struct sql_blob {
    std::string_view bytes;
};
// One positional parameter; the first is $1. Viewed values must outlive the call.
using sql_param = std::variant<std::int64_t, std::string_view, sql_blob>;

// One row of a result, read by column index.
class sql_row {
public:
    virtual ~sql_row() = default;
    virtual bool is_null(int col) const = 0;
    virtual std::string text(int col) const = 0;
    // nullopt when the column cannot be read as that type.
    virtual std::optional<std::string> blob(int col) const = 0;
    virtual std::optional<std::int64_t> int64(int col) const = 0;
};

// Sees each row of a result; an error stops the statement and is returned by run().
using row_handler = std::function<result<void>(const sql_row&)>;

// One connection. The migration_target primitives are how apply_migrations drives it.
class sql_driver : public migration_target {
public:
    // Runs one statement with $1, $2, ... bound to `params`, calling `on_row` (if set) for each row it returns.
    // Returns the number of rows a command changed. `context` names the operation in error messages.
    virtual result<long> run(std::string_view context, const char* sql, std::span<const sql_param> params,
                             const row_handler& on_row) = 0;
    // A transaction for a write whose reads must stay true until it commits (SQLite takes the write lock up front;
    // PostgreSQL runs READ COMMITTED and relies on row locks, see lock_account_sql).
    virtual result<void> begin_write() = 0;
    // One snapshot for reads that must agree with each other.
    virtual result<void> begin_read() = 0;
    // Whether the schema_version table exists yet (the database was ever migrated).
    virtual result<bool> schema_version_exists() = 0;
    // An error in this backend's style, for a failure found by sql_store itself.
    virtual error failure(std::string_view context, std::string_view what) const = 0;

    // Dialect hooks, where the SQL truly differs.
    // A statement ($1 domain, $2 username) that locks the account row until the transaction ends, serialising
    // writers of one account; nullptr when begin_write() already serialises all writers.
    virtual const char* lock_account_sql() const = 0;
    // Whether a list of ids can travel as one bigint[] parameter ("{1,2,3}") compared with "= ANY($3::bigint[])".
    virtual bool has_int64_arrays() const = 0;

    // migration_target, written once on top of run().
    result<int> read_version() override;
    result<void> record_version(int version, std::string_view description, std::int64_t applied_at) override;

private:
    friend class sql_transaction;
    // sql_transaction's nesting on this connection: how many are open, whether the outermost one only reads,
    // and whether a failed inner rollback doomed it.
    int depth_ = 0;
    bool read_only_ = false;
    bool doomed_ = false;
};

// A transaction on the data path; rolled back on scope exit unless committed.
//
// Transactions nest (store::atomically runs ordinary store methods, which open their own): the outermost one is
// the real BEGIN/COMMIT, an inner one is a SAVEPOINT. An inner commit releases its savepoint; an inner one left
// without commit rolls back to its savepoint, undoing only its own statements (some methods rely on that, e.g.
// remove_roster_item undoes its version bump when there is nothing to remove) and its error, returned to the
// caller, normally makes the caller fail too, which rolls the outer one back. Should the rollback to a savepoint
// itself fail, the outer transaction is doomed: its commit rolls back and fails.
class sql_transaction {
public:
    explicit sql_transaction(sql_driver& driver) : driver_(driver) {}
    ~sql_transaction();
    sql_transaction(const sql_transaction&) = delete;
    sql_transaction& operator=(const sql_transaction&) = delete;

    result<void> begin_write() { return begin(true); }
    result<void> begin_read() { return begin(false); }
    // A failed COMMIT leaves the transaction to the rollback on scope exit.
    result<void> commit();

private:
    result<void> begin(bool write);

    sql_driver& driver_;
    bool open_ = false;
    int depth_ = 0;  // 1: the outermost transaction; more: savepoint number depth_ - 1
};
}  // namespace hush::storage
