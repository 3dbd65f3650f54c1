#pragma once
// Internal to the engine (server/pubsub/pubsub_*.cpp): what one request's storage job decides — the reply, and
// the notifications to send once the job has committed.
#include <string>
#include <vector>

#include "protocol/pubsub.hpp"
#include "server/pubsub/node_access.hpp"
#include "server/pubsub/pubsub_engine.hpp"

namespace hush::pubsub_detail {

enum class event_kind { items, retract, delete_node, purge, configuration };

struct pending_event {
    event_kind kind = event_kind::items;
    pubsub_delivery to;
    std::vector<pubsub::item_view> items;  // items
    std::vector<std::string> ids;          // retract
};

struct job_outcome {
    stanza reply;
    std::vector<pending_event> events;
    // A subscription just made: the last item goes to this address (send_last_published_item on_sub*).
    std::vector<std::pair<std::string, pending_event>> last_item;
};

// Everything one request needs inside its job.
struct job_input {
    const stanza& iq;
    const jid& from;
    const pubsub_host& host;
    const pubsub::request& r;
    const pubsub_config& options;
    bool admin = false;
    bool may_create = false;  // on the service: may `from` create nodes ([pubsub] service_creators)
    bool reserved = false;
    bool local = false;       // `from` is an account of this server    // the node's name is the server's own (reserve_nodes)
    std::string generated_id;  // an id for an item or node the request leaves unnamed
    std::int64_t now_us = 0;
};

// The recipients of a node's notifications: its subscribers and, for PEP, the owner's contacts who may see it.
storage::result<pubsub_delivery> recipients(storage::store& s, const pubsub_host& host, const loaded_node& n);

// The entity requests (XEP-0060 §6, §7) and the owner's (§8), each run inside the request's transaction.
storage::result<job_outcome> entity_job(storage::store& s, const job_input& in);
storage::result<job_outcome> owner_job(storage::store& s, const job_input& in);

// XEP-0398: the avatar the account just published (its urn:xmpp:avatar:metadata item) as its vCard's PHOTO.
// Only when both avatar nodes are open to anyone: a vCard is anyone's to read.
storage::result<void> avatar_to_vcard(storage::store& s, const pubsub_host& host,
                                      const storage::pubsub_item_record& metadata, std::size_t max_items_limit);

// A reply with a <pubsub/> payload of namespace `payload_ns`; returns that payload.
pugi::xml_node result_payload(stanza& reply, std::string_view payload_ns);

}  // namespace hush::pubsub_detail
