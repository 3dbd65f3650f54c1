#include "protocol/roster_payload.hpp"

#include <algorithm>

#include "protocol/jid.hpp"
#include "protocol/subscription.hpp"

namespace hush::roster_payload {

hush::expected<item_update, parse_error> parse_set(pugi::xml_node query) {
    pugi::xml_node item;
    int count = 0;
    for (auto child : query.children()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        if (std::string_view(child.name()) != "item") {
            return hush::unexpected(parse_error{"bad-request", "a roster set holds only <item/>"});
        }
        item = child;
        ++count;
    }
    if (count != 1) {
        return hush::unexpected(parse_error{"bad-request", "a roster set holds exactly one <item/>"});
    }
    auto contact = jid::parse(item.attribute("jid").value());
    if (!contact) {
        return hush::unexpected(parse_error{"jid-malformed", "the item's jid is not a JID"});
    }
    if (!contact->is_bare()) {
        return hush::unexpected(parse_error{"bad-request", "roster items are bare JIDs"});
    }
    item_update update;
    update.contact = contact->bare_string();
    update.name = item.attribute("name").value();
    const std::string_view sub = item.attribute("subscription").value();
    if (sub == "remove") {
        update.remove = true;
        return update;
    }
    if (!sub.empty() && sub != "none" && sub != "to" && sub != "from" && sub != "both") {
        return hush::unexpected(parse_error{"bad-request", "unknown subscription value"});
    }
    for (auto group : item.children("group")) {
        std::string name = group.text().get();
        if (name.empty()) {
            return hush::unexpected(parse_error{"not-acceptable", "empty group name"});
        }
        if (name.size() > 1024) {
            return hush::unexpected(parse_error{"not-acceptable", "group name too long"});
        }
        if (std::find(update.groups.begin(), update.groups.end(), name) != update.groups.end()) {
            return hush::unexpected(parse_error{"bad-request", "duplicate group"});
        }
        update.groups.push_back(std::move(name));
    }
    if (update.name.size() > 1024) {
        return hush::unexpected(parse_error{"not-acceptable", "name too long"});
    }
    return update;
}

void append_item(pugi::xml_node query, const roster_item& item) {
    auto node = query.append_child("item");
    node.append_attribute("jid").set_value(item.contact.c_str());
    if (!item.name.empty()) {
        node.append_attribute("name").set_value(item.name.c_str());
    }
    node.append_attribute("subscription")
        .set_value(item.removed ? "remove" : subscriptions::subscription_name(item.sub));
    if (item.pending_out && !item.removed) {
        node.append_attribute("ask").set_value("subscribe");
    }
    if (item.removed) {
        return;
    }
    for (const auto& g : item.groups) {
        node.append_child("group").append_child(pugi::node_pcdata).set_value(g.c_str());
    }
}

}  // namespace hush::roster_payload
