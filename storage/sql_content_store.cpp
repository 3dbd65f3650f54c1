// sql_store, the content policy's Bayes model: token counts (keyed hashes, never words) and message totals.
#include "storage/sql_store.hpp"

namespace hush::storage {

result<content_model> sql_store::load_content_model(std::size_t max_tokens) {
    content_model model;
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_read(); !begun) {
        return unexpected(begun.error());
    }
    auto totals = run("load content totals", "SELECT class, messages FROM content_totals", {},
                      [&](const sql_row& row) -> result<void> {
                          const auto n = row.int64(1).value_or(0);
                          (row.text(0) == "spam" ? model.spam_messages : model.ham_messages) = n;
                          return {};
                      });
    if (!totals) {
        return unexpected(totals.error());
    }
    auto tokens = run("load content tokens",
                      "SELECT token, spam, ham FROM content_tokens ORDER BY spam + ham DESC, seen_at DESC LIMIT $1",
                      {static_cast<std::int64_t>(max_tokens)}, [&](const sql_row& row) -> result<void> {
                          model.tokens.push_back({row.int64(0).value_or(0), row.int64(1).value_or(0),
                                                  row.int64(2).value_or(0)});
                          return {};
                      });
    if (!tokens) {
        return unexpected(tokens.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return model;
}

result<void> sql_store::train_content(bool spam, const std::vector<std::int64_t>& tokens, std::int64_t now,
                                      std::size_t max_tokens) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    const std::int64_t s = spam ? 1 : 0;
    const std::int64_t h = spam ? 0 : 1;
    for (const auto token : tokens) {
        auto stored = run("train content",
                          "INSERT INTO content_tokens (token, spam, ham, seen_at) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (token) DO UPDATE SET spam = content_tokens.spam + excluded.spam, "
                          "ham = content_tokens.ham + excluded.ham, seen_at = excluded.seen_at",
                          {token, s, h, now});
        if (!stored) {
            return unexpected(stored.error());
        }
    }
    auto counted = run("train content",
                       "INSERT INTO content_totals (class, messages) VALUES ($1, 1) "
                       "ON CONFLICT (class) DO UPDATE SET messages = content_totals.messages + 1",
                       {std::string(spam ? "spam" : "ham")});
    if (!counted) {
        return unexpected(counted.error());
    }
    auto stored_tokens = query_int64("count content tokens", "SELECT COUNT(*) FROM content_tokens", {});
    if (!stored_tokens) {
        return unexpected(stored_tokens.error());
    }
    const auto cap = static_cast<std::int64_t>(max_tokens);
    if (stored_tokens->value_or(0) > cap) {
        // Forget a tenth more than the excess at once, so that pruning (a scan) is rare.
        const std::int64_t excess = stored_tokens->value_or(0) - cap + cap / 10;
        auto pruned = run("prune content tokens",
                          "DELETE FROM content_tokens WHERE token IN (SELECT token FROM content_tokens "
                          "ORDER BY spam + ham, seen_at LIMIT $1)",
                          {excess});
        if (!pruned) {
            return unexpected(pruned.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return {};
}

result<void> sql_store::reset_content() {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    for (const char* sql : {"DELETE FROM content_tokens", "DELETE FROM content_totals"}) {
        if (auto done = run("reset content", sql, {}); !done) {
            return unexpected(done.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return {};
}

}  // namespace hush::storage
