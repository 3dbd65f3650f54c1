// sql_store, XEP-0313 message archive (migrations 10, 11): append, page queries, retention, the per-account cap and
// archiving preferences. Every page query is one range scan of (domain, username, id) or (domain, username,
// with_jid, id): ids are archive times in microseconds, so start/end become id bounds too.
#include <algorithm>
#include <limits>
#include <string_view>
#include <string>
#include <vector>

#include "storage/sql_store.hpp"

namespace hush::storage {

namespace {

constexpr std::int64_t id_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t id_max = std::numeric_limits<std::int64_t>::max();
// A clash means another item was archived in the same microsecond; a run this long means something is wrong.
constexpr int max_append_attempts = 64;

std::string join_lines(const std::vector<std::string>& jids) {
    std::string out;
    for (const auto& j : jids) {
        if (!out.empty()) {
            out += '\n';
        }
        out += j;
    }
    return out;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end > start) {
            out.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

}  // namespace

result<std::int64_t> sql_store::append_archive(const std::string& domain, const std::string& username,
                                               const archived_message& m) {
    const std::int64_t direction = m.direction == archive_direction::outgoing ? 1 : 0;
    std::int64_t id = m.id;
    for (int attempt = 0; attempt < max_append_attempts; ++attempt, ++id) {
        auto inserted = run("append to archive",
                            "INSERT INTO message_archive (domain, username, id, with_jid, direction, stanza) "
                            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, username, id) DO NOTHING",
                            {domain, username, id, m.with, direction, m.stanza});
        if (!inserted) {
            return unexpected(inserted.error());
        }
        if (*inserted > 0) {
            return id;
        }
    }
    return unexpected(driver_->failure("append to archive", "no free archive id"));
}

result<std::int64_t> sql_store::max_archive_id() {
    // The index on id alone (message_archive_by_age) answers it from its last entry; no row: an empty archive.
    auto found = query_int64("max archive id", "SELECT id FROM message_archive ORDER BY id DESC LIMIT 1", {});
    if (!found) {
        return unexpected(found.error());
    }
    return found->value_or(0);
}

result<archive_page> sql_store::query_archive(const std::string& domain, const std::string& username,
                                              const archive_query& q) {
    archive_page page;
    // The existence check, the page and the count see one snapshot.
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_read(); !begun) {
        return unexpected(begun.error());
    }
    auto references = q.references;
    for (const auto& reference : {q.after, q.before}) {
        if (reference) {
            references.push_back(*reference);
        }
    }
    for (const auto reference : references) {
        auto found = query_int64("find archive item",
                                 "SELECT id FROM message_archive WHERE domain = $1 AND username = $2 AND id = $3",
                                 {domain, username, reference});
        if (!found) {
            return unexpected(found.error());
        }
        if (!found->has_value()) {
            page.unknown_reference = true;
            return page;
        }
    }
    // Exclusive bounds: (lower, upper).
    std::int64_t lower = id_min;
    std::int64_t upper = id_max;
    if (q.start && *q.start > id_min) {
        lower = std::max(lower, *q.start - 1);
    }
    if (q.after) {
        lower = std::max(lower, *q.after);
    }
    if (q.end && *q.end < id_max) {
        upper = std::min(upper, *q.end + 1);
    }
    if (q.before) {
        upper = std::min(upper, *q.before);
    }

    // Past the byte budget the page is full: the row handler stops the statement (an error the driver returns,
    // told apart by `full`), so the rest is never read.
    std::size_t bytes = 0;
    bool full = false;
    auto read_item = [&](const sql_row& row) -> result<void> {
        const auto id = row.int64(0);
        const auto direction = row.int64(2);
        if (!id || !direction) {
            return unexpected(driver_->failure("query archive", "unreadable archive item"));
        }
        if (page.items.size() >= q.max) {
            // The row past the page (it only says there is more), not counted against the budget.
            page.items.push_back(archived_message{*id, {}, archive_direction::incoming, {}});
            return {};
        }
        std::string stanza = row.text(3);
        bytes += stanza.size() + q.item_overhead;
        if (q.max_bytes > 0 && !page.items.empty() && bytes > q.max_bytes) {
            full = true;
            return unexpected(driver_->failure("query archive", "page full"));
        }
        page.items.push_back(archived_message{
            *id, row.text(1), *direction == 1 ? archive_direction::outgoing : archive_direction::incoming,
            std::move(stanza)});
        return {};
    };
    auto failed = [&full](const result<long>& read) { return !read && !full; };
    const std::int64_t limit = static_cast<std::int64_t>(q.max) + 1;
    if (!q.ids.empty()) {
        // XEP-0313 "ids": point lookups, in id order, within the other bounds.
        auto wanted = q.ids;
        std::sort(wanted.begin(), wanted.end());
        wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
        if (q.backward) {
            std::reverse(wanted.begin(), wanted.end());
        }
        for (const auto id : wanted) {
            if (static_cast<std::int64_t>(page.items.size()) >= limit || full) {
                break;
            }
            if (id <= lower || id >= upper) {
                continue;
            }
            auto read = run("query archive",
                            "SELECT id, with_jid, direction, stanza FROM message_archive "
                            "WHERE domain = $1 AND username = $2 AND id = $3 AND ($4 = '' OR with_jid = $4)",
                            {domain, username, id, q.with}, read_item);
            if (failed(read)) {
                return unexpected(read.error());
            }
        }
    } else {
        // Fixed statements (the drivers cache them by their text's address): with or without `with`, each way.
        const char* sql = nullptr;
        if (q.with.empty()) {
            sql = q.backward ? "SELECT id, with_jid, direction, stanza FROM message_archive WHERE domain = $1 AND "
                               "username = $2 AND id > $3 AND id < $4 ORDER BY id DESC LIMIT $5"
                             : "SELECT id, with_jid, direction, stanza FROM message_archive WHERE domain = $1 AND "
                               "username = $2 AND id > $3 AND id < $4 ORDER BY id ASC LIMIT $5";
        } else {
            sql = q.backward ? "SELECT id, with_jid, direction, stanza FROM message_archive WHERE domain = $1 AND "
                               "username = $2 AND with_jid = $6 AND id > $3 AND id < $4 ORDER BY id DESC LIMIT $5"
                             : "SELECT id, with_jid, direction, stanza FROM message_archive WHERE domain = $1 AND "
                               "username = $2 AND with_jid = $6 AND id > $3 AND id < $4 ORDER BY id ASC LIMIT $5";
        }
        const std::string_view with = q.with;
        auto read = q.with.empty() ? run("query archive", sql, {domain, username, lower, upper, limit}, read_item)
                                   : run("query archive", sql, {domain, username, lower, upper, limit, with}, read_item);
        if (failed(read)) {
            return unexpected(read.error());
        }
    }
    // One row more than asked for tells whether the result set goes on in the paging direction; a page cut by
    // the byte budget does too.
    page.complete = page.items.size() <= q.max && !full;
    if (page.items.size() > q.max) {
        page.items.pop_back();
    }
    if (q.backward) {
        std::reverse(page.items.begin(), page.items.end());
    }
    if (q.count && !q.ids.empty()) {
        // The result set is the listed items within with/start/end: counted by point lookups (ids are few).
        auto listed = q.ids;
        std::sort(listed.begin(), listed.end());
        listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
        std::int64_t counted = 0;
        for (const auto id : listed) {
            if ((q.start && id < *q.start) || (q.end && id > *q.end)) {
                continue;
            }
            auto one = query_int64("count archive",
                                   "SELECT COUNT(*) FROM message_archive WHERE domain = $1 AND username = $2 "
                                   "AND id = $3 AND ($4 = '' OR with_jid = $4)",
                                   {domain, username, id, q.with});
            if (!one) {
                return unexpected(one.error());
            }
            counted += one->value_or(0);
        }
        page.count = counted;
    } else if (q.count) {
        const std::int64_t first = q.start.value_or(id_min);
        const std::int64_t last = q.end.value_or(id_max);
        auto counted = q.with.empty()
                           ? query_int64("count archive",
                                         "SELECT COUNT(*) FROM message_archive WHERE domain = $1 AND username = $2 "
                                         "AND id >= $3 AND id <= $4",
                                         {domain, username, first, last})
                           : query_int64("count archive",
                                         "SELECT COUNT(*) FROM message_archive WHERE domain = $1 AND username = $2 "
                                         "AND with_jid = $5 AND id >= $3 AND id <= $4",
                                         {domain, username, first, last, q.with});
        if (!counted) {
            return unexpected(counted.error());
        }
        page.count = counted->value_or(0);
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return page;
}

// The deletions skip items an offline message references: the item may be that message's only copy
// (drop_offline_copies). Bounded: an account has at most its offline quota of them.
result<bool> sql_store::delete_archive_item(const std::string& domain, const std::string& username, std::int64_t id) {
    auto deleted = run("delete archive item",
                       "DELETE FROM message_archive WHERE domain = $1 AND username = $2 AND id = $3 AND NOT EXISTS "
                       "(SELECT 1 FROM offline_messages o WHERE o.domain = $1 AND o.username = $2 "
                       "AND o.archive_id = $3)",
                       {domain, username, id});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

result<std::int64_t> sql_store::delete_archive_before(std::int64_t cutoff, std::size_t limit) {
    // Skipped in the inner query, so referenced items do not fill the batch (the sweep stops at a short one).
    auto deleted = run("delete expired archive items",
                       "DELETE FROM message_archive WHERE id < $1 AND (domain, username, id) IN "
                       "(SELECT a.domain, a.username, a.id FROM message_archive a WHERE a.id < $1 AND NOT EXISTS "
                       "(SELECT 1 FROM offline_messages o WHERE o.domain = a.domain AND o.username = a.username "
                       "AND o.archive_id = a.id) ORDER BY a.id LIMIT $2)",
                       {cutoff, static_cast<std::int64_t>(limit)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

result<std::int64_t> sql_store::trim_archive(const std::string& domain, const std::string& username,
                                             std::size_t keep) {
    // The newest `keep` stay: everything up to the (keep+1)-th newest goes (nothing when there are fewer), but
    // what offline messages reference (only the rows going are looked up: the offset scan stays as cheap).
    auto deleted = run("trim archive",
                       "DELETE FROM message_archive WHERE domain = $1 AND username = $2 AND id <= "
                       "(SELECT id FROM message_archive WHERE domain = $1 AND username = $2 "
                       "ORDER BY id DESC LIMIT 1 OFFSET $3) AND NOT EXISTS "
                       "(SELECT 1 FROM offline_messages o WHERE o.domain = $1 AND o.username = $2 "
                       "AND o.archive_id = message_archive.id)",
                       {domain, username, static_cast<std::int64_t>(keep)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

result<std::optional<archive_prefs>> sql_store::get_archive_prefs(const std::string& domain,
                                                                  const std::string& username) {
    std::optional<archive_prefs> found;
    auto done = run("get archive prefs",
                    "SELECT default_mode, always_jids, never_jids FROM message_archive_prefs "
                    "WHERE domain = $1 AND username = $2",
                    {domain, username}, [&](const sql_row& row) -> result<void> {
                        archive_prefs p;
                        p.mode = parse_archive_default(row.text(0)).value_or(archive_default::always);
                        p.always = split_lines(row.text(1));
                        p.never = split_lines(row.text(2));
                        found = std::move(p);
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

result<void> sql_store::put_archive_prefs(const std::string& domain, const std::string& username,
                                          const archive_prefs& prefs) {
    auto always = prefs.always;
    auto never = prefs.never;
    std::sort(always.begin(), always.end());
    std::sort(never.begin(), never.end());
    const std::string always_text = join_lines(always);
    const std::string never_text = join_lines(never);
    auto stored = run("put archive prefs",
                      "INSERT INTO message_archive_prefs (domain, username, default_mode, always_jids, never_jids) "
                      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, username) DO UPDATE SET "
                      "default_mode = excluded.default_mode, always_jids = excluded.always_jids, "
                      "never_jids = excluded.never_jids",
                      {domain, username, to_string(prefs.mode), always_text, never_text});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

}  // namespace hush::storage
