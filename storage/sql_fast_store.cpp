// sql_store, XEP-0484 FAST tokens (migration 12): which client of an account holds which token, until when, and
// the highest count each was used with. The tokens themselves are never stored (protocol/fast.hpp).
#include <string>

#include "storage/sql_store.hpp"

namespace hush::storage {

result<std::vector<fast_token>> sql_store::get_fast_tokens(const std::string& domain, const std::string& username,
                                                           const std::string& agent_id) {
    std::vector<fast_token> tokens;
    auto read_token = [&](const sql_row& row) -> result<void> {
        const auto created = row.int64(3);
        const auto expires = row.int64(4);
        const auto count = row.int64(5);
        const auto used = row.int64(6);
        if (!created || !expires || !count || !used) {
            return unexpected(driver_->failure("get FAST tokens", "unreadable token row"));
        }
        tokens.push_back(fast_token{row.text(0), row.text(1), row.text(2), *created, *expires, *count, *used});
        return {};
    };
    auto read = agent_id.empty()
                    ? run("get FAST tokens",
                          "SELECT agent_id, token_id, mechanism, created_at, expires_at, last_count, used_at FROM fast_tokens "
                          "WHERE domain = $1 AND username = $2 ORDER BY created_at DESC, token_id",
                          {domain, username}, read_token)
                    : run("get FAST tokens",
                          "SELECT agent_id, token_id, mechanism, created_at, expires_at, last_count, used_at FROM fast_tokens "
                          "WHERE domain = $1 AND username = $2 AND agent_id = $3 ORDER BY created_at DESC, token_id",
                          {domain, username, agent_id}, read_token);
    if (!read) {
        return unexpected(read.error());
    }
    return tokens;
}

result<void> sql_store::put_fast_token(const std::string& domain, const std::string& username,
                                       const fast_token& token, std::size_t max_clients) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    if (auto locked = lock_account(domain, username); !locked) {
        return unexpected(locked.error());
    }
    // The client keeps the token it used last — it holds that one for sure, should the success carrying the new
    // token be lost (XEP-0484: the old one stays until the new one is used) — and loses those it never used.
    auto pruned = run("put FAST token",
                      "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND token_id NOT IN "
                      "(SELECT token_id FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 "
                      "AND used_at > 0 ORDER BY used_at DESC, token_id LIMIT 1)",
                      {domain, username, token.agent_id});
    if (!pruned) {
        return unexpected(pruned.error());
    }
    auto stored = run("put FAST token",
                      "INSERT INTO fast_tokens (domain, username, agent_id, token_id, mechanism, created_at, expires_at, "
                      "last_count, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                      {domain, username, token.agent_id, token.token_id, token.mechanism, token.created_at,
                       token.expires_at, token.last_count, token.used_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    for (;;) {
        auto clients = query_int64("count FAST clients",
                                   "SELECT COUNT(DISTINCT agent_id) FROM fast_tokens WHERE domain = $1 AND username = $2",
                                   {domain, username});
        if (!clients) {
            return unexpected(clients.error());
        }
        if (static_cast<std::uint64_t>(clients->value_or(0)) <= max_clients) {
            break;
        }
        auto evicted =
            run("evict FAST client",
                "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = (SELECT agent_id FROM "
                "fast_tokens WHERE domain = $1 AND username = $2 GROUP BY agent_id ORDER BY "
                "MAX(CASE WHEN used_at > created_at THEN used_at ELSE created_at END), agent_id LIMIT 1)",
                {domain, username});
        if (!evicted) {
            return unexpected(evicted.error());
        }
        if (*evicted == 0) {
            break;
        }
    }
    return tx.commit();
}

result<bool> sql_store::use_fast_token(const std::string& domain, const std::string& username,
                                       const std::string& agent_id, const std::string& token_id, std::int64_t count,
                                       std::int64_t now, std::int64_t now_us, bool invalidate) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // The account's lock first, as put_fast_token takes it: a login and an issue for one client never deadlock.
    if (auto locked = lock_account(domain, username); !locked) {
        return unexpected(locked.error());
    }
    // Check and record in one statement: of two logins racing with one count, one changes the row. (Two
    // statements rather than one with "$5 < 0": PostgreSQL would take that $5 for a 32-bit integer.)
    auto used = count < 0
                    ? run("use FAST token",
                          "UPDATE fast_tokens SET used_at = $6 WHERE domain = $1 AND username = $2 AND "
                          "agent_id = $3 AND token_id = $4 AND expires_at > $5",
                          {domain, username, agent_id, token_id, now, now_us})
                    : run("use FAST token",
                          "UPDATE fast_tokens SET last_count = $5, used_at = $7 WHERE domain = $1 AND username = $2 AND "
                          "agent_id = $3 AND token_id = $4 AND expires_at > $6 AND last_count < $5",
                          {domain, username, agent_id, token_id, count, now, now_us});
    if (!used) {
        return unexpected(used.error());
    }
    if (*used == 0) {
        return false;
    }
    // Invalidated: the client's tokens end with this login. Else the client has the newer token once it uses it:
    // the older ones go.
    auto older = invalidate
                     ? run("use FAST token", "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3",
                           {domain, username, agent_id})
                     : run("use FAST token",
                           "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND "
                           "created_at < (SELECT created_at FROM fast_tokens WHERE domain = $1 AND username = $2 AND "
                           "agent_id = $3 AND token_id = $4)",
                           {domain, username, agent_id, token_id});
    if (!older) {
        return unexpected(older.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return true;
}

result<std::int64_t> sql_store::delete_fast_tokens(const std::string& domain, const std::string& username,
                                                   const std::string& agent_id) {
    auto deleted = agent_id.empty()
                       ? run("delete FAST tokens", "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2",
                             {domain, username})
                       : run("delete FAST tokens",
                             "DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3",
                             {domain, username, agent_id});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return static_cast<std::int64_t>(*deleted);
}

result<std::int64_t> sql_store::delete_expired_fast_tokens(std::int64_t now) {
    auto deleted = run("delete expired FAST tokens", "DELETE FROM fast_tokens WHERE expires_at <= $1", {now});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return static_cast<std::int64_t>(*deleted);
}

}  // namespace hush::storage
