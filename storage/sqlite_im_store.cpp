// sqlite_store, IM core: roster, subscription requests, offline messages, privacy lists, blocklist, documents
// and last activity. Writes that must be atomic run in a write transaction (BEGIN IMMEDIATE).
#include <sqlite3.h>

#include "storage/sql_values.hpp"
#include "storage/sqlite_statement.hpp"
#include "storage/sqlite_store.hpp"

namespace hush::storage {
namespace {

// The roster reads: one row per (item, group), in the column order read_roster_items expects.
constexpr const char* roster_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = ?1 AND i.username = ?2 AND i.removed = 0 ORDER BY i.contact, g.position";
constexpr const char* roster_item_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = ?1 AND i.username = ?2 AND i.contact = ?3 AND i.removed = 0 ORDER BY g.position";
// Tombstones included; versions are unique within an account.
constexpr const char* roster_changes_sql =
    "SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved, i.version, i.removed, "
    "g.group_name FROM roster_items i LEFT JOIN roster_groups g "
    "ON g.domain = i.domain AND g.username = i.username AND g.contact = i.contact "
    "WHERE i.domain = ?1 AND i.username = ?2 AND i.version > ?3 ORDER BY i.version, g.position";

}  // namespace

result<int> sqlite_store::execute(std::string_view context, const char* sql, std::initializer_list<sql_arg> args) {
    auto prepared = prepare(sql);
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind(args);
    if (stmt.step() != SQLITE_DONE) {
        return unexpected(last_error(context));
    }
    return sqlite3_changes(db_);
}

result<std::optional<std::string>> sqlite_store::query_text(std::string_view context, const char* sql,
                                                            std::initializer_list<sql_arg> args) {
    auto prepared = prepare(sql);
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind(args);
    const int rc = stmt.step();
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && stmt.column_is_null(0))) {
        return std::optional<std::string>();
    }
    if (rc != SQLITE_ROW) {
        return unexpected(last_error(context));
    }
    return std::optional<std::string>(stmt.column_text(0));
}

result<std::vector<std::string>> sqlite_store::query_texts(std::string_view context, const char* sql,
                                                           std::initializer_list<sql_arg> args) {
    auto prepared = prepare(sql);
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind(args);
    std::vector<std::string> values;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        values.push_back(stmt.column_text(0));
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error(context));
    }
    return values;
}

// ---- roster ----

result<std::vector<roster_item>> sqlite_store::read_roster_items(std::string_view context, const char* sql,
                                                                 std::initializer_list<sql_arg> args) {
    auto prepared = prepare(sql);
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind(args);
    std::vector<roster_item> items;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        roster_item row;
        row.contact = stmt.column_text(0);
        row.name = stmt.column_text(1);
        const auto sub = subscription_from_sql(stmt.column_text(2));
        if (!sub) {
            return unexpected(error{"sqlite " + path_ + ": " + std::string(context) + ": unknown subscription '" +
                                    stmt.column_text(2) + "' for " + row.contact});
        }
        row.sub = *sub;
        row.pending_out = stmt.column_int64(3) != 0;
        row.pending_in = stmt.column_int64(4) != 0;
        row.approved = stmt.column_int64(5) != 0;
        row.version = stmt.column_int64(6);
        row.removed = stmt.column_int64(7) != 0;
        std::optional<std::string> group;
        if (!stmt.column_is_null(8)) {
            group = stmt.column_text(8);
        }
        fold_roster_row(items, std::move(row), std::move(group));
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error(context));
    }
    return items;
}

result<std::optional<std::int64_t>> sqlite_store::bump_roster_version(const std::string& domain,
                                                                      const std::string& username, bool create) {
    auto prepared =
        create ? prepare("INSERT INTO roster_versions (domain, username, version) VALUES (?1, ?2, 1) "
                         "ON CONFLICT (domain, username) DO UPDATE SET version = roster_versions.version + 1 "
                         "RETURNING version")
               : prepare("UPDATE roster_versions SET version = version + 1 WHERE domain = ?1 AND username = ?2 "
                         "RETURNING version");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind({domain, username});
    std::optional<std::int64_t> version;
    int rc = stmt.step();
    if (rc == SQLITE_ROW) {
        version = stmt.column_int64(0);
        rc = stmt.step();
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error("bump roster version"));
    }
    return version;
}

result<std::vector<roster_item>> sqlite_store::get_roster(const std::string& domain, const std::string& username) {
    return read_roster_items("get roster", roster_sql, {domain, username});
}

result<std::optional<roster_item>> sqlite_store::get_roster_item(const std::string& domain,
                                                                 const std::string& username,
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

result<std::int64_t> sqlite_store::put_roster_item(const std::string& domain, const std::string& username,
                                                   const roster_item& item) {
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    auto bumped = bump_roster_version(domain, username, true);
    if (!bumped) {
        return unexpected(bumped.error());
    }
    if (!*bumped) {
        return unexpected(error{"sqlite " + path_ + ": bump roster version: no version returned"});
    }
    const std::int64_t version = **bumped;
    // Also revives a tombstone.
    auto stored = execute(
        "put roster item",
        "INSERT INTO roster_items (domain, username, contact, name, subscription, pending_out, pending_in, approved, "
        "version, removed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0) "
        "ON CONFLICT (domain, username, contact) DO UPDATE SET name = excluded.name, "
        "subscription = excluded.subscription, pending_out = excluded.pending_out, "
        "pending_in = excluded.pending_in, approved = excluded.approved, version = excluded.version, removed = 0",
        {domain, username, item.contact, item.name, subscription_to_sql(item.sub), std::int64_t{item.pending_out},
         std::int64_t{item.pending_in}, std::int64_t{item.approved}, version});
    if (!stored) {
        return unexpected(stored.error());
    }
    auto cleared = execute("put roster item",
                           "DELETE FROM roster_groups WHERE domain = ?1 AND username = ?2 AND contact = ?3",
                           {domain, username, item.contact});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    std::int64_t position = 0;
    for (const auto& group : item.groups) {
        // A repeated group name is kept once, at its first position.
        auto added = execute("put roster item",
                             "INSERT INTO roster_groups (domain, username, contact, group_name, position) "
                             "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
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

result<std::optional<std::int64_t>> sqlite_store::remove_roster_item(const std::string& domain,
                                                                     const std::string& username,
                                                                     const std::string& contact) {
    transaction tx(*this);
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
    auto marked = execute("remove roster item",
                          "UPDATE roster_items SET name = '', subscription = 'none', pending_out = 0, pending_in = 0, "
                          "approved = 0, version = ?4, removed = 1 "
                          "WHERE domain = ?1 AND username = ?2 AND contact = ?3 AND removed = 0",
                          {domain, username, contact, version});
    if (!marked) {
        return unexpected(marked.error());
    }
    if (*marked == 0) {
        return std::optional<std::int64_t>();
    }
    auto cleared = execute("remove roster item",
                           "DELETE FROM roster_groups WHERE domain = ?1 AND username = ?2 AND contact = ?3",
                           {domain, username, contact});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::optional<std::int64_t>(version);
}

result<std::int64_t> sqlite_store::roster_version(const std::string& domain, const std::string& username) {
    auto prepared = prepare("SELECT version FROM roster_versions WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind({domain, username});
    const int rc = stmt.step();
    if (rc == SQLITE_DONE) {
        return std::int64_t{0};  // never changed
    }
    if (rc != SQLITE_ROW) {
        return unexpected(last_error("roster version"));
    }
    return stmt.column_int64(0);
}

result<std::optional<roster_delta>> sqlite_store::roster_changes_since(const std::string& domain,
                                                                       const std::string& username,
                                                                       std::int64_t since) {
    // One snapshot, so the version and the changes agree.
    transaction tx(*this);
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

result<void> sqlite_store::put_subscription_request(const std::string& domain, const std::string& username,
                                                    const subscription_request& request) {
    auto stored = execute("put subscription request",
                          "INSERT INTO subscription_requests (domain, username, requester, stanza, received_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain, username, requester) "
                          "DO UPDATE SET stanza = excluded.stanza, received_at = excluded.received_at",
                          {domain, username, request.from, request.stanza, request.received_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::vector<subscription_request>> sqlite_store::get_subscription_requests(const std::string& domain,
                                                                                  const std::string& username) {
    auto prepared = prepare(
        "SELECT requester, stanza, received_at FROM subscription_requests WHERE domain = ?1 AND username = ?2 "
        "ORDER BY received_at, requester");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind({domain, username});
    std::vector<subscription_request> requests;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        requests.push_back(subscription_request{stmt.column_text(0), stmt.column_text(1), stmt.column_int64(2)});
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error("get subscription requests"));
    }
    return requests;
}

result<bool> sqlite_store::delete_subscription_request(const std::string& domain, const std::string& username,
                                                       const std::string& from) {
    auto deleted = execute("delete subscription request",
                           "DELETE FROM subscription_requests WHERE domain = ?1 AND username = ?2 AND requester = ?3",
                           {domain, username, from});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

// ---- offline messages ----

result<bool> sqlite_store::store_offline_message(const std::string& domain, const std::string& username,
                                                 const std::string& stanza, std::int64_t stored_at,
                                                 std::size_t quota) {
    // The write lock is held from the count to the insert, so concurrent writers cannot overshoot the quota.
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    {
        auto prepared = prepare("SELECT COUNT(*) FROM offline_messages WHERE domain = ?1 AND username = ?2");
        if (!prepared) {
            return unexpected(prepared.error());
        }
        statement stmt(*prepared);
        stmt.bind({domain, username});
        if (stmt.step() != SQLITE_ROW) {
            return unexpected(last_error("count offline messages"));
        }
        if (static_cast<std::uint64_t>(stmt.column_int64(0)) >= quota) {
            return false;
        }
    }
    auto stored = execute("store offline message",
                          "INSERT INTO offline_messages (domain, username, stanza, stored_at) VALUES (?1, ?2, ?3, ?4)",
                          {domain, username, stanza, stored_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return true;
}

result<std::vector<offline_message>> sqlite_store::get_offline_messages(const std::string& domain,
                                                                        const std::string& username) {
    auto prepared = prepare(
        "SELECT id, stanza, stored_at FROM offline_messages WHERE domain = ?1 AND username = ?2 ORDER BY id");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind({domain, username});
    std::vector<offline_message> messages;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        messages.push_back(offline_message{stmt.column_int64(0), stmt.column_text(1), stmt.column_int64(2)});
    }
    if (rc != SQLITE_DONE) {
        return unexpected(last_error("get offline messages"));
    }
    return messages;
}

result<void> sqlite_store::delete_offline_messages(const std::string& domain, const std::string& username,
                                                   const std::vector<std::int64_t>& ids) {
    if (ids.empty()) {
        return {};
    }
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto id : ids) {
        // Scoped to the account: an id of someone else's message deletes nothing.
        auto deleted = execute("delete offline messages",
                               "DELETE FROM offline_messages WHERE domain = ?1 AND username = ?2 AND id = ?3",
                               {domain, username, id});
        if (!deleted) {
            return unexpected(deleted.error());
        }
    }
    return tx.commit();
}

// ---- privacy lists ----

result<std::vector<std::string>> sqlite_store::privacy_list_names(const std::string& domain,
                                                                  const std::string& username) {
    return query_texts("privacy list names",
                       "SELECT name FROM privacy_lists WHERE domain = ?1 AND username = ?2 ORDER BY name",
                       {domain, username});
}

result<std::optional<std::string>> sqlite_store::get_privacy_list(const std::string& domain,
                                                                  const std::string& username,
                                                                  const std::string& name) {
    return query_text("get privacy list",
                      "SELECT list_xml FROM privacy_lists WHERE domain = ?1 AND username = ?2 AND name = ?3",
                      {domain, username, name});
}

result<void> sqlite_store::put_privacy_list(const std::string& domain, const std::string& username,
                                            const std::string& name, const std::string& list_xml) {
    auto stored = execute("put privacy list",
                          "INSERT INTO privacy_lists (domain, username, name, list_xml) VALUES (?1, ?2, ?3, ?4) "
                          "ON CONFLICT (domain, username, name) DO UPDATE SET list_xml = excluded.list_xml",
                          {domain, username, name, list_xml});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<bool> sqlite_store::delete_privacy_list(const std::string& domain, const std::string& username,
                                               const std::string& name) {
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // First, or the settings row's foreign key would refuse the delete.
    auto cleared = execute("delete privacy list",
                           "UPDATE privacy_settings SET default_list = NULL "
                           "WHERE domain = ?1 AND username = ?2 AND default_list = ?3",
                           {domain, username, name});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    auto deleted = execute("delete privacy list",
                           "DELETE FROM privacy_lists WHERE domain = ?1 AND username = ?2 AND name = ?3",
                           {domain, username, name});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *deleted > 0;
}

result<std::optional<std::string>> sqlite_store::default_privacy_list(const std::string& domain,
                                                                      const std::string& username) {
    return query_text("default privacy list",
                      "SELECT default_list FROM privacy_settings WHERE domain = ?1 AND username = ?2",
                      {domain, username});
}

result<void> sqlite_store::set_default_privacy_list(const std::string& domain, const std::string& username,
                                                    const std::string& name) {
    if (name.empty()) {
        auto cleared = execute("clear default privacy list",
                               "UPDATE privacy_settings SET default_list = NULL WHERE domain = ?1 AND username = ?2",
                               {domain, username});
        if (!cleared) {
            return unexpected(cleared.error());
        }
        return {};
    }
    // Inserts nothing when there is no such list (the foreign key would refuse it anyway, less clearly).
    auto set = execute("set default privacy list",
                       "INSERT INTO privacy_settings (domain, username, default_list) SELECT ?1, ?2, ?3 "
                       "WHERE EXISTS (SELECT 1 FROM privacy_lists WHERE domain = ?1 AND username = ?2 AND name = ?3) "
                       "ON CONFLICT (domain, username) DO UPDATE SET default_list = excluded.default_list",
                       {domain, username, name});
    if (!set) {
        return unexpected(set.error());
    }
    if (*set == 0) {
        return unexpected(error{"sqlite " + path_ + ": set default privacy list: no privacy list named '" + name +
                                "'"});
    }
    return {};
}

// ---- blocklist ----

result<std::vector<std::string>> sqlite_store::get_blocklist(const std::string& domain, const std::string& username) {
    return query_texts("get blocklist", "SELECT jid FROM blocklist WHERE domain = ?1 AND username = ?2 ORDER BY jid",
                       {domain, username});
}

result<void> sqlite_store::add_blocks(const std::string& domain, const std::string& username,
                                      const std::vector<std::string>& jids) {
    if (jids.empty()) {
        return {};
    }
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto& jid : jids) {
        auto added = execute("add blocks",
                             "INSERT INTO blocklist (domain, username, jid) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                             {domain, username, jid});
        if (!added) {
            return unexpected(added.error());
        }
    }
    return tx.commit();
}

result<void> sqlite_store::remove_blocks(const std::string& domain, const std::string& username,
                                         const std::vector<std::string>& jids) {
    if (jids.empty()) {
        auto cleared = execute("remove blocks", "DELETE FROM blocklist WHERE domain = ?1 AND username = ?2",
                               {domain, username});
        if (!cleared) {
            return unexpected(cleared.error());
        }
        return {};
    }
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto& jid : jids) {
        auto removed = execute("remove blocks",
                               "DELETE FROM blocklist WHERE domain = ?1 AND username = ?2 AND jid = ?3",
                               {domain, username, jid});
        if (!removed) {
            return unexpected(removed.error());
        }
    }
    return tx.commit();
}

// ---- documents ----

result<std::optional<std::string>> sqlite_store::get_document(const std::string& domain, const std::string& username,
                                                              const std::string& key) {
    return query_text("get document",
                      "SELECT xml FROM documents WHERE domain = ?1 AND username = ?2 AND doc_key = ?3",
                      {domain, username, key});
}

result<void> sqlite_store::put_document(const std::string& domain, const std::string& username,
                                        const std::string& key, const std::string& xml) {
    auto stored = execute("put document",
                          "INSERT INTO documents (domain, username, doc_key, xml) VALUES (?1, ?2, ?3, ?4) "
                          "ON CONFLICT (domain, username, doc_key) DO UPDATE SET xml = excluded.xml",
                          {domain, username, key, xml});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

// ---- last activity ----

result<void> sqlite_store::set_last_activity(const std::string& domain, const std::string& username,
                                             const last_activity& activity) {
    auto stored = execute("set last activity",
                          "INSERT INTO last_activity (domain, username, logout_at, status) VALUES (?1, ?2, ?3, ?4) "
                          "ON CONFLICT (domain, username) DO UPDATE SET logout_at = excluded.logout_at, "
                          "status = excluded.status",
                          {domain, username, activity.logout_at, activity.status});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::optional<last_activity>> sqlite_store::get_last_activity(const std::string& domain,
                                                                     const std::string& username) {
    auto prepared = prepare("SELECT logout_at, status FROM last_activity WHERE domain = ?1 AND username = ?2");
    if (!prepared) {
        return unexpected(prepared.error());
    }
    statement stmt(*prepared);
    stmt.bind({domain, username});
    const int rc = stmt.step();
    if (rc == SQLITE_DONE) {
        return std::optional<last_activity>();
    }
    if (rc != SQLITE_ROW) {
        return unexpected(last_error("get last activity"));
    }
    return std::optional<last_activity>(last_activity{stmt.column_int64(0), stmt.column_text(1)});
}

}  // namespace hush::storage
