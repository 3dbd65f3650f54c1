// sql_store, server-wide data: the anti-SPIM blocklist.
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

}  // namespace hush::storage
