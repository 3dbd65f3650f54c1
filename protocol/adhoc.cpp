#include "protocol/adhoc.hpp"

#include "protocol/namespaces.hpp"

namespace hush::adhoc {

std::optional<stanza> node_info(const stanza& iq, std::string_view node, std::string_view name) {
    const auto info = iq.child("query", ns::disco_info);
    if (iq.type() != "get" || !info || node != info.attribute("node").value()) {
        return std::nullopt;
    }
    stanza reply = make_iq_result(iq);
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(ns::disco_info.data());
    q.append_attribute("node").set_value(std::string(node).c_str());
    auto identity = q.append_child("identity");
    identity.append_attribute("category").set_value("automation");
    identity.append_attribute("type").set_value("command-node");
    identity.append_attribute("name").set_value(std::string(name).c_str());
    for (const std::string_view feature : {commands_ns, std::string_view("jabber:x:data")}) {
        q.append_child("feature").append_attribute("var").set_value(std::string(feature).c_str());
    }
    return reply;
}

std::vector<std::string> form_values(pugi::xml_node form, std::string_view var) {
    std::vector<std::string> out;
    for (auto f : form.children("field")) {
        if (var == f.attribute("var").value()) {
            for (auto v : f.children("value")) {
                out.emplace_back(v.child_value());
            }
        }
    }
    return out;
}

void add_note(pugi::xml_node command, std::string_view type, const std::string& text) {
    auto n = command.append_child("note");
    n.append_attribute("type").set_value(std::string(type).c_str());
    n.append_child(pugi::node_pcdata).set_value(text.c_str());
}

}  // namespace hush::adhoc
