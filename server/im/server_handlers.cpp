#include "server/im/server_handlers.hpp"

#include <algorithm>

#include "protocol/caps.hpp"
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

server_handlers::server_handlers(std::string version, std::vector<extension> extensions) : version_(std::move(version)) {
    for (auto& e : extensions) {
        extensions_.push_back(std::move(e.handle));
        extra_server_features_.insert(extra_server_features_.end(), e.server_features.begin(), e.server_features.end());
        extra_account_features_.insert(extra_account_features_.end(), e.account_features.begin(),
                                       e.account_features.end());
        extra_account_identities_.insert(extra_account_identities_.end(), e.account_identities.begin(),
                                         e.account_identities.end());
    }
}

namespace {

std::vector<std::string> sorted_unique(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

}  // namespace

std::vector<std::string> server_handlers::server_features() const {
    std::vector<std::string> features{std::string(ns::disco_info), std::string(ns::disco_items),
                                      std::string(ns::ping), "jabber:iq:version"};
    features.insert(features.end(), extra_server_features_.begin(), extra_server_features_.end());
    return sorted_unique(std::move(features));
}

std::vector<std::string> server_handlers::account_features() const {
    std::vector<std::string> features{std::string(ns::disco_info), std::string(ns::disco_items),
                                      std::string(ns::ping)};
    features.insert(features.end(), extra_account_features_.begin(), extra_account_features_.end());
    return sorted_unique(std::move(features));
}

std::string server_handlers::caps_ver() const {
    // The identity and features disco_info() answers for the server (XEP-0115 §5.1 in protocol/caps).
    caps::disco_info info;
    info.identities.push_back({"server", "im", "", "Hush"});
    info.features = server_features();
    return caps::ver("sha-1", info).value_or(std::string());
}

boost::asio::awaitable<stanza> server_handlers::handle(const stanza& iq, const jid& addressed, outgoing& out) {
    const auto payload = first_element(iq);
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    const std::string_view name = payload.name();
    const bool get = iq.type() == "get";
    for (const auto& extension : extensions_) {
        auto answer = co_await extension(iq, addressed, out);
        if (answer) {
            co_return std::move(*answer);
        }
    }
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
    co_return make_error_reply(iq, "service-unavailable");
}

stanza server_handlers::disco_info(const stanza& iq, const jid& addressed, pugi::xml_node query) const {
    const std::string_view node = query.attribute("node").value();
    // XEP-0115 §6.2: the caps node answers like the server itself.
    const bool caps_node = !addressed.has_node() && node == std::string(caps_node_prefix) + "#" + caps_ver();
    if (!node.empty() && !caps_node) {
        return make_error_reply(iq, "item-not-found");
    }
    stanza reply = make_iq_result(iq);
    auto q = add_query(reply, ns::disco_info, caps_node ? query : pugi::xml_node{});
    auto identity = q.append_child("identity");
    if (addressed.has_node()) {
        identity.append_attribute("category").set_value("account");
        identity.append_attribute("type").set_value("registered");
        for (const auto& extra : extra_account_identities_) {
            const auto slash = extra.find('/');
            auto more = q.append_child("identity");
            more.append_attribute("category").set_value(extra.substr(0, slash).c_str());
            more.append_attribute("type").set_value(extra.substr(slash + 1).c_str());
        }
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
