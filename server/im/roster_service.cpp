#include "server/im/roster_service.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>

#include "protocol/roster_payload.hpp"

namespace hush {

namespace {

std::atomic<std::uint64_t> push_counter{0};

pugi::xml_node add_roster_query(stanza& s) {
    auto q = s.element().append_child("query");
    q.append_attribute("xmlns").set_value(roster_payload::ns);
    return q;
}

}  // namespace

boost::asio::awaitable<stanza> roster_service::handle(const stanza& iq, const jid& account, outgoing& out) {
    const auto from = jid::parse(iq.from());
    if (!from || !from->equals_bare(account)) {
        co_return make_error_reply(iq, "forbidden", "a roster belongs to its account");  // RFC 6121 §2.1.5
    }
    if (iq.type() == "get") {
        co_return co_await handle_get(iq, account, out);
    }
    co_return co_await handle_set(iq, account, out);
}

boost::asio::awaitable<stanza> roster_service::handle_get(const stanza& iq, const jid& account, outgoing& out) {
    const auto from = *jid::parse(iq.from());
    ctx_.registry.set_interested(from, true);
    auto request = iq.child("query", roster_payload::ns);
    const auto ver_attr = request.attribute("ver");
    stanza reply = make_iq_result(iq);
    if (ver_attr) {
        // RFC 6121 §2.6: a client that supports versioning sends 'ver'; answer with only what changed.
        // An empty 'ver' means "I have nothing"; one we cannot read was never ours: send everything.
        const std::string_view text = ver_attr.value();
        std::int64_t since = 0;
        if (!text.empty()) {
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), since);
            if (ec != std::errc() || end != text.data() + text.size() || since < 0) {
                since = -1;
            }
        }
        if (since >= 0) {
            auto query = [d = account.domain(), u = account.node(), since](storage::store& s) {
                return s.roster_changes_since(d, u, since);
            };
            auto delta = co_await ctx_.store.read(std::move(query));
            if (!delta) {
                co_return make_error_reply(iq, "internal-server-error");
            }
            if (*delta) {
                const auto& changes = **delta;
                if (changes.changed.empty()) {
                    co_return reply;  // nothing changed: an empty result (§2.6.3)
                }
                // An empty result, then the changes as pushes to the requesting resource (§2.6.3).
                out.to_resource(from, std::move(reply));
                for (const auto& item : changes.changed) {
                    push(from, item, item.version, out);
                }
                co_return stanza{};
            }
        }
    }
    auto query = [d = account.domain(), u = account.node()](storage::store& s) -> storage::result<
                                                                                  std::pair<std::vector<storage::roster_item>, std::int64_t>> {
        // The version first: on a reader a write may commit between the two statements, and items newer than
        // their version only make the client fetch that change again, while the other way round it would miss it.
        auto version = s.roster_version(d, u);
        if (!version) {
            return hush::unexpected(version.error());
        }
        auto items = s.get_roster(d, u);
        if (!items) {
            return hush::unexpected(items.error());
        }
        return std::make_pair(std::move(*items), *version);
    };
    auto loaded = co_await ctx_.store.read(std::move(query));
    if (!loaded) {
        spdlog::error("roster: cannot load {}: {}", account.bare_string(), loaded.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    auto q = add_roster_query(reply);
    q.append_attribute("ver").set_value(std::to_string(loaded->second).c_str());
    for (const auto& item : loaded->first) {
        roster_payload::append_item(q, item);
    }
    co_return reply;
}

boost::asio::awaitable<stanza> roster_service::handle_set(const stanza& iq, const jid& account, outgoing& out) {
    auto parsed = roster_payload::parse_set(iq.child("query", roster_payload::ns));
    if (!parsed) {
        co_return make_error_reply(iq, parsed.error().condition, parsed.error().text);
    }
    const auto contact = *jid::parse(parsed->contact);
    if (contact.equals_bare(account)) {
        co_return make_error_reply(iq, "not-allowed", "your own JID cannot be a roster item");  // §2.3.3
    }
    if (parsed->remove) {
        auto existing = co_await item(account, contact);
        if (!existing) {
            co_return make_error_reply(iq, "item-not-found");
        }
        // Cancel both subscriptions on removal (RFC 6121 §2.5.2): unsubscribe and unsubscribed to the contact.
        const auto& e = *existing;
        auto query = [d = account.domain(), u = account.node(), c = parsed->contact](storage::store& s) {
            return s.remove_roster_item(d, u, c);
        };
        auto removed = co_await ctx_.store.run(std::move(query));
        ctx_.store.relations_changed();  // after the write: a cached "contact" read before it is stale now
        if (!removed || !*removed) {
            co_return make_error_reply(iq, "internal-server-error");
        }
        storage::roster_item tombstone;
        tombstone.contact = parsed->contact;
        tombstone.removed = true;
        push(account, tombstone, **removed, out);
        for (const char* type : {"unsubscribe", "unsubscribed"}) {
            const bool relevant = std::string_view(type) == "unsubscribe"
                                      ? (e.sub == storage::subscription::to || e.sub == storage::subscription::both ||
                                         e.pending_out)
                                      : (e.sub == storage::subscription::from || e.sub == storage::subscription::both);
            if (relevant) {
                stanza p = stanza::make("presence");
                p.set_attribute("type", type);
                p.set_attribute("from", account.bare_string());
                p.set_attribute("to", contact.bare_string());
                out.route(std::move(p));
            }
        }
        if (e.sub == storage::subscription::from || e.sub == storage::subscription::both) {
            // The contact saw us online: tell it we are gone for it (RFC 6121 §3.2.2).
            for (const auto& r : ctx_.registry.resources(account.bare())) {
                if (r.available) {
                    stanza p = stanza::make("presence");
                    p.set_attribute("type", "unavailable");
                    p.set_attribute("from", r.full.full_string());
                    p.set_attribute("to", contact.bare_string());
                    out.route(std::move(p));
                }
            }
        }
        co_return make_iq_result(iq);
    }
    auto existing = co_await item(account, contact);
    storage::roster_item next = existing.value_or(storage::roster_item{});
    next.contact = parsed->contact;
    next.name = parsed->name;
    next.groups = parsed->groups;
    if (!co_await save(account, std::move(next), out)) {
        co_return make_error_reply(iq, "internal-server-error");
    }
    co_return make_iq_result(iq);
}

void roster_service::push(const jid& account, const storage::roster_item& item, std::int64_t version,
                          outgoing& out) {
    for (const auto& r : ctx_.registry.resources(account.bare())) {
        // A full JID targets one resource (versioned gets); a bare one every resource that asked for the roster.
        if (!r.interested || (!account.is_bare() && r.full.resource() != account.resource())) {
            continue;
        }
        stanza p = stanza::make("iq");
        p.set_attribute("type", "set");
        p.set_attribute("id", "push" + std::to_string(push_counter.fetch_add(1)));
        p.set_attribute("to", r.full.full_string());
        auto q = add_roster_query(p);
        q.append_attribute("ver").set_value(std::to_string(version).c_str());
        roster_payload::append_item(q, item);
        out.to_resource(r.full, std::move(p));
    }
}

boost::asio::awaitable<std::optional<storage::roster_item>> roster_service::item(const jid& account,
                                                                                 const jid& contact) {
    auto query = [d = account.domain(), u = account.node(), c = contact.bare_string()](storage::store& s) {
        return s.get_roster_item(d, u, c);
    };
    auto found = co_await ctx_.store.read(std::move(query));
    if (!found) {
        spdlog::error("roster: cannot read {} of {}: {}", contact.bare_string(), account.bare_string(),
                      found.error().message);
        co_return std::nullopt;
    }
    co_return std::move(*found);
}

boost::asio::awaitable<bool> roster_service::save(const jid& account, storage::roster_item item, outgoing& out) {
    item.removed = false;
    auto query = [d = account.domain(), u = account.node(), item](storage::store& s) {
        return s.put_roster_item(d, u, item);
    };
    auto version = co_await ctx_.store.run(std::move(query));
    ctx_.store.relations_changed();  // a subscription may have ended (unsubscribe, unsubscribed)
    if (!version) {
        spdlog::error("roster: cannot save {} for {}: {}", item.contact, account.bare_string(),
                      version.error().message);
        co_return false;
    }
    push(account, item, *version, out);
    co_return true;
}

boost::asio::awaitable<std::vector<storage::roster_item>> roster_service::roster(const jid& account) {
    auto query = [d = account.domain(), u = account.node()](storage::store& s) { return s.get_roster(d, u); };
    auto items = co_await ctx_.store.read(std::move(query));
    if (!items) {
        spdlog::error("roster: cannot load {}: {}", account.bare_string(), items.error().message);
        co_return std::vector<storage::roster_item>{};
    }
    co_return std::move(*items);
}

}  // namespace hush
