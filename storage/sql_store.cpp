// sql_store: migrations, the query helpers, and accounts.
#include "storage/sql_store.hpp"
#include "protocol/xep0082.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <utility>

namespace hush::storage {

sql_store::sql_store(std::unique_ptr<sql_driver> driver) : driver_(std::move(driver)) {}

std::int64_t sql_store::now_unix() { return unix_now(); }

// ---- query helpers ----

result<long> sql_store::run(std::string_view context, const char* sql, params args, const row_handler& on_row) {
    return driver_->run(context, sql, std::span<const sql_param>(args.begin(), args.size()), on_row);
}

result<std::optional<std::string>> sql_store::query_text(std::string_view context, const char* sql, params args) {
    std::optional<std::string> value;
    bool first = true;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        if (first && !row.is_null(0)) {
            value = row.text(0);
        }
        first = false;
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return value;
}

result<std::vector<std::string>> sql_store::query_texts(std::string_view context, const char* sql, params args) {
    std::vector<std::string> values;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        values.push_back(row.text(0));
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return values;
}

result<std::optional<std::int64_t>> sql_store::query_int64(std::string_view context, const char* sql, params args) {
    std::optional<std::int64_t> value;
    bool first = true;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        if (first) {
            value = row.int64(0);
            if (!value) {
                return unexpected(driver_->failure(context, "unreadable value"));
            }
        }
        first = false;
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return value;
}

result<void> sql_store::lock_account(const std::string& domain, const std::string& username) {
    if (const char* lock_sql = driver_->lock_account_sql(); lock_sql != nullptr) {
        if (auto locked = run("lock account", lock_sql, {domain, username}); !locked) {
            return unexpected(locked.error());
        }
    }
    return {};
}

result<void> sql_store::atomically(const std::string& domain, const std::string& username,
                                   const std::function<result<void>()>& fn) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return begun;
    }
    // A missing account locks no row: fn runs anyway (its writes then fail on the foreign key).
    if (auto locked = lock_account(domain, username); !locked) {
        return locked;
    }
    if (auto done = fn(); !done) {
        return done;  // rolled back on scope exit
    }
    return tx.commit();
}

result<void> sql_store::tentatively(const std::function<result<void>()>& fn) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return begun;
    }
    if (auto done = fn(); !done) {
        return done;  // rolled back (to the savepoint) on scope exit
    }
    return tx.commit();
}

// ---- migrations ----

result<int> sql_store::migrate() {
    return apply_migrations(*driver_);
}

result<int> sql_store::schema_version() {
    auto exists = driver_->schema_version_exists();
    if (!exists) {
        return unexpected(exists.error());
    }
    if (!*exists) {
        return 0;  // never migrated
    }
    return driver_->read_version();
}

// ---- accounts ----

result<bool> sql_store::create_account(const std::string& domain, const std::string& username,
                                       const account_credentials& creds) {
    auto created = run(
        "create account",
        "INSERT INTO accounts (domain, username, created_at, sha1_salt, sha1_iterations, sha1_stored_key, "
        "sha1_server_key, sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (domain, username) DO NOTHING",
        {domain, username, now_unix(), sql_blob{creds.sha1.salt}, std::int64_t{creds.sha1.iterations},
         sql_blob{creds.sha1.stored_key}, sql_blob{creds.sha1.server_key}, sql_blob{creds.sha256.salt},
         std::int64_t{creds.sha256.iterations}, sql_blob{creds.sha256.stored_key}, sql_blob{creds.sha256.server_key}});
    if (!created) {
        return unexpected(created.error());
    }
    return *created > 0;
}

result<bool> sql_store::set_credentials(const std::string& domain, const std::string& username,
                                        const account_credentials& creds) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    auto updated = run(
        "set credentials",
        "UPDATE accounts SET sha1_salt = $3, sha1_iterations = $4, sha1_stored_key = $5, sha1_server_key = $6, "
        "sha256_salt = $7, sha256_iterations = $8, sha256_stored_key = $9, sha256_server_key = $10 "
        "WHERE domain = $1 AND username = $2",
        {domain, username, sql_blob{creds.sha1.salt}, std::int64_t{creds.sha1.iterations},
         sql_blob{creds.sha1.stored_key}, sql_blob{creds.sha1.server_key}, sql_blob{creds.sha256.salt},
         std::int64_t{creds.sha256.iterations}, sql_blob{creds.sha256.stored_key}, sql_blob{creds.sha256.server_key}});
    if (!updated) {
        return unexpected(updated.error());
    }
    // A new password ends every FAST token (XEP-0484): a device that knew only the old one has no way back in.
    if (auto revoked = delete_fast_tokens(domain, username, {}); !revoked) {
        return unexpected(revoked.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *updated > 0;
}

result<bool> sql_store::delete_account(const std::string& domain, const std::string& username) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    auto deleted =
        run("delete account", "DELETE FROM accounts WHERE domain = $1 AND username = $2", {domain, username});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    // The account's PEP nodes live on its bare JID, not keyed by (domain, username): no cascade reaches them.
    if (auto pep = delete_pubsub_host(username + "@" + domain); !pep) {
        return unexpected(pep.error());
    }
    // Nor its MUC affiliations, keyed by JID in rooms of any service: a name registered again must not inherit an
    // ownership, a membership or a ban. The rooms stay (their other owners keep them).
    if (auto muc = delete_muc_affiliations_of(username + "@" + domain); !muc) {
        return unexpected(muc.error());
    }
    // Nor its archive, which rooms' archives share (migration 15: no foreign key).
    if (auto archive = trim_archive(domain, username, 0); !archive) {
        return unexpected(archive.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *deleted > 0;
}

result<std::optional<account_credentials>> sql_store::get_credentials(const std::string& domain,
                                                                      const std::string& username) {
    std::optional<account_credentials> found;
    auto done = run("get credentials",
                    "SELECT sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, "
                    "sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key "
                    "FROM accounts WHERE domain = $1 AND username = $2",
                    {domain, username}, [&](const sql_row& row) -> result<void> {
                        bool ok = true;
                        auto blob = [&](int col) {
                            auto value = row.blob(col);
                            ok = ok && value.has_value();
                            return value.value_or(std::string());
                        };
                        auto iterations = [&](int col) {
                            const auto value = row.int64(col);
                            if (!value || *value < 0 || *value > UINT32_MAX) {
                                ok = false;
                                return std::uint32_t{0};
                            }
                            return static_cast<std::uint32_t>(*value);
                        };
                        account_credentials creds;
                        creds.sha1.salt = blob(0);
                        creds.sha1.iterations = iterations(1);
                        creds.sha1.stored_key = blob(2);
                        creds.sha1.server_key = blob(3);
                        creds.sha256.salt = blob(4);
                        creds.sha256.iterations = iterations(5);
                        creds.sha256.stored_key = blob(6);
                        creds.sha256.server_key = blob(7);
                        if (!ok) {
                            return unexpected(driver_->failure(
                                "get credentials", "unreadable credentials for " + username + "@" + domain));
                        }
                        found = std::move(creds);
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

result<bool> sql_store::account_exists(const std::string& domain, const std::string& username) {
    bool exists = false;
    auto done = run("account exists", "SELECT 1 FROM accounts WHERE domain = $1 AND username = $2", {domain, username},
                    [&](const sql_row&) -> result<void> {
                        exists = true;
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return exists;
}

result<std::vector<account>> sql_store::list_accounts(const std::string& domain) {
    std::vector<account> accounts;
    auto read = [&](const sql_row& row) -> result<void> {
        account a;
        a.domain = row.text(0);
        a.username = row.text(1);
        a.created_at = row.int64(2).value_or(0);
        accounts.push_back(std::move(a));
        return {};
    };
    // Two statements rather than "$1 = '' OR domain = $1" so the filtered one can use the primary key.
    auto done = domain.empty()
                    ? run("list accounts",
                          "SELECT domain, username, created_at FROM accounts ORDER BY domain, username", {}, read)
                    : run("list accounts",
                          "SELECT domain, username, created_at FROM accounts WHERE domain = $1 "
                          "ORDER BY domain, username",
                          {domain}, read);
    if (!done) {
        return unexpected(done.error());
    }
    return accounts;
}

result<std::optional<std::int64_t>> sql_store::account_created_at(const std::string& domain,
                                                                const std::string& username) {
    return query_int64("account created_at", "SELECT created_at FROM accounts WHERE domain = $1 AND username = $2",
                       {domain, username});
}

}  // namespace hush::storage
