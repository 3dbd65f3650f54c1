// The [pubsub] section: PEP for every account and the pubsub service's domain and bounds (docs/pubsub.md).
#include "server/config/config_pubsub.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "protocol/jid.hpp"

namespace hush::config_detail {

namespace {

constexpr std::array<std::string_view, 2> creators{"local", "admins"};

// [antispim.publish] rtbl publishes on the service: without one it is off, and asking for it is an error.
void check_rtbl_publication(toml_reader& reader, const toml::table& root, config& c) {
    if (c.pubsub.enabled && !c.pubsub.service.empty()) {
        return;
    }
    c.antispim.publish.rtbl = false;
    const toml::node* asked = root.at_path("antispim.publish.rtbl").node();
    if (asked != nullptr && asked->value<bool>().value_or(false)) {
        reader.fail(asked->source(), "antispim.publish.rtbl",
                    "needs the pubsub service ([pubsub] enabled, with a service domain)");
    }
}

}  // namespace

void load_pubsub(toml_reader& reader, const toml::table& root, config& c) {
    pubsub_config& p = c.pubsub;
    p.service = c.hosts.empty() ? std::string() : "pubsub." + c.hosts.front();  // no hosts: already an error
    const toml::table* t = reader.section(root, "pubsub");
    if (!t) {
        check_rtbl_publication(reader, root, c);
        return;
    }
    reader.check_keys(*t, "pubsub",
                      {"enabled", "service", "service_creators", "max_items_per_node", "max_nodes_per_account",
                       "max_service_nodes", "max_payload_bytes", "max_subscriptions_per_node",
                       "max_subscriptions_per_jid"});
    reader.read_bool(*t, "pubsub", "enabled", p.enabled);
    if (const toml::node* service = reader.read_string(*t, "pubsub", "service", p.service)) {
        p.service_configured = true;
        if (!p.service.empty()) {
            const auto domain = jid::from_parts({}, p.service);
            if (!domain) {
                reader.fail(service->source(), "pubsub.service", "\"" + p.service + "\" is not a domain");
            } else if (std::find(c.hosts.begin(), c.hosts.end(), domain->domain()) != c.hosts.end()) {
                reader.fail(service->source(), "pubsub.service",
                            "is one of server.hosts; the service needs a domain of its own (pubsub." +
                                domain->domain() + ")");
            } else {
                p.service = domain->domain();
            }
        }
    }
    if (const auto i = reader.read_choice(*t, "pubsub", "service_creators", creators)) {
        p.service_creators_admins_only = *i == 1;
    }
    reader.read_int(*t, "pubsub", "max_items_per_node", p.max_items_per_node, 1, 100000);
    reader.read_int(*t, "pubsub", "max_nodes_per_account", p.max_nodes_per_account, 1, 100000);
    reader.read_int(*t, "pubsub", "max_service_nodes", p.max_service_nodes, 1, 10000000);
    reader.read_int(*t, "pubsub", "max_payload_bytes", p.max_payload_bytes, 1024, 16 * 1024 * 1024);
    reader.read_int(*t, "pubsub", "max_subscriptions_per_node", p.max_subscriptions_per_node, 1, 10000000);
    reader.read_int(*t, "pubsub", "max_subscriptions_per_jid", p.max_subscriptions_per_jid, 1, 1000000);
    check_rtbl_publication(reader, root, c);
}

}  // namespace hush::config_detail
