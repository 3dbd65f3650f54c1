#pragma once
// XEP-0060 Publish-Subscribe, the payloads: a node's configuration and its data forms (pubsub#node_config,
// pubsub#publish-options), the requests an entity sends (one parser), and the event notifications a service sends
// (one serializer each). Pure: no storage, no routing; the engine is server/pubsub/.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/stanza.hpp"

namespace hush::pubsub {

inline constexpr std::string_view ns = "http://jabber.org/protocol/pubsub";
inline constexpr std::string_view owner_ns = "http://jabber.org/protocol/pubsub#owner";
inline constexpr std::string_view event_ns = "http://jabber.org/protocol/pubsub#event";
inline constexpr std::string_view errors_ns = "http://jabber.org/protocol/pubsub#errors";
inline constexpr std::string_view node_config_form = "http://jabber.org/protocol/pubsub#node_config";
inline constexpr std::string_view publish_options_form = "http://jabber.org/protocol/pubsub#publish-options";
inline constexpr std::string_view data_ns = "jabber:x:data";

enum class access_model { open, presence, roster, whitelist };
enum class publish_model { publishers, subscribers, open };
enum class send_last { never, on_sub, on_sub_and_presence };

std::string_view name_of(access_model m);
std::string_view name_of(publish_model m);
std::string_view name_of(send_last m);

// A node's configuration (XEP-0060 §16.4.4, the fields this server implements). The defaults are a node nobody
// configured; pep_defaults() and service_defaults() say what each kind of host starts from.
struct node_config {
    std::string title;
    std::string description;
    std::string type;  // pubsub#type: the payload's namespace, informative
    access_model access = access_model::open;
    std::vector<std::string> roster_groups_allowed;  // for access_model roster
    publish_model publish = publish_model::publishers;
    std::size_t max_items = 256;  // 0 never: at least 1
    bool max_items_is_max = false;  // the client asked for "max": the server's limit, whatever it is
    bool persist_items = true;
    bool deliver_notifications = true;
    bool deliver_payloads = true;
    bool notify_delete = true;
    bool notify_retract = true;
    send_last send_last_published_item = send_last::on_sub_and_presence;
    std::string notification_type = "headline";  // or "normal"
    // Whose JID an item's publisher attribute names: "owner", "publisher" or "none" (the service then names the
    // publisher, PEP nobody).
    std::string itemreply = "none";
};

node_config pep_defaults(std::size_t max_items);
node_config service_defaults(std::size_t max_items);

// How a form's fields apply to a configuration.
enum class form_error { none, bad_value, unknown_field };
struct form_outcome {
    form_error error = form_error::none;
    std::string field;  // the offending field
};

// Applies a submitted form (type submit; FORM_TYPE node_config or publish-options) to `config`. Fields not in
// the form keep their value. `max_items_limit` caps max_items ("max" means the limit). Unknown fields are an error
// only with `strict` (a configuration form); publish-options ignore them (XEP-0060 §7.1.5: they are preconditions).
form_outcome apply_form(pugi::xml_node form, node_config& config, std::size_t max_items_limit, bool strict);

// XEP-0060 §7.1.5 preconditions: every field the publish-options form names must equal the node's configuration.
// Returns the first field that does not (empty when all match). `max_items_limit` resolves "max".
std::string unmet_precondition(pugi::xml_node form, const node_config& config, std::size_t max_items_limit);

// The configuration as a form: type "form" (what an owner is asked to fill, with options), or "submit" (how the
// engine stores it: storage keeps this string).
// `max_items_limit`: shown as the max_items field's range (0: none).
void append_config_form(pugi::xml_node parent, const node_config& config, std::string_view type,
                        std::size_t max_items_limit = 0);
std::string serialize_config(const node_config& config);
// Parses serialize_config's output; nullopt when it is not one.
std::optional<node_config> parse_config(std::string_view stored, std::size_t max_items_limit);

// One request in an iq's <pubsub/> or <pubsub xmlns='#owner'/> (XEP-0060 §6, §7, §8).
enum class request_kind {
    create, publish, retract, items, subscribe, unsubscribe, subscriptions, affiliations, options,
    configure_get, configure_set, default_config, purge, delete_node, owner_subscriptions_get,
    owner_subscriptions_set, owner_affiliations_get, owner_affiliations_set,
};

struct entity_change {  // an owner's <subscription/> or <affiliation/> line
    std::string jid;
    std::string value;  // subscription state or affiliation
    std::string subid;
};

struct request {
    request_kind kind = request_kind::items;
    std::string node;  // may be empty (create without a node: the service makes one up)
    // publish: the item (its id may be empty) and its payload, serialized; retract/items: the ids named.
    std::string item_id;
    std::string payload;
    bool payload_present = false;
    std::vector<std::string> item_ids;
    std::optional<std::size_t> max_items;  // items
    bool notify = false;                  // retract
    std::string jid;                      // subscribe/unsubscribe/options
    std::string subid;
    pugi::xml_node form;  // create's <configure><x/>, publish-options, configure_set's <x/>: in the request
    std::vector<entity_change> changes;   // owner subscriptions/affiliations set
};

// Why a <pubsub/> payload is not a request this server can take: a stanza error condition and, when XEP-0060
// names one, its pubsub#errors child.
struct request_error {
    std::string condition;
    std::string pubsub_condition;
};

// Parses the iq's pubsub payload (`payload`: the <pubsub/> element; `set`: iq type set). nullopt with `error`
// filled when the payload is malformed or names an operation this server does not implement.
std::optional<request> parse_request(pugi::xml_node payload, bool set, request_error& error);

// The error reply to `iq` with `condition` and, when given, the pubsub#errors child (e.g. precondition-not-met).
stanza error_reply(const stanza& iq, std::string_view condition, std::string_view pubsub_condition = {},
                   std::string_view feature = {}, std::string_view text = {});

// One item as it appears in <items/> results and notifications.
struct item_view {
    std::string id;
    std::string publisher;  // empty: no publisher attribute
    std::string payload;    // serialized element, may be empty
};

// <event xmlns='…#event'> notifications (§7.1.2.1, §7.2.2.1, §8.4.2, §8.5.2, §8.2.3); each the message's child.
stanza event_message(std::string_view from, std::string_view to, std::string_view type);
void append_items_event(stanza& message, std::string_view node, const std::vector<item_view>& items,
                        bool with_payloads);
void append_retract_event(stanza& message, std::string_view node, const std::vector<std::string>& ids);
void append_node_event(stanza& message, std::string_view what, std::string_view node);  // delete, purge, configuration

// Appends `xml` (one serialized element) under `parent`; false when it does not parse.
bool append_xml(pugi::xml_node parent, std::string_view xml);
// The serialized form of an element (no declaration, no indentation).
std::string serialize_element(pugi::xml_node element);

}  // namespace hush::pubsub
