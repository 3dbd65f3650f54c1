#include "server/pubsub/pubsub_engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "protocol/namespaces.hpp"
#include "protocol/privacy_list.hpp"
#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"
#include "server/pubsub/pubsub_job.hpp"

namespace hush {

namespace {

using namespace pubsub_detail;

pugi::xml_node first_element(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

constexpr std::string_view feature_prefix = "http://jabber.org/protocol/pubsub#";

const std::vector<std::string>& common_features() {
    static const std::vector<std::string> features = [] {
        std::vector<std::string> f;
        for (const char* name :
             {"access-open", "access-presence", "access-roster", "access-whitelist", "auto-create", "auto-subscribe",
              "config-node", "create-and-configure", "delete-items", "filtered-notifications", "item-ids",
              "last-published", "manage-affiliations", "multi-items", "outcast-affiliation", "persistent-items",
              "publish", "publish-options", "publisher-affiliation", "purge-nodes", "retract-items",
              "retrieve-affiliations", "retrieve-default", "retrieve-items", "retrieve-subscriptions", "subscribe",
              "delete-nodes", "create-nodes", "instant-nodes", "manage-subscriptions", "member-affiliation",
              "modify-affiliations", "presence-notifications", "config-node-max"}) {
            f.push_back(std::string(feature_prefix) + name);
        }
        f.emplace_back("http://jabber.org/protocol/pubsub");
        std::sort(f.begin(), f.end());
        return f;
    }();
    return features;
}

stanza disco_reply(const stanza& iq, std::string_view query_ns, pugi::xml_node request_query) {
    stanza reply = make_iq_result(iq);
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(query_ns).c_str());
    if (auto node = request_query.attribute("node")) {
        q.append_attribute("node").set_value(node.value());
    }
    return reply;
}

// A request's job in one write transaction: under the account's lock for PEP, else its own (the job locks the node).
storage::result<job_outcome> locked_job(storage::store& s, const job_input& in,
                                        storage::result<job_outcome> (*job)(storage::store&, const job_input&)) {
    if (in.host.pep) {
        return storage::atomically(s, in.host.account.domain(), in.host.account.node(), [&] { return job(s, in); });
    }
    std::optional<storage::result<job_outcome>> done;
    auto committed = s.tentatively([&]() -> storage::result<void> {
        done.emplace(job(s, in));
        if (!done->has_value()) {
            return hush::unexpected(done->error());
        }
        return {};
    });
    if (!committed) {
        return hush::unexpected(committed.error());
    }
    return std::move(*done);
}

void add_identity(pugi::xml_node query, const char* category, const char* type, const std::string& name = {}) {
    auto identity = query.append_child("identity");
    identity.append_attribute("category").set_value(category);
    identity.append_attribute("type").set_value(type);
    if (!name.empty()) {
        identity.append_attribute("name").set_value(name.c_str());
    }
}

}  // namespace

pubsub_engine::pubsub_engine(storage::async_store& store, const pubsub_config& options,
                             std::vector<std::string> local_hosts, std::vector<std::string> admins,
                             session_registry& sessions, caps_cache* caps)
    : store_(store),
      options_(options),
      local_hosts_(std::move(local_hosts)),
      admins_(std::move(admins)),
      sessions_(sessions),
      caps_(caps),
      service_(options.enabled ? options.service : std::string()) {}

std::vector<std::string> pubsub_engine::account_features() {
    std::vector<std::string> f = common_features();
    f.emplace_back("urn:xmpp:pep-vcard-conversion:0");  // XEP-0398: a PEP avatar is the vCard's photo too
    return f;
}

std::vector<std::string> pubsub_engine::service_features() { return common_features(); }

bool pubsub_engine::is_admin(const jid& who) const {
    return std::find(admins_.begin(), admins_.end(), who.bare_string()) != admins_.end();
}

std::string pubsub_engine::new_item_id() {
    // Random, so ids say nothing about when or how often someone published.
    return sasl::random_hex(16);
}

pubsub_host pubsub_engine::host_for(const jid& addressed) const {
    pubsub_host h;
    if (addressed.has_node()) {
        h.pep = true;
        h.account = addressed.bare();
        h.key = h.account.bare_string();
        h.address = h.account;
    } else {
        h.key = service_;
        h.address = addressed.bare();
    }
    return h;
}

boost::asio::awaitable<std::optional<stanza>> pubsub_engine::handle(const stanza& iq, const jid& addressed,
                                                                    outgoing& out) {
    if (!options_.enabled || (!addressed.has_node() && !is_service(addressed))) {
        co_return std::nullopt;
    }
    const auto payload = first_element(iq);
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    const auto from = jid::parse(iq.from());
    if (!from) {
        co_return std::nullopt;
    }
    const pubsub_host host = host_for(addressed);
    if (iq.type() == "get" && std::string_view(payload.name()) == "query" &&
        (payload_ns == ns::disco_info || payload_ns == ns::disco_items)) {
        co_return co_await disco(iq, *from, host, payload);
    }
    if (std::string_view(payload.name()) != "pubsub" || (payload_ns != pubsub::ns && payload_ns != pubsub::owner_ns)) {
        co_return std::nullopt;
    }
    pubsub::request_error error;
    const auto r = pubsub::parse_request(payload, iq.type() == "set", error);
    if (!r) {
        co_return pubsub::error_reply(iq, error.condition, error.pubsub_condition);
    }
    if (payload_ns == pubsub::owner_ns) {
        co_return co_await owner_request(iq, *from, host, *r, out);
    }
    co_return co_await request(iq, *from, host, *r, out);
}

boost::asio::awaitable<stanza> pubsub_engine::request(const stanza& iq, const jid& from, const pubsub_host& host,
                                                      const pubsub::request& r, outgoing& out) {
    job_input in{iq, from, host, r, options_, false, false, {}, 0};
    in.admin = is_admin(from);
    const bool local_user = from.has_node() &&
                            std::find(local_hosts_.begin(), local_hosts_.end(), from.domain()) != local_hosts_.end();
    in.may_create = options_.service_creators_admins_only ? in.admin : local_user;
    in.local = local_user;
    in.reserved = !host.pep && std::find(reserved_.begin(), reserved_.end(), r.node) != reserved_.end();
    in.generated_id = new_item_id();
    in.now_us = unix_now_us();
    const bool reads = r.kind == pubsub::request_kind::items || r.kind == pubsub::request_kind::subscriptions ||
                       r.kind == pubsub::request_kind::affiliations;
    auto outcome = reads ? co_await store_.read([&in](storage::store& s) { return entity_job(s, in); })
                         : co_await store_.run([&in](storage::store& s) { return locked_job(s, in, entity_job); });
    if (!outcome) {
        spdlog::error("pubsub: {} on {} node {} failed: {}", iq.from(), host.key, r.node, outcome.error().message);
        co_return pubsub::error_reply(iq, "internal-server-error");
    }
    for (const auto& e : outcome->events) {
        notify(host, e, out);
    }
    for (const auto& [to, e] : outcome->last_item) {
        stanza m = pubsub::event_message(host.address.bare_string(), to, e.to.config.notification_type);
        m.set_attribute("id", sasl::random_hex(8));
        pubsub::append_items_event(m, e.to.node, e.items, true);
        out.route(std::move(m));
    }
    co_return std::move(outcome->reply);
}

boost::asio::awaitable<stanza> pubsub_engine::owner_request(const stanza& iq, const jid& from,
                                                            const pubsub_host& host, const pubsub::request& r,
                                                            outgoing& out) {
    // Same path as the entity requests: one job, then its notifications.
    job_input in{iq, from, host, r, options_, false, false, {}, 0};
    in.admin = is_admin(from);
    in.now_us = unix_now_us();
    auto outcome = co_await store_.run([&in](storage::store& s) { return locked_job(s, in, owner_job); });
    if (!outcome) {
        spdlog::error("pubsub: owner {} on {} node {} failed: {}", iq.from(), host.key, r.node,
                      outcome.error().message);
        co_return pubsub::error_reply(iq, "internal-server-error");
    }
    for (const auto& e : outcome->events) {
        notify(host, e, out);
    }
    co_return std::move(outcome->reply);
}

std::vector<jid> pubsub_engine::interested(const jid& bare, const std::string& node) const {
    if (caps_ == nullptr) {
        return {};
    }
    return caps_->wanting(bare, node);
}

void pubsub_engine::notify(const pubsub_host& host, const pending_event& e, outgoing& out) const {
    const pubsub_delivery& d = e.to;
    auto fill = [&e](stanza& m) {
        switch (e.kind) {
        case event_kind::items: pubsub::append_items_event(m, e.to.node, e.items, e.to.config.deliver_payloads); break;
        case event_kind::retract: pubsub::append_retract_event(m, e.to.node, e.ids); break;
        case event_kind::delete_node: pubsub::append_node_event(m, "delete", e.to.node); break;
        case event_kind::purge: pubsub::append_node_event(m, "purge", e.to.node); break;
        case event_kind::configuration: pubsub::append_node_event(m, "configuration", e.to.node); break;
        }
    };
    std::set<std::string> sent;
    auto send = [&](const std::string& to) {
        if (!sent.insert(to).second) {
            return;
        }
        if (!d.blocked.empty()) {
            if (const auto target = jid::parse(to); target && privacy::is_blocked(d.blocked, *target)) {
                return;
            }
        }
        stanza m = pubsub::event_message(host.address.bare_string(), to, d.config.notification_type);
        m.set_attribute("id", sasl::random_hex(8));  // §7.1.2.1: a unique id, for errors to come back by
        fill(m);
        out.route(std::move(m));
    };
    if (d.pep) {
        // XEP-0163 §4.3: the account's own resources and its contacts' that asked for the node (+notify).
        for (const auto& r : interested(host.account, d.node)) {
            send(r.full_string());
        }
        for (const auto& contact : d.contacts) {
            if (const auto c = jid::parse(contact)) {
                for (const auto& r : interested(*c, d.node)) {
                    send(r.full_string());
                }
            }
        }
    }
    for (const auto& to : d.to) {
        send(to);
    }
}

boost::asio::awaitable<std::optional<stanza>> pubsub_engine::disco(const stanza& iq, const jid& from,
                                                                   const pubsub_host& host, pugi::xml_node query) {
    const std::string node = query.attribute("node").value();
    const bool info = std::string_view(query.attribute("xmlns").value()) == ns::disco_info;
    if (host.pep && node.empty()) {
        if (info) {
            co_return std::nullopt;  // the account's own disco#info (server_handlers) lists the pep identity
        }
    }
    if (!host.pep && node.empty() && info) {
        stanza reply = disco_reply(iq, ns::disco_info, query);
        auto q = reply.element().child("query");
        add_identity(q, "pubsub", "service", "Hush publish-subscribe");
        for (const auto& f : service_features()) {
            q.append_child("feature").append_attribute("var").set_value(f.c_str());
        }
        q.append_child("feature").append_attribute("var").set_value(std::string(ns::disco_info).c_str());
        q.append_child("feature").append_attribute("var").set_value(std::string(ns::disco_items).c_str());
        co_return reply;
    }
    // A node list (no node) or one node's info or items: what `from` may see, all in one read.
    struct listing {
        bool found = false;
        std::vector<std::pair<std::string, std::string>> nodes;  // name, title
        std::vector<std::string> item_ids;
    };
    const std::size_t limit = options_.max_items_per_node;
    auto seen = co_await store_.read([&](storage::store& s) -> storage::result<listing> {
        listing l;
        auto visible = [&](const loaded_node& n) -> storage::result<bool> {
            auto a = affiliation_of(s, host.key, host.pep, n, from, is_admin(from));
            if (!a) {
                return hush::unexpected(a.error());
            }
            const jid owner = host.pep ? host.account : jid::parse(n.record.owner).value_or(jid{});
            auto allowed = access_of(s, n, owner, *a, from);
            if (!allowed) {
                return hush::unexpected(allowed.error());
            }
            return *allowed == access::allowed || !host.pep;  // the service lists every node; PEP only readable ones
        };
        if (node.empty()) {
            auto nodes = s.list_pubsub_nodes(host.key);
            if (!nodes) {
                return hush::unexpected(nodes.error());
            }
            for (auto& record : *nodes) {
                auto n = load_node(s, host.key, record.node, false, limit);
                if (!n) {
                    return hush::unexpected(n.error());
                }
                if (!*n) {
                    continue;
                }
                auto v = visible(**n);
                if (!v) {
                    return hush::unexpected(v.error());
                }
                if (*v) {
                    l.nodes.emplace_back(record.node, (*n)->config.title);
                }
            }
            l.found = true;
            return l;
        }
        auto n = load_node(s, host.key, node, false, limit);
        if (!n) {
            return hush::unexpected(n.error());
        }
        if (!*n) {
            return l;
        }
        auto v = visible(**n);
        if (!v) {
            return hush::unexpected(v.error());
        }
        if (!*v) {
            return l;
        }
        l.found = true;
        if (!info) {
            auto ids = s.pubsub_item_ids(host.key, node);
            if (!ids) {
                return hush::unexpected(ids.error());
            }
            l.item_ids = std::move(*ids);
        }
        return l;
    });
    if (!seen) {
        spdlog::error("pubsub: disco of {} failed: {}", host.key, seen.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    if (!seen->found) {
        co_return make_error_reply(iq, "item-not-found");
    }
    stanza reply = disco_reply(iq, info ? ns::disco_info : ns::disco_items, query);
    auto q = reply.element().child("query");
    if (info) {
        add_identity(q, "pubsub", "leaf");
        for (const auto& f : {std::string(ns::disco_info), std::string(ns::disco_items)}) {
            q.append_child("feature").append_attribute("var").set_value(f.c_str());
        }
        co_return reply;
    }
    for (const auto& [name, title] : seen->nodes) {
        auto item = q.append_child("item");
        item.append_attribute("jid").set_value(host.address.bare_string().c_str());
        item.append_attribute("node").set_value(name.c_str());
        if (!title.empty()) {
            item.append_attribute("name").set_value(title.c_str());
        }
    }
    for (const auto& id : seen->item_ids) {
        auto item = q.append_child("item");
        item.append_attribute("jid").set_value(host.address.bare_string().c_str());
        item.append_attribute("name").set_value(id.c_str());
    }
    co_return reply;
}

}  // namespace hush

namespace hush {

namespace {

// The server's own nodes: one job each, in a transaction of its own (the node row locked on PostgreSQL).
template <class Fn>
storage::result<void> in_transaction(storage::store& s, Fn&& fn) {
    return s.tentatively([&]() -> storage::result<void> { return fn(); });
}

}  // namespace

boost::asio::awaitable<bool> pubsub_engine::ensure_own_node(const std::string& node, const pubsub::node_config& config) {
    if (service_.empty()) {
        co_return false;
    }
    const std::string key = service_;
    const std::size_t limit = options_.max_items_per_node;
    auto done = co_await store_.run([&](storage::store& s) {
        return in_transaction(s, [&]() -> storage::result<void> {
            auto n = load_node(s, key, node, true, limit);
            if (!n) {
                return hush::unexpected(n.error());
            }
            const std::string wanted = pubsub::serialize_config(config);
            if (!*n) {
                storage::pubsub_node_record record{key, node, wanted, "", unix_now()};
                auto created = s.create_pubsub_node(record);
                if (!created) {
                    return hush::unexpected(created.error());
                }
                return {};
            }
            if (!(*n)->record.owner.empty()) {
                // Reserved for the server: somebody's node of that name (made while it was free) goes.
                spdlog::warn("pubsub: the server takes back node {} from {}", node, (*n)->record.owner);
                if (auto deleted = s.delete_pubsub_node(key, node); !deleted) {
                    return hush::unexpected(deleted.error());
                }
                storage::pubsub_node_record record{key, node, wanted, "", unix_now()};
                if (auto created = s.create_pubsub_node(record); !created) {
                    return hush::unexpected(created.error());
                }
                return {};
            }
            if ((*n)->record.config != wanted) {
                auto set = s.set_pubsub_node_config(key, node, wanted);
                if (!set) {
                    return hush::unexpected(set.error());
                }
            }
            return {};
        });
    });
    if (!done) {
        spdlog::error("pubsub: cannot set up the server's node {}: {}", node, done.error().message);
    }
    co_return done.has_value();
}

boost::asio::awaitable<bool> pubsub_engine::change_own(
    const std::string& node, const std::string& what, bool missing_is_fine,
    const std::function<storage::result<std::optional<pending_event>>(storage::store&, const pubsub_host&,
                                                                      const loaded_node&)>& change,
    outgoing& out) {
    if (service_.empty()) {
        co_return false;
    }
    const pubsub_host host = host_for(*jid::parse(service_));
    const std::size_t limit = options_.max_items_per_node;
    auto decided = co_await store_.run([&](storage::store& s) -> storage::result<std::optional<pending_event>> {
        std::optional<pending_event> event;
        auto done = in_transaction(s, [&]() -> storage::result<void> {
            auto n = load_node(s, host.key, node, true, limit);
            if (!n) {
                return hush::unexpected(n.error());
            }
            if (!*n) {
                // Nothing to retract from a node that is gone; nowhere to publish.
                return missing_is_fine ? storage::result<void>{} : hush::unexpected(storage::error{"no node " + node});
            }
            auto changed = change(s, host, **n);
            if (!changed) {
                return hush::unexpected(changed.error());
            }
            event = std::move(*changed);
            return {};
        });
        if (!done) {
            return hush::unexpected(done.error());
        }
        return event;
    });
    if (!decided) {
        spdlog::error("pubsub: cannot {} on the server's node {}: {}", what, node, decided.error().message);
        co_return false;
    }
    if (*decided) {
        notify(host, **decided, out);
    }
    co_return true;
}

boost::asio::awaitable<bool> pubsub_engine::publish_own(const std::string& node, const std::string& item_id,
                                                        const std::string& payload_xml, outgoing& out) {
    const std::int64_t now = unix_now_us();
    co_return co_await change_own(
        node, "publish " + item_id, false,
        [&](storage::store& s, const pubsub_host& host,
            const loaded_node& n) -> storage::result<std::optional<pending_event>> {
            storage::pubsub_item_record item{item_id, host.key, payload_xml, now};
            if (auto put = s.put_pubsub_item(host.key, node, item); !put) {
                return hush::unexpected(put.error());
            }
            if (auto trimmed = s.trim_pubsub_items(host.key, node, n.config.max_items); !trimmed) {
                return hush::unexpected(trimmed.error());
            }
            auto to = recipients(s, host, n);
            if (!to) {
                return hush::unexpected(to.error());
            }
            return std::optional<pending_event>{
                pending_event{event_kind::items, std::move(*to), {{item_id, {}, payload_xml}}, {}}};
        },
        out);
}

boost::asio::awaitable<bool> pubsub_engine::retract_own(const std::string& node, const std::string& item_id,
                                                        outgoing& out) {
    co_return co_await change_own(
        node, "retract " + item_id, true,
        [&](storage::store& s, const pubsub_host& host,
            const loaded_node& n) -> storage::result<std::optional<pending_event>> {
            auto deleted = s.delete_pubsub_item(host.key, node, item_id);
            if (!deleted) {
                return hush::unexpected(deleted.error());
            }
            if (!*deleted || !n.config.notify_retract) {
                return std::optional<pending_event>{};
            }
            auto to = recipients(s, host, n);
            if (!to) {
                return hush::unexpected(to.error());
            }
            return std::optional<pending_event>{pending_event{event_kind::retract, std::move(*to), {}, {item_id}}};
        },
        out);
}

boost::asio::awaitable<std::optional<std::vector<std::string>>> pubsub_engine::own_item_ids(const std::string& node) {
    if (service_.empty()) {
        co_return std::nullopt;
    }
    const std::string key = service_;
    auto ids = co_await store_.read([&](storage::store& s) { return s.pubsub_item_ids(key, node); });
    if (!ids) {
        spdlog::error("pubsub: cannot list the server's node {}: {}", node, ids.error().message);
        co_return std::nullopt;
    }
    co_return std::move(*ids);
}

}  // namespace hush
