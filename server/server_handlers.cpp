#include "server/server_handlers.hpp"

#include "protocol/namespaces.hpp"

namespace hush {

namespace {

pugi::xml_node first_element(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

pugi::xml_node add_query(stanza& reply, std::string_view query_ns, pugi::xml_node request_query) {
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(query_ns).c_str());
    if (auto node = request_query.attribute("node")) {
        q.append_attribute("node").set_value(node.value());
    }
    return q;
}

}  // namespace

server_handlers::server_handlers(std::string version) : version_(std::move(version)) {}

const std::vector<std::string>& server_handlers::server_features() {
    static const std::vector<std::string> features{
        std::string(ns::disco_info), std::string(ns::disco_items), std::string(ns::ping), "jabber:iq:version"};
    return features;
}

const std::vector<std::string>& server_handlers::account_features() {
    static const std::vector<std::string> features{std::string(ns::disco_info), std::string(ns::disco_items),
                                                   std::string(ns::ping)};
    return features;
}

boost::asio::awaitable<stanza> server_handlers::handle(const stanza& iq, const jid& addressed) {
    const auto payload = first_element(iq);
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    const std::string_view name = payload.name();
    const bool get = iq.type() == "get";
    if (get && name == std::string_view("ping") && payload_ns == ns::ping) {
        co_return make_iq_result(iq);
    }
    if (get && name == std::string_view("query") && payload_ns == ns::disco_info) {
        co_return disco_info(iq, addressed, payload);
    }
    if (get && name == std::string_view("query") && payload_ns == ns::disco_items) {
        stanza reply = make_iq_result(iq);
        add_query(reply, ns::disco_items, payload);
        co_return reply;
    }
    if (get && !addressed.has_node() && name == std::string_view("query") && payload_ns == "jabber:iq:version") {
        stanza reply = make_iq_result(iq);
        auto q = add_query(reply, "jabber:iq:version", {});
        q.append_child("name").append_child(pugi::node_pcdata).set_value("Hush");
        q.append_child("version").append_child(pugi::node_pcdata).set_value(version_.c_str());
        co_return reply;
    }
    if (get && addressed.has_node() && name == std::string_view("query") && payload_ns == "jabber:iq:roster") {
        // Rosters arrive with the IM core; until then every account's roster is empty, which is the truth.
        const auto requester = jid::parse(iq.from());
        if (requester && requester->equals_bare(addressed)) {
            stanza reply = make_iq_result(iq);
            add_query(reply, "jabber:iq:roster", {});
            co_return reply;
        }
        co_return make_error_reply(iq, "forbidden");
    }
    co_return make_error_reply(iq, "service-unavailable");
}

stanza server_handlers::disco_info(const stanza& iq, const jid& addressed, pugi::xml_node query) const {
    if (!query.attribute("node").empty()) {
        return make_error_reply(iq, "item-not-found");
    }
    stanza reply = make_iq_result(iq);
    auto q = add_query(reply, ns::disco_info, {});
    auto identity = q.append_child("identity");
    if (addressed.has_node()) {
        identity.append_attribute("category").set_value("account");
        identity.append_attribute("type").set_value("registered");
    } else {
        identity.append_attribute("category").set_value("server");
        identity.append_attribute("type").set_value("im");
        identity.append_attribute("name").set_value("Hush");
    }
    for (const auto& f : addressed.has_node() ? account_features() : server_features()) {
        q.append_child("feature").append_attribute("var").set_value(f.c_str());
    }
    return reply;
}

}  // namespace hush
