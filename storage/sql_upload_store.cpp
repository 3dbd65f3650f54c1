// sql_store, XEP-0363 HTTP file upload (migration 16): slots and the files stored under them. A slot is created
// under the account's lock after the limits were read in the same transaction, and claimed for its PUT by one
// conditional update, so neither a burst of requests nor two racing PUTs get past what is allowed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/sql_store.hpp"

namespace hush::storage {
namespace {

#define UPLOAD_COLUMNS                                                                                          \
    "id, secret_sha256, domain, username, filename, size, content_type, state, created_at, expires_at, "       \
    "uploaded_at"

std::string_view state_to_sql(upload_state s) {
    switch (s) {
    case upload_state::uploading:
        return "uploading";
    case upload_state::stored:
        return "stored";
    case upload_state::pending:
        break;
    }
    return "pending";
}

std::optional<upload_state> state_from_sql(std::string_view s) {
    if (s == "pending") {
        return upload_state::pending;
    }
    if (s == "uploading") {
        return upload_state::uploading;
    }
    if (s == "stored") {
        return upload_state::stored;
    }
    return std::nullopt;
}

std::optional<upload_record> upload_from_row(const sql_row& row) {
    const auto size = row.int64(5);
    const auto state = state_from_sql(row.text(7));
    const auto created = row.int64(8);
    const auto expires = row.int64(9);
    const auto uploaded = row.int64(10);
    if (!size || !state || !created || !expires || !uploaded) {
        return std::nullopt;
    }
    return upload_record{row.text(0), row.text(1), row.text(2), row.text(3), row.text(4), *size,
                         row.text(6), *state,      *created,    *expires,    *uploaded};
}

}  // namespace

result<std::vector<upload_record>> sql_store::read_uploads(std::string_view context, const char* sql, params args) {
    std::vector<upload_record> rows;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        auto r = upload_from_row(row);
        if (!r) {
            return unexpected(driver_->failure(context, "unreadable upload row"));
        }
        rows.push_back(std::move(*r));
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return rows;
}

result<upload_slot_outcome> sql_store::create_upload_slot(const upload_record& r, const upload_limits& limits,
                                                          std::int64_t now) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // Read, decide and write under the account's lock: a parallel request waits here and then sees this slot.
    if (auto locked = lock_account(r.domain, r.username); !locked) {
        return unexpected(locked.error());
    }
    std::int64_t used = 0;
    std::int64_t pending = 0;
    std::int64_t recent = 0;
    auto read = run("upload usage",
                    "SELECT CAST(COALESCE(SUM(CASE WHEN expires_at > $3 THEN size ELSE 0 END), 0) AS BIGINT), "
                    "CAST(COALESCE(SUM(CASE WHEN expires_at > $3 AND state <> 'stored' THEN 1 ELSE 0 END), 0) "
                    "AS BIGINT), "
                    "CAST(COALESCE(SUM(CASE WHEN created_at > $4 THEN 1 ELSE 0 END), 0) AS BIGINT) "
                    "FROM upload_files WHERE domain = $1 AND username = $2",
                    {r.domain, r.username, now, now - 60}, [&](const sql_row& row) -> result<void> {
                        const auto a = row.int64(0);
                        const auto b = row.int64(1);
                        const auto c = row.int64(2);
                        if (!a || !b || !c) {
                            return unexpected(driver_->failure("upload usage", "unreadable sums"));
                        }
                        used = *a;
                        pending = *b;
                        recent = *c;
                        return {};
                    });
    if (!read) {
        return unexpected(read.error());
    }
    upload_slot_outcome outcome{upload_slot_status::created, used};
    if (recent >= limits.max_per_minute) {
        outcome.status = upload_slot_status::too_many_per_minute;
    } else if (pending >= limits.max_pending) {
        outcome.status = upload_slot_status::too_many_pending;
    } else if (used + r.size > limits.quota_bytes) {
        outcome.status = upload_slot_status::quota_exceeded;
    }
    if (outcome.status != upload_slot_status::created) {
        return outcome;  // nothing written: rolled back on scope exit
    }
    auto inserted = run("create upload slot",
                        "INSERT INTO upload_files (" UPLOAD_COLUMNS
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        {r.id, r.secret_sha256, r.domain, r.username, r.filename, r.size, r.content_type,
                         state_to_sql(r.state), r.created_at, r.expires_at, r.uploaded_at});
    if (!inserted) {
        return unexpected(inserted.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return outcome;
}

result<bool> sql_store::claim_upload_slot(const std::string& id, const std::string& secret_sha256, std::int64_t now,
                                          std::int64_t deadline) {
    auto claimed = run("claim upload slot",
                       "UPDATE upload_files SET state = 'uploading', expires_at = $4 "
                       "WHERE id = $1 AND secret_sha256 = $2 AND state = 'pending' AND expires_at > $3",
                       {id, secret_sha256, now, deadline});
    if (!claimed) {
        return unexpected(claimed.error());
    }
    return *claimed == 1;
}

result<bool> sql_store::finish_upload(const std::string& id, std::int64_t now, std::int64_t expires_at) {
    auto finished = run("finish upload",
                        "UPDATE upload_files SET state = 'stored', uploaded_at = $2, expires_at = $3 "
                        "WHERE id = $1 AND state = 'uploading'",
                        {id, now, expires_at});
    if (!finished) {
        return unexpected(finished.error());
    }
    return *finished == 1;
}

result<std::optional<upload_record>> sql_store::get_upload(const std::string& id) {
    auto rows = read_uploads("get upload", "SELECT " UPLOAD_COLUMNS " FROM upload_files WHERE id = $1", {id});
    if (!rows) {
        return unexpected(rows.error());
    }
    if (rows->empty()) {
        return std::optional<upload_record>{};
    }
    return std::optional<upload_record>{std::move(rows->front())};
}

result<bool> sql_store::delete_upload(const std::string& id) {
    auto deleted = run("delete upload", "DELETE FROM upload_files WHERE id = $1", {id});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

result<std::vector<upload_record>> sql_store::expired_uploads(std::int64_t now, std::size_t limit) {
    return read_uploads("expired uploads",
                        "SELECT " UPLOAD_COLUMNS " FROM upload_files WHERE expires_at <= $1 "
                        "ORDER BY expires_at, id LIMIT $2",
                        {now, static_cast<std::int64_t>(limit)});
}

result<std::vector<upload_record>> sql_store::list_uploads(const std::string& domain, const std::string& username,
                                                           std::size_t limit) {
    if (domain.empty() && username.empty()) {
        return read_uploads("list uploads", "SELECT " UPLOAD_COLUMNS " FROM upload_files ORDER BY id LIMIT $1",
                            {static_cast<std::int64_t>(limit)});
    }
    return read_uploads("list uploads",
                        "SELECT " UPLOAD_COLUMNS " FROM upload_files WHERE domain = $1 AND username = $2 "
                        "ORDER BY id LIMIT $3",
                        {domain, username, static_cast<std::int64_t>(limit)});
}

result<std::vector<upload_usage>> sql_store::upload_usage_by_account() {
    std::vector<upload_usage> out;
    auto done = run("upload usage by account",
                    "SELECT domain, username, "
                    "CAST(COALESCE(SUM(CASE WHEN state = 'stored' THEN 1 ELSE 0 END), 0) AS BIGINT), "
                    "CAST(COALESCE(SUM(CASE WHEN state = 'stored' THEN size ELSE 0 END), 0) AS BIGINT), "
                    "CAST(COALESCE(SUM(CASE WHEN state <> 'stored' THEN 1 ELSE 0 END), 0) AS BIGINT) "
                    "FROM upload_files GROUP BY domain, username ORDER BY domain, username",
                    {}, [&](const sql_row& row) -> result<void> {
                        const auto files = row.int64(2);
                        const auto bytes = row.int64(3);
                        const auto pending = row.int64(4);
                        if (!files || !bytes || !pending) {
                            return unexpected(driver_->failure("upload usage by account", "unreadable sums"));
                        }
                        out.push_back(upload_usage{row.text(0), row.text(1), *files, *bytes, *pending});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return out;
}

#undef UPLOAD_COLUMNS

}  // namespace hush::storage
