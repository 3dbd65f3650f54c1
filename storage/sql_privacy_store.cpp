// sql_store, IM core: privacy lists with the default list (XEP-0016) and the blocklist (XEP-0191).
#include <string>

#include "storage/sql_store.hpp"

namespace hush::storage {

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

}  // namespace hush::storage
