// postgres_store, IM core: roster, subscription requests, offline messages, privacy lists, blocklist, documents
// and last activity. Multi-statement writes run in a transaction and serialise per account on a row lock (the
// roster version row, or the account row for the offline quota).
#include <libpq-fe.h>

#include "storage/postgres_store.hpp"
#include "storage/postgres_transaction.hpp"
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

// Text columns of every row of a one-column result.
std::vector<std::string> column_strings(pg_result* r) {
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int row = 0; row < PQntuples(r); ++row) {
        out.emplace_back(PQgetvalue(r, row, 0), static_cast<std::size_t>(PQgetlength(r, row, 0)));
    }
    return out;
}

std::string text_at(pg_result* r, int row, int col) {
    return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

// The first column of the first row, if there is one; nullopt for no row or SQL NULL.
std::optional<std::string> first_text(pg_result* r) {
    if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
        return std::nullopt;
    }
    return text_at(r, 0, 0);
}

error unreadable(std::string_view what) {
    return error{"PostgreSQL: unreadable " + std::string(what)};
}

}  // namespace

// ---- roster ----

result<std::vector<roster_item>> postgres_store::read_roster_items(const char* sql, const std::vector<param>& params) {
    auto res = exec(sql, params);
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    std::vector<roster_item> items;
    for (int row = 0; row < PQntuples(r); ++row) {
        roster_item item;
        item.contact = text_at(r, row, 0);
        item.name = text_at(r, row, 1);
        const auto sub = subscription_from_sql(PQgetvalue(r, row, 2));
        const auto pending_out = parse_int64(PQgetvalue(r, row, 3));
        const auto pending_in = parse_int64(PQgetvalue(r, row, 4));
        const auto approved = parse_int64(PQgetvalue(r, row, 5));
        const auto version = parse_int64(PQgetvalue(r, row, 6));
        const auto removed = parse_int64(PQgetvalue(r, row, 7));
        if (!sub || !pending_out || !pending_in || !approved || !version || !removed) {
            return unexpected(unreadable("roster item " + item.contact));
        }
        item.sub = *sub;
        item.pending_out = *pending_out != 0;
        item.pending_in = *pending_in != 0;
        item.approved = *approved != 0;
        item.version = *version;
        item.removed = *removed != 0;
        std::optional<std::string> group;
        if (!PQgetisnull(r, row, 8)) {
            group = text_at(r, row, 8);
        }
        fold_roster_row(items, std::move(item), std::move(group));
    }
    return items;
}

result<std::optional<std::int64_t>> postgres_store::bump_roster_version(const std::string& domain,
                                                                        const std::string& username, bool create) {
    // Either statement locks the version row until the transaction ends: roster writes of one account serialise.
    auto res = create ? exec("INSERT INTO roster_versions (domain, username, version) VALUES ($1, $2, 1) "
                             "ON CONFLICT (domain, username) DO UPDATE SET version = roster_versions.version + 1 "
                             "RETURNING version",
                             {text(domain), text(username)})
                      : exec("UPDATE roster_versions SET version = version + 1 WHERE domain = $1 AND username = $2 "
                             "RETURNING version",
                             {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    if (PQntuples(res->get()) == 0) {
        return std::optional<std::int64_t>();
    }
    const auto version = parse_int64(PQgetvalue(res->get(), 0, 0));
    if (!version) {
        return unexpected(unreadable("roster version"));
    }
    return std::optional<std::int64_t>(*version);
}

result<std::vector<roster_item>> postgres_store::get_roster(const std::string& domain, const std::string& username) {
    return read_roster_items(roster_sql, {text(domain), text(username)});
}

result<std::optional<roster_item>> postgres_store::get_roster_item(const std::string& domain,
                                                                   const std::string& username,
                                                                   const std::string& contact) {
    auto items = read_roster_items(roster_item_sql, {text(domain), text(username), text(contact)});
    if (!items) {
        return unexpected(items.error());
    }
    if (items->empty()) {
        return std::optional<roster_item>();
    }
    return std::optional<roster_item>(std::move(items->front()));
}

result<std::int64_t> postgres_store::put_roster_item(const std::string& domain, const std::string& username,
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
        return unexpected(error{"PostgreSQL: bump roster version: no version returned"});
    }
    const std::int64_t version = **bumped;
    // Also revives a tombstone.
    auto stored = exec(
        "INSERT INTO roster_items (domain, username, contact, name, subscription, pending_out, pending_in, approved, "
        "version, removed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) "
        "ON CONFLICT (domain, username, contact) DO UPDATE SET name = excluded.name, "
        "subscription = excluded.subscription, pending_out = excluded.pending_out, "
        "pending_in = excluded.pending_in, approved = excluded.approved, version = excluded.version, removed = 0",
        {text(domain), text(username), text(item.contact), text(item.name), text(subscription_to_sql(item.sub)),
         flag(item.pending_out), flag(item.pending_in), flag(item.approved), int64(version)});
    if (!stored) {
        return unexpected(stored.error());
    }
    auto cleared = exec("DELETE FROM roster_groups WHERE domain = $1 AND username = $2 AND contact = $3",
                        {text(domain), text(username), text(item.contact)});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    std::int64_t position = 0;
    for (const auto& group : item.groups) {
        // A repeated group name is kept once, at its first position.
        auto added = exec("INSERT INTO roster_groups (domain, username, contact, group_name, position) "
                          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                          {text(domain), text(username), text(item.contact), text(group), int64(position++)});
        if (!added) {
            return unexpected(added.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return version;
}

result<std::optional<std::int64_t>> postgres_store::remove_roster_item(const std::string& domain,
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
    auto marked = exec("UPDATE roster_items SET name = '', subscription = 'none', pending_out = 0, pending_in = 0, "
                       "approved = 0, version = $4, removed = 1 "
                       "WHERE domain = $1 AND username = $2 AND contact = $3 AND removed = 0",
                       {text(domain), text(username), text(contact), int64(version)});
    if (!marked) {
        return unexpected(marked.error());
    }
    if (affected(*marked) == 0) {
        return std::optional<std::int64_t>();
    }
    auto cleared = exec("DELETE FROM roster_groups WHERE domain = $1 AND username = $2 AND contact = $3",
                        {text(domain), text(username), text(contact)});
    if (!cleared) {
        return unexpected(cleared.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::optional<std::int64_t>(version);
}

result<std::int64_t> postgres_store::roster_version(const std::string& domain, const std::string& username) {
    auto res = exec("SELECT version FROM roster_versions WHERE domain = $1 AND username = $2",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    if (PQntuples(res->get()) == 0) {
        return std::int64_t{0};  // never changed
    }
    const auto version = parse_int64(PQgetvalue(res->get(), 0, 0));
    if (!version) {
        return unexpected(unreadable("roster version"));
    }
    return *version;
}

result<std::optional<roster_delta>> postgres_store::roster_changes_since(const std::string& domain,
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
    auto changed = read_roster_items(roster_changes_sql, {text(domain), text(username), int64(since)});
    if (!changed) {
        return unexpected(changed.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::optional<roster_delta>(roster_delta{*current, std::move(*changed)});
}

// ---- subscription requests ----

result<void> postgres_store::put_subscription_request(const std::string& domain, const std::string& username,
                                                      const subscription_request& request) {
    auto res = exec("INSERT INTO subscription_requests (domain, username, requester, stanza, received_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, username, requester) "
                    "DO UPDATE SET stanza = excluded.stanza, received_at = excluded.received_at",
                    {text(domain), text(username), text(request.from), text(request.stanza),
                     int64(request.received_at)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

result<std::vector<subscription_request>> postgres_store::get_subscription_requests(const std::string& domain,
                                                                                    const std::string& username) {
    auto res = exec("SELECT requester, stanza, received_at FROM subscription_requests "
                    "WHERE domain = $1 AND username = $2 ORDER BY received_at, requester",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    std::vector<subscription_request> requests;
    for (int row = 0; row < PQntuples(r); ++row) {
        const auto received_at = parse_int64(PQgetvalue(r, row, 2));
        if (!received_at) {
            return unexpected(unreadable("subscription request"));
        }
        requests.push_back(subscription_request{text_at(r, row, 0), text_at(r, row, 1), *received_at});
    }
    return requests;
}

result<bool> postgres_store::delete_subscription_request(const std::string& domain, const std::string& username,
                                                         const std::string& from) {
    auto res = exec("DELETE FROM subscription_requests WHERE domain = $1 AND username = $2 AND requester = $3",
                    {text(domain), text(username), text(from)});
    if (!res) {
        return unexpected(res.error());
    }
    return affected(*res) > 0;
}

// ---- offline messages ----

result<bool> postgres_store::store_offline_message(const std::string& domain, const std::string& username,
                                                   const std::string& stanza, std::int64_t stored_at,
                                                   std::size_t quota) {
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // The account row lock serialises stores for one account from the count to the insert, so concurrent ones
    // cannot overshoot the quota. NO KEY UPDATE does not block the foreign key checks of other writers.
    if (auto locked = exec("SELECT 1 FROM accounts WHERE domain = $1 AND username = $2 FOR NO KEY UPDATE",
                           {text(domain), text(username)});
        !locked) {
        return unexpected(locked.error());
    }
    auto counted = exec("SELECT COUNT(*) FROM offline_messages WHERE domain = $1 AND username = $2",
                        {text(domain), text(username)});
    if (!counted) {
        return unexpected(counted.error());
    }
    const auto count = parse_int64(PQgetvalue(counted->get(), 0, 0));
    if (!count) {
        return unexpected(unreadable("offline message count"));
    }
    if (static_cast<std::uint64_t>(*count) >= quota) {
        return false;
    }
    auto stored = exec("INSERT INTO offline_messages (domain, username, stanza, stored_at) VALUES ($1, $2, $3, $4)",
                       {text(domain), text(username), text(stanza), int64(stored_at)});
    if (!stored) {
        return unexpected(stored.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return true;
}

result<std::vector<offline_message>> postgres_store::get_offline_messages(const std::string& domain,
                                                                          const std::string& username) {
    auto res = exec("SELECT id, stanza, stored_at FROM offline_messages WHERE domain = $1 AND username = $2 "
                    "ORDER BY id",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    std::vector<offline_message> messages;
    messages.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int row = 0; row < PQntuples(r); ++row) {
        const auto id = parse_int64(PQgetvalue(r, row, 0));
        const auto stored_at = parse_int64(PQgetvalue(r, row, 2));
        if (!id || !stored_at) {
            return unexpected(unreadable("offline message"));
        }
        messages.push_back(offline_message{*id, text_at(r, row, 1), *stored_at});
    }
    return messages;
}

result<void> postgres_store::delete_offline_messages(const std::string& domain, const std::string& username,
                                                     const std::vector<std::int64_t>& ids) {
    if (ids.empty()) {
        return {};
    }
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
    auto res = exec("DELETE FROM offline_messages WHERE domain = $1 AND username = $2 AND id = ANY($3::bigint[])",
                    {text(domain), text(username), text(array)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

// ---- privacy lists ----

result<std::vector<std::string>> postgres_store::privacy_list_names(const std::string& domain,
                                                                    const std::string& username) {
    auto res = exec("SELECT name FROM privacy_lists WHERE domain = $1 AND username = $2 ORDER BY name",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    return column_strings(res->get());
}

result<std::optional<std::string>> postgres_store::get_privacy_list(const std::string& domain,
                                                                    const std::string& username,
                                                                    const std::string& name) {
    auto res = exec("SELECT list_xml FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3",
                    {text(domain), text(username), text(name)});
    if (!res) {
        return unexpected(res.error());
    }
    return first_text(res->get());
}

result<void> postgres_store::put_privacy_list(const std::string& domain, const std::string& username,
                                              const std::string& name, const std::string& list_xml) {
    auto res = exec("INSERT INTO privacy_lists (domain, username, name, list_xml) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (domain, username, name) DO UPDATE SET list_xml = excluded.list_xml",
                    {text(domain), text(username), text(name), text(list_xml)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

result<bool> postgres_store::delete_privacy_list(const std::string& domain, const std::string& username,
                                                 const std::string& name) {
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // First, or the settings row's foreign key would refuse the delete.
    if (auto cleared = exec("UPDATE privacy_settings SET default_list = NULL "
                            "WHERE domain = $1 AND username = $2 AND default_list = $3",
                            {text(domain), text(username), text(name)});
        !cleared) {
        return unexpected(cleared.error());
    }
    auto deleted = exec("DELETE FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3",
                        {text(domain), text(username), text(name)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    const bool existed = affected(*deleted) > 0;
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return existed;
}

result<std::optional<std::string>> postgres_store::default_privacy_list(const std::string& domain,
                                                                        const std::string& username) {
    auto res = exec("SELECT default_list FROM privacy_settings WHERE domain = $1 AND username = $2",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    return first_text(res->get());
}

result<void> postgres_store::set_default_privacy_list(const std::string& domain, const std::string& username,
                                                      const std::string& name) {
    if (name.empty()) {
        auto cleared = exec("UPDATE privacy_settings SET default_list = NULL WHERE domain = $1 AND username = $2",
                            {text(domain), text(username)});
        if (!cleared) {
            return unexpected(cleared.error());
        }
        return {};
    }
    // Inserts nothing when there is no such list (the foreign key would refuse it anyway, less clearly).
    auto set = exec("INSERT INTO privacy_settings (domain, username, default_list) SELECT $1::text, $2::text, $3::text "
                    "WHERE EXISTS (SELECT 1 FROM privacy_lists WHERE domain = $1 AND username = $2 AND name = $3) "
                    "ON CONFLICT (domain, username) DO UPDATE SET default_list = excluded.default_list",
                    {text(domain), text(username), text(name)});
    if (!set) {
        return unexpected(set.error());
    }
    if (affected(*set) == 0) {
        return unexpected(error{"PostgreSQL: set default privacy list: no privacy list named '" + name + "'"});
    }
    return {};
}

// ---- blocklist ----

result<std::vector<std::string>> postgres_store::get_blocklist(const std::string& domain,
                                                               const std::string& username) {
    auto res = exec("SELECT jid FROM blocklist WHERE domain = $1 AND username = $2 ORDER BY jid",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    return column_strings(res->get());
}

result<void> postgres_store::add_blocks(const std::string& domain, const std::string& username,
                                        const std::vector<std::string>& jids) {
    if (jids.empty()) {
        return {};
    }
    transaction tx(*this);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const auto& jid : jids) {
        auto added = exec("INSERT INTO blocklist (domain, username, jid) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                          {text(domain), text(username), text(jid)});
        if (!added) {
            return unexpected(added.error());
        }
    }
    return tx.commit();
}

result<void> postgres_store::remove_blocks(const std::string& domain, const std::string& username,
                                           const std::vector<std::string>& jids) {
    if (jids.empty()) {
        auto cleared =
            exec("DELETE FROM blocklist WHERE domain = $1 AND username = $2", {text(domain), text(username)});
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
        auto removed = exec("DELETE FROM blocklist WHERE domain = $1 AND username = $2 AND jid = $3",
                            {text(domain), text(username), text(jid)});
        if (!removed) {
            return unexpected(removed.error());
        }
    }
    return tx.commit();
}

// ---- documents ----

result<std::optional<std::string>> postgres_store::get_document(const std::string& domain,
                                                                const std::string& username, const std::string& key) {
    auto res = exec("SELECT xml FROM documents WHERE domain = $1 AND username = $2 AND doc_key = $3",
                    {text(domain), text(username), text(key)});
    if (!res) {
        return unexpected(res.error());
    }
    return first_text(res->get());
}

result<void> postgres_store::put_document(const std::string& domain, const std::string& username,
                                          const std::string& key, const std::string& xml) {
    auto res = exec("INSERT INTO documents (domain, username, doc_key, xml) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (domain, username, doc_key) DO UPDATE SET xml = excluded.xml",
                    {text(domain), text(username), text(key), text(xml)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

// ---- last activity ----

result<void> postgres_store::set_last_activity(const std::string& domain, const std::string& username,
                                               const last_activity& activity) {
    auto res = exec("INSERT INTO last_activity (domain, username, logout_at, status) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (domain, username) DO UPDATE SET logout_at = excluded.logout_at, "
                    "status = excluded.status",
                    {text(domain), text(username), int64(activity.logout_at), text(activity.status)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

result<std::optional<last_activity>> postgres_store::get_last_activity(const std::string& domain,
                                                                       const std::string& username) {
    auto res = exec("SELECT logout_at, status FROM last_activity WHERE domain = $1 AND username = $2",
                    {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    if (PQntuples(r) == 0) {
        return std::optional<last_activity>();
    }
    const auto logout_at = parse_int64(PQgetvalue(r, 0, 0));
    if (!logout_at) {
        return unexpected(unreadable("last activity"));
    }
    return std::optional<last_activity>(last_activity{*logout_at, text_at(r, 0, 1)});
}

}  // namespace hush::storage
