// sql_store, IM core: the roster (items, groups, versions) and subscription requests. Roster writes run in a write
// transaction (sql_driver::begin_write); on PostgreSQL they serialise per account on the roster version row.
#include <string>
#include <utility>

#include "storage/sql_store.hpp"
#include "storage/sql_values.hpp"

namespace hush::storage {
namespace {

// The roster reads: one row per (item, group), in the column order read_roster_items expects.
constexpr const char* roster_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = $1 AND i.username = $2 AND i.removed = 0 ORDER BY i.contact, g.position";
constexpr const char* roster_item_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = $1 AND i.username = $2 AND i.contact = $3 AND i.removed = 0 ORDER BY g.position";
// Tombstones included; versions are unique within an account.
constexpr const char* roster_changes_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = $1 AND i.username = $2 AND i.version > $3 ORDER BY i.version, g.position";

}  // namespace

// ---- roster ----

result<std::vector<roster_item>> sql_store::read_roster_items(std::string_view context, const char* sql, params args) {
    std::vector<roster_item> items;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        roster_item item;
        item.contact = row.text(0);
        item.name = row.text(1);
        const auto sub = subscription_from_sql(row.text(2));
        if (!sub) {
            return unexpected(
                driver_->failure(context, "unknown subscription '" + row.text(2) + "' for " + item.contact));
        }
        const auto pending_out = row.int64(3);
        const auto pending_in = row.int64(4);
        const auto approved = row.int64(5);
        const auto version = row.int64(6);
        const auto removed = row.int64(7);
        if (!pending_out || !pending_in || !approved || !version || !removed) {
            return unexpected(driver_->failure(context, "unreadable roster item " + item.contact));
        }
        item.sub = *sub;
        item.pending_out = *pending_out != 0;
        item.pending_in = *pending_in != 0;
        item.approved = *approved != 0;
        item.version = *version;
        item.removed = *removed != 0;
        std::optional<std::string> group;
        if (!row.is_null(8)) {
            group = row.text(8);
        }
        fold_roster_row(items, std::move(item), std::move(group));
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return items;
}

result<std::optional<std::int64_t>> sql_store::bump_roster_version(const std::string& domain,
                                                                   const std::string& username, bool create) {
    // Either statement locks the version row until the transaction ends (on SQLite begin_write already holds the
    // database write lock): roster writes of one account serialise.
    return create ? query_int64("bump roster version",
                                "INSERT INTO roster_versions (domain, username, version) VALUES ($1, $2, 1) "
                                "ON CONFLICT (domain, username) DO UPDATE SET version = roster_versions.version + 1 "
                                "RETURNING version",
                                {domain, username})
                  : query_int64("bump roster version",
                                "UPDATE roster_versions SET version = version + 1 WHERE domain = $1 AND username = $2 "
                                "RETURNING version",
                                {domain, username});
}

result<std::vector<roster_item>> sql_store::get_roster(const std::string& domain, const std::string& username) {
    return read_roster_items("get roster", roster_sql, {domain, username});
}

result<std::optional<roster_item>> sql_store::get_roster_item(const std::string& domain, const std::string& username,
                                                              const std::string& contact) {
    auto items = read_roster_items("get roster item", roster_item_sql, {domain, username, contact});
    if (!items) {
        return unexpected(items.error());
    }
    if (items->empty()) {
        return std::optional<roster_item>();
    }
    return std::optional<roster_item>(std::move(items->front()));
}

result<std::int64_t> sql_store::put_roster_item(const std::string& domain, const std::string& username,
                                                const roster_item& item) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    auto bumped = bump_roster_version(domain, username, true);
    if (!bumped) {
        return unexpected(bumped.error());
    }
    if (!*bumped) {
        return unexpected(driver_->failure("bump roster version", "no version returned"));
    }
    const std::int64_t version = **bumped;
    // Also revives a tombstone.
    auto stored = run(
        "put roster item",
        "INSERT INTO roster_items (domain, username, contact, name, subscription, pending_out, pending_in, approved, "
        "version, removed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) "
        "ON CONFLICT (domain, username, contact) DO UPDATE SET name = excluded.name, "
        "subscription = excluded.subscription, pending_out = excluded.pending_out, "
        "pending_in = excluded.pending_in, approved = excluded.approved, version = excluded.version, removed = 0",
        {domain, username, item.contact, item.name, subscription_to_sql(item.sub), std::int64_t{item.pending_out},
         std::int64_t{item.pending_in}, std::int64_t{item.approved}, version});
    if (!stored) {
        return unexpected(stored.error());
    }
    auto cleared =
        run("put roster item", "DELETE FROM roster_groups WHERE domain = $1 AND username = $2 AND contact = $3",
            {domain, username, item.contact});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    std::int64_t position = 0;
    for (const auto& group : item.groups) {
        // A repeated group name is kept once, at its first position.
        auto added = run("put roster item",
                         "INSERT INTO roster_groups (domain, username, contact, group_name, position) "
                         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                         {domain, username, item.contact, group, position++});
        if (!added) {
            return unexpected(added.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return version;
}

result<std::optional<std::int64_t>> sql_store::remove_roster_item(const std::string& domain,
                                                                  const std::string& username,
                                                                  const std::string& contact) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // No version row: the roster never held anything. Otherwise the bump is undone by the rollback when there is
    // nothing to remove.
    auto bumped = bump_roster_version(domain, username, false);
    if (!bumped || !*bumped) {
        return bumped;
    }
    const std::int64_t version = **bumped;
    // The tombstone keeps only the contact and the version it was removed at.
    auto marked = run("remove roster item",
                      "UPDATE roster_items SET name = '', subscription = 'none', pending_out = 0, pending_in = 0, "
                      "approved = 0, version = $4, removed = 1 "
                      "WHERE domain = $1 AND username = $2 AND contact = $3 AND removed = 0",
                      {domain, username, contact, version});
    if (!marked) {
        return unexpected(marked.error());
    }
    if (*marked == 0) {
        return std::optional<std::int64_t>();
    }
    auto cleared =
        run("remove roster item", "DELETE FROM roster_groups WHERE domain = $1 AND username = $2 AND contact = $3",
            {domain, username, contact});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::optional<std::int64_t>(version);
}

result<std::int64_t> sql_store::roster_version(const std::string& domain, const std::string& username) {
    auto version =
        query_int64("roster version", "SELECT version FROM roster_versions WHERE domain = $1 AND username = $2",
                    {domain, username});
    if (!version) {
        return unexpected(version.error());
    }
    return version->value_or(0);  // 0: never changed
}

result<std::optional<roster_delta>> sql_store::roster_changes_since(const std::string& domain,
                                                                    const std::string& username, std::int64_t since) {
    // One snapshot, so the version and the changes agree.
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_read(); !begun) {
        return unexpected(begun.error());
    }
    auto current = roster_version(domain, username);
    if (!current) {
        return unexpected(current.error());
    }
    if (since > *current) {
        return std::optional<roster_delta>();
    }
    auto changed = read_roster_items("roster changes", roster_changes_sql, {domain, username, since});
    if (!changed) {
        return unexpected(changed.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::optional<roster_delta>(roster_delta{*current, std::move(*changed)});
}

// ---- subscription requests ----

result<void> sql_store::put_subscription_request(const std::string& domain, const std::string& username,
                                                 const subscription_request& request) {
    auto stored = run("put subscription request",
                      "INSERT INTO subscription_requests (domain, username, requester, stanza, received_at) "
                      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, username, requester) "
                      "DO UPDATE SET stanza = excluded.stanza, received_at = excluded.received_at",
                      {domain, username, request.from, request.stanza, request.received_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::vector<subscription_request>> sql_store::get_subscription_requests(const std::string& domain,
                                                                               const std::string& username) {
    std::vector<subscription_request> requests;
    auto done =
        run("get subscription requests",
            "SELECT requester, stanza, received_at FROM subscription_requests "
            "WHERE domain = $1 AND username = $2 ORDER BY received_at, requester",
            {domain, username}, [&](const sql_row& row) -> result<void> {
                const auto received_at = row.int64(2);
                if (!received_at) {
                    return unexpected(driver_->failure("get subscription requests", "unreadable subscription request"));
                }
                requests.push_back(subscription_request{row.text(0), row.text(1), *received_at});
                return {};
            });
    if (!done) {
        return unexpected(done.error());
    }
    return requests;
}

result<bool> sql_store::delete_subscription_request(const std::string& domain, const std::string& username,
                                                    const std::string& from) {
    auto deleted = run("delete subscription request",
                       "DELETE FROM subscription_requests WHERE domain = $1 AND username = $2 AND requester = $3",
                       {domain, username, from});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

}  // namespace hush::storage
