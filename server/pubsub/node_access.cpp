#include "server/pubsub/node_access.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hush::pubsub_detail {

storage::result<std::optional<loaded_node>> load_node(storage::store& s, const std::string& host,
                                                      const std::string& node, bool lock,
                                                      std::size_t max_items_limit) {
    auto record = s.get_pubsub_node(host, node, lock);
    if (!record) {
        return hush::unexpected(record.error());
    }
    if (!*record) {
        return std::optional<loaded_node>{};
    }
    // The server's own nodes (no owner) may be larger than users may make theirs.
    const std::size_t limit = (*record)->owner.empty() ? own_node_max_items : max_items_limit;
    auto config = pubsub::parse_config((*record)->config, std::max(limit, max_items_limit));
    if (!config) {
        spdlog::error("pubsub: node {} of {} has an unreadable configuration; treated as missing", node, host);
        return std::optional<loaded_node>{};
    }
    return std::optional<loaded_node>{loaded_node{std::move(**record), std::move(*config)}};
}

std::string_view name_of(affiliation a) {
    switch (a) {
    case affiliation::none: return "none";
    case affiliation::outcast: return "outcast";
    case affiliation::member: return "member";
    case affiliation::publish_only: return "publish-only";
    case affiliation::publisher: return "publisher";
    case affiliation::owner: return "owner";
    }
    return "none";
}

std::optional<affiliation> parse_affiliation(std::string_view name) {
    for (auto a : {affiliation::none, affiliation::outcast, affiliation::member, affiliation::publish_only,
                   affiliation::publisher, affiliation::owner}) {
        if (name_of(a) == name) {
            return a;
        }
    }
    return std::nullopt;
}

storage::result<affiliation> affiliation_of(storage::store& s, const std::string& host, bool pep,
                                            const loaded_node& n, const jid& who, bool admin) {
    if (pep ? who.bare_string() == host : (who.bare_string() == n.record.owner || admin)) {
        return affiliation::owner;
    }
    auto stored = s.pubsub_affiliations_of(host, who.bare_string());
    if (!stored) {
        return hush::unexpected(stored.error());
    }
    for (const auto& a : *stored) {
        if (a.node == n.record.node) {
            return parse_affiliation(a.affiliation).value_or(affiliation::none);
        }
    }
    return affiliation::none;
}

access decide_access(const loaded_node& n, affiliation a, const storage::roster_item* owner_item) {
    if (a == affiliation::outcast) {
        return access::outcast;
    }
    if (a == affiliation::owner || a == affiliation::publisher || a == affiliation::member) {
        return access::allowed;
    }
    switch (n.config.access) {
    case pubsub::access_model::open:
        return access::allowed;
    case pubsub::access_model::whitelist:
        return access::closed;
    case pubsub::access_model::presence:
    case pubsub::access_model::roster:
        break;
    }
    const bool presence = n.config.access == pubsub::access_model::presence;
    const access refused = presence ? access::presence_required : access::roster_group_required;
    if (owner_item == nullptr) {
        return refused;
    }
    if (presence) {
        // The owner's presence goes to them: the owner's item says from or both.
        const bool sees = owner_item->sub == subscription::from || owner_item->sub == subscription::both;
        return sees ? access::allowed : refused;
    }
    const auto& allowed = n.config.roster_groups_allowed;
    for (const auto& group : owner_item->groups) {
        if (std::find(allowed.begin(), allowed.end(), group) != allowed.end()) {
            return access::allowed;
        }
    }
    return refused;
}

storage::result<access> access_of(storage::store& s, const loaded_node& n, const jid& owner, affiliation a,
                                  const jid& who) {
    const bool needs_roster = a != affiliation::outcast && a != affiliation::owner && a != affiliation::publisher &&
                              a != affiliation::member &&
                              (n.config.access == pubsub::access_model::presence ||
                               n.config.access == pubsub::access_model::roster);
    if (!needs_roster || !owner.has_node()) {
        return decide_access(n, a, nullptr);  // a node without an owning account has no roster to consult
    }
    auto item = s.get_roster_item(owner.domain(), owner.node(), who.bare_string());
    if (!item) {
        return hush::unexpected(item.error());
    }
    return decide_access(n, a, *item ? &**item : nullptr);
}

std::string publisher_of(const storage::pubsub_item_record& item, const loaded_node& n, bool pep) {
    if (n.config.itemreply == "owner") {
        return pep ? n.record.host : n.record.owner;
    }
    if (n.config.itemreply == "publisher" || !pep) {
        return item.publisher;
    }
    return {};
}

bool may_publish(const pubsub::node_config& c, affiliation a, bool subscribed) {
    if (a == affiliation::outcast) {
        return false;
    }
    if (a == affiliation::owner || a == affiliation::publisher || a == affiliation::publish_only) {
        return true;
    }
    switch (c.publish) {
    case pubsub::publish_model::publishers: return false;
    case pubsub::publish_model::subscribers: return subscribed || a == affiliation::member;
    case pubsub::publish_model::open: return true;
    }
    return false;
}

}  // namespace hush::pubsub_detail
