// sql_store, IM core: what is kept for an account while it is offline: offline messages (XEP-0160; the quota holds
// under concurrent stores on the account row lock) and its last activity (XEP-0012).
#include <optional>
#include <string>
#include <utility>

#include "storage/sql_store.hpp"

namespace hush::storage {

// ---- offline messages ----

result<bool> sql_store::store_offline_message(const std::string& domain, const std::string& username,
                                              const std::string& stanza, std::int64_t stored_at, std::size_t quota,
                                              std::optional<std::int64_t> archive_id) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // From the count to the insert, concurrent stores for the account wait (SQLite: the write lock taken by
    // begin_write; PostgreSQL: the account row lock), so they cannot overshoot the quota.
    if (auto locked = lock_account(domain, username); !locked) {
        return unexpected(locked.error());
    }
    auto count =
        query_int64("count offline messages",
                    "SELECT COUNT(*) FROM offline_messages WHERE domain = $1 AND username = $2", {domain, username});
    if (!count) {
        return unexpected(count.error());
    }
    if (static_cast<std::uint64_t>(count->value_or(0)) >= quota) {
        return false;
    }
    // Always with its own copy: the archive item may still be queued, and only drop_offline_copies, once the
    // reference is committed, may find the item written and drop the copy (so no deletion can slip in between).
    auto stored = archive_id
                      ? run("store offline message",
                            "INSERT INTO offline_messages (domain, username, stanza, stored_at, archive_id) "
                            "VALUES ($1, $2, $3, $4, $5)",
                            {domain, username, stanza, stored_at, *archive_id})
                      : run("store offline message",
                            "INSERT INTO offline_messages (domain, username, stanza, stored_at) "
                            "VALUES ($1, $2, $3, $4)",
                            {domain, username, stanza, stored_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return true;
}

result<std::vector<offline_message>> sql_store::get_offline_messages(const std::string& domain,
                                                                     const std::string& username) {
    std::vector<offline_message> messages;
    // One statement, one snapshot: a row has its own copy, or its archive item is written (the copy is dropped
    // only when the item exists, and no archive deletion takes an item an offline row references).
    auto done = run("get offline messages",
                    "SELECT o.id, COALESCE(NULLIF(o.stanza, ''), a.stanza), o.stored_at, o.archive_id, "
                    "CASE WHEN o.stanza = '' THEN 1 ELSE 0 END FROM offline_messages o "
                    "LEFT JOIN message_archive a ON a.domain = o.domain AND a.username = o.username "
                    "AND a.id = o.archive_id WHERE o.domain = $1 AND o.username = $2 ORDER BY o.id",
                    {domain, username}, [&](const sql_row& row) -> result<void> {
                        const auto id = row.int64(0);
                        const auto stored_at = row.int64(2);
                        const auto from_archive = row.int64(4);
                        if (!id || !stored_at || !from_archive) {
                            return unexpected(driver_->failure("get offline messages", "unreadable offline message"));
                        }
                        offline_message m;
                        m.id = *id;
                        m.stanza = row.is_null(1) ? std::string() : row.text(1);
                        m.stored_at = *stored_at;
                        if (!row.is_null(3)) {
                            m.archive_id = row.int64(3);
                        }
                        m.from_archive = *from_archive == 1;
                        messages.push_back(std::move(m));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return messages;
}

result<std::int64_t> sql_store::drop_offline_copies(const std::string& domain, const std::string& username,
                                                    std::int64_t archive_id) {
    // The reference was committed before this runs, and no archive deletion runs at the same time (see store.hpp):
    // one that ran before took the item (the copy stays), one that runs after sees the reference and skips it.
    auto dropped = run("drop offline copies",
                       "UPDATE offline_messages SET stanza = '' WHERE domain = $1 AND username = $2 "
                       "AND archive_id = $3 AND stanza <> '' AND EXISTS (SELECT 1 FROM message_archive a "
                       "WHERE a.domain = $1 AND a.username = $2 AND a.id = $3)",
                       {domain, username, archive_id});
    if (!dropped) {
        return unexpected(dropped.error());
    }
    return std::int64_t{*dropped};
}

result<void> sql_store::delete_offline_messages(const std::string& domain, const std::string& username,
                                                const std::vector<std::int64_t>& ids) {
    if (ids.empty()) {
        return {};
    }
    if (driver_->has_int64_arrays()) {
        // The ids travel as one bigint[] parameter ("{1,2,3}"), never in the SQL text.
        std::string array = "{";
        for (const auto id : ids) {
            if (array.size() > 1) {
                array += ',';
            }
            array += std::to_string(id);
        }
        array += '}';
        // Scoped to the account: an id of someone else's message deletes nothing.
        auto deleted =
            run("delete offline messages",
                "DELETE FROM offline_messages WHERE domain = $1 AND username = $2 AND id = ANY($3::bigint[])",
                {domain, username, array});
        if (!deleted) {
            return unexpected(deleted.error());
        }
        return {};
    }
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto id : ids) {
        // Scoped to the account: an id of someone else's message deletes nothing.
        auto deleted =
            run("delete offline messages",
                "DELETE FROM offline_messages WHERE domain = $1 AND username = $2 AND id = $3", {domain, username, id});
        if (!deleted) {
            return unexpected(deleted.error());
        }
    }
    return tx.commit();
}

// ---- last activity ----

result<void> sql_store::set_last_activity(const std::string& domain, const std::string& username,
                                          const last_activity& activity) {
    auto stored = run("set last activity",
                      "INSERT INTO last_activity (domain, username, logout_at, status) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (domain, username) DO UPDATE SET logout_at = excluded.logout_at, "
                      "status = excluded.status",
                      {domain, username, activity.logout_at, activity.status});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::optional<last_activity>> sql_store::get_last_activity(const std::string& domain,
                                                                  const std::string& username) {
    std::optional<last_activity> found;
    auto done =
        run("get last activity", "SELECT logout_at, status FROM last_activity WHERE domain = $1 AND username = $2",
            {domain, username}, [&](const sql_row& row) -> result<void> {
                const auto logout_at = row.int64(0);
                if (!logout_at) {
                    return unexpected(driver_->failure("get last activity", "unreadable last activity"));
                }
                found = last_activity{*logout_at, row.text(1)};
                return {};
            });
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

}  // namespace hush::storage
