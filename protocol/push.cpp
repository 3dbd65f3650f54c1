#include "protocol/push.hpp"

#include <sstream>

namespace hush::push {

namespace {

void add_field(pugi::xml_node form, const char* var, const std::string& value) {
    auto field = form.append_child("field");
    field.append_attribute("var").set_value(var);
    field.append_child("value").append_child(pugi::node_pcdata).set_value(value.c_str());
}

std::string serialize(pugi::xml_node node) {
    std::ostringstream out;
    node.print(out, "", pugi::format_raw);
    return out.str();
}

}  // namespace

std::optional<enable_request> parse_enable(pugi::xml_node enable) {
    if (std::string_view(enable.name()) != "enable" || enable.attribute("xmlns").value() != push_ns) {
        return std::nullopt;
    }
    auto service = jid::parse(enable.attribute("jid").value());
    const std::string node = enable.attribute("node").value();
    if (!service || node.empty()) {
        return std::nullopt;  // XEP-0357 §5: both are required
    }
    enable_request out{*service, node, {}};
    for (auto x = enable.child("x"); x; x = x.next_sibling("x")) {
        if (std::string_view(x.attribute("xmlns").value()) == "jabber:x:data") {
            out.publish_options = serialize(x);
            break;
        }
    }
    return out;
}

std::optional<disable_request> parse_disable(pugi::xml_node disable) {
    if (std::string_view(disable.name()) != "disable" || disable.attribute("xmlns").value() != push_ns) {
        return std::nullopt;
    }
    auto service = jid::parse(disable.attribute("jid").value());
    if (!service) {
        return std::nullopt;
    }
    disable_request out{*service, std::nullopt};
    if (auto node = disable.attribute("node")) {
        out.node = node.value();
    }
    return out;
}

answer_kind answer_of(const stanza& iq) {
    if (iq.type() != "error") {
        return answer_kind::accepted;
    }
    // An error without a type says nothing to go on: taken as final, as 'cancel' would be.
    const std::string_view type = iq.element().child("error").attribute("type").value();
    return type == "wait" ? answer_kind::try_later : answer_kind::gone;
}

stanza notification(const jid& account, const enable_request& registration, const summary& what, std::string id) {
    stanza iq = stanza::parse("<iq type='set'/>");
    iq.set_attribute("from", account.bare_string());
    iq.set_attribute("to", registration.service.full_string());
    iq.set_attribute("id", id);
    auto pubsub = iq.element().append_child("pubsub");
    pubsub.append_attribute("xmlns").set_value("http://jabber.org/protocol/pubsub");
    auto publish = pubsub.append_child("publish");
    publish.append_attribute("node").set_value(registration.node.c_str());
    auto notification = publish.append_child("item").append_child("notification");
    notification.append_attribute("xmlns").set_value(push_ns.data());
    auto form = notification.append_child("x");
    form.append_attribute("xmlns").set_value("jabber:x:data");
    add_field(form, "FORM_TYPE", std::string(summary_form));
    add_field(form, "message-count", std::to_string(what.message_count));
    if (what.last_sender) {
        add_field(form, "last-message-sender", *what.last_sender);
    }
    if (what.last_body) {
        add_field(form, "last-message-body", *what.last_body);
    }
    if (!registration.publish_options.empty()) {
        pugi::xml_document options;
        if (options.load_string(registration.publish_options.c_str())) {
            pubsub.append_child("publish-options").append_copy(options.document_element());
        }
    }
    return iq;
}

}  // namespace hush::push
