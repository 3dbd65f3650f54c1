// The [muc] section: the XEP-0045 room services' domains and the bounds on their rooms, occupants and traffic.
#include "server/config/config_muc.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <string>

#include "protocol/jid.hpp"

namespace hush::config_detail {

namespace {

constexpr std::array<std::string_view, 2> creators{"local", "admins"};

// A service routes stanzas to its rooms, so it needs a domain of its own: neither a host (whose bare JIDs are
// accounts) nor the pubsub service.
struct service_check {
    std::string domain;   // prepared as JID domains are
    std::string problem;  // empty when usable
    bool is_pubsub = false;
};

service_check check_service(const std::string& name, const config& c) {
    const std::optional<jid> domain = jid::from_parts({}, name);
    if (!domain) {
        return {name, in_quotes(name) + " is not a domain"};
    }
    if (std::find(c.hosts.begin(), c.hosts.end(), domain->domain()) != c.hosts.end()) {
        return {domain->domain(),
                in_quotes(domain->domain()) + " is one of server.hosts; a MUC service needs a domain of its own"};
    }
    if (c.pubsub.enabled && domain->domain() == c.pubsub.service) {
        return {domain->domain(), in_quotes(domain->domain()) + " is the pubsub service (pubsub.service)", true};
    }
    return {domain->domain(), {}};
}

void read_services(toml_reader& reader, const toml::array& nodes, const config& c, std::vector<std::string>& out) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::string key = indexed("muc.services", i);
        const toml::source_region& where = nodes.get(i)->source();
        const service_check s = check_service(out[i], c);
        if (!s.problem.empty()) {
            reader.fail(where, key, s.problem);
        } else if (!seen.insert(s.domain).second) {  // "Conference.Example.ORG" and "conference.example.org"
            reader.fail(where, key, "duplicate service " + in_quotes(s.domain));
        } else {
            out[i] = s.domain;
        }
    }
}

// "conference.<host>" for every host. A default can still collide (hosts "a.test" and "conference.a.test", or
// pubsub.service = "conference.a.test"): the error points at what it collides with and asks for muc.services.
void default_services(toml_reader& reader, const toml::table& root, config& c) {
    for (const std::string& host : c.hosts) {
        const service_check s = check_service("conference." + host, c);
        if (s.problem.empty()) {
            c.muc.services.push_back(s.domain);
            continue;
        }
        const toml::node* culprit = root.at_path(s.is_pubsub ? "pubsub.service" : "server.hosts").node();
        reader.fail(culprit ? culprit->source() : root.source(), "muc.services",
                    "the default service for host " + in_quotes(host) + " is unusable: " + s.problem +
                        "; set muc.services");
    }
}

void read_bounds(toml_reader& reader, const toml::table& t, muc_config& m) {
    reader.read_int(t, "muc", "max_rooms", m.max_rooms, 1, 10000000);
    reader.read_int(t, "muc", "max_rooms_per_owner", m.max_rooms_per_owner, 1, 100000);
    reader.read_int(t, "muc", "max_rooms_per_user", m.max_rooms_per_user, 1, 100000);
    const toml::node* occupants = reader.read_int(t, "muc", "max_occupants", m.max_occupants, 1, 1000000);
    const toml::node* limit = reader.read_int(t, "muc", "max_occupants_limit", m.max_occupants_limit, 1, 1000000);
    if (reader.ok() && m.max_occupants > m.max_occupants_limit) {
        // Blame the key that is in the file: max_occupants when given, else the limit against the default.
        if (occupants) {
            reader.fail(occupants->source(), "muc.max_occupants",
                        "must not be more than muc.max_occupants_limit (" + std::to_string(m.max_occupants_limit) +
                            ")");
        } else if (limit) {
            reader.fail(limit->source(), "muc.max_occupants_limit",
                        "must not be less than muc.max_occupants (" + std::to_string(m.max_occupants) + ")");
        }
    }
    reader.read_int(t, "muc", "history_size", m.history_size, 0, 200);
    reader.read_int(t, "muc", "flood_messages_per_minute", m.flood_messages_per_minute, 0, 100000);
    // 0 is meaningful only without a rate: a bucket that holds no token would refuse every message.
    const toml::node* burst = reader.read_int(t, "muc", "flood_burst", m.flood_burst, 0, 100000);
    if (reader.ok() && burst && m.flood_messages_per_minute > 0 && m.flood_burst == 0) {
        reader.fail(burst->source(), "muc.flood_burst",
                    "must be at least 1 while muc.flood_messages_per_minute is not 0");
    }
}

}  // namespace

void load_muc(toml_reader& reader, const toml::table& root, config& c) {
    muc_config& m = c.muc;
    if (const toml::table* t = reader.section(root, "muc")) {
        reader.check_keys(*t, "muc",
                          {"enabled", "services", "room_creators", "max_rooms", "max_rooms_per_owner", "max_occupants",
                           "max_occupants_limit", "history_size", "flood_messages_per_minute", "flood_burst",
                           "new_occupants_visitors", "visitor_period", "max_rooms_per_user"});
        reader.read_bool(*t, "muc", "enabled", m.enabled);
        if (const toml::array* services = reader.read_string_list(*t, "muc", "services", m.services)) {
            m.services_configured = true;
            read_services(reader, *services, c, m.services);
        }
        if (const auto i = reader.read_choice(*t, "muc", "room_creators", creators)) {
            m.room_creators_admins_only = *i == 1;
        }
        read_bounds(reader, *t, m);
        reader.read_bool(*t, "muc", "new_occupants_visitors", m.new_occupants_visitors);
        reader.read_seconds(*t, "muc", "visitor_period", m.visitor_period);
    }
    // A rule between fields: it runs only on valid hosts and pubsub.service (an earlier error already says why).
    if (m.enabled && !m.services_configured && reader.ok()) {
        default_services(reader, root, c);
    }
}

}  // namespace hush::config_detail
