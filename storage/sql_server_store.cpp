// sql_store, server-wide data: the anti-SPIM blocklist and the admin API's tokens.
#include "storage/sql_store.hpp"

namespace hush::storage {

result<void> sql_store::put_blocklist_entry(const blocklist_entry& e) {
    auto stored = run("put blocklist entry",
                      "INSERT INTO server_blocklist (kind, value, reason, source, added_at, expires_at, contacts_too) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, value) DO UPDATE SET "
                      "reason = excluded.reason, source = excluded.source, added_at = excluded.added_at, "
                      "expires_at = excluded.expires_at, contacts_too = excluded.contacts_too",
                      {e.kind, e.value, e.reason, e.source, e.added_at, e.expires_at,
                       static_cast<std::int64_t>(e.contacts_too ? 1 : 0)});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<bool> sql_store::remove_blocklist_entry(const std::string& kind, const std::string& value) {
    auto removed = run("remove blocklist entry", "DELETE FROM server_blocklist WHERE kind = $1 AND value = $2",
                       {kind, value});
    if (!removed) {
        return unexpected(removed.error());
    }
    return *removed > 0;
}

result<std::vector<blocklist_entry>> sql_store::list_blocklist(std::int64_t now) {
    std::vector<blocklist_entry> out;
    auto done = run("list blocklist",
                    "SELECT kind, value, reason, source, added_at, expires_at, contacts_too FROM server_blocklist "
                    "WHERE $1 = 0 OR expires_at = 0 OR expires_at > $1 ORDER BY kind, value",
                    {now}, [&](const sql_row& row) -> result<void> {
                        const auto added = row.int64(4);
                        const auto expires = row.int64(5);
                        const auto contacts = row.int64(6);
                        if (!added || !expires || !contacts) {
                            return unexpected(driver_->failure("list blocklist", "unreadable entry"));
                        }
                        out.push_back({row.text(0), row.text(1), row.text(2), row.text(3), *added, *expires,
                                       *contacts != 0});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<void> sql_store::put_admin_token(const std::string& name, const std::string& token_sha256,
                                       std::int64_t created_at) {
    auto stored = run("put admin token",
                      "INSERT INTO admin_tokens (name, token_sha256, created_at) VALUES ($1, $2, $3) "
                      "ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, "
                      "created_at = excluded.created_at",
                      {name, token_sha256, created_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<bool> sql_store::remove_admin_token(const std::string& name) {
    auto removed = run("remove admin token", "DELETE FROM admin_tokens WHERE name = $1", {name});
    if (!removed) {
        return unexpected(removed.error());
    }
    return *removed > 0;
}

result<std::vector<std::pair<std::string, std::int64_t>>> sql_store::list_admin_tokens() {
    std::vector<std::pair<std::string, std::int64_t>> out;
    auto done = run("list admin tokens", "SELECT name, created_at FROM admin_tokens ORDER BY name", {},
                    [&](const sql_row& row) -> result<void> {
                        out.emplace_back(row.text(0), row.int64(1).value_or(0));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<std::optional<std::string>> sql_store::admin_token_name(const std::string& token_sha256) {
    return query_text("find admin token", "SELECT name FROM admin_tokens WHERE token_sha256 = $1", {token_sha256});
}

}  // namespace hush::storage
