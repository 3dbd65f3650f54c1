#include "protocol/privacy_list.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace hush::privacy {

namespace {

constexpr std::string_view privacy_ns = "jabber:iq:privacy";

// The three parts of an already normalized JID, split without stringprep: evaluation runs on every stanza, and
// parse_list (or the blocking handler) stored the values normalized. RFC 7622 §3.1: the resource is everything
// after the first '/', the node what precedes the first '@' before it.
struct jid_parts {
    std::string_view node;
    std::string_view domain;
    std::string_view resource;
};

jid_parts split(std::string_view text) {
    jid_parts parts;
    const std::size_t slash = text.find('/');
    std::string_view head = text.substr(0, slash);
    if (slash != std::string_view::npos) {
        parts.resource = text.substr(slash + 1);
    }
    if (const std::size_t at = head.find('@'); at != std::string_view::npos) {
        parts.node = head.substr(0, at);
        head = head.substr(at + 1);
    }
    parts.domain = head;
    return parts;
}

// XEP-0016 §2.1 (and XEP-0191 §4): user@domain/resource matches only that full JID; user@domain any of its
// resources; domain/resource only that JID (no node); domain every address at that domain.
bool jid_matches(std::string_view pattern, const hush::jid& other) {
    if (other.empty()) {
        return false;
    }
    const jid_parts p = split(pattern);
    if (p.domain.empty() || p.domain != other.domain()) {
        return false;
    }
    if (!p.node.empty()) {
        return p.node == other.node() && (p.resource.empty() || p.resource == other.resource());
    }
    if (!p.resource.empty()) {
        return !other.has_node() && p.resource == other.resource();
    }
    return true;
}

bool applies_to(const item& i, stanza_class kind) {
    if (!i.message && !i.iq && !i.presence_in && !i.presence_out) {
        return true;  // no child elements: every stanza, subscription presence included
    }
    switch (kind) {
    case stanza_class::message: return i.message;
    case stanza_class::iq: return i.iq;
    case stanza_class::presence_in: return i.presence_in;
    case stanza_class::presence_out: return i.presence_out;
    case stanza_class::presence_other: return false;
    }
    return false;
}

bool matches(const item& i, const contact_info& contact) {
    switch (i.type) {
    case item_type::any: return true;
    case item_type::jid: return jid_matches(i.value, contact.address);
    case item_type::group:
        return std::find(contact.groups.begin(), contact.groups.end(), i.value) != contact.groups.end();
    case item_type::subscription:
        // "none" also covers entities not in the roster at all (contact_info's default).
        switch (contact.sub) {
        case subscription::none: return i.value == "none";
        case subscription::to: return i.value == "to";
        case subscription::from: return i.value == "from";
        case subscription::both: return i.value == "both";
        }
        return false;
    }
    return false;
}

const char* type_name(item_type type) {
    switch (type) {
    case item_type::jid: return "jid";
    case item_type::group: return "group";
    case item_type::subscription: return "subscription";
    case item_type::any: break;
    }
    return "";
}

// xs:unsignedInt, digits only: a sign or spaces in 'order' is more likely a client bug than intent.
bool parse_order(std::string_view text, std::uint32_t& out) {
    if (text.empty() || text.size() > 10) {
        return false;
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > std::numeric_limits<std::uint32_t>::max()) {
        return false;
    }
    out = static_cast<std::uint32_t>(value);
    return true;
}

hush::expected<item, std::string> parse_item(pugi::xml_node node) {
    item result;
    const std::string_view order_text = node.attribute("order").value();
    if (!node.attribute("order")) {
        return hush::unexpected(std::string("an item has no 'order'"));
    }
    if (!parse_order(order_text, result.order)) {
        return hush::unexpected("item order '" + std::string(order_text) + "' is not an unsigned integer");
    }
    const std::string where = "item " + std::to_string(result.order) + ": ";

    if (!node.attribute("action")) {
        return hush::unexpected(where + "no 'action'");
    }
    const std::string_view act = node.attribute("action").value();
    if (act == "allow") {
        result.act = action::allow;
    } else if (act == "deny") {
        result.act = action::deny;
    } else {
        return hush::unexpected(where + "action '" + std::string(act) + "' is neither allow nor deny");
    }

    const pugi::xml_attribute type_attr = node.attribute("type");
    const std::string_view type = type_attr.value();
    const pugi::xml_attribute value_attr = node.attribute("value");
    const std::string_view value = value_attr.value();
    if (!type_attr) {
        result.type = item_type::any;  // the fall-through item; a stray 'value' means nothing
    } else if (type == "jid") {
        result.type = item_type::jid;
        auto parsed = hush::jid::parse(value);
        if (!parsed) {
            return hush::unexpected(where + "value '" + std::string(value) + "' is not a JID");
        }
        result.value = parsed->full_string();  // normalized once here, so evaluation can compare bytes
    } else if (type == "group") {
        result.type = item_type::group;
        if (value.empty()) {
            return hush::unexpected(where + "a group item needs a group name in 'value'");
        }
        result.value = std::string(value);
    } else if (type == "subscription") {
        result.type = item_type::subscription;
        if (value != "none" && value != "to" && value != "from" && value != "both") {
            return hush::unexpected(where + "subscription value '" + std::string(value) +
                                    "' is not none, to, from or both");
        }
        result.value = std::string(value);
    } else {
        return hush::unexpected(where + "type '" + std::string(type) + "' is not jid, group or subscription");
    }

    for (auto child : node.children()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        const std::string_view name = child.name();
        if (name == "message") {
            result.message = true;
        } else if (name == "iq") {
            result.iq = true;
        } else if (name == "presence-in") {
            result.presence_in = true;
        } else if (name == "presence-out") {
            result.presence_out = true;
        } else {
            return hush::unexpected(where + "unknown element <" + std::string(name) + "/>");
        }
    }
    return result;
}

}  // namespace

hush::expected<privacy_list, std::string> parse_list(pugi::xml_node list) {
    if (!list || std::string_view(list.name()) != "list") {
        return hush::unexpected(std::string("expected a <list/> element"));
    }
    // The namespace is usually inherited from <query/>; an explicit other one is a different element.
    if (const auto ns = list.attribute("xmlns"); ns && std::string_view(ns.value()) != privacy_ns) {
        return hush::unexpected(std::string("<list/> is not in the jabber:iq:privacy namespace"));
    }
    privacy_list result;
    result.name = list.attribute("name").value();
    if (result.name.empty()) {
        return hush::unexpected(std::string("the list has no name"));
    }
    for (auto child : list.children()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        if (std::string_view(child.name()) != "item") {
            return hush::unexpected("unknown element <" + std::string(child.name()) + "/> in the list");
        }
        auto parsed = parse_item(child);
        if (!parsed) {
            return hush::unexpected(std::move(parsed.error()));
        }
        result.items.push_back(std::move(*parsed));
    }
    // Evaluation goes by 'order', which XEP-0016 §2.1 requires unique (else <bad-request/>).
    std::stable_sort(result.items.begin(), result.items.end(),
                     [](const item& a, const item& b) { return a.order < b.order; });
    for (std::size_t i = 1; i < result.items.size(); ++i) {
        if (result.items[i].order == result.items[i - 1].order) {
            return hush::unexpected("two items have order " + std::to_string(result.items[i].order));
        }
    }
    return result;
}

void serialize_list(const privacy_list& list, pugi::xml_node parent) {
    auto node = parent.append_child("list");
    node.append_attribute("name").set_value(list.name.c_str());
    for (const auto& i : list.items) {
        auto child = node.append_child("item");
        if (i.type != item_type::any) {
            child.append_attribute("type").set_value(type_name(i.type));
            child.append_attribute("value").set_value(i.value.c_str());
        }
        child.append_attribute("action").set_value(i.act == action::allow ? "allow" : "deny");
        child.append_attribute("order").set_value(std::to_string(i.order).c_str());
        // Schema order (XEP-0016 §6): iq, message, presence-in, presence-out.
        if (i.iq) {
            child.append_child("iq");
        }
        if (i.message) {
            child.append_child("message");
        }
        if (i.presence_in) {
            child.append_child("presence-in");
        }
        if (i.presence_out) {
            child.append_child("presence-out");
        }
    }
}

std::string serialize_list(const privacy_list& list) {
    pugi::xml_document doc;
    serialize_list(list, doc);
    auto node = doc.first_child();
    node.prepend_attribute("xmlns").set_value(std::string(privacy_ns).c_str());

    struct string_writer final : pugi::xml_writer {
        std::string out;
        void write(const void* data, std::size_t size) override {
            out.append(static_cast<const char*>(data), size);
        }
    } writer;
    node.print(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return std::move(writer.out);
}

std::optional<action> evaluate(const privacy_list& list, const contact_info& contact, stanza_class kind) {
    // First match in ascending 'order' (XEP-0016 §2.2 rules 5 and 6). Searching for the lowest matching order
    // rather than trusting the vector's order keeps hand-built lists right too.
    const item* best = nullptr;
    for (const auto& i : list.items) {
        if (best != nullptr && i.order >= best->order) {
            continue;
        }
        if (applies_to(i, kind) && matches(i, contact)) {
            best = &i;
        }
    }
    if (best == nullptr) {
        return std::nullopt;
    }
    return best->act;
}

bool is_blocked(const std::vector<std::string>& blocklist, const hush::jid& other) {
    return std::any_of(blocklist.begin(), blocklist.end(),
                       [&](const std::string& entry) { return jid_matches(entry, other); });
}

}  // namespace hush::privacy
