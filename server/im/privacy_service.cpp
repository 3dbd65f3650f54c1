#include "server/im/privacy_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace hush {

namespace {

constexpr const char* privacy_ns = "jabber:iq:privacy";
constexpr const char* blocking_ns = "urn:xmpp:blocking";
std::atomic<std::uint64_t> push_counter{0};

pugi::xml_node first_element(pugi::xml_node parent) {
    for (auto c : parent.children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

std::size_t count_elements(pugi::xml_node parent) {
    std::size_t n = 0;
    for (auto c : parent.children()) {
        n += c.type() == pugi::node_element ? 1 : 0;
    }
    return n;
}

}  // namespace

boost::asio::awaitable<std::shared_ptr<const privacy_service::account_state>> privacy_service::load(
    const jid& account) {
    const std::string key = account.bare_string();
    {
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(key); it != cache_.end()) {
            co_return it->second;
        }
    }
    auto query = [d = account.domain(), u = account.node()](storage::store& s) -> storage::result<account_state> {
        account_state state;
        auto blocked = s.get_blocklist(d, u);
        if (!blocked) {
            return hush::unexpected(blocked.error());
        }
        state.blocklist = std::move(*blocked);
        auto names = s.privacy_list_names(d, u);
        if (!names) {
            return hush::unexpected(names.error());
        }
        for (const auto& name : *names) {
            auto xml = s.get_privacy_list(d, u, name);
            if (!xml) {
                return hush::unexpected(xml.error());
            }
            pugi::xml_document doc;
            if (*xml && doc.load_string(xml->value().c_str())) {
                if (auto parsed = privacy::parse_list(doc.first_child())) {
                    state.lists.emplace(name, std::move(*parsed));
                }
            }
        }
        auto def = s.default_privacy_list(d, u);
        if (!def) {
            return hush::unexpected(def.error());
        }
        state.default_list = def->value_or(std::string());
        return state;
    };
    auto loaded = co_await ctx_.store.read(std::move(query));
    if (!loaded) {
        spdlog::error("privacy: cannot load settings of {}: {}", key, loaded.error().message);
        co_return nullptr;
    }
    auto state = std::make_shared<const account_state>(std::move(*loaded));
    std::lock_guard lock(mutex_);
    auto [it, inserted] = cache_.emplace(key, state);
    co_return it->second;
}

void privacy_service::replace(const jid& account, std::shared_ptr<const account_state> state) {
    std::lock_guard lock(mutex_);
    cache_[account.bare_string()] = std::move(state);
}

void privacy_service::session_ended(const jid& full) {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(full.bare_string());
    if (it != cache_.end() && it->second->active.count(full.resource()) > 0) {
        auto copy = std::make_shared<account_state>(*it->second);
        copy->active.erase(full.resource());
        it->second = std::move(copy);
    }
}

boost::asio::awaitable<bool> privacy_service::blocks(const jid& account, const jid& other) {
    auto state = co_await load(account);
    co_return state != nullptr && privacy::is_blocked(state->blocklist, other);
}

boost::asio::awaitable<bool> privacy_service::allows(const jid& account, const jid& other,
                                                     privacy::stanza_class kind) {
    auto state = co_await load(account);
    if (!state) {
        co_return true;  // storage trouble must not make mail vanish; logged in load()
    }
    if (privacy::is_blocked(state->blocklist, other)) {
        co_return false;
    }
    std::string list_name = state->default_list;
    if (!account.is_bare()) {
        if (auto it = state->active.find(account.resource()); it != state->active.end()) {
            list_name = it->second;
        }
    }
    if (list_name.empty()) {
        co_return true;
    }
    auto it = state->lists.find(list_name);
    if (it == state->lists.end()) {
        co_return true;
    }
    privacy::contact_info contact;
    contact.address = other;
    const bool needs_roster = std::any_of(it->second.items.begin(), it->second.items.end(), [](const auto& i) {
        return i.type == privacy::item_type::group || i.type == privacy::item_type::subscription;
    });
    if (needs_roster) {
        if (auto item = co_await roster_.item(account.bare(), other.bare())) {
            contact.groups = item->groups;
            contact.sub = item->sub;
        }
    }
    co_return privacy::evaluate(it->second, contact, kind) != privacy::action::deny;
}

void privacy_service::push_to_resources(const jid& account, const stanza& push, outgoing& out, bool blocklist_only) {
    for (const auto& r : ctx_.registry.resources(account.bare())) {
        if (blocklist_only && !r.blocklist_requested) {
            continue;
        }
        stanza copy = push.clone();
        copy.set_attribute("to", r.full.full_string());
        copy.set_attribute("id", "push" + std::to_string(push_counter.fetch_add(1)));
        out.to_resource(r.full, std::move(copy));
    }
}

// ---- XEP-0191 ---------------------------------------------------------------------------------------------------

boost::asio::awaitable<stanza> privacy_service::handle_blocking(const stanza& iq, const jid& account, outgoing& out) {
    const auto from = jid::parse(iq.from());
    if (!from || !from->equals_bare(account)) {
        co_return make_error_reply(iq, "forbidden");
    }
    const auto payload = first_element(iq.element());
    const std::string_view name = payload.name();
    if (iq.type() == "get") {
        if (name != "blocklist") {
            co_return make_error_reply(iq, "bad-request");
        }
        auto state = co_await load(account);
        if (!state) {
            co_return make_error_reply(iq, "internal-server-error");
        }
        ctx_.registry.set_blocklist_requested(*from);
        stanza reply = make_iq_result(iq);
        auto list = reply.element().append_child("blocklist");
        list.append_attribute("xmlns").set_value(blocking_ns);
        for (const auto& j : state->blocklist) {
            list.append_child("item").append_attribute("jid").set_value(j.c_str());
        }
        co_return reply;
    }
    if (name != "block" && name != "unblock") {
        co_return make_error_reply(iq, "bad-request");
    }
    std::vector<std::string> jids;
    for (auto item : payload.children("item")) {
        auto j = jid::parse(item.attribute("jid").value());
        if (!j) {
            co_return make_error_reply(iq, "jid-malformed");
        }
        jids.push_back(j->full_string());
    }
    const bool block = name == "block";
    if (block && jids.empty()) {
        co_return make_error_reply(iq, "bad-request", "a block needs at least one item");  // XEP-0191 §3.3
    }
    auto previous = co_await load(account);
    if (!previous) {
        co_return make_error_reply(iq, "internal-server-error");
    }
    auto query = [d = account.domain(), u = account.node(), jids, block](storage::store& s) {
        return block ? s.add_blocks(d, u, jids) : s.remove_blocks(d, u, jids);
    };
    auto done = co_await ctx_.store.run(std::move(query));
    if (!done) {
        co_return make_error_reply(iq, "internal-server-error");
    }
    auto next = std::make_shared<account_state>(*previous);
    if (block) {
        for (const auto& j : jids) {
            if (std::find(next->blocklist.begin(), next->blocklist.end(), j) == next->blocklist.end()) {
                next->blocklist.push_back(j);
            }
        }
    } else if (jids.empty()) {
        next->blocklist.clear();
    } else {
        std::erase_if(next->blocklist,
                      [&](const std::string& j) { return std::find(jids.begin(), jids.end(), j) != jids.end(); });
    }
    replace(account, next);
    if (block) {
        // A blocked contact that could see us stops seeing us: our unavailable presence (XEP-0191 §3.3). Anyone
        // else learns nothing, not even that we have resources.
        for (const auto& j : jids) {
            const auto other = jid::parse(j);
            const auto item = other ? co_await roster_.item(account.bare(), other->bare()) : std::nullopt;
            if (!item || (item->sub != storage::subscription::from && item->sub != storage::subscription::both)) {
                continue;
            }
            for (const auto& r : ctx_.registry.resources(account.bare())) {
                if (!r.available) {
                    continue;
                }
                stanza p = stanza::make("presence");
                p.set_attribute("type", "unavailable");
                p.set_attribute("from", r.full.full_string());
                p.set_attribute("to", j);
                out.route(std::move(p));
            }
        }
    }
    if (!block && on_unblocked_) {
        const auto unblocked = jids.empty() ? previous->blocklist : jids;
        co_await on_unblocked_(account, unblocked, out);
    }
    stanza push = stanza::make("iq");
    push.set_attribute("type", "set");
    push.element().append_copy(payload);
    push_to_resources(account, push, out, true);
    co_return make_iq_result(iq);
}

// ---- XEP-0016 ---------------------------------------------------------------------------------------------------

boost::asio::awaitable<stanza> privacy_service::handle_privacy(const stanza& iq, const jid& account, outgoing& out) {
    const auto from = jid::parse(iq.from());
    if (!from || !from->equals_bare(account)) {
        co_return make_error_reply(iq, "forbidden");
    }
    auto state = co_await load(account);
    if (!state) {
        co_return make_error_reply(iq, "internal-server-error");
    }
    const auto query = iq.child("query", privacy_ns);
    const std::size_t children = count_elements(query);
    if (iq.type() == "get") {
        stanza reply = make_iq_result(iq);
        auto q = reply.element().append_child("query");
        q.append_attribute("xmlns").set_value(privacy_ns);
        if (children == 0) {
            if (auto it = state->active.find(from->resource()); it != state->active.end()) {
                q.append_child("active").append_attribute("name").set_value(it->second.c_str());
            }
            if (!state->default_list.empty()) {
                q.append_child("default").append_attribute("name").set_value(state->default_list.c_str());
            }
            std::vector<std::string> names;
            for (const auto& [n, l] : state->lists) {
                names.push_back(n);
            }
            std::sort(names.begin(), names.end());
            for (const auto& n : names) {
                q.append_child("list").append_attribute("name").set_value(n.c_str());
            }
            co_return reply;
        }
        const auto wanted = first_element(query);
        if (children != 1 || std::string_view(wanted.name()) != "list") {
            co_return make_error_reply(iq, "bad-request", "ask for one list at a time");
        }
        auto it = state->lists.find(wanted.attribute("name").value());
        if (it == state->lists.end()) {
            co_return make_error_reply(iq, "item-not-found");
        }
        privacy::serialize_list(it->second, q);
        co_return reply;
    }
    // set: exactly one of <active/>, <default/>, <list/> (XEP-0016 §2.3).
    if (children != 1) {
        co_return make_error_reply(iq, "bad-request", "one of active, default or list");
    }
    const auto element = first_element(query);
    const std::string_view kind = element.name();
    const std::string name = element.attribute("name").value();
    auto next = std::make_shared<account_state>(*state);
    if (kind == "active") {
        if (!name.empty() && next->lists.count(name) == 0) {
            co_return make_error_reply(iq, "item-not-found");
        }
        if (name.empty()) {
            next->active.erase(from->resource());
        } else {
            next->active[from->resource()] = name;
        }
        replace(account, next);
        co_return make_iq_result(iq);
    }
    if (kind == "default") {
        if (!name.empty() && next->lists.count(name) == 0) {
            co_return make_error_reply(iq, "item-not-found");
        }
        auto q = [d = account.domain(), u = account.node(), name](storage::store& s) {
            return s.set_default_privacy_list(d, u, name);
        };
        auto done = co_await ctx_.store.run(std::move(q));
        if (!done) {
            co_return make_error_reply(iq, "internal-server-error");
        }
        next->default_list = name;
        replace(account, next);
        co_return make_iq_result(iq);
    }
    if (kind != "list" || name.empty()) {
        co_return make_error_reply(iq, "bad-request");
    }
    if (count_elements(element) == 0) {
        // An empty list is a removal; not while another session uses it as its active list (§2.3).
        for (const auto& [resource, active] : next->active) {
            if (active == name && resource != from->resource()) {
                co_return make_error_reply(iq, "conflict", "another session uses this list");
            }
        }
        auto q = [d = account.domain(), u = account.node(), name](storage::store& s) {
            return s.delete_privacy_list(d, u, name);
        };
        auto done = co_await ctx_.store.run(std::move(q));
        if (!done) {
            co_return make_error_reply(iq, "internal-server-error");
        }
        if (!*done) {
            co_return make_error_reply(iq, "item-not-found");
        }
        next->lists.erase(name);
        if (next->default_list == name) {
            next->default_list.clear();
        }
        next->active.erase(from->resource());
    } else {
        auto parsed = privacy::parse_list(element);
        if (!parsed) {
            co_return make_error_reply(iq, "bad-request", parsed.error());
        }
        const std::string xml = privacy::serialize_list(*parsed);
        auto q = [d = account.domain(), u = account.node(), name, xml](storage::store& s) {
            return s.put_privacy_list(d, u, name, xml);
        };
        auto done = co_await ctx_.store.run(std::move(q));
        if (!done) {
            co_return make_error_reply(iq, "internal-server-error");
        }
        next->lists[name] = std::move(*parsed);
    }
    replace(account, next);
    // Tell every resource the list changed (XEP-0016 §2.6).
    stanza push = stanza::make("iq");
    push.set_attribute("type", "set");
    auto pq = push.element().append_child("query");
    pq.append_attribute("xmlns").set_value(privacy_ns);
    pq.append_child("list").append_attribute("name").set_value(name.c_str());
    push_to_resources(account, push, out);
    co_return make_iq_result(iq);
}

}  // namespace hush
