#include "protocol/pubsub.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <sstream>

#include "protocol/data_form.hpp"
#include "protocol/namespaces.hpp"

namespace hush::pubsub {

namespace {

constexpr std::string_view prefix = "pubsub#";

using data_form::parse_bool;

std::optional<std::size_t> parse_count(std::string_view v) {
    std::size_t n = 0;
    const auto* end = v.data() + v.size();
    const auto [ptr, ec] = std::from_chars(v.data(), end, n);
    if (v.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return n;
}

template <class E, std::size_t N>
std::optional<E> parse_enum(std::string_view v, const std::array<E, N>& all) {
    for (E e : all) {
        if (name_of(e) == v) {
            return e;
        }
    }
    return std::nullopt;
}

constexpr std::array<access_model, 4> access_models = {access_model::open, access_model::presence,
                                                        access_model::roster, access_model::whitelist};
constexpr std::array<publish_model, 3> publish_models = {publish_model::publishers, publish_model::subscribers,
                                                          publish_model::open};
constexpr std::array<send_last, 3> send_lasts = {send_last::never, send_last::on_sub, send_last::on_sub_and_presence};

std::vector<std::string> values_of(pugi::xml_node field) {
    std::vector<std::string> out;
    for (auto v : field.children("value")) {
        out.emplace_back(v.child_value());
    }
    return out;
}

// One field applied to the configuration: none, or why not.
form_error apply_field(std::string_view var, const std::vector<std::string>& values, node_config& c,
                       std::size_t max_items_limit) {
    const std::string_view v = values.empty() ? std::string_view() : std::string_view(values.front());
    auto set_bool = [&](bool& target) {
        const auto b = parse_bool(v);
        if (!b) {
            return form_error::bad_value;
        }
        target = *b;
        return form_error::none;
    };
    if (!var.starts_with(prefix)) {
        return form_error::unknown_field;
    }
    const std::string_view name = var.substr(prefix.size());
    if (name == "title") {
        c.title = std::string(v);
    } else if (name == "description") {
        c.description = std::string(v);
    } else if (name == "type") {
        c.type = std::string(v);
    } else if (name == "access_model") {
        const auto m = parse_enum(v, access_models);
        if (!m) {
            return form_error::bad_value;
        }
        c.access = *m;
    } else if (name == "roster_groups_allowed") {
        c.roster_groups_allowed = values;
    } else if (name == "publish_model") {
        const auto m = parse_enum(v, publish_models);
        if (!m) {
            return form_error::bad_value;
        }
        c.publish = *m;
    } else if (name == "max_items") {
        if (v == "max") {
            c.max_items = max_items_limit;
            c.max_items_is_max = true;
            return form_error::none;
        }
        const auto n = parse_count(v);
        if (!n || *n == 0 || *n > max_items_limit) {
            return form_error::bad_value;
        }
        c.max_items = *n;
        c.max_items_is_max = false;
    } else if (name == "persist_items") {
        return set_bool(c.persist_items);
    } else if (name == "deliver_notifications") {
        return set_bool(c.deliver_notifications);
    } else if (name == "deliver_payloads") {
        return set_bool(c.deliver_payloads);
    } else if (name == "notify_delete") {
        return set_bool(c.notify_delete);
    } else if (name == "notify_retract") {
        return set_bool(c.notify_retract);
    } else if (name == "send_last_published_item") {
        const auto m = parse_enum(v, send_lasts);
        if (!m) {
            return form_error::bad_value;
        }
        c.send_last_published_item = *m;
    } else if (name == "notification_type") {
        if (v != "headline" && v != "normal") {
            return form_error::bad_value;
        }
        c.notification_type = std::string(v);
    } else if (name == "itemreply") {
        if (v != "owner" && v != "publisher" && v != "none") {
            return form_error::bad_value;
        }
        c.itemreply = std::string(v);
    } else {
        return form_error::unknown_field;
    }
    return form_error::none;
}

bool is_form(pugi::xml_node form) {
    return std::string_view(form.name()) == "x" && std::string_view(form.attribute("xmlns").value()) == data_ns;
}

using data_form::add_field;
using data_form::add_value;

std::string attr(pugi::xml_node n, const char* name) { return n.attribute(name).value(); }

pugi::xml_node first_child_element(pugi::xml_node parent) {
    for (auto c : parent.children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

}  // namespace

std::string_view name_of(access_model m) {
    switch (m) {
    case access_model::open: return "open";
    case access_model::presence: return "presence";
    case access_model::roster: return "roster";
    case access_model::whitelist: return "whitelist";
    }
    return "open";
}

std::string_view name_of(publish_model m) {
    switch (m) {
    case publish_model::publishers: return "publishers";
    case publish_model::subscribers: return "subscribers";
    case publish_model::open: return "open";
    }
    return "publishers";
}

std::string_view name_of(send_last m) {
    switch (m) {
    case send_last::never: return "never";
    case send_last::on_sub: return "on_sub";
    case send_last::on_sub_and_presence: return "on_sub_and_presence";
    }
    return "never";
}

node_config pep_defaults(std::size_t max_items) {
    node_config c;
    c.access = access_model::presence;  // XEP-0163 §4.3.1
    c.max_items = std::min<std::size_t>(1, max_items);
    return c;
}

node_config service_defaults(std::size_t max_items) {
    node_config c;
    c.max_items = std::min<std::size_t>(20, max_items);
    c.send_last_published_item = send_last::never;
    return c;
}

form_outcome apply_form(pugi::xml_node form, node_config& config, std::size_t max_items_limit, bool strict) {
    if (!is_form(form)) {
        return {form_error::bad_value, "x"};
    }
    node_config next = config;
    for (auto f : form.children("field")) {
        const std::string var = attr(f, "var");
        if (var == "FORM_TYPE") {
            continue;
        }
        const form_error e = apply_field(var, values_of(f), next, max_items_limit);
        if (e == form_error::unknown_field && !strict) {
            continue;
        }
        if (e != form_error::none) {
            return {e, var};
        }
    }
    config = std::move(next);
    return {};
}

std::string unmet_precondition(pugi::xml_node form, const node_config& config, std::size_t max_items_limit) {
    for (auto f : form.children("field")) {
        const std::string var = attr(f, "var");
        if (var == "FORM_TYPE") {
            continue;
        }
        node_config wanted = config;
        const form_error e = apply_field(var, values_of(f), wanted, max_items_limit);
        if (e == form_error::unknown_field) {
            continue;  // not something a node of this server has: nothing to compare
        }
        // "max" is the limit, however it was asked for: compare the numbers.
        node_config have = config;
        wanted.max_items_is_max = false;
        have.max_items_is_max = false;
        if (e != form_error::none || serialize_config(wanted) != serialize_config(have)) {
            return var;
        }
    }
    return {};
}

void append_config_form(pugi::xml_node parent, const node_config& c, std::string_view type,
                        std::size_t max_items_limit) {
    // An owner's form says what each field is; the stored one only values.
    data_form::builder form(parent, type, node_config_form);
    const bool options = form.offers();
    form.text("pubsub#title", "Title", c.title);
    form.text("pubsub#description", "Description", c.description);
    form.text("pubsub#type", "The type of node data, usually specified by the namespace of the payload (if any)", c.type);
    {
        auto f = form.field("pubsub#max_items", "text-single", "Max # of items to persist");
        if (options) {
            auto validate = f.append_child("validate");
            validate.append_attribute("xmlns").set_value("http://jabber.org/protocol/xdata-validate");
            validate.append_attribute("datatype").set_value("pubsub:integer-or-max");
            if (max_items_limit > 0) {
                auto range = validate.append_child("range");
                range.append_attribute("min").set_value("1");
                range.append_attribute("max").set_value(std::to_string(max_items_limit).c_str());
            }
        }
        add_value(f, c.max_items_is_max ? std::string("max") : std::to_string(c.max_items));
    }
    form.boolean("pubsub#persist_items", "Persist items to storage", c.persist_items);
    form.list("pubsub#access_model", "Specify the subscriber model", name_of(c.access),
              {{"authorize", "authorize"}, {"open", "open"}, {"presence", "presence"}, {"roster", "roster"},
               {"whitelist", "whitelist"}});
    if (c.access == access_model::roster || !c.roster_groups_allowed.empty()) {
        auto f = form.field("pubsub#roster_groups_allowed", "list-multi", "Roster groups allowed to subscribe");
        for (const auto& g : c.roster_groups_allowed) {
            add_value(f, g);
        }
    }
    form.list("pubsub#publish_model", "Specify the publisher model", name_of(c.publish),
              {{"publishers", "publishers"}, {"subscribers", "subscribers"}, {"open", "open"}});
    form.list("pubsub#send_last_published_item", "", name_of(c.send_last_published_item),
              {{"never", "never"}, {"on_sub", "on_sub"}, {"on_sub_and_presence", "on_sub_and_presence"}});
    form.boolean("pubsub#deliver_notifications", "Whether to deliver event notifications", c.deliver_notifications);
    form.boolean("pubsub#deliver_payloads", "Whether to deliver payloads with event notifications", c.deliver_payloads);
    form.list("pubsub#notification_type", "Specify the delivery style for notifications", c.notification_type,
              {{"normal", "Messages of type normal"}, {"headline", "Messages of type headline"}});
    form.boolean("pubsub#notify_delete", "Whether to notify subscribers when the node is deleted", c.notify_delete);
    form.boolean("pubsub#notify_retract", "Whether to notify subscribers when items are removed from the node",
                 c.notify_retract);
    form.list("pubsub#itemreply", "Specify whose JID to include as the publisher of items", c.itemreply,
              {{"owner", "Include the node owner's JID"}, {"publisher", "Include the item publisher's JID"},
               {"none", "Don't include any JID with items"}});
}

std::string serialize_config(const node_config& config) {
    pugi::xml_document doc;
    append_config_form(doc, config, "submit");
    return serialize_element(doc.first_child());
}

std::optional<node_config> parse_config(std::string_view stored, std::size_t max_items_limit) {
    pugi::xml_document doc;
    if (!doc.load_buffer(stored.data(), stored.size())) {
        return std::nullopt;
    }
    node_config c;
    if (apply_form(doc.first_child(), c, max_items_limit, false).error != form_error::none) {
        return std::nullopt;
    }
    return c;
}

namespace {

void read_changes(pugi::xml_node list, const char* line, const char* value_attr, std::vector<entity_change>& out) {
    for (auto c : list.children(line)) {
        out.push_back({attr(c, "jid"), attr(c, value_attr), attr(c, "subid")});
    }
}

}  // namespace

std::optional<request> parse_request(pugi::xml_node payload, bool set, request_error& error) {
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    const bool owner = payload_ns == owner_ns;
    if (std::string_view(payload.name()) != "pubsub" || (!owner && payload_ns != ns)) {
        error = {"bad-request", {}};
        return std::nullopt;
    }
    const pugi::xml_node op = first_child_element(payload);
    const std::string_view name = op.name();
    request r;
    r.node = attr(op, "node");
    auto refuse = [&](std::string condition, std::string pubsub_condition = {}) -> std::optional<request> {
        error = {std::move(condition), std::move(pubsub_condition)};
        return std::nullopt;
    };
    if (!op) {
        return refuse("bad-request");
    }
    if (owner) {
        if (name == "configure") {
            r.kind = set ? request_kind::configure_set : request_kind::configure_get;
            if (set) {
                r.form = op.child("x");
                if (!is_form(r.form)) {
                    return refuse("bad-request");
                }
            }
        } else if (name == "default" && !set) {
            r.kind = request_kind::default_config;
        } else if (name == "purge" && set) {
            r.kind = request_kind::purge;
        } else if (name == "delete" && set) {
            r.kind = request_kind::delete_node;
        } else if (name == "subscriptions") {
            r.kind = set ? request_kind::owner_subscriptions_set : request_kind::owner_subscriptions_get;
            read_changes(op, "subscription", "subscription", r.changes);
        } else if (name == "affiliations") {
            r.kind = set ? request_kind::owner_affiliations_set : request_kind::owner_affiliations_get;
            read_changes(op, "affiliation", "affiliation", r.changes);
        } else {
            return refuse("feature-not-implemented", "unsupported");
        }
        if (r.node.empty() && r.kind != request_kind::default_config) {
            return refuse("bad-request", "nodeid-required");
        }
        return r;
    }
    if (name == "create" && set) {
        r.kind = request_kind::create;
        if (auto configure = payload.child("configure")) {
            r.form = configure.child("x");
        }
        return r;
    }
    if (name == "publish" && set) {
        r.kind = request_kind::publish;
        const auto item = op.child("item");
        if (!item || item.next_sibling("item")) {
            return refuse("bad-request", item ? "invalid-payload" : "item-required");
        }
        r.item_id = attr(item, "id");
        const auto content = first_child_element(item);
        if (content) {
            for (auto next = content.next_sibling(); next; next = next.next_sibling()) {
                if (next.type() == pugi::node_element) {
                    return refuse("bad-request", "invalid-payload");  // XEP-0060 §7.1.3.6: one payload per item
                }
            }
            r.payload = serialize_element(content);
            r.payload_present = true;
        }
        if (auto options = payload.child("publish-options")) {
            r.form = options.child("x");
            if (!is_form(r.form)) {
                return refuse("bad-request", "invalid-options");
            }
        }
    } else if (name == "retract" && set) {
        r.kind = request_kind::retract;
        const std::string_view notify = op.attribute("notify").value();
        r.notify = notify == "1" || notify == "true";
        for (auto item : op.children("item")) {
            r.item_ids.push_back(attr(item, "id"));
        }
        if (r.item_ids.empty() || std::any_of(r.item_ids.begin(), r.item_ids.end(), [](auto& i) { return i.empty(); })) {
            return refuse("bad-request", "item-required");
        }
    } else if (name == "items" && !set) {
        r.kind = request_kind::items;
        if (auto max = op.attribute("max_items")) {
            const auto n = parse_count(max.value());
            if (!n) {
                return refuse("bad-request");
            }
            r.max_items = *n;
        }
        for (auto item : op.children("item")) {
            r.item_ids.push_back(attr(item, "id"));
        }
    } else if (name == "subscribe" && set) {
        r.kind = request_kind::subscribe;
        r.jid = attr(op, "jid");
    } else if (name == "unsubscribe" && set) {
        r.kind = request_kind::unsubscribe;
        r.jid = attr(op, "jid");
        r.subid = attr(op, "subid");
    } else if (name == "subscriptions" && !set) {
        r.kind = request_kind::subscriptions;
        return r;  // the node is optional
    } else if (name == "affiliations" && !set) {
        r.kind = request_kind::affiliations;
        return r;
    } else if (name == "options") {
        r.kind = request_kind::options;
        r.jid = attr(op, "jid");
        r.subid = attr(op, "subid");
    } else {
        return refuse("feature-not-implemented", "unsupported");
    }
    if (r.node.empty()) {
        return refuse("bad-request", "nodeid-required");
    }
    return r;
}

stanza error_reply(const stanza& iq, std::string_view condition, std::string_view pubsub_condition,
                   std::string_view feature, std::string_view text) {
    // Without the request's payload (a publish may be large): the error says which request it answers by its id.
    stanza bare = stanza::make("iq");
    for (auto a : iq.element().attributes()) {
        bare.set_attribute(a.name(), a.value());
    }
    stanza reply = make_error_reply(bare, condition, text);
    if (!pubsub_condition.empty()) {
        auto e = reply.element().child("error").append_child(std::string(pubsub_condition).c_str());
        e.append_attribute("xmlns").set_value(errors_ns.data());
        if (!feature.empty()) {
            e.append_attribute("feature").set_value(std::string(feature).c_str());
        }
    }
    return reply;
}

stanza event_message(std::string_view from, std::string_view to, std::string_view type) {
    stanza m = stanza::make("message");
    m.set_attribute("from", from);
    m.set_attribute("to", to);
    if (!type.empty() && type != "normal") {
        m.set_attribute("type", type);
    }
    auto event = m.element().append_child("event");
    event.append_attribute("xmlns").set_value(event_ns.data());
    return m;
}

void append_items_event(stanza& message, std::string_view node, const std::vector<item_view>& items,
                        bool with_payloads) {
    auto list = message.element().child("event").append_child("items");
    list.append_attribute("node").set_value(std::string(node).c_str());
    for (const auto& i : items) {
        auto item = list.append_child("item");
        item.append_attribute("id").set_value(i.id.c_str());
        if (!i.publisher.empty()) {
            item.append_attribute("publisher").set_value(i.publisher.c_str());
        }
        if (with_payloads && !i.payload.empty()) {
            append_xml(item, i.payload);
        }
    }
}

void append_retract_event(stanza& message, std::string_view node, const std::vector<std::string>& ids) {
    auto list = message.element().child("event").append_child("items");
    list.append_attribute("node").set_value(std::string(node).c_str());
    for (const auto& id : ids) {
        list.append_child("retract").append_attribute("id").set_value(id.c_str());
    }
}

void append_node_event(stanza& message, std::string_view what, std::string_view node) {
    auto e = message.element().child("event").append_child(std::string(what).c_str());
    e.append_attribute("node").set_value(std::string(node).c_str());
}

bool append_xml(pugi::xml_node parent, std::string_view xml) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size()) || !doc.first_child()) {
        return false;
    }
    parent.append_copy(doc.first_child());
    return true;
}

std::string serialize_element(pugi::xml_node element) {
    std::ostringstream out;
    element.print(out, "", pugi::format_raw);
    return out.str();
}

}  // namespace hush::pubsub
