// sql_store, anti-SPIM: the stanzas held for a receiver until their stranger sender passes the challenge, within
// per-sender, per-receiver and server-wide caps (the oldest request is evicted to make room).
#include <algorithm>
#include <string>
#include <utility>

#include "storage/sql_store.hpp"

namespace hush::storage {

// ---- held stanzas ----

result<std::vector<held_stanza_record>> sql_store::read_held(std::string_view context, const char* sql, params args) {
    std::vector<held_stanza_record> held;
    auto done = run(context, sql, args, [&](const sql_row& row) -> result<void> {
        const auto id = row.int64(0);
        const auto held_at = row.int64(2);
        if (!id || !held_at) {
            return unexpected(driver_->failure(context, "unreadable held stanza"));
        }
        held.push_back(held_stanza_record{*id, row.text(1), *held_at, row.text(3)});
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return held;
}

result<std::pair<std::int64_t, std::int64_t>> sql_store::delete_request(const std::string& domain,
                                                                       const std::string& username,
                                                                       const std::string& sender) {
    std::pair<std::int64_t, std::int64_t> freed{0, 0};
    auto deleted = run("evict held request",
                       "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND sender = $3 RETURNING bytes",
                       {domain, username, sender}, [&](const sql_row& row) -> result<void> {
                           ++freed.first;
                           freed.second += row.int64(0).value_or(0);
                           return {};
                       });
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return freed;
}

result<hold_outcome> sql_store::add_held_stanza(const std::string& domain, const std::string& username,
                                                const std::string& sender, const std::string& xml, std::int64_t now,
                                                const held_limits& limits) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // From the counts to the insert, other holds for the account wait: its caps cannot be overshot.
    if (auto locked = lock_account(domain, username); !locked) {
        return unexpected(locked.error());
    }
    if (limits.expire_before > 0) {
        auto expired = run("expire held stanzas",
                           "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND held_at < $3",
                           {domain, username, limits.expire_before});
        if (!expired) {
            return unexpected(expired.error());
        }
    }
    hold_outcome out;
    if (limits.max_per_sender > 0) {
        auto count = query_int64("count held stanzas",
                                 "SELECT COUNT(*) FROM held_stanzas "
                                 "WHERE domain = $1 AND username = $2 AND sender = $3",
                                 {domain, username, sender});
        if (!count) {
            return unexpected(count.error());
        }
        if (static_cast<std::uint64_t>(count->value_or(0)) >= limits.max_per_sender) {
            out.what = hold_outcome::kind::sender_full;
            if (auto committed = tx.commit(); !committed) {  // keeps the expiry
                return unexpected(committed.error());
            }
            return out;
        }
    }
    const auto size = static_cast<std::int64_t>(xml.size());
    // Each eviction deletes at least one request; the bound only guards against a pathological loop.
    constexpr std::size_t max_evictions = 1000;
    // Deletes one request and records it; returns its (stanzas, bytes).
    auto evict = [&](std::string evicted_domain, std::string evicted_username,
                     std::string evicted_sender) -> result<std::pair<std::int64_t, std::int64_t>> {
        auto freed = delete_request(evicted_domain, evicted_username, evicted_sender);
        if (freed) {
            out.evicted.push_back(evicted_request{std::move(evicted_domain), std::move(evicted_username),
                                                  std::move(evicted_sender), freed->first});
        }
        return freed;
    };

    if (limits.max_per_receiver > 0 || limits.max_bytes_per_receiver > 0) {
        std::int64_t count = 0;
        std::int64_t bytes = 0;
        auto summed = run("count held stanzas",
                          "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM held_stanzas "
                          "WHERE domain = $1 AND username = $2",
                          {domain, username}, [&](const sql_row& row) -> result<void> {
                              count = row.int64(0).value_or(0);
                              bytes = row.int64(1).value_or(0);
                              return {};
                          });
        if (!summed) {
            return unexpected(summed.error());
        }
        auto fits = [&] {
            return (limits.max_per_receiver == 0 || static_cast<std::uint64_t>(count) < limits.max_per_receiver) &&
                   (limits.max_bytes_per_receiver == 0 || bytes + size <= limits.max_bytes_per_receiver);
        };
        while (!fits()) {
            if (out.evicted.size() >= max_evictions) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            auto oldest = query_text("oldest held request",
                                     "SELECT sender FROM held_stanzas WHERE domain = $1 AND username = $2 AND "
                                     "sender <> $3 ORDER BY held_at, id LIMIT 1",
                                     {domain, username, sender});
            if (!oldest) {
                return unexpected(oldest.error());
            }
            if (!*oldest) {
                return hold_outcome{hold_outcome::kind::no_room, {}};  // rolled back: nothing evicted after all
            }
            auto freed = evict(domain, username, **oldest);
            if (!freed) {
                return unexpected(freed.error());
            }
            count -= freed->first;
            bytes -= freed->second;
        }
    }

    if (limits.max_total > 0) {
        auto total = query_int64("count held stanzas", "SELECT COUNT(*) FROM held_stanzas", {});
        if (!total) {
            return unexpected(total.error());
        }
        std::int64_t count = total->value_or(0);
        while (static_cast<std::uint64_t>(count) >= limits.max_total) {
            if (out.evicted.size() >= max_evictions) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            std::optional<evicted_request> oldest;
            // The oldest stanza anywhere belongs to the request whose oldest stanza is oldest.
            auto found = run("oldest held request",
                             "SELECT domain, username, sender FROM held_stanzas "
                             "WHERE NOT (domain = $1 AND username = $2 AND sender = $3) ORDER BY held_at, id LIMIT 1",
                             {domain, username, sender}, [&](const sql_row& row) -> result<void> {
                                 oldest = evicted_request{row.text(0), row.text(1), row.text(2), 0};
                                 return {};
                             });
            if (!found) {
                return unexpected(found.error());
            }
            if (!oldest) {
                return hold_outcome{hold_outcome::kind::no_room, {}};
            }
            auto freed = evict(std::move(oldest->domain), std::move(oldest->username), std::move(oldest->sender));
            if (!freed) {
                return unexpected(freed.error());
            }
            count -= freed->first;
        }
    }

    auto stored = run("hold stanza",
                      "INSERT INTO held_stanzas (domain, username, sender, held_at, bytes, xml) "
                      "VALUES ($1, $2, $3, $4, $5, $6)",
                      {domain, username, sender, now, size, xml});
    if (!stored) {
        return unexpected(stored.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    out.what = out.evicted.empty() ? hold_outcome::kind::held : hold_outcome::kind::evicted;
    return out;
}

result<std::vector<held_stanza_record>> sql_store::take_held_stanzas(const std::string& domain,
                                                                     const std::string& username,
                                                                     const std::string& sender) {
    // One statement: two takers of the same request each get a stanza at most once.
    auto taken = read_held("take held stanzas",
                           "DELETE FROM held_stanzas WHERE domain = $1 AND username = $2 AND sender = $3 "
                           "RETURNING id, sender, held_at, xml",
                           {domain, username, sender});
    if (!taken) {
        return taken;
    }
    // RETURNING promises no order.
    std::sort(taken->begin(), taken->end(), [](const held_stanza_record& a, const held_stanza_record& b) {
        return std::pair(a.held_at, a.id) < std::pair(b.held_at, b.id);
    });
    return taken;
}

result<std::vector<held_stanza_record>> sql_store::list_held_stanzas(const std::string& domain,
                                                                     const std::string& username) {
    return read_held("list held stanzas",
                     "SELECT id, sender, held_at, xml FROM held_stanzas WHERE domain = $1 AND username = $2 "
                     "ORDER BY sender, held_at, id",
                     {domain, username});
}

result<std::vector<std::string>> sql_store::held_senders(const std::string& domain, const std::string& username) {
    return query_texts("held senders",
                       "SELECT DISTINCT sender FROM held_stanzas WHERE domain = $1 AND username = $2 ORDER BY sender",
                       {domain, username});
}

result<held_totals> sql_store::count_held() {
    held_totals totals;
    // One statement, so the three agree.
    auto done = run("count held stanzas",
                    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM held_stanzas GROUP BY domain, username, sender) r), "
                    "COUNT(*), COALESCE(SUM(bytes), 0) FROM held_stanzas",
                    {}, [&](const sql_row& row) -> result<void> {
                        const auto requests = row.int64(0);
                        const auto stanzas = row.int64(1);
                        const auto bytes = row.int64(2);
                        if (!requests || !stanzas || !bytes) {
                            return unexpected(driver_->failure("count held stanzas", "unreadable counts"));
                        }
                        totals = held_totals{*requests, *stanzas, *bytes};
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return totals;
}

result<std::int64_t> sql_store::delete_held_before(std::int64_t cutoff, std::size_t limit) {
    auto deleted = run("delete expired held stanzas",
                       "DELETE FROM held_stanzas WHERE held_at < $1 AND id IN (SELECT id FROM held_stanzas "
                       "WHERE held_at < $1 ORDER BY held_at, id LIMIT $2)",
                       {cutoff, static_cast<std::int64_t>(limit)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

}  // namespace hush::storage
