// sql_store, server-wide data: the anti-SPIM blocklist and the admin API's tokens.
#include "storage/sql_store.hpp"

#include <algorithm>

namespace hush::storage {

result<void> sql_store::put_blocklist_entry(const blocklist_entry& e) {
    auto stored = run("put blocklist entry",
                      "INSERT INTO server_blocklist (kind, value, reason, source, added_at, expires_at, contacts_too, trust) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, value) DO UPDATE SET "
                      "reason = excluded.reason, source = excluded.source, added_at = excluded.added_at, "
                      "expires_at = excluded.expires_at, contacts_too = excluded.contacts_too, trust = excluded.trust",
                      {e.kind, e.value, e.reason, e.source, e.added_at, e.expires_at,
                       static_cast<std::int64_t>(e.contacts_too ? 1 : 0), e.trust});
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
                    "SELECT kind, value, reason, source, added_at, expires_at, contacts_too, trust FROM server_blocklist "
                    "WHERE $1 = 0 OR expires_at = 0 OR expires_at > $1 ORDER BY kind, value",
                    {now}, [&](const sql_row& row) -> result<void> {
                        const auto added = row.int64(4);
                        const auto expires = row.int64(5);
                        const auto contacts = row.int64(6);
                        if (!added || !expires || !contacts) {
                            return unexpected(driver_->failure("list blocklist", "unreadable entry"));
                        }
                        out.push_back({row.text(0), row.text(1), row.text(2), row.text(3), *added, *expires,
                                       *contacts != 0, row.text(7)});
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

result<void> sql_store::put_spam_vote(const spam_vote& v) {
    auto stored = run("put spam vote",
                      "INSERT INTO spam_votes (voter, sender, sender_domain, kind, at, weight) "
                      "VALUES ($1, $2, $3, $4, $5, $6) "
                      "ON CONFLICT (voter, sender, kind) DO UPDATE SET at = excluded.at, weight = excluded.weight",
                      {v.voter, v.sender, v.sender_domain, v.kind, v.at, v.weight});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<spam_vote_tally> sql_store::tally_spam_votes(const std::string& sender, const std::string& domain,
                                                    std::int64_t since) {
    // One statement, one snapshot. Each voter counts once, with its largest weight: one account voting three ways
    // is still one voter.
    spam_vote_tally tally;
    auto done = run("tally spam votes",
                    "SELECT (SELECT COALESCE(SUM(w), 0) FROM (SELECT MAX(weight) AS w FROM spam_votes "
                    "WHERE sender = $1 AND at >= $3 GROUP BY voter) AS voters), "
                    "(SELECT COUNT(DISTINCT sender) FROM spam_votes WHERE sender_domain = $2 AND at >= $3 "
                    "AND weight > 0), "
                    "(SELECT COALESCE(SUM(w), 0) FROM (SELECT MAX(weight) AS w FROM spam_votes "
                    "WHERE sender_domain = $2 AND at >= $3 GROUP BY voter) AS domain_voters)",
                    {sender, domain, since}, [&](const sql_row& row) -> result<void> {
                        const auto sender_weight = row.int64(0);
                        const auto domain_senders = row.int64(1);
                        const auto domain_weight = row.int64(2);
                        if (!sender_weight || !domain_senders || !domain_weight) {
                            return unexpected(driver_->failure("tally spam votes", "unreadable tally"));
                        }
                        tally = {*sender_weight, *domain_senders, *domain_weight};
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return tally;
}

result<std::int64_t> sql_store::add_spam_report(const spam_report& r) {
    std::string ids;
    for (const auto& id : r.stanza_ids) {
        ids += (ids.empty() ? "" : "\n") + id;  // ids never hold a newline (the parser drops such ids)
    }
    auto id = query_int64("add spam report",
                          "INSERT INTO spam_reports (reporter, reported, reason, text, stanza_ids, at) "
                          "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                          {r.reporter, r.reported, r.reason, r.text, ids, r.at});
    if (!id) {
        return unexpected(id.error());
    }
    if (!*id) {
        return unexpected(driver_->failure("add spam report", "no id returned"));
    }
    return **id;
}

result<std::vector<spam_report>> sql_store::list_spam_reports(std::size_t limit) {
    std::vector<spam_report> out;
    auto done = run("list spam reports",
                    "SELECT id, reporter, reported, reason, text, stanza_ids, at FROM spam_reports "
                    "ORDER BY id DESC LIMIT $1",
                    {static_cast<std::int64_t>(limit)}, [&](const sql_row& row) -> result<void> {
                        spam_report r;
                        r.id = row.int64(0).value_or(0);
                        r.reporter = row.text(1);
                        r.reported = row.text(2);
                        r.reason = row.text(3);
                        r.text = row.text(4);
                        const std::string ids = row.text(5);
                        std::size_t start = 0;
                        while (start < ids.size()) {
                            const auto end = std::min(ids.find('\n', start), ids.size());
                            r.stanza_ids.push_back(ids.substr(start, end - start));
                            start = end + 1;
                        }
                        r.at = row.int64(6).value_or(0);
                        out.push_back(std::move(r));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<void> sql_store::put_account_flag(const account_flag& f) {
    auto stored = run("put account flag",
                      "INSERT INTO account_flags (account, state, reason, at) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (account) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                      "at = excluded.at",
                      {f.account, f.state, f.reason, f.at});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<bool> sql_store::remove_account_flag(const std::string& account) {
    auto removed = run("remove account flag", "DELETE FROM account_flags WHERE account = $1", {account});
    if (!removed) {
        return unexpected(removed.error());
    }
    return *removed > 0;
}

result<std::optional<account_flag>> sql_store::get_account_flag(const std::string& account) {
    std::optional<account_flag> out;
    // Statements are cached by their text's address: literals only.
    auto done = run("get account flag", "SELECT account, state, reason, at FROM account_flags WHERE account = $1",
                    {account}, [&](const sql_row& row) -> result<void> {
        out = account_flag{row.text(0), row.text(1), row.text(2), row.int64(3).value_or(0)};
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<std::vector<account_flag>> sql_store::list_account_flags() {
    std::vector<account_flag> out;
    auto done = run("list account flags", "SELECT account, state, reason, at FROM account_flags ORDER BY account", {}, [&](const sql_row& row) -> result<void> {
        out.push_back(account_flag{row.text(0), row.text(1), row.text(2), row.int64(3).value_or(0)});
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

}  // namespace hush::storage
