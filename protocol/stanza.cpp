#include "protocol/stanza.hpp"

#include <algorithm>

#include <sstream>

#include "protocol/namespaces.hpp"

namespace hush {

namespace {

// Writes into a std::string without the iostream overhead.
struct string_writer final : pugi::xml_writer {
    std::string& out;
    explicit string_writer(std::string& target) : out(target) {}
    void write(const void* data, std::size_t size) override {
        out.append(static_cast<const char*>(data), size);
    }
};

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '\'': out += "&apos;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

stanza::stanza(std::shared_ptr<pugi::xml_document> doc, std::string ns) : doc_(std::move(doc)), ns_(std::move(ns)) {
    if (ns_ == ns::client || ns_ == ns::server) {
        ns_.clear();
    }
}

stanza stanza::make(std::string_view name, std::string_view element_ns) {
    auto doc = std::make_shared<pugi::xml_document>();
    auto node = doc->append_child(std::string(name).c_str());
    if (!element_ns.empty() && element_ns != ns::client) {
        node.append_attribute("xmlns").set_value(std::string(element_ns).c_str());
    }
    return stanza(std::move(doc), std::string(element_ns));
}

stanza stanza::parse(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    if (!doc->load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8) || !doc->first_child()) {
        return stanza();
    }
    std::string element_ns = doc->first_child().attribute("xmlns").value();
    return stanza(std::move(doc), std::move(element_ns));
}

stanza_kind stanza::kind() const {
    if (!ns_.empty()) {
        return stanza_kind::other;
    }
    const std::string_view n = name();
    if (n == "message") {
        return stanza_kind::message;
    }
    if (n == "presence") {
        return stanza_kind::presence;
    }
    if (n == "iq") {
        return stanza_kind::iq;
    }
    return stanza_kind::other;
}

void stanza::set_attribute(const char* name, std::string_view value) {
    auto el = element();
    auto attr = el.attribute(name);
    if (!attr) {
        attr = el.append_attribute(name);
    }
    attr.set_value(std::string(value).c_str());
}

void stanza::remove_attribute(const char* name) { element().remove_attribute(name); }

pugi::xml_node stanza::child(std::string_view name, std::string_view child_ns) const {
    for (auto c : element().children()) {
        if (c.type() == pugi::node_element && name == c.name() && child_ns == c.attribute("xmlns").value()) {
            return c;
        }
    }
    return {};
}

std::string stanza::serialize() const {
    std::string out;
    if (!doc_) {
        return out;
    }
    string_writer writer(out);
    element().print(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return out;
}

stanza stanza::clone() const {
    auto doc = std::make_shared<pugi::xml_document>();
    doc->append_copy(element());
    return stanza(std::move(doc), ns_);
}

std::string serialize_stream_error(const stream_error& error) {
    std::string out = "<stream:error><";
    out += error.condition;
    out += " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";
    if (!error.text.empty()) {
        out += "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>";
        out += xml_escape(error.text);
        out += "</text>";
    }
    out += error.app_payload;
    out += "</stream:error>";
    return out;
}

std::string_view error_type_name(error_type type) {
    switch (type) {
    case error_type::auth: return "auth";
    case error_type::cancel: return "cancel";
    case error_type::continue_: return "continue";
    case error_type::modify: return "modify";
    case error_type::wait: return "wait";
    }
    return "cancel";
}

error_type default_error_type(std::string_view condition) {
    if (condition == "bad-request" || condition == "jid-malformed" || condition == "not-acceptable" ||
        condition == "policy-violation" || condition == "gone" || condition == "redirect") {
        return error_type::modify;
    }
    if (condition == "forbidden" || condition == "not-authorized" || condition == "registration-required" ||
        condition == "subscription-required") {
        return error_type::auth;
    }
    if (condition == "internal-server-error" || condition == "recipient-unavailable" ||
        condition == "remote-server-timeout" || condition == "resource-constraint" ||
        condition == "unexpected-request") {
        return error_type::wait;
    }
    return error_type::cancel;
}

stanza make_error_reply(const stanza& original, std::string_view condition, std::string_view text) {
    return make_error_reply(original, condition, default_error_type(condition), text);
}

stanza make_error_reply(const stanza& original, std::string_view condition, error_type type, std::string_view text) {
    stanza reply = original.clone();
    auto el = reply.element();
    const std::string to(original.to());
    const std::string from(original.from());
    reply.remove_attribute("to");
    reply.remove_attribute("from");
    if (!from.empty()) {
        reply.set_attribute("to", from);
    }
    if (!to.empty()) {
        reply.set_attribute("from", to);
    }
    reply.set_attribute("type", "error");
    auto error = el.append_child("error");
    error.append_attribute("type").set_value(std::string(error_type_name(type)).c_str());
    auto cond = error.append_child(std::string(condition).c_str());
    cond.append_attribute("xmlns").set_value(ns::stanza_errors.data());
    if (!text.empty()) {
        auto t = error.append_child("text");
        t.append_attribute("xmlns").set_value(ns::stanza_errors.data());
        t.append_child(pugi::node_pcdata).set_value(std::string(text).c_str());
    }
    return reply;
}

bool is_automatic_message(const stanza& message) {
    if (message.kind() != stanza_kind::message) {
        return false;
    }
    static constexpr std::string_view automatic_ns[] = {
        "http://jabber.org/protocol/chatstates", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "urn:xmpp:hints",
        "urn:xmpp:sid:0"};
    for (auto c : message.element().children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        const std::string_view name = c.name();
        const std::string_view child_ns = c.attribute("xmlns").value();
        if (child_ns.empty() && name == "body") {
            const std::string_view text = c.child_value();
            if (text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
                return false;  // someone typed something
            }
            continue;
        }
        if (child_ns.empty() && name == "thread") {
            continue;
        }
        if (std::find(std::begin(automatic_ns), std::end(automatic_ns), child_ns) == std::end(automatic_ns)) {
            return false;  // an invitation, an encrypted payload, a subject...: not for us to call automatic
        }
    }
    return true;
}

stanza make_iq_result(const stanza& request) {
    stanza result = stanza::make("iq");
    result.set_attribute("type", "result");
    result.set_attribute("id", request.id());
    if (!request.from().empty()) {
        result.set_attribute("to", request.from());
    }
    if (!request.to().empty()) {
        result.set_attribute("from", request.to());
    }
    return result;
}

int presence_priority(const stanza& presence) {
    const auto priority = presence.element().child("priority");
    return priority ? std::clamp(priority.text().as_int(0), -128, 127) : 0;
}

}  // namespace hush
