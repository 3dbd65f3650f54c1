// XEP-0402 §5.3: bookmarks kept by old clients in XEP-0049 private XML (XEP-0048 <storage/>) are the PEP node
// urn:xmpp:bookmarks:1 — read from it, written to it (with its notifications) — so a client of either kind sees
// the other's bookmarks, and clients that see urn:xmpp:bookmarks:1#compat use Bookmarks 2.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "protocol/bookmarks.hpp"
#include "protocol/xep0082.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "server/pubsub/pubsub_job.hpp"

namespace hush {

using namespace pubsub_detail;

namespace {

constexpr std::string_view private_ns = "jabber:iq:private";
// Where account_services kept XEP-0048 bookmarks before they were the PEP node (its "private:<element> <ns>" key).
constexpr const char* legacy_key = "private:storage storage:bookmarks";

// What XEP-0402 §4 asks of the node: the account's alone, every bookmark kept.
pubsub::node_config bookmarks_config(std::size_t limit) {
    pubsub::node_config c = pubsub::pep_defaults(limit);
    c.access = pubsub::access_model::whitelist;
    c.persist_items = true;
    c.max_items = limit;
    c.max_items_is_max = true;
    c.send_last_published_item = pubsub::send_last::never;
    return c;
}

}  // namespace

boost::asio::awaitable<std::optional<stanza>> pubsub_engine::legacy_bookmarks(const stanza& iq, const jid& addressed,
                                                                              outgoing& out) {
    const auto query = iq.child("query", private_ns);
    const auto storage = query.child("storage");
    const auto from = jid::parse(iq.from());
    if (!options_.enabled || !addressed.has_node() || !storage ||
        std::string_view(storage.attribute("xmlns").value()) != bookmarks::legacy_ns || !from ||
        !from->equals_bare(addressed)) {
        co_return std::nullopt;  // not the account's own bookmarks: private storage answers as it always does
    }
    const pubsub_host host = host_for(addressed);
    const std::string node(bookmarks::pep_node);
    const std::size_t limit = options_.max_items_per_node;
    if (iq.type() == "get") {
        struct found {
            std::vector<storage::pubsub_item_record> items;
            std::optional<std::string> before_pep;  // no node yet: what private XML held before this server did PEP
        };
        auto read = co_await store_.read([&](storage::store& s) -> storage::result<found> {
            found f;
            auto n = s.get_pubsub_node(host.key, node, false);
            if (!n) {
                return hush::unexpected(n.error());
            }
            if (!*n) {
                auto doc = s.get_document(host.account.domain(), host.account.node(), legacy_key);
                if (!doc) {
                    return hush::unexpected(doc.error());
                }
                f.before_pep = std::move(*doc);
                return f;
            }
            auto items = s.get_pubsub_items(host.key, node, {}, 0);
            if (!items) {
                return hush::unexpected(items.error());
            }
            f.items = std::move(*items);
            return f;
        });
        if (!read) {
            spdlog::error("pubsub: reading {}'s bookmarks failed: {}", host.key, read.error().message);
            co_return make_error_reply(iq, "internal-server-error");
        }
        std::vector<bookmarks::conference> conferences;
        pugi::xml_document old;
        if (read->before_pep && old.load_buffer(read->before_pep->data(), read->before_pep->size())) {
            conferences = bookmarks::parse_storage(old.first_child());
        }
        for (auto it = read->items.rbegin(); it != read->items.rend(); ++it) {
            if (auto c = bookmarks::parse_conference(it->id, it->payload)) {
                conferences.push_back(std::move(*c));
            }
        }
        stanza reply = make_iq_result(iq);
        auto q = reply.element().append_child("query");
        q.append_attribute("xmlns").set_value(std::string(private_ns).c_str());
        bookmarks::append_storage(q, conferences);
        co_return reply;
    }
    const auto conferences = bookmarks::parse_storage(storage);
    if (conferences.size() > limit) {
        co_return make_error_reply(iq, "not-acceptable", "more bookmarks than a node keeps");
    }
    const std::int64_t now = unix_now_us();
    auto decided = co_await store_.run([&](storage::store& s) -> storage::result<std::vector<pending_event>> {
        return storage::atomically(s, host.account.domain(), host.account.node(),
                                   [&]() -> storage::result<std::vector<pending_event>> {
            auto n = load_node(s, host.key, node, true, limit);
            if (!n) {
                return hush::unexpected(n.error());
            }
            const std::string wanted = pubsub::serialize_config(bookmarks_config(limit));
            if (!*n) {
                auto count = s.count_pubsub_nodes(host.key);
                if (!count) {
                    return hush::unexpected(count.error());
                }
                if (static_cast<std::size_t>(*count) >= options_.max_nodes_per_account) {
                    return hush::unexpected(storage::error{"too many nodes"});
                }
                storage::pubsub_node_record record{host.key, node, wanted, host.key, now / 1000000};
                auto created = s.create_pubsub_node(record);
                if (!created) {
                    return hush::unexpected(created.error());
                }
                if (!*created) {
                    return hush::unexpected(storage::error{"bookmarks node unreadable"});
                }
                *n = loaded_node{record, bookmarks_config(limit)};
            } else if ((*n)->record.config != wanted) {
                // What an old client stores privately stays private: the node becomes what XEP-0402 §4 asks for
                // (a client that made it with presence access would otherwise show passwords to contacts).
                if (auto set = s.set_pubsub_node_config(host.key, node, wanted); !set) {
                    return hush::unexpected(set.error());
                }
                (*n)->config = bookmarks_config(limit);
            }
            auto before = s.get_pubsub_items(host.key, node, {}, 0);
            if (!before) {
                return hush::unexpected(before.error());
            }
            std::map<std::string, bookmarks::conference> had;
            for (const auto& item : *before) {
                if (auto c = bookmarks::parse_conference(item.id, item.payload)) {
                    had.emplace(item.id, std::move(*c));
                }
                // An item the old form cannot express (an id that is no room JID, another payload) is kept.
            }
            std::vector<pubsub::item_view> published;
            std::set<std::string> kept;
            for (auto c : conferences) {
                kept.insert(c.jid);
                const auto old = had.find(c.jid);
                if (old != had.end()) {
                    if (old->second.same_legacy(c)) {
                        continue;  // unchanged: not written, not notified
                    }
                    c.extensions = old->second.extensions;  // a modern client's additions survive an old one
                }
                storage::pubsub_item_record item{c.jid, host.key, bookmarks::serialize_conference(c), now};
                if (item.payload.size() > options_.max_payload_bytes) {
                    return hush::unexpected(storage::error{"bookmark too large"});
                }
                if (auto put = s.put_pubsub_item(host.key, node, item); !put) {
                    return hush::unexpected(put.error());
                }
                published.push_back({item.id, publisher_of(item, **n, true), item.payload});
            }
            std::vector<std::string> retracted;
            for (const auto& [id, c] : had) {
                if (!kept.contains(id)) {
                    if (auto deleted = s.delete_pubsub_item(host.key, node, id); !deleted) {
                        return hush::unexpected(deleted.error());
                    }
                    retracted.push_back(id);
                }
            }
            auto to = recipients(s, host, **n);
            if (!to) {
                return hush::unexpected(to.error());
            }
            std::vector<pending_event> events;
            if (!published.empty()) {
                events.push_back(pending_event{event_kind::items, *to, std::move(published), {}});
            }
            if (!retracted.empty() && (*n)->config.notify_retract) {
                events.push_back(pending_event{event_kind::retract, *to, {}, std::move(retracted)});
            }
            return events;
        });
    });
    if (!decided) {
        spdlog::error("pubsub: storing {}'s bookmarks failed: {}", host.key, decided.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    for (const auto& e : *decided) {
        notify(host, e, out);
    }
    co_return make_iq_result(iq);
}

}  // namespace hush
