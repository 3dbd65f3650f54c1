#pragma once
// What an entity is to a node (XEP-0060 §4.1 affiliations, §4.5 access models), decided inside a storage job from
// what storage holds: the node, its stored affiliations and, for presence and roster access, the owner's roster.
// Synchronous: runs on a storage worker, within the request's one transaction.
#include <optional>
#include <string>

#include "protocol/jid.hpp"
#include "protocol/pubsub.hpp"
#include "storage/store.hpp"

namespace hush::pubsub_detail {

// A node's configuration may hold a max_items up to this when the server made it (the RTBL's nodes).
inline constexpr std::size_t own_node_max_items = 1000000;

struct loaded_node {
    storage::pubsub_node_record record;
    pubsub::node_config config;
};

// The node with its configuration parsed; nullopt when there is none (or its stored configuration is unreadable,
// logged). `lock`: see store::get_pubsub_node. `max_items_limit`: the configured [pubsub] max_items_per_node.
storage::result<std::optional<loaded_node>> load_node(storage::store& s, const std::string& host,
                                                      const std::string& node, bool lock,
                                                      std::size_t max_items_limit);

enum class affiliation { none, outcast, member, publish_only, publisher, owner };
std::string_view name_of(affiliation a);
std::optional<affiliation> parse_affiliation(std::string_view name);

// `who`'s affiliation: owner for the PEP account itself, the service node's creator and the server's admins
// (`admin`); else the stored one.
storage::result<affiliation> affiliation_of(storage::store& s, const std::string& host, bool pep,
                                            const loaded_node& n, const jid& who, bool admin);

// Whether `who` may read the node's items and subscribe (access model), and if not, the XEP-0060 §6.1.3 answer.
enum class access { allowed, presence_required, roster_group_required, closed, outcast };
storage::result<access> access_of(storage::store& s, const loaded_node& n, const jid& owner, affiliation a,
                                  const jid& who);
// The same decision from what is already read: the owner's roster item for the entity (null: none).
access decide_access(const loaded_node& n, affiliation a, const storage::roster_item* owner_item);

// Whose JID an item names (pubsub#itemreply): the owner, the publisher, or — "none" — the publisher on the service
// (its subscribers may not know each other otherwise) and nobody on PEP (it could only be the account).
std::string publisher_of(const storage::pubsub_item_record& item, const loaded_node& n, bool pep);

// May `a` (with an existing subscription or not) publish to the node (publish model)?
bool may_publish(const pubsub::node_config& c, affiliation a, bool subscribed);

}  // namespace hush::pubsub_detail
