// sql_store, in-band registration: invitations, the one-transaction account creation that takes an invite's use,
// and the approval queue.
#include "storage/sql_store.hpp"

namespace hush::storage {

result<registration_status> sql_store::register_account(const new_registration& r, const account_credentials& creds) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    if (!r.invite_sha256.empty()) {
        // The row lock this UPDATE takes (PostgreSQL; SQLite holds the database's) serializes every redemption of
        // one invite: the last use goes to exactly one registration.
        auto taken = run("take invite use",
                         "UPDATE registration_invites SET uses_left = uses_left - 1 WHERE token_sha256 = $1 AND "
                         "domain = $2 AND uses_left > 0 AND (username = '' OR username = $3)",
                         {r.invite_sha256, r.domain, r.username});
        if (!taken) {
            return unexpected(taken.error());
        }
        if (*taken == 0) {
            return registration_status::invite_refused;  // rolled back on scope exit
        }
    }
    auto reserved = query_int64("reserved by invite",
                                "SELECT COUNT(*) FROM registration_invites WHERE domain = $1 AND username = $2 AND "
                                "uses_left > 0 AND (expires_at = 0 OR expires_at > $3) AND token_sha256 <> $4",
                                {r.domain, r.username, r.now, r.invite_sha256});
    if (!reserved) {
        return unexpected(reserved.error());
    }
    if (reserved->value_or(0) > 0) {
        return registration_status::taken;
    }
    auto created = create_account(r.domain, r.username, creds);
    if (!created) {
        return unexpected(created.error());
    }
    if (!*created) {
        return registration_status::taken;
    }
    if (!r.invite_sha256.empty()) {
        // XEP-0401: a user's invitation makes inviter and invitee contacts (mutual subscription), in the same
        // transaction, so the new account's first message to its inviter is no stranger's.
        if (auto linked = befriend_inviter(r); !linked) {
            return unexpected(linked.error());
        }
    }
    if (r.pending) {
        auto queued = run("queue pending account",
                          "INSERT INTO pending_accounts (domain, username, requested_at, address) VALUES ($1, $2, $3, $4)",
                          {r.domain, r.username, r.now, r.address});
        if (!queued) {
            return unexpected(queued.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return registration_status::created;
}

result<void> sql_store::befriend_inviter(const new_registration& r) {
    auto inviter = query_text("find inviter", "SELECT inviter FROM registration_invites WHERE token_sha256 = $1",
                              {r.invite_sha256});
    if (!inviter) {
        return unexpected(inviter.error());
    }
    const std::string who = inviter->value_or("");
    const auto at = who.find('@');
    if (at == std::string::npos || at == 0) {
        return {};  // an administrator's invitation: nobody to befriend
    }
    const std::string inviter_user = who.substr(0, at);
    const std::string inviter_domain = who.substr(at + 1);
    auto exists = account_created_at(inviter_domain, inviter_user);
    if (!exists) {
        return unexpected(exists.error());
    }
    if (!*exists) {
        return {};  // the inviter's account is gone
    }
    roster_item to_inviter;
    to_inviter.contact = who;
    to_inviter.sub = subscription::both;
    if (auto put = put_roster_item(r.domain, r.username, to_inviter); !put) {
        return unexpected(put.error());
    }
    roster_item to_invitee;
    to_invitee.contact = r.username + "@" + r.domain;
    to_invitee.sub = subscription::both;
    if (auto put = put_roster_item(inviter_domain, inviter_user, to_invitee); !put) {
        return unexpected(put.error());
    }
    return {};
}

result<void> sql_store::put_invite(const registration_invite& i) {
    auto stored = run("put invite",
                      "INSERT INTO registration_invites (token_sha256, domain, username, inviter, uses_left, uses_total, "
                      "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (token_sha256) DO "
                      "UPDATE SET domain = excluded.domain, username = excluded.username, inviter = excluded.inviter, "
                      "uses_left = excluded.uses_left, uses_total = excluded.uses_total, "
                      "created_at = excluded.created_at, expires_at = excluded.expires_at",
                      {i.token_sha256, i.domain, i.username, i.inviter, i.uses_left, i.uses_total, i.created_at,
                       i.expires_at});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

namespace {

// Reads one row of token_sha256, domain, username, inviter, uses_left, uses_total, created_at, expires_at.
result<registration_invite> read_invite(const sql_row& row, sql_driver& driver) {
    registration_invite i;
    i.token_sha256 = row.text(0);
    i.domain = row.text(1);
    i.username = row.text(2);
    i.inviter = row.text(3);
    const auto left = row.int64(4);
    const auto total = row.int64(5);
    const auto created = row.int64(6);
    const auto expires = row.int64(7);
    if (!left || !total || !created || !expires) {
        return unexpected(driver.failure("read invite", "unreadable invite"));
    }
    i.uses_left = *left;
    i.uses_total = *total;
    i.created_at = *created;
    i.expires_at = *expires;
    return i;
}

}  // namespace

result<std::optional<registration_invite>> sql_store::get_invite(const std::string& token_sha256) {
    std::optional<registration_invite> found;
    auto done = run("get invite", "SELECT token_sha256, domain, username, inviter, uses_left, uses_total, created_at, expires_at "
                    "FROM registration_invites WHERE token_sha256 = $1",
                    {token_sha256}, [&](const sql_row& row) -> result<void> {
        auto invite = read_invite(row, *driver_);
        if (!invite) {
            return unexpected(invite.error());
        }
        found = std::move(*invite);
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

result<bool> sql_store::remove_invite(const std::string& token_sha256) {
    auto removed = run("remove invite", "DELETE FROM registration_invites WHERE token_sha256 = $1", {token_sha256});
    if (!removed) {
        return unexpected(removed.error());
    }
    return *removed > 0;
}

result<std::vector<registration_invite>> sql_store::list_invites() {
    std::vector<registration_invite> out;
    auto done = run("list invites",
                    "SELECT token_sha256, domain, username, inviter, uses_left, uses_total, created_at, expires_at "
                    "FROM registration_invites ORDER BY created_at DESC, token_sha256",
                    {}, [&](const sql_row& row) -> result<void> {
        auto invite = read_invite(row, *driver_);
        if (!invite) {
            return unexpected(invite.error());
        }
        out.push_back(std::move(*invite));
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<std::int64_t> sql_store::count_live_invites(const std::string& inviter, std::int64_t now) {
    auto n = query_int64("count live invites",
                         "SELECT COUNT(*) FROM registration_invites WHERE inviter = $1 AND uses_left > 0 AND "
                         "(expires_at = 0 OR expires_at > $2)",
                         {inviter, now});
    if (!n) {
        return unexpected(n.error());
    }
    return n->value_or(0);
}

result<std::int64_t> sql_store::delete_dead_invites(std::int64_t cutoff) {
    auto deleted = run("delete dead invites",
                       "DELETE FROM registration_invites WHERE uses_left <= 0 OR (expires_at <> 0 AND expires_at < $1)",
                       {cutoff});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return static_cast<std::int64_t>(*deleted);
}

result<std::vector<pending_account>> sql_store::list_pending_accounts() {
    std::vector<pending_account> out;
    auto done = run("list pending accounts",
                    "SELECT domain, username, requested_at, address FROM pending_accounts "
                    "ORDER BY requested_at, domain, username",
                    {}, [&](const sql_row& row) -> result<void> {
                        const auto at = row.int64(2);
                        if (!at) {
                            return unexpected(driver_->failure("list pending accounts", "unreadable row"));
                        }
                        out.push_back({row.text(0), row.text(1), *at, row.text(3)});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

result<bool> sql_store::is_pending(const std::string& domain, const std::string& username) {
    auto n = query_int64("is pending", "SELECT COUNT(*) FROM pending_accounts WHERE domain = $1 AND username = $2",
                         {domain, username});
    if (!n) {
        return unexpected(n.error());
    }
    return n->value_or(0) > 0;
}

result<bool> sql_store::approve_pending(const std::string& domain, const std::string& username) {
    auto removed = run("approve pending account", "DELETE FROM pending_accounts WHERE domain = $1 AND username = $2",
                       {domain, username});
    if (!removed) {
        return unexpected(removed.error());
    }
    return *removed > 0;
}

result<bool> sql_store::deny_pending(const std::string& domain, const std::string& username) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // Only a pending account: denying must never become a way to delete an approved one.
    auto removed = run("deny pending account",
                       "DELETE FROM accounts WHERE domain = $1 AND username = $2 AND EXISTS (SELECT 1 FROM "
                       "pending_accounts p WHERE p.domain = $1 AND p.username = $2)",
                       {domain, username});
    if (!removed) {
        return unexpected(removed.error());
    }
    // A pending account cannot log in to publish, but its PEP host and MUC affiliations go with it all
    // the same (as delete_account).
    if (*removed > 0) {
        if (auto pep = delete_pubsub_host(username + "@" + domain); !pep) {
            return unexpected(pep.error());
        }
        if (auto muc = delete_muc_affiliations_of(username + "@" + domain); !muc) {
            return unexpected(muc.error());
        }
        // Nor its archive, which rooms' archives share (migration 15: no foreign key).
        if (auto archive = trim_archive(domain, username, 0); !archive) {
            return unexpected(archive.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *removed > 0;
}

}  // namespace hush::storage
