#include "protocol/bookmarks.hpp"

#include "protocol/jid.hpp"
#include "protocol/pubsub.hpp"

namespace hush::bookmarks {

namespace {

bool truth(std::string_view v) { return v == "true" || v == "1"; }

std::optional<std::string> room(std::string_view text) {
    const auto j = jid::parse(text);
    if (!j || !j->is_bare()) {
        return std::nullopt;
    }
    return j->bare_string();
}

void text_child(pugi::xml_node parent, const char* name, const std::string& text) {
    if (!text.empty()) {
        parent.append_child(name).append_child(pugi::node_pcdata).set_value(text.c_str());
    }
}

}  // namespace

std::vector<conference> parse_storage(pugi::xml_node storage) {
    std::vector<conference> out;
    for (auto c : storage.children("conference")) {
        const auto j = room(c.attribute("jid").value());
        if (!j) {
            continue;
        }
        out.push_back({*j, c.attribute("name").value(), truth(c.attribute("autojoin").value()), c.child_value("nick"),
                       c.child_value("password"), {}});
    }
    return out;
}

void append_storage(pugi::xml_node parent, const std::vector<conference>& conferences) {
    auto storage = parent.append_child("storage");
    storage.append_attribute("xmlns").set_value(std::string(legacy_ns).c_str());
    for (const auto& c : conferences) {
        auto el = storage.append_child("conference");
        el.append_attribute("jid").set_value(c.jid.c_str());
        if (!c.name.empty()) {
            el.append_attribute("name").set_value(c.name.c_str());
        }
        el.append_attribute("autojoin").set_value(c.autojoin ? "true" : "false");
        text_child(el, "nick", c.nick);
        text_child(el, "password", c.password);
    }
}

std::optional<conference> parse_conference(std::string_view item_id, std::string_view payload_xml) {
    const auto j = room(item_id);
    pugi::xml_document doc;
    if (!j || !doc.load_buffer(payload_xml.data(), payload_xml.size())) {
        return std::nullopt;
    }
    const auto c = doc.first_child();
    if (std::string_view(c.name()) != "conference" || std::string_view(c.attribute("xmlns").value()) != pep_node) {
        return std::nullopt;
    }
    conference out{*j, c.attribute("name").value(), truth(c.attribute("autojoin").value()), c.child_value("nick"),
                   c.child_value("password"), {}};
    if (auto extensions = c.child("extensions")) {
        out.extensions = pubsub::serialize_element(extensions);
    }
    return out;
}

std::string serialize_conference(const conference& c) {
    pugi::xml_document doc;
    auto el = doc.append_child("conference");
    el.append_attribute("xmlns").set_value(std::string(pep_node).c_str());
    if (!c.name.empty()) {
        el.append_attribute("name").set_value(c.name.c_str());
    }
    if (c.autojoin) {
        el.append_attribute("autojoin").set_value("true");
    }
    text_child(el, "nick", c.nick);
    text_child(el, "password", c.password);
    if (!c.extensions.empty()) {
        pubsub::append_xml(el, c.extensions);
    }
    return pubsub::serialize_element(el);
}

}  // namespace hush::bookmarks
