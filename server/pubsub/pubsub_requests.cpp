// XEP-0060 §6 and §7, the requests any entity makes: create, publish, retract, items, subscribe, unsubscribe, and
// its own subscriptions and affiliations. Each runs inside its request's one storage transaction (pubsub_job.hpp).
#include <algorithm>
#include <map>
#include <variant>

#include "server/pubsub/pubsub_job.hpp"

namespace hush::pubsub_detail {

namespace {

using pubsub::error_reply;
using pubsub::request_kind;

job_outcome refused(const job_input& in, std::string_view condition, std::string_view pubsub_condition = {},
                    std::string_view feature = {}) {
    return job_outcome{error_reply(in.iq, condition, pubsub_condition, feature), {}, {}};
}

job_outcome refused_access(const job_input& in, access a) {
    switch (a) {
    case access::allowed: break;
    case access::presence_required: return refused(in, "not-authorized", "presence-subscription-required");
    case access::roster_group_required: return refused(in, "not-authorized", "not-in-roster-group");
    case access::closed: return refused(in, "not-allowed", "closed-node");
    case access::outcast: return refused(in, "forbidden");
    }
    return refused(in, "forbidden");
}

jid owner_of(const job_input& in, const loaded_node& n) {
    if (in.host.pep) {
        return in.host.account;
    }
    return jid::parse(n.record.owner).value_or(jid{});
}

// PEP hides what a requester may not see: a node it cannot read answers like a node that does not exist, so
// nobody learns what an account has (nor, for a missing account, that it is missing).
job_outcome not_visible(const job_input& in, access a) {
    return in.host.pep ? refused(in, "item-not-found") : refused_access(in, a);
}

pubsub::item_view view_of(const storage::pubsub_item_record& item, const loaded_node& n, bool pep) {
    return {item.id, publisher_of(item, n, pep), item.payload};
}

// The request's node, when `in.from` may read it (access model, affiliation); else the answer to send.
storage::result<std::variant<loaded_node, job_outcome>> readable_node(storage::store& s, const job_input& in,
                                                                        bool lock) {
    using found_node = std::variant<loaded_node, job_outcome>;
    auto found = load_node(s, in.host.key, in.r.node, lock, in.options.max_items_per_node);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (!*found) {
        return found_node{refused(in, "item-not-found")};
    }
    auto a = affiliation_of(s, in.host.key, in.host.pep, **found, in.from, in.admin);
    if (!a) {
        return hush::unexpected(a.error());
    }
    auto allowed = access_of(s, **found, owner_of(in, **found), *a, in.from);
    if (!allowed) {
        return hush::unexpected(allowed.error());
    }
    if (*allowed != access::allowed) {
        return found_node{not_visible(in, *allowed)};
    }
    return found_node{std::move(**found)};
}

storage::result<job_outcome> create(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    const bool own_host = in.host.pep ? in.from.equals_bare(in.host.account) : in.may_create;
    if (!own_host || in.reserved) {
        return refused(in, "forbidden");  // reserved: the server's own (the RTBL nodes others servers trust)
    }
    std::string node = r.node;
    if (node.empty()) {
        if (in.host.pep) {
            return refused(in, "not-acceptable", "nodeid-required");
        }
        node = in.generated_id;  // an instant node (§8.1.2)
    }
    pubsub::node_config config = in.host.pep ? pubsub::pep_defaults(in.options.max_items_per_node)
                                              : pubsub::service_defaults(in.options.max_items_per_node);
    if (r.form) {
        const auto applied = pubsub::apply_form(r.form, config, in.options.max_items_per_node, false);
        if (applied.error != pubsub::form_error::none) {
            return refused(in, "not-acceptable");
        }
    }
    auto count = s.count_pubsub_nodes(in.host.key);
    if (!count) {
        return hush::unexpected(count.error());
    }
    if (static_cast<std::size_t>(*count) >=
        (in.host.pep ? in.options.max_nodes_per_account : in.options.max_service_nodes)) {
        return refused(in, "not-allowed", "max-nodes-exceeded");
    }
    if (!in.host.pep && !in.admin) {
        // One account cannot take the whole service: it owns at most as many nodes there as it may have of its own.
        auto nodes = s.list_pubsub_nodes(in.host.key);
        if (!nodes) {
            return hush::unexpected(nodes.error());
        }
        const auto owned = std::count_if(nodes->begin(), nodes->end(),
                                         [&](const auto& n) { return n.owner == in.from.bare_string(); });
        if (static_cast<std::size_t>(owned) >= in.options.max_nodes_per_account) {
            return refused(in, "not-allowed", "max-nodes-exceeded");
        }
    }
    storage::pubsub_node_record record{in.host.key, node, pubsub::serialize_config(config), in.from.bare_string(),
                                       in.now_us / 1000000};
    auto created = s.create_pubsub_node(record);
    if (!created) {
        return hush::unexpected(created.error());
    }
    if (!*created) {
        return refused(in, "conflict");
    }
    stanza reply = make_iq_result(in.iq);
    if (r.node.empty()) {
        result_payload(reply, pubsub::ns).append_child("create").append_attribute("node").set_value(node.c_str());
    }
    return job_outcome{std::move(reply), {}, {}};
}

storage::result<job_outcome> publish(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    if (r.payload.size() > in.options.max_payload_bytes) {
        return refused(in, "not-acceptable", "payload-too-big");
    }
    auto found = load_node(s, in.host.key, r.node, true, in.options.max_items_per_node);
    if (!found) {
        return hush::unexpected(found.error());
    }
    std::optional<loaded_node> n = std::move(*found);
    if (in.host.pep && !in.from.equals_bare(in.host.account)) {
        return refused(in, "forbidden");  // only the account publishes to its own nodes
    }
    if (!n) {
        if (!in.host.pep) {
            return refused(in, "item-not-found");
        }
        // XEP-0163 §3: publishing creates the node, configured by the publish-options.
        pubsub::node_config config = pubsub::pep_defaults(in.options.max_items_per_node);
        if (r.form && pubsub::apply_form(r.form, config, in.options.max_items_per_node, false).error !=
                          pubsub::form_error::none) {
            return refused(in, "conflict", "precondition-not-met");
        }
        auto count = s.count_pubsub_nodes(in.host.key);
        if (!count) {
            return hush::unexpected(count.error());
        }
        if (static_cast<std::size_t>(*count) >= in.options.max_nodes_per_account) {
            return refused(in, "not-allowed", "max-nodes-exceeded");
        }
        storage::pubsub_node_record record{in.host.key, r.node, pubsub::serialize_config(config),
                                           in.host.account.bare_string(), in.now_us / 1000000};
        auto created = s.create_pubsub_node(record);
        if (!created) {
            return hush::unexpected(created.error());
        }
        n = loaded_node{std::move(record), std::move(config)};
    } else {
        if (!in.host.pep) {
            // Permission first: a refused publisher learns nothing of the node's configuration from preconditions.
            auto a = affiliation_of(s, in.host.key, false, *n, in.from, in.admin);
            if (!a) {
                return hush::unexpected(a.error());
            }
            bool subscribed = false;
            if (n->config.publish == pubsub::publish_model::subscribers) {
                auto subs = s.pubsub_subscriptions_of(in.host.key, in.from.bare_string());
                if (!subs) {
                    return hush::unexpected(subs.error());
                }
                subscribed = std::any_of(subs->begin(), subs->end(), [&](const auto& x) {
                    return x.node == r.node && x.state == "subscribed";
                });
            }
            // A right that comes from the publish model alone (open, subscribers) is for this server's accounts: a
            // remote stranger publishing to everyone subscribed would reach them from this server's own domain,
            // past the anti-SPIM layer. Others publish once the owner made them publishers.
            const bool by_model = *a != affiliation::owner && *a != affiliation::publisher &&
                                  *a != affiliation::publish_only;
            if (!may_publish(n->config, *a, subscribed) || (by_model && !in.local)) {
                return refused(in, "forbidden");
            }
        }
        if (r.form) {
            const std::string unmet = pubsub::unmet_precondition(r.form, n->config, in.options.max_items_per_node);
            if (!unmet.empty()) {
                const std::string field = unmet.starts_with("pubsub#") ? unmet.substr(7) : unmet;
                return job_outcome{error_reply(in.iq, "conflict", "precondition-not-met", {},
                                               "Field does not match: " + field),
                                   {}, {}};
            }
        }
    }
    const std::string id = r.item_id.empty() ? in.generated_id : r.item_id;
    storage::pubsub_item_record item{id, in.from.bare_string(), r.payload, in.now_us};
    if (n->config.persist_items) {
        if (auto put = s.put_pubsub_item(in.host.key, r.node, item); !put) {
            return hush::unexpected(put.error());
        }
        if (auto trimmed = s.trim_pubsub_items(in.host.key, r.node, n->config.max_items); !trimmed) {
            return hush::unexpected(trimmed.error());
        }
    }
    if (in.host.pep && r.node == "urn:xmpp:avatar:metadata") {
        if (auto converted = avatar_to_vcard(s, in.host, item, in.options.max_items_per_node); !converted) {
            return hush::unexpected(converted.error());
        }
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto publish_el = result_payload(out.reply, pubsub::ns).append_child("publish");
    publish_el.append_attribute("node").set_value(r.node.c_str());
    publish_el.append_child("item").append_attribute("id").set_value(id.c_str());
    if (n->config.deliver_notifications) {
        auto to = recipients(s, in.host, *n);
        if (!to) {
            return hush::unexpected(to.error());
        }
        pending_event e{event_kind::items, std::move(*to), {view_of(item, *n, in.host.pep)}, {}};
        out.events.push_back(std::move(e));
    }
    return out;
}

storage::result<job_outcome> retract(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    auto found = load_node(s, in.host.key, r.node, true, in.options.max_items_per_node);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (!*found) {
        return refused(in, "item-not-found");
    }
    const loaded_node& n = **found;
    auto a = affiliation_of(s, in.host.key, in.host.pep, n, in.from, in.admin);
    if (!a) {
        return hush::unexpected(a.error());
    }
    auto items = s.get_pubsub_items(in.host.key, r.node, r.item_ids, 0);
    if (!items) {
        return hush::unexpected(items.error());
    }
    if (items->size() != r.item_ids.size()) {
        return refused(in, "item-not-found");
    }
    for (const auto& item : *items) {
        // §7.2.3.1: the owner retracts anything; a publisher its own items.
        const bool own_item = item.publisher == in.from.bare_string() &&
                              (*a == affiliation::publisher || *a == affiliation::publish_only ||
                               n.config.publish == pubsub::publish_model::open);
        if (*a != affiliation::owner && !own_item) {
            return refused(in, "forbidden");
        }
    }
    for (const auto& id : r.item_ids) {
        if (auto deleted = s.delete_pubsub_item(in.host.key, r.node, id); !deleted) {
            return hush::unexpected(deleted.error());
        }
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    if (r.notify && n.config.notify_retract) {
        auto to = recipients(s, in.host, n);
        if (!to) {
            return hush::unexpected(to.error());
        }
        out.events.push_back(pending_event{event_kind::retract, std::move(*to), {}, r.item_ids});
    }
    return out;
}

storage::result<job_outcome> items(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    auto found = readable_node(s, in, false);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (auto* refusal = std::get_if<job_outcome>(&*found)) {
        return std::move(*refusal);
    }
    const loaded_node& n = std::get<loaded_node>(*found);
    auto list = s.get_pubsub_items(in.host.key, r.node, r.item_ids, r.item_ids.empty() ? r.max_items.value_or(0) : 0);
    if (!list) {
        return hush::unexpected(list.error());
    }
    if (!r.item_ids.empty() && list->empty()) {
        return refused(in, "item-not-found");
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto items_el = result_payload(out.reply, pubsub::ns).append_child("items");
    items_el.append_attribute("node").set_value(r.node.c_str());
    // Storage gives the newest first; a page of the newest N reads oldest to newest, as they were published.
    for (auto it = list->rbegin(); it != list->rend(); ++it) {
        auto item = items_el.append_child("item");
        item.append_attribute("id").set_value(it->id.c_str());
        if (const std::string publisher = publisher_of(*it, n, in.host.pep); !publisher.empty()) {
            item.append_attribute("publisher").set_value(publisher.c_str());
        }
        if (!it->payload.empty()) {
            pubsub::append_xml(item, it->payload);
        }
    }
    return out;
}

storage::result<job_outcome> subscribe(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    const auto subscriber = jid::parse(r.jid);
    if (!subscriber || !subscriber->equals_bare(in.from)) {
        return refused(in, "bad-request", "invalid-jid");  // §6.1.3.1: only oneself
    }
    auto found = readable_node(s, in, true);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (auto* refusal = std::get_if<job_outcome>(&*found)) {
        return std::move(*refusal);
    }
    const loaded_node& n = std::get<loaded_node>(*found);
    auto count = s.count_pubsub_subscriptions(in.host.key, r.node);
    auto mine = s.pubsub_subscriptions_of(in.host.key, in.from.bare_string());
    if (!count || !mine) {
        return hush::unexpected(!count ? count.error() : mine.error());
    }
    // One subscription per account and node (no subids): a new one from another resource replaces the old, so
    // a node's subscribers are at least that many distinct accounts.
    bool already = false;
    std::size_t others = 0;
    std::vector<const storage::pubsub_subscription_record*> replaced;
    for (const auto& x : *mine) {
        if (x.node != r.node) {
            ++others;
        } else if (x.jid == subscriber->full_string()) {
            already = true;
        } else {
            replaced.push_back(&x);
        }
    }
    // Decided before anything is deleted: a refusal leaves the account's subscription as it was.
    if (!already && (static_cast<std::size_t>(*count) - replaced.size() >= in.options.max_subscriptions_per_node ||
                     others >= in.options.max_subscriptions_per_jid)) {
        return refused(in, "not-allowed", "too-many-subscriptions");
    }
    for (const auto* x : replaced) {
        if (auto gone = s.delete_pubsub_subscription(in.host.key, r.node, x->jid, x->subid); !gone) {
            return hush::unexpected(gone.error());
        }
    }
    if (!already) {
        storage::pubsub_subscription_record sub{r.node, subscriber->full_string(), "", "subscribed"};
        if (auto put = s.put_pubsub_subscription(in.host.key, sub); !put) {
            return hush::unexpected(put.error());
        }
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto sub = result_payload(out.reply, pubsub::ns).append_child("subscription");
    sub.append_attribute("node").set_value(r.node.c_str());
    sub.append_attribute("jid").set_value(subscriber->full_string().c_str());
    sub.append_attribute("subscription").set_value("subscribed");
    if (n.config.send_last_published_item != pubsub::send_last::never) {
        auto last = s.get_pubsub_items(in.host.key, r.node, {}, 1);
        if (!last) {
            return hush::unexpected(last.error());
        }
        if (!last->empty()) {
            pending_event e{event_kind::items, pubsub_delivery{r.node, n.config, {}, {}, {}, in.host.pep},
                            {view_of(last->front(), n, in.host.pep)}, {}};
            out.last_item.emplace_back(subscriber->full_string(), std::move(e));
        }
    }
    return out;
}

storage::result<job_outcome> unsubscribe(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    const auto subscriber = jid::parse(r.jid);
    if (!subscriber || !subscriber->equals_bare(in.from)) {
        return refused(in, "bad-request", "invalid-jid");
    }
    auto found = load_node(s, in.host.key, r.node, true, in.options.max_items_per_node);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (!*found) {
        return refused(in, "item-not-found");
    }
    auto deleted = s.delete_pubsub_subscription(in.host.key, r.node, subscriber->full_string(), r.subid);
    if (!deleted) {
        return hush::unexpected(deleted.error());
    }
    if (*deleted == 0) {
        return refused(in, "unexpected-request", "not-subscribed");
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto sub = result_payload(out.reply, pubsub::ns).append_child("subscription");
    sub.append_attribute("node").set_value(r.node.c_str());
    sub.append_attribute("jid").set_value(subscriber->full_string().c_str());
    sub.append_attribute("subscription").set_value("none");
    return out;
}

storage::result<job_outcome> own_lists(storage::store& s, const job_input& in) {
    const auto& r = in.r;
    const bool subscriptions = r.kind == request_kind::subscriptions;
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto list = result_payload(out.reply, pubsub::ns).append_child(subscriptions ? "subscriptions" : "affiliations");
    if (!r.node.empty()) {
        list.append_attribute("node").set_value(r.node.c_str());
    }
    if (subscriptions) {
        auto subs = s.pubsub_subscriptions_of(in.host.key, in.from.bare_string());
        if (!subs) {
            return hush::unexpected(subs.error());
        }
        for (const auto& x : *subs) {
            if (!r.node.empty() && x.node != r.node) {
                continue;
            }
            auto line = list.append_child("subscription");
            line.append_attribute("node").set_value(x.node.c_str());
            line.append_attribute("jid").set_value(x.jid.c_str());
            line.append_attribute("subscription").set_value(x.state.c_str());
        }
        return out;
    }
    std::vector<std::pair<std::string, std::string>> lines;
    auto nodes = s.list_pubsub_nodes(in.host.key);
    auto stored = s.pubsub_affiliations_of(in.host.key, in.from.bare_string());
    if (!nodes || !stored) {
        return hush::unexpected(!nodes ? nodes.error() : stored.error());
    }
    for (const auto& n : *nodes) {
        if (in.host.pep ? in.from.equals_bare(in.host.account) : n.owner == in.from.bare_string()) {
            lines.emplace_back(n.node, "owner");
        }
    }
    for (const auto& a : *stored) {
        if (std::none_of(lines.begin(), lines.end(), [&](const auto& l) { return l.first == a.node; })) {
            lines.emplace_back(a.node, a.affiliation);
        }
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& [node, affiliation] : lines) {
        if (!r.node.empty() && node != r.node) {
            continue;
        }
        auto line = list.append_child("affiliation");
        line.append_attribute("node").set_value(node.c_str());
        line.append_attribute("affiliation").set_value(affiliation.c_str());
    }
    return out;
}

}  // namespace

pugi::xml_node result_payload(stanza& reply, std::string_view payload_ns) {
    auto p = reply.element().append_child("pubsub");
    p.append_attribute("xmlns").set_value(std::string(payload_ns).c_str());
    return p;
}

storage::result<pubsub_delivery> recipients(storage::store& s, const pubsub_host& host, const loaded_node& n) {
    pubsub_delivery d{n.record.node, n.config, {}, {}, {}, host.pep};
    // Who may still read the node decides, not who once subscribed: an outcast, a contact removed from the roster
    // or a model made stricter loses the notifications with the access. Affiliations and the owner's roster are
    // read once for all subscribers.
    auto subs = s.get_pubsub_subscriptions(host.key, n.record.node);
    auto stored = s.get_pubsub_affiliations(host.key, n.record.node);
    if (!subs || !stored) {
        return hush::unexpected(!subs ? subs.error() : stored.error());
    }
    std::map<std::string, affiliation> affiliations;
    for (const auto& a : *stored) {
        affiliations[a.jid] = parse_affiliation(a.affiliation).value_or(affiliation::none);
    }
    const jid owner = host.pep ? host.account : jid::parse(n.record.owner).value_or(jid{});
    std::map<std::string, storage::roster_item> roster;
    if (owner.has_node()) {
        auto items = s.get_roster(owner.domain(), owner.node());
        if (!items) {
            return hush::unexpected(items.error());
        }
        for (auto& item : *items) {
            roster.emplace(item.contact, std::move(item));
        }
    }
    if (host.pep) {
        // XEP-0191 §3.4: nothing at all goes to what the account blocks.
        auto blocked = s.get_blocklist(host.account.domain(), host.account.node());
        if (!blocked) {
            return hush::unexpected(blocked.error());
        }
        d.blocked = std::move(*blocked);
    }
    auto may_read = [&](const jid& who) {
        const std::string bare = who.bare_string();
        affiliation a = affiliation::none;
        if (owner.has_node() && bare == owner.bare_string()) {
            a = affiliation::owner;
        } else if (const auto it = affiliations.find(bare); it != affiliations.end()) {
            a = it->second;
        }
        const auto item = roster.find(bare);
        return decide_access(n, a, item != roster.end() ? &item->second : nullptr) == access::allowed;
    };
    for (const auto& x : *subs) {
        const auto who = jid::parse(x.jid);
        if (x.state == "subscribed" && who && may_read(*who)) {
            d.to.push_back(x.jid);
        }
    }
    if (!host.pep || n.config.access == pubsub::access_model::whitelist) {
        return d;  // a whitelist node goes to the account's own resources and its members' subscriptions only
    }
    // XEP-0163 §4.3: the contacts the account's presence goes to, as far as the access model lets them read.
    for (const auto& [contact, item] : roster) {
        const auto who = jid::parse(contact);
        if ((item.sub == subscription::from || item.sub == subscription::both) && who && may_read(*who)) {
            d.contacts.push_back(contact);
        }
    }
    return d;
}

storage::result<job_outcome> entity_job(storage::store& s, const job_input& in) {
    switch (in.r.kind) {
    case request_kind::create: return create(s, in);
    case request_kind::publish: return publish(s, in);
    case request_kind::retract: return retract(s, in);
    case request_kind::items: return items(s, in);
    case request_kind::subscribe: return subscribe(s, in);
    case request_kind::unsubscribe: return unsubscribe(s, in);
    case request_kind::subscriptions:
    case request_kind::affiliations: return own_lists(s, in);
    default: break;
    }
    return refused(in, "feature-not-implemented", "unsupported", "subscription-options");
}

}  // namespace hush::pubsub_detail
