// sql_store, IM core: roster, subscription requests, offline messages, privacy lists, blocklist, documents
// and last activity. Writes that must be atomic run in a write transaction (sql_driver::begin_write); on
// PostgreSQL they serialise per account on a row lock (the roster version row, or the account row for the
// offline quota).
#include <algorithm>
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

// ---- offline messages ----

result<bool> sql_store::store_offline_message(const std::string& domain, const std::string& username,
                                              const std::string& stanza, std::int64_t stored_at, std::size_t quota) {
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
    auto stored = run("store offline message",
                      "INSERT INTO offline_messages (domain, username, stanza, stored_at) VALUES ($1, $2, $3, $4)",
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
    auto done = run("get offline messages",
                    "SELECT id, stanza, stored_at FROM offline_messages WHERE domain = $1 AND username = $2 "
                    "ORDER BY id",
                    {domain, username}, [&](const sql_row& row) -> result<void> {
                        const auto id = row.int64(0);
                        const auto stored_at = row.int64(2);
                        if (!id || !stored_at) {
                            return unexpected(driver_->failure("get offline messages", "unreadable offline message"));
                        }
                        messages.push_back(offline_message{*id, row.text(1), *stored_at});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return messages;
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

// ---- privacy lists ----

result<std::vector<std::string>> sql_store::privacy_list_names(const std::string& domain, const std::string& username) {
    return query_texts("privacy list names",
                       "SELECT name FROM privacy_lists WHERE domain = $1 AND username = $2 ORDER BY name",
                       {domain, username});
}

result<std::optional<std::string>> sql_store::get_privacy_list(const std::string& domain, const std::string& username,
                                                               const std::string& name) {
    return query_text("get privacy list",
                      "SELECT list_xml FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3",
                      {domain, username, name});
}

result<void> sql_store::put_privacy_list(const std::string& domain, const std::string& username,
                                         const std::string& name, const std::string& list_xml) {
    auto stored = run("put privacy list",
                      "INSERT INTO privacy_lists (domain, username, name, list_xml) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (domain, username, name) DO UPDATE SET list_xml = excluded.list_xml",
                      {domain, username, name, list_xml});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<bool> sql_store::delete_privacy_list(const std::string& domain, const std::string& username,
                                            const std::string& name) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // First, or the settings row's foreign key would refuse the delete.
    auto cleared = run("delete privacy list",
                       "UPDATE privacy_settings SET default_list = NULL "
                       "WHERE domain = $1 AND username = $2 AND default_list = $3",
                       {domain, username, name});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    auto deleted =
        run("delete privacy list", "DELETE FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3",
            {domain, username, name});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *deleted > 0;
}

result<std::optional<std::string>> sql_store::default_privacy_list(const std::string& domain,
                                                                   const std::string& username) {
    return query_text("default privacy list",
                      "SELECT default_list FROM privacy_settings WHERE domain = $1 AND username = $2",
                      {domain, username});
}

result<void> sql_store::set_default_privacy_list(const std::string& domain, const std::string& username,
                                                 const std::string& name) {
    if (name.empty()) {
        auto cleared = run("clear default privacy list",
                           "UPDATE privacy_settings SET default_list = NULL WHERE domain = $1 AND username = $2",
                           {domain, username});
        if (!cleared) {
            return unexpected(cleared.error());
        }
        return {};
    }
    // Inserts nothing when there is no such list (the foreign key would refuse it anyway, less clearly).
    auto set = run("set default privacy list",
                   "INSERT INTO privacy_settings (domain, username, default_list) "
                   "SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT) "
                   "WHERE EXISTS (SELECT 1 FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3) "
                   "ON CONFLICT (domain, username) DO UPDATE SET default_list = excluded.default_list",
                   {domain, username, name});
    if (!set) {
        return unexpected(set.error());
    }
    if (*set == 0) {
        return unexpected(driver_->failure("set default privacy list", "no privacy list named '" + name + "'"));
    }
    return {};
}

// ---- blocklist ----

result<std::vector<std::string>> sql_store::get_blocklist(const std::string& domain, const std::string& username) {
    return query_texts("get blocklist", "SELECT jid FROM blocklist WHERE domain = $1 AND username = $2 ORDER BY jid",
                       {domain, username});
}

result<void> sql_store::add_blocks(const std::string& domain, const std::string& username,
                                   const std::vector<std::string>& jids) {
    if (jids.empty()) {
        return {};
    }
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto& jid : jids) {
        auto added = run("add blocks",
                         "INSERT INTO blocklist (domain, username, jid) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                         {domain, username, jid});
        if (!added) {
            return unexpected(added.error());
        }
    }
    return tx.commit();
}

result<void> sql_store::remove_blocks(const std::string& domain, const std::string& username,
                                      const std::vector<std::string>& jids) {
    if (jids.empty()) {
        auto cleared =
            run("remove blocks", "DELETE FROM blocklist WHERE domain = $1 AND username = $2", {domain, username});
        if (!cleared) {
            return unexpected(cleared.error());
        }
        return {};
    }
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto& jid : jids) {
        auto removed = run("remove blocks", "DELETE FROM blocklist WHERE domain = $1 AND username = $2 AND jid = $3",
                           {domain, username, jid});
        if (!removed) {
            return unexpected(removed.error());
        }
    }
    return tx.commit();
}

// ---- documents ----

result<std::optional<std::string>> sql_store::get_document(const std::string& domain, const std::string& username,
                                                           const std::string& key) {
    return query_text("get document", "SELECT xml FROM documents WHERE domain = $1 AND username = $2 AND doc_key = $3",
                      {domain, username, key});
}

result<void> sql_store::put_document(const std::string& domain, const std::string& username, const std::string& key,
                                     const std::string& xml) {
    auto stored = run("put document",
                      "INSERT INTO documents (domain, username, doc_key, xml, updated_at) VALUES ($1, $2, $3, $4, $5) "
                      "ON CONFLICT (domain, username, doc_key) DO UPDATE SET xml = excluded.xml, "
                      "updated_at = excluded.updated_at",
                      {domain, username, key, xml, now_unix()});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::vector<std::string>> sql_store::document_keys(const std::string& domain, const std::string& username,
                                                         const std::string& prefix) {
    // substr/length rather than LIKE: keys hold JIDs, whose '_' LIKE would read as a wildcard.
    return query_texts("list documents",
                       "SELECT doc_key FROM documents WHERE domain = $1 AND username = $2 AND "
                       "substr(doc_key, 1, length($3)) = $3 ORDER BY doc_key",
                       {domain, username, prefix});
}

result<std::int64_t> sql_store::count_documents(const std::string& prefix) {
    auto n = query_int64("count documents",
                         "SELECT COUNT(*) FROM documents WHERE substr(doc_key, 1, length($1)) = $1", {prefix});
    if (!n) {
        return unexpected(n.error());
    }
    return n->value_or(0);
}

result<bool> sql_store::delete_document(const std::string& domain, const std::string& username,
                                        const std::string& key) {
    auto deleted = run("delete document", "DELETE FROM documents WHERE domain = $1 AND username = $2 AND doc_key = $3",
                       {domain, username, key});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

result<std::int64_t> sql_store::delete_documents_older_than(const std::string& prefix, std::int64_t cutoff,
                                                            std::size_t limit) {
    // The outer conditions again: on PostgreSQL a row rewritten meanwhile is re-checked against them (and kept).
    auto deleted = run("delete old documents",
                       "DELETE FROM documents WHERE updated_at < $2 AND substr(doc_key, 1, length($1)) = $1 AND "
                       "(domain, username, doc_key) IN (SELECT domain, username, doc_key FROM documents "
                       "WHERE updated_at < $2 AND substr(doc_key, 1, length($1)) = $1 ORDER BY updated_at LIMIT $3)",
                       {prefix, cutoff, static_cast<std::int64_t>(limit)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

// ---- held stanzas ----

result<std::vector<held_stanza_record>> sql_store::read_held(std::string_view context, const char* sql, params args) {
    std::vector<held_stanza_record> held;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        const auto id = row.int64(0);
        const auto held_at = row.int64(2);
        if (!id || !held_at) {
            return unexpected(driver_->failure(context, "unreadable held stanza"));
        }
        held.push_back(held_stanza_record{*id, row.text(1), *held_at, row.text(3)});
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return held;
}

result<std::pair<std::int64_t, std::int64_t>> sql_store::delete_request(const std::string& domain,
                                                                       const std::string& username,
                                                                       const std::string& sender) {
    std::pair<std::int64_t, std::int64_t> freed{0, 0};
    auto deleted = run("evict held request",
                       "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND sender = $3 RETURNING bytes",
                       {domain, username, sender}, [&](const sql_row& row) -> result<void> {
                           ++freed.first;
                           freed.second += row.int64(0).value_or(0);
                           return {};
                       });
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return freed;
}

result<hold_outcome> sql_store::add_held_stanza(const std::string& domain, const std::string& username,
                                                const std::string& sender, const std::string& xml, std::int64_t now,
                                                const held_limits& limits) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // From the counts to the insert, other holds for the account wait: its caps cannot be overshot.
    if (auto locked = lock_account(domain, username); !locked) {
        return unexpected(locked.error());
    }
    if (limits.expire_before > 0) {
        auto expired = run("expire held stanzas",
                           "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND held_at < $3",
                           {domain, username, limits.expire_before});
        if (!expired) {
            return unexpected(expired.error());
        }
    }
    hold_outcome out;
    if (limits.max_per_sender > 0) {
        auto count = query_int64("count held stanzas",
                                 "SELECT COUNT(*) FROM held_stanzas "
                                 "WHERE domain = $1 AND username = $2 AND sender = $3",
                                 {domain, username, sender});
        if (!count) {
            return unexpected(count.error());
        }
        if (static_cast<std::uint64_t>(count->value_or(0)) >= limits.max_per_sender) {
            out.what = hold_outcome::kind::sender_full;
            if (auto committed = tx.commit(); !committed) {  // keeps the expiry
                return unexpected(committed.error());
            }
            return out;
        }
    }
    const auto size = static_cast<std::int64_t>(xml.size());
    // Each eviction deletes at least one request; the bound only guards against a pathological loop.
    constexpr std::size_t max_evictions = 1000;
    // Deletes one request and records it; returns its (stanzas, bytes).
    auto evict = [&](std::string evicted_domain, std::string evicted_username,
                     std::string evicted_sender) -> result<std::pair<std::int64_t, std::int64_t>> {
        auto freed = delete_request(evicted_domain, evicted_username, evicted_sender);
        if (freed) {
            out.evicted.push_back(evicted_request{std::move(evicted_domain), std::move(evicted_username),
                                                  std::move(evicted_sender), freed->first});
        }
        return freed;
    };

    if (limits.max_per_receiver > 0 || limits.max_bytes_per_receiver > 0) {
        std::int64_t count = 0;
        std::int64_t bytes = 0;
        auto summed = run("count held stanzas",
                          "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM held_stanzas "
                          "WHERE domain = $1 AND username = $2",
                          {domain, username}, [&](const sql_row& row) -> result<void> {
                              count = row.int64(0).value_or(0);
                              bytes = row.int64(1).value_or(0);
                              return {};
                          });
        if (!summed) {
            return unexpected(summed.error());
        }
        auto fits = [&] {
            return (limits.max_per_receiver == 0 || static_cast<std::uint64_t>(count) < limits.max_per_receiver) &&
                   (limits.max_bytes_per_receiver == 0 || bytes + size <= limits.max_bytes_per_receiver);
        };
        while (!fits()) {
            if (out.evicted.size() >= max_evictions) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            auto oldest = query_text("oldest held request",
                                     "SELECT sender FROM held_stanzas WHERE domain = $1 AND username = $2 AND "
                                     "sender <> $3 ORDER BY held_at, id LIMIT 1",
                                     {domain, username, sender});
            if (!oldest) {
                return unexpected(oldest.error());
            }
            if (!*oldest) {
                return hold_outcome{hold_outcome::kind::no_room, {}};  // rolled back: nothing evicted after all
            }
            auto freed = evict(domain, username, **oldest);
            if (!freed) {
                return unexpected(freed.error());
            }
            count -= freed->first;
            bytes -= freed->second;
        }
    }

    if (limits.max_total > 0) {
        auto total = query_int64("count held stanzas", "SELECT COUNT(*) FROM held_stanzas", {});
        if (!total) {
            return unexpected(total.error());
        }
        std::int64_t count = total->value_or(0);
        while (static_cast<std::uint64_t>(count) >= limits.max_total) {
            if (out.evicted.size() >= max_evictions) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            std::optional<evicted_request> oldest;
            // The oldest stanza anywhere belongs to the request whose oldest stanza is oldest.
            auto found = run("oldest held request",
                             "SELECT domain, username, sender FROM held_stanzas "
                             "WHERE NOT (domain = $1 AND username = $2 AND sender = $3) ORDER BY held_at, id LIMIT 1",
                             {domain, username, sender}, [&](const sql_row& row) -> result<void> {
                                 oldest = evicted_request{row.text(0), row.text(1), row.text(2), 0};
                                 return {};
                             });
            if (!found) {
                return unexpected(found.error());
            }
            if (!oldest) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            auto freed = evict(std::move(oldest->domain), std::move(oldest->username), std::move(oldest->sender));
            if (!freed) {
                return unexpected(freed.error());
            }
            count -= freed->first;
        }
    }

    auto stored = run("hold stanza",
                      "INSERT INTO held_stanzas (domain, username, sender, held_at, bytes, xml) "
                      "VALUES ($1, $2, $3, $4, $5, $6)",
                      {domain, username, sender, now, size, xml});
    if (!stored) {
        return unexpected(stored.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    out.what = out.evicted.empty() ? hold_outcome::kind::held : hold_outcome::kind::evicted;
    return out;
}

result<std::vector<held_stanza_record>> sql_store::take_held_stanzas(const std::string& domain,
                                                                     const std::string& username,
                                                                     const std::string& sender) {
    // One statement: two takers of the same request each get a stanza at most once.
    auto taken = read_held("take held stanzas",
                           "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND sender = $3 "
                           "RETURNING id, sender, held_at, xml",
                           {domain, username, sender});
    if (!taken) {
        return taken;
    }
    // RETURNING promises no order.
    std::sort(taken->begin(), taken->end(), [](const held_stanza_record& a, const held_stanza_record& b) {
        return std::pair(a.held_at, a.id) < std::pair(b.held_at, b.id);
    });
    return taken;
}

result<std::vector<held_stanza_record>> sql_store::list_held_stanzas(const std::string& domain,
                                                                     const std::string& username) {
    return read_held("list held stanzas",
                     "SELECT id, sender, held_at, xml FROM held_stanzas WHERE domain = $1 AND username = $2 "
                     "ORDER BY sender, held_at, id",
                     {domain, username});
}

result<std::vector<std::string>> sql_store::held_senders(const std::string& domain, const std::string& username) {
    return query_texts("held senders",
                       "SELECT DISTINCT sender FROM held_stanzas WHERE domain = $1 AND username = $2 ORDER BY sender",
                       {domain, username});
}

result<held_totals> sql_store::count_held() {
    held_totals totals;
    // One statement, so the three agree.
    auto done = run("count held stanzas",
                    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM held_stanzas GROUP BY domain, username, sender) r), "
                    "COUNT(*), COALESCE(SUM(bytes), 0) FROM held_stanzas",
                    {}, [&](const sql_row& row) -> result<void> {
                        const auto requests = row.int64(0);
                        const auto stanzas = row.int64(1);
                        const auto bytes = row.int64(2);
                        if (!requests || !stanzas || !bytes) {
                            return unexpected(driver_->failure("count held stanzas", "unreadable counts"));
                        }
                        totals = held_totals{*requests, *stanzas, *bytes};
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return totals;
}

result<std::int64_t> sql_store::delete_held_before(std::int64_t cutoff, std::size_t limit) {
    auto deleted = run("delete expired held stanzas",
                       "DELETE FROM held_stanzas WHERE held_at < $1 AND id IN (SELECT id FROM held_stanzas "
                       "WHERE held_at < $1 ORDER BY held_at, id LIMIT $2)",
                       {cutoff, static_cast<std::int64_t>(limit)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
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
