#include "storage/sql_driver.hpp"

#include <string>

namespace hush::storage {
namespace {

// The same statements on both backends; depth 2 is the first savepoint.
std::string savepoint_sql(const char* verb, int depth) {
    return std::string(verb) + " hush_sp" + std::to_string(depth);
}

}  // namespace

result<int> sql_driver::read_version() {
    std::optional<std::int64_t> version;
    auto done = run("read schema version", "SELECT COALESCE(MAX(version), 0) FROM schema_version", {},
                    [&](const sql_row& row) -> result<void> {
                        version = row.int64(0);
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    if (!version) {
        return unexpected(failure("read schema version", "unreadable schema version"));
    }
    return static_cast<int>(*version);
}

result<void> sql_driver::record_version(int version, std::string_view description, std::int64_t applied_at) {
    const sql_param params[] = {std::int64_t{version}, description, applied_at};
    auto done = run("record schema version",
                    "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)", params, {});
    if (!done) {
        return unexpected(done.error());
    }
    return {};
}

// ---- sql_transaction ----

sql_transaction::~sql_transaction() {
    if (!open_) {
        return;
    }
    if (depth_ > 1) {
        // Undo only this one's statements; the outer transaction goes on (or fails, if the caller passes the error).
        auto undone = driver_.execute_ddl(savepoint_sql("ROLLBACK TO SAVEPOINT", depth_));
        if (undone) {
            undone = driver_.execute_ddl(savepoint_sql("RELEASE SAVEPOINT", depth_));
        }
        if (!undone) {
            driver_.doomed_ = true;
        }
        --driver_.depth_;
        return;
    }
    driver_.rollback();
    driver_.depth_ = 0;
    driver_.doomed_ = false;
}

result<void> sql_transaction::begin(bool write) {
    if (open_) {
        return unexpected(driver_.failure("begin transaction", "already begun"));
    }
    if (driver_.depth_ == 0) {
        auto begun = write ? driver_.begin_write() : driver_.begin_read();
        if (!begun) {
            return begun;
        }
        driver_.read_only_ = !write;
        driver_.doomed_ = false;
    } else {
        // PostgreSQL would refuse the writes one by one; say it once, clearly.
        if (write && driver_.read_only_) {
            return unexpected(driver_.failure("begin transaction", "a write inside a read-only transaction"));
        }
        if (auto saved = driver_.execute_ddl(savepoint_sql("SAVEPOINT", driver_.depth_ + 1)); !saved) {
            driver_.doomed_ = true;
            return saved;
        }
    }
    depth_ = ++driver_.depth_;
    open_ = true;
    return {};
}

result<void> sql_transaction::commit() {
    if (!open_) {
        return unexpected(driver_.failure("commit", "no transaction begun"));
    }
    if (depth_ > 1) {
        auto released = driver_.execute_ddl(savepoint_sql("RELEASE SAVEPOINT", depth_));
        if (!released) {
            return released;  // the destructor rolls back to the savepoint
        }
        open_ = false;
        --driver_.depth_;
        return {};
    }
    if (driver_.doomed_) {
        return unexpected(driver_.failure("commit", "rolled back: an inner step could not be undone"));
    }
    auto done = driver_.commit();
    if (done) {
        open_ = false;
        driver_.depth_ = 0;
    }
    return done;
}

}  // namespace hush::storage
