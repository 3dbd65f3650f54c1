// sql_store, XEP-0060 publish-subscribe (migration 13): nodes on a host (an account's bare JID for PEP, or a
// service's domain), their items newest first, subscriptions and affiliations. The node configuration and item
// payloads are opaque text here: the engine (server/pubsub) serializes and reads them.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/sql_store.hpp"

namespace hush::storage {
namespace {

// Items by id are looked up this many at a time, with one statement: sqlite_driver caches statements by the address
// of their text, so the text must live as long as the program and never vary. A short chunk repeats its last id.
constexpr std::size_t ids_per_query = 16;

const char* items_by_ids_sql() {
    static const std::string sql = [] {
        std::string text = "SELECT id, publisher, payload, published_at, seq FROM pubsub_items WHERE host = $1 AND "
                           "node = $2 AND id IN (";
        for (std::size_t i = 0; i < ids_per_query; ++i) {
            text += (i == 0 ? "$" : ", $") + std::to_string(i + 3);
        }
        return text + ")";
    }();
    return sql.c_str();
}

// LIMIT and OFFSET values: a size_t, clamped to what a bigint holds.
std::int64_t as_int64(std::size_t n) {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, std::numeric_limits<std::int64_t>::max()));
}

// A row of (host, node, config, owner, created_at); nullopt when unreadable.
std::optional<pubsub_node_record> node_from_row(const sql_row& row) {
    const auto created = row.int64(4);
    if (!created) {
        return std::nullopt;
    }
    return pubsub_node_record{row.text(0), row.text(1), row.text(2), row.text(3), *created};
}

// The bare-JID test of pubsub_subscriptions_of: a bare JID has no resource.
bool is_bare(const std::string& jid) {
    return jid.find('/') == std::string::npos;
}

}  // namespace

// ---- nodes ----

result<std::optional<pubsub_node_record>> sql_store::get_pubsub_node(const std::string& host, const std::string& node,
                                                                     bool lock) {
    std::optional<pubsub_node_record> found;
    auto read = [&](const sql_row& row) -> result<void> {
        found = node_from_row(row);
        if (!found) {
            return unexpected(driver_->failure("get pubsub node", "unreadable node row"));
        }
        return {};
    };
    // FOR UPDATE keeps the row locked until the caller's transaction ends (read-decide-write on the node, e.g.
    // publish against its configuration). SQLite has no row locks: its write transaction holds the database.
    const bool row_lock = lock && driver_->dialect() == sql_dialect::postgresql;
    auto done = row_lock ? run("get pubsub node",
                               "SELECT host, node, config, owner, created_at FROM pubsub_nodes "
                               "WHERE host = $1 AND node = $2 FOR UPDATE",
                               {host, node}, read)
                         : run("get pubsub node",
                               "SELECT host, node, config, owner, created_at FROM pubsub_nodes "
                               "WHERE host = $1 AND node = $2",
                               {host, node}, read);
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

result<std::vector<pubsub_node_record>> sql_store::list_pubsub_nodes(const std::string& host) {
    std::vector<pubsub_node_record> nodes;
    auto done = run("list pubsub nodes",
                    "SELECT host, node, config, owner, created_at FROM pubsub_nodes WHERE host = $1 ORDER BY node",
                    {host}, [&](const sql_row& row) -> result<void> {
                        auto n = node_from_row(row);
                        if (!n) {
                            return unexpected(driver_->failure("list pubsub nodes", "unreadable node row"));
                        }
                        nodes.push_back(std::move(*n));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return nodes;
}

result<std::int64_t> sql_store::count_pubsub_nodes(const std::string& host) {
    auto count = query_int64("count pubsub nodes", "SELECT COUNT(*) FROM pubsub_nodes WHERE host = $1", {host});
    if (!count) {
        return unexpected(count.error());
    }
    return count->value_or(0);
}

result<bool> sql_store::create_pubsub_node(const pubsub_node_record& record) {
    auto created = run("create pubsub node",
                       "INSERT INTO pubsub_nodes (host, node, config, owner, created_at) VALUES ($1, $2, $3, $4, $5) "
                       "ON CONFLICT (host, node) DO NOTHING",
                       {record.host, record.node, record.config, record.owner, record.created_at});
    if (!created) {
        return unexpected(created.error());
    }
    return *created > 0;
}

result<bool> sql_store::set_pubsub_node_config(const std::string& host, const std::string& node,
                                               const std::string& config) {
    auto updated = run("set pubsub node config", "UPDATE pubsub_nodes SET config = $3 WHERE host = $1 AND node = $2",
                       {host, node, config});
    if (!updated) {
        return unexpected(updated.error());
    }
    return *updated > 0;
}

result<bool> sql_store::delete_pubsub_node(const std::string& host, const std::string& node) {
    // Items, subscriptions and affiliations reference the node ON DELETE CASCADE.
    auto deleted =
        run("delete pubsub node", "DELETE FROM pubsub_nodes WHERE host = $1 AND node = $2", {host, node});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

result<std::int64_t> sql_store::purge_pubsub_node(const std::string& host, const std::string& node) {
    auto deleted =
        run("purge pubsub node", "DELETE FROM pubsub_items WHERE host = $1 AND node = $2", {host, node});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

result<void> sql_store::delete_pubsub_host(const std::string& host) {
    // The account's PEP nodes and the service nodes it created; the node rows take their items, subscriptions and
    // affiliations with them (ON DELETE CASCADE). Then what it holds on other nodes, anywhere: a name registered
    // again must not inherit subscriptions (notifications from this server's own service pass unjudged), a
    // whitelist membership or an ownership. Its full JIDs' subscriptions are those in [host + "/", host + "0").
    if (auto deleted = run("delete pubsub host", "DELETE FROM pubsub_nodes WHERE host = $1 OR owner = $1", {host});
        !deleted) {
        return unexpected(deleted.error());
    }
    if (auto deleted = run("delete pubsub subscriptions of",
                           "DELETE FROM pubsub_subscriptions WHERE jid = $1 OR (jid >= $2 AND jid < $3)",
                           {host, host + "/", host + "0"});
        !deleted) {
        return unexpected(deleted.error());
    }
    if (auto deleted = run("delete pubsub affiliations of", "DELETE FROM pubsub_affiliations WHERE jid = $1", {host});
        !deleted) {
        return unexpected(deleted.error());
    }
    return {};
}

// ---- items ----

result<void> sql_store::put_pubsub_item(const std::string& host, const std::string& node,
                                        const pubsub_item_record& item) {
    // seq breaks ties within one microsecond: one more than the node's highest, the replaced row included, so the
    // item put last is the newest among equal published_at. (Two puts racing on one node without its lock may
    // share a seq; then their order among equal published_at is the id's.)
    auto put = run("put pubsub item",
                   "INSERT INTO pubsub_items (host, node, id, publisher, payload, published_at, seq) "
                   "VALUES ($1, $2, $3, $4, $5, $6, "
                   "(SELECT COALESCE(MAX(seq), 0) + 1 FROM pubsub_items WHERE host = $1 AND node = $2)) "
                   "ON CONFLICT (host, node, id) DO UPDATE SET publisher = excluded.publisher, "
                   "payload = excluded.payload, published_at = excluded.published_at, seq = excluded.seq",
                   {host, node, item.id, item.publisher, item.payload, item.published_at});
    if (!put) {
        return unexpected(put.error());
    }
    return {};
}

result<std::vector<std::string>> sql_store::trim_pubsub_items(const std::string& host, const std::string& node,
                                                              std::size_t keep) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // Everything past the newest `keep`, newest first. (LIMIT with OFFSET: SQLite wants a LIMIT, PostgreSQL
    // refuses a negative one.)
    auto doomed = query_texts("trim pubsub items",
                              "SELECT id FROM pubsub_items WHERE host = $1 AND node = $2 "
                              "ORDER BY published_at DESC, seq DESC, id DESC LIMIT $3 OFFSET $4",
                              {host, node, std::numeric_limits<std::int64_t>::max(), as_int64(keep)});
    if (!doomed) {
        return unexpected(doomed.error());
    }
    for (const auto& id : *doomed) {
        auto deleted = run("trim pubsub items", "DELETE FROM pubsub_items WHERE host = $1 AND node = $2 AND id = $3",
                           {host, node, id});
        if (!deleted) {
            return unexpected(deleted.error());
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return std::move(*doomed);
}

result<std::vector<pubsub_item_record>> sql_store::get_pubsub_items(const std::string& host, const std::string& node,
                                                                    const std::vector<std::string>& ids,
                                                                    std::size_t max) {
    // (published_at, seq, item): the order key travels with each row, for sorting chunks of ids together.
    std::vector<std::tuple<std::int64_t, std::int64_t, pubsub_item_record>> rows;
    auto read = [&](const sql_row& row) -> result<void> {
        const auto published = row.int64(3);
        const auto seq = row.int64(4);
        if (!published || !seq) {
            return unexpected(driver_->failure("get pubsub items", "unreadable item row"));
        }
        rows.emplace_back(*published, *seq, pubsub_item_record{row.text(0), row.text(1), row.text(2), *published});
        return {};
    };
    if (ids.empty()) {
        const auto limit = max == 0 ? std::numeric_limits<std::int64_t>::max() : as_int64(max);
        auto done = run("get pubsub items",
                        "SELECT id, publisher, payload, published_at, seq FROM pubsub_items WHERE host = $1 AND "
                        "node = $2 ORDER BY published_at DESC, seq DESC, id DESC LIMIT $3",
                        {host, node, limit}, read);
        if (!done) {
            return unexpected(done.error());
        }
    } else {
        // Each id once, however often it was asked for; the ids travel as parameters, never in the SQL text.
        std::vector<std::string> wanted = ids;
        std::sort(wanted.begin(), wanted.end());
        wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
        std::optional<sql_transaction> tx;  // one snapshot over several chunks
        if (wanted.size() > ids_per_query) {
            if (auto begun = tx.emplace(*driver_).begin_read(); !begun) {
                return unexpected(begun.error());
            }
        }
        for (std::size_t first = 0; first < wanted.size(); first += ids_per_query) {
            const std::size_t last = std::min(wanted.size(), first + ids_per_query);
            std::vector<sql_param> args{std::string_view(host), std::string_view(node)};
            for (std::size_t i = 0; i < ids_per_query; ++i) {
                args.emplace_back(std::string_view(wanted[std::min(first + i, last - 1)]));
            }
            auto done = driver_->run("get pubsub items", items_by_ids_sql(), args, read);
            if (!done) {
                return unexpected(done.error());
            }
        }
        if (tx) {
            if (auto committed = tx->commit(); !committed) {
                return unexpected(committed.error());
            }
        }
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
            return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a).id) >
                   std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b).id);
        });
    }
    std::vector<pubsub_item_record> items;
    items.reserve(rows.size());
    for (auto& row : rows) {
        items.push_back(std::move(std::get<2>(row)));
    }
    return items;
}

result<std::vector<std::string>> sql_store::pubsub_item_ids(const std::string& host, const std::string& node) {
    return query_texts("pubsub item ids",
                       "SELECT id FROM pubsub_items WHERE host = $1 AND node = $2 "
                       "ORDER BY published_at DESC, seq DESC, id DESC",
                       {host, node});
}

result<std::int64_t> sql_store::count_pubsub_items(const std::string& host, const std::string& node) {
    auto count = query_int64("count pubsub items", "SELECT COUNT(*) FROM pubsub_items WHERE host = $1 AND node = $2",
                             {host, node});
    if (!count) {
        return unexpected(count.error());
    }
    return count->value_or(0);
}

result<bool> sql_store::delete_pubsub_item(const std::string& host, const std::string& node, const std::string& id) {
    auto deleted = run("delete pubsub item", "DELETE FROM pubsub_items WHERE host = $1 AND node = $2 AND id = $3",
                       {host, node, id});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

// ---- subscriptions ----

result<std::vector<pubsub_subscription_record>> sql_store::read_pubsub_subscriptions(const char* sql, params args) {
    std::vector<pubsub_subscription_record> subscriptions;
    auto done = run("get pubsub subscriptions", sql, args, [&](const sql_row& row) -> result<void> {
        subscriptions.push_back(pubsub_subscription_record{row.text(0), row.text(1), row.text(2), row.text(3)});
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return subscriptions;
}

result<void> sql_store::put_pubsub_subscription(const std::string& host, const pubsub_subscription_record& s) {
    auto put = run("put pubsub subscription",
                   "INSERT INTO pubsub_subscriptions (host, node, jid, subid, state) VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT (host, node, jid, subid) DO UPDATE SET state = excluded.state",
                   {host, s.node, s.jid, s.subid, s.state});
    if (!put) {
        return unexpected(put.error());
    }
    return {};
}

result<std::int64_t> sql_store::delete_pubsub_subscription(const std::string& host, const std::string& node,
                                                           const std::string& jid, const std::string& subid) {
    auto deleted = subid.empty()
                       ? run("delete pubsub subscription",
                             "DELETE FROM pubsub_subscriptions WHERE host = $1 AND node = $2 AND jid = $3",
                             {host, node, jid})
                       : run("delete pubsub subscription",
                             "DELETE FROM pubsub_subscriptions WHERE host = $1 AND node = $2 AND jid = $3 AND "
                             "subid = $4",
                             {host, node, jid, subid});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

result<std::vector<pubsub_subscription_record>> sql_store::get_pubsub_subscriptions(const std::string& host,
                                                                                    const std::string& node) {
    if (node.empty()) {
        return read_pubsub_subscriptions("SELECT node, jid, subid, state FROM pubsub_subscriptions WHERE host = $1 "
                                         "ORDER BY node, jid, subid",
                                         {host});
    }
    return read_pubsub_subscriptions("SELECT node, jid, subid, state FROM pubsub_subscriptions WHERE host = $1 AND "
                                     "node = $2 ORDER BY node, jid, subid",
                                     {host, node});
}

result<std::vector<pubsub_subscription_record>> sql_store::pubsub_subscriptions_of(const std::string& host,
                                                                                   const std::string& jid) {
    if (!is_bare(jid)) {
        return read_pubsub_subscriptions("SELECT node, jid, subid, state FROM pubsub_subscriptions WHERE host = $1 "
                                         "AND jid = $2 ORDER BY node, jid, subid",
                                         {host, jid});
    }
    // The bare JID's own rows and those of its full JIDs: "bare/..." sorts from "bare/" up to (not including)
    // "bare0" ('0' follows '/'), byte-wise on both backends — an index range, and no LIKE escaping.
    const std::string from = jid + "/";
    const std::string to = jid + "0";
    return read_pubsub_subscriptions("SELECT node, jid, subid, state FROM pubsub_subscriptions WHERE host = $1 "
                                     "AND (jid = $2 OR (jid >= $3 AND jid < $4)) ORDER BY node, jid, subid",
                                     {host, jid, from, to});
}

result<std::int64_t> sql_store::count_pubsub_subscriptions(const std::string& host, const std::string& node) {
    auto count = query_int64("count pubsub subscriptions",
                             "SELECT COUNT(*) FROM pubsub_subscriptions WHERE host = $1 AND node = $2", {host, node});
    if (!count) {
        return unexpected(count.error());
    }
    return count->value_or(0);
}

// ---- affiliations ----

result<std::vector<pubsub_affiliation_record>> sql_store::read_pubsub_affiliations(const char* sql, params args) {
    std::vector<pubsub_affiliation_record> affiliations;
    auto done = run("get pubsub affiliations", sql, args, [&](const sql_row& row) -> result<void> {
        affiliations.push_back(pubsub_affiliation_record{row.text(0), row.text(1), row.text(2)});
        return {};
    });
    if (!done) {
        return unexpected(done.error());
    }
    return affiliations;
}

result<void> sql_store::put_pubsub_affiliation(const std::string& host, const pubsub_affiliation_record& a) {
    // "none" is no row (XEP-0060 §8.9.2.4: setting it removes the entity's affiliation).
    auto put = a.affiliation == "none"
                   ? run("put pubsub affiliation",
                         "DELETE FROM pubsub_affiliations WHERE host = $1 AND node = $2 AND jid = $3",
                         {host, a.node, a.jid})
                   : run("put pubsub affiliation",
                         "INSERT INTO pubsub_affiliations (host, node, jid, affiliation) VALUES ($1, $2, $3, $4) "
                         "ON CONFLICT (host, node, jid) DO UPDATE SET affiliation = excluded.affiliation",
                         {host, a.node, a.jid, a.affiliation});
    if (!put) {
        return unexpected(put.error());
    }
    return {};
}

result<std::vector<pubsub_affiliation_record>> sql_store::get_pubsub_affiliations(const std::string& host,
                                                                                  const std::string& node) {
    if (node.empty()) {
        return read_pubsub_affiliations(
            "SELECT node, jid, affiliation FROM pubsub_affiliations WHERE host = $1 ORDER BY node, jid", {host});
    }
    return read_pubsub_affiliations("SELECT node, jid, affiliation FROM pubsub_affiliations WHERE host = $1 AND "
                                    "node = $2 ORDER BY node, jid",
                                    {host, node});
}

result<std::vector<pubsub_affiliation_record>> sql_store::pubsub_affiliations_of(const std::string& host,
                                                                                 const std::string& jid) {
    return read_pubsub_affiliations("SELECT node, jid, affiliation FROM pubsub_affiliations WHERE host = $1 AND "
                                    "jid = $2 ORDER BY node, jid",
                                    {host, jid});
}

}  // namespace hush::storage
