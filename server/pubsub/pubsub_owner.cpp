// XEP-0060 §8, the owner's requests: configure, default configuration, purge, delete, and the management of
// subscriptions and affiliations. Each runs inside its request's one storage transaction (pubsub_job.hpp).
#include <algorithm>
#include <set>

#include "server/pubsub/pubsub_job.hpp"

namespace hush::pubsub_detail {

namespace {

using pubsub::error_reply;
using pubsub::request_kind;

job_outcome refused(const job_input& in, std::string_view condition, std::string_view pubsub_condition = {}) {
    return job_outcome{error_reply(in.iq, condition, pubsub_condition), {}, {}};
}

pugi::xml_node owner_payload(job_outcome& out, const char* name, const std::string& node) {
    auto el = result_payload(out.reply, pubsub::owner_ns).append_child(name);
    el.append_attribute("node").set_value(node.c_str());
    return el;
}

storage::result<job_outcome> configure(storage::store& s, const job_input& in, loaded_node& n) {
    job_outcome out{make_iq_result(in.iq), {}, {}};
    if (in.r.kind == request_kind::configure_get) {
        pubsub::append_config_form(owner_payload(out, "configure", n.record.node), n.config, "form",
                                   n.record.owner.empty() ? own_node_max_items : in.options.max_items_per_node);
        return out;
    }
    const std::string_view form_type = in.r.form.attribute("type").value();
    if (form_type == "cancel") {
        return out;  // §8.2.4: nothing changes
    }
    if (form_type != "submit") {
        return refused(in, "bad-request");
    }
    const std::size_t limit = n.record.owner.empty() ? own_node_max_items : in.options.max_items_per_node;
    pubsub::node_config next = n.config;
    // Fields this server does not have are ignored, as a form from another server's client may carry them.
    if (pubsub::apply_form(in.r.form, next, limit, false).error != pubsub::form_error::none) {
        return refused(in, "not-acceptable");  // §8.2.5.4
    }
    auto stored = s.set_pubsub_node_config(in.host.key, n.record.node, pubsub::serialize_config(next));
    if (!stored) {
        return hush::unexpected(stored.error());
    }
    if (next.max_items < n.config.max_items || !next.persist_items) {
        auto trimmed = s.trim_pubsub_items(in.host.key, n.record.node, next.persist_items ? next.max_items : 0);
        if (!trimmed) {
            return hush::unexpected(trimmed.error());
        }
    }
    return out;
}

storage::result<job_outcome> remove(storage::store& s, const job_input& in, const loaded_node& n) {
    const bool purge = in.r.kind == request_kind::purge;
    auto to = recipients(s, in.host, n);  // read before the subscriptions go with the node
    if (!to) {
        return hush::unexpected(to.error());
    }
    if (purge) {
        if (auto purged = s.purge_pubsub_node(in.host.key, n.record.node); !purged) {
            return hush::unexpected(purged.error());
        }
    } else if (auto deleted = s.delete_pubsub_node(in.host.key, n.record.node); !deleted) {
        return hush::unexpected(deleted.error());
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    if (purge ? n.config.notify_retract : n.config.notify_delete) {
        out.events.push_back(
            pending_event{purge ? event_kind::purge : event_kind::delete_node, std::move(*to), {}, {}});
    }
    return out;
}

storage::result<job_outcome> subscriptions(storage::store& s, const job_input& in, const loaded_node& n) {
    const std::string& node = n.record.node;
    if (in.r.kind == request_kind::owner_subscriptions_set) {
        auto current = s.get_pubsub_subscriptions(in.host.key, node);
        if (!current) {
            return hush::unexpected(current.error());
        }
        // All or nothing. An owner may end or change subscriptions, never make one: subscribing someone else
        // would send them notifications they never asked for, past the anti-SPIM layer.
        for (const auto& change : in.r.changes) {
            const auto who = jid::parse(change.jid);
            const bool exists = who && std::any_of(current->begin(), current->end(),
                                                   [&](const auto& x) { return x.jid == who->full_string(); });
            if (!who || (change.value != "none" && change.value != "subscribed") ||
                (change.value == "subscribed" && !exists)) {
                return refused(in, "not-acceptable");
            }
        }
        for (const auto& change : in.r.changes) {
            const auto who = jid::parse(change.jid);
            if (change.value == "none") {
                if (auto deleted = s.delete_pubsub_subscription(in.host.key, node, who->full_string(), change.subid);
                    !deleted) {
                    return hush::unexpected(deleted.error());
                }
            }
        }
        return job_outcome{make_iq_result(in.iq), {}, {}};
    }
    auto list = s.get_pubsub_subscriptions(in.host.key, node);
    if (!list) {
        return hush::unexpected(list.error());
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto el = owner_payload(out, "subscriptions", node);
    for (const auto& x : *list) {
        auto line = el.append_child("subscription");
        line.append_attribute("jid").set_value(x.jid.c_str());
        line.append_attribute("subscription").set_value(x.state.c_str());
        if (!x.subid.empty()) {
            line.append_attribute("subid").set_value(x.subid.c_str());
        }
    }
    return out;
}

storage::result<job_outcome> affiliations(storage::store& s, const job_input& in, const loaded_node& n) {
    const std::string& node = n.record.node;
    if (in.r.kind == request_kind::owner_affiliations_set) {
        std::vector<std::pair<jid, affiliation>> changes;
        for (const auto& change : in.r.changes) {
            const auto who = jid::parse(change.jid);
            const auto a = parse_affiliation(change.value);
            // PEP has one owner and one publisher, the account: others may only be members or outcasts.
            if (!who || !a || (in.host.pep && (*a == affiliation::owner || *a == affiliation::publisher ||
                                               *a == affiliation::publish_only))) {
                return refused(in, "not-acceptable");
            }
            changes.emplace_back(who->bare(), *a);
        }
        auto current = s.get_pubsub_affiliations(in.host.key, node);
        if (!current) {
            return hush::unexpected(current.error());
        }
        // Bounded like the subscriptions, by what the node would hold after: changes and removals always go.
        std::set<std::string> after;
        for (const auto& a : *current) {
            after.insert(a.jid);
        }
        for (const auto& [who, a] : changes) {
            if (a == affiliation::none) {
                after.erase(who.bare_string());
            } else {
                after.insert(who.bare_string());
            }
        }
        if (after.size() > current->size() && after.size() > in.options.max_subscriptions_per_node) {
            return refused(in, "policy-violation");
        }
        for (const auto& [who, a] : changes) {
            if (in.host.pep ? who.equals_bare(in.host.account) : who.bare_string() == n.record.owner) {
                continue;  // the creator stays owner (§8.9.2.4: a node keeps an owner)
            }
            storage::pubsub_affiliation_record record{node, who.bare_string(), std::string(name_of(a))};
            if (auto put = s.put_pubsub_affiliation(in.host.key, record); !put) {
                return hush::unexpected(put.error());
            }
            if (a == affiliation::outcast) {
                // Every subscription of the outcast's, its resources' included: an outcast has none.
                auto subs = s.pubsub_subscriptions_of(in.host.key, who.bare_string());
                if (!subs) {
                    return hush::unexpected(subs.error());
                }
                for (const auto& x : *subs) {
                    if (x.node != node) {
                        continue;
                    }
                    if (auto gone = s.delete_pubsub_subscription(in.host.key, node, x.jid, x.subid); !gone) {
                        return hush::unexpected(gone.error());
                    }
                }
            }
        }
        return job_outcome{make_iq_result(in.iq), {}, {}};
    }
    auto list = s.get_pubsub_affiliations(in.host.key, node);
    if (!list) {
        return hush::unexpected(list.error());
    }
    job_outcome out{make_iq_result(in.iq), {}, {}};
    auto el = owner_payload(out, "affiliations", node);
    const std::string owner = in.host.pep ? in.host.account.bare_string() : n.record.owner;
    if (!owner.empty()) {
        auto line = el.append_child("affiliation");
        line.append_attribute("jid").set_value(owner.c_str());
        line.append_attribute("affiliation").set_value("owner");
    }
    for (const auto& a : *list) {
        if (a.jid == owner) {
            continue;
        }
        auto line = el.append_child("affiliation");
        line.append_attribute("jid").set_value(a.jid.c_str());
        line.append_attribute("affiliation").set_value(a.affiliation.c_str());
    }
    return out;
}

}  // namespace

storage::result<job_outcome> owner_job(storage::store& s, const job_input& in) {
    if (in.r.kind == request_kind::default_config) {
        job_outcome out{make_iq_result(in.iq), {}, {}};
        auto el = result_payload(out.reply, pubsub::owner_ns).append_child("default");
        pubsub::append_config_form(el, in.host.pep ? pubsub::pep_defaults(in.options.max_items_per_node)
                                                   : pubsub::service_defaults(in.options.max_items_per_node),
                                   "form", in.options.max_items_per_node);
        return out;
    }
    const bool write = in.r.kind != request_kind::configure_get && in.r.kind != request_kind::owner_subscriptions_get &&
                       in.r.kind != request_kind::owner_affiliations_get;
    auto found = load_node(s, in.host.key, in.r.node, write, in.options.max_items_per_node);
    if (!found) {
        return hush::unexpected(found.error());
    }
    if (!*found) {
        return refused(in, "item-not-found");
    }
    loaded_node& n = **found;
    auto a = affiliation_of(s, in.host.key, in.host.pep, n, in.from, in.admin);
    if (!a) {
        return hush::unexpected(a.error());
    }
    if (*a != affiliation::owner) {
        // Strangers never get here for PEP: the router refuses their owner requests as for a missing account.
        return refused(in, "forbidden");
    }
    switch (in.r.kind) {
    case request_kind::configure_get:
    case request_kind::configure_set: return configure(s, in, n);
    case request_kind::purge:
    case request_kind::delete_node: return remove(s, in, n);
    case request_kind::owner_subscriptions_get:
    case request_kind::owner_subscriptions_set: return subscriptions(s, in, n);
    case request_kind::owner_affiliations_get:
    case request_kind::owner_affiliations_set: return affiliations(s, in, n);
    default: break;
    }
    return refused(in, "feature-not-implemented", "unsupported");
}

}  // namespace hush::pubsub_detail
