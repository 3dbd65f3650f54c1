// The [upload] section: the XEP-0363 services' domains, where files go and how long they stay, the limits per
// account, and the URL clients are given.
#include "server/config/config_upload.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "protocol/ascii.hpp"
#include "protocol/jid.hpp"

namespace hush::config_detail {

namespace {

// The host whose accounts use `domain`: the longest host it is a subdomain of.
std::optional<std::string> owning_host(const std::string& domain, const config& c) {
    std::optional<std::string> best;
    for (const auto& host : c.hosts) {
        if (domain.size() > host.size() + 1 && domain.ends_with("." + host) && (!best || host.size() > best->size())) {
            best = host;
        }
    }
    return best;
}

// A service needs a domain of its own (stanzas to it are its), under the host whose accounts it serves.
std::string service_problem(const std::string& domain, const config& c) {
    if (std::find(c.hosts.begin(), c.hosts.end(), domain) != c.hosts.end()) {
        return in_quotes(domain) + " is one of server.hosts; an upload service needs a domain of its own";
    }
    if (c.pubsub.enabled && domain == c.pubsub.service) {
        return in_quotes(domain) + " is the pubsub service (pubsub.service)";
    }
    if (c.muc.enabled && std::find(c.muc.services.begin(), c.muc.services.end(), domain) != c.muc.services.end()) {
        return in_quotes(domain) + " is a MUC service (muc.services)";
    }
    if (!owning_host(domain, c)) {
        return in_quotes(domain) + " is not a subdomain of one of server.hosts (whose accounts would use it)";
    }
    return {};
}

void read_services(toml_reader& reader, const toml::array& nodes, config& c) {
    upload_config& u = c.upload;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < u.services.size(); ++i) {
        const std::string key = indexed("upload.services", i);
        const toml::source_region& where = nodes.get(i)->source();
        const std::optional<jid> domain = jid::from_parts({}, u.services[i]);
        if (!domain) {
            reader.fail(where, key, in_quotes(u.services[i]) + " is not a domain");
            continue;
        }
        const std::string problem = service_problem(domain->domain(), c);
        if (!problem.empty()) {
            reader.fail(where, key, problem);
        } else if (!seen.insert(domain->domain()).second) {
            reader.fail(where, key, "duplicate service " + in_quotes(domain->domain()));
        } else {
            u.services[i] = domain->domain();
            u.service_hosts.push_back(*owning_host(domain->domain(), c));
        }
    }
}

void default_services(toml_reader& reader, const toml::table& root, config& c) {
    for (const std::string& host : c.hosts) {
        const std::string domain = "upload." + host;
        const std::string problem = service_problem(domain, c);
        if (!problem.empty()) {
            const toml::node* culprit = root.at_path("server.hosts").node();
            reader.fail(culprit ? culprit->source() : root.source(), "upload.services",
                        "the default service for host " + in_quotes(host) + " is unusable: " + problem +
                            "; set upload.services");
            continue;
        }
        c.upload.services.push_back(domain);
        c.upload.service_hosts.push_back(host);
    }
}

// "type/subtype" or "type/*", lower case, no parameters.
bool valid_content_type(const std::string& t) {
    const auto slash = t.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() || t.find('/', slash + 1) != std::string::npos) {
        return false;
    }
    return std::all_of(t.begin(), t.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' || ch == '*' || ch == '.' ||
               ch == '+' || ch == '-' || ch == '_';
    }) && (t.find('*') == std::string::npos || t.substr(slash + 1) == "*");
}

// "*", or "scheme://host[:port]" (an Origin header's form).
bool valid_origin(const std::string& o) {
    if (o == "*") {
        return true;
    }
    const auto scheme_end = o.find("://");
    if (scheme_end == std::string::npos || (o.substr(0, scheme_end) != "http" && o.substr(0, scheme_end) != "https")) {
        return false;
    }
    const std::string rest = o.substr(scheme_end + 3);
    return !rest.empty() && rest.find_first_of("/ ?#") == std::string::npos;
}

// "http(s)://authority[/path]" without a trailing slash, query or fragment.
bool valid_public_url(const std::string& u) {
    if (!u.starts_with("https://") && !u.starts_with("http://")) {
        return false;
    }
    const std::string rest = u.substr(u.find("://") + 3);
    return !rest.empty() && rest.front() != '/' && !u.ends_with("/") && u.find_first_of("?# \t") == std::string::npos;
}

// The default base URL: [http] public_url (what browsers reach us at), else the first https listener (as
// https://<host>:<port>), else the first http listener.
void default_public_url(config& c) {
    if (!c.http.public_url.empty()) {
        c.upload.public_url = c.http.public_url;
        return;
    }
    for (int pass = 0; pass < 2; ++pass) {
        const auto wanted = pass == 0 ? listener_config::kind::https : listener_config::kind::http;
        for (std::size_t i = 0; i < c.listeners.size(); ++i) {
            const auto& l = c.listeners[i];
            if (l.type != wanted) {
                continue;
            }
            c.upload.public_url_listener = static_cast<int>(i);
            std::string host = c.hosts.front();
            if (pass == 1 && l.address != "0.0.0.0" && l.address != "::") {
                host = l.address.find(':') != std::string::npos ? "[" + l.address + "]" : l.address;
            }
            c.upload.public_url = (pass == 0 ? "https://" : "http://") + host + ":" + std::to_string(l.port);
            return;
        }
    }
}

void read_lists(toml_reader& reader, const toml::table& t, upload_config& u) {
    if (const toml::array* types = reader.read_string_list(t, "upload", "allowed_content_types",
                                                           u.allowed_content_types)) {
        for (std::size_t i = 0; i < u.allowed_content_types.size(); ++i) {
            u.allowed_content_types[i] = ascii_lower(u.allowed_content_types[i]);
            if (!valid_content_type(u.allowed_content_types[i])) {
                reader.fail(types->get(i)->source(), indexed("upload.allowed_content_types", i),
                            "expected a media type such as \"image/png\" or a prefix such as \"image/*\" (got " +
                                in_quotes(u.allowed_content_types[i]) + ")");
            }
        }
    }
    if (const toml::array* origins = reader.read_string_list(t, "upload", "cors_origins", u.cors_origins)) {
        for (std::size_t i = 0; i < u.cors_origins.size(); ++i) {
            if (!valid_origin(u.cors_origins[i])) {
                reader.fail(origins->get(i)->source(), indexed("upload.cors_origins", i),
                            "expected \"*\" or an origin such as \"https://chat.example.org\" (got " +
                                in_quotes(u.cors_origins[i]) + ")");
            }
        }
    }
}

}  // namespace

void load_upload(toml_reader& reader, const toml::table& root, config& c) {
    upload_config& u = c.upload;
    u.directory = c.data_dir / "uploads";
    bool enabled_configured = false;
    bool services_configured = false;
    if (const toml::table* t = reader.section(root, "upload")) {
        reader.check_keys(*t, "upload",
                          {"enabled", "services", "directory", "max_file_size", "quota_per_user", "expire_after",
                           "slot_timeout", "allowed_content_types", "public_url", "max_slots_per_minute",
                           "max_pending_slots", "cors_origins"});
        enabled_configured = reader.read_bool(*t, "upload", "enabled", u.enabled) != nullptr;
        if (const toml::array* services = reader.read_string_list(*t, "upload", "services", u.services)) {
            services_configured = true;
            read_services(reader, *services, c);
        }
        reader.read_path(*t, "upload", "directory", c.data_dir, u.directory, false);
        reader.read_int(*t, "upload", "max_file_size", u.max_file_size, 1, no_max);
        const toml::node* quota = reader.read_int(*t, "upload", "quota_per_user", u.quota_per_user, 1, no_max);
        if (reader.ok() && quota && u.quota_per_user < u.max_file_size) {
            reader.fail(quota->source(), "upload.quota_per_user",
                        "must not be less than upload.max_file_size (" + std::to_string(u.max_file_size) + ")");
        }
        reader.read_seconds(*t, "upload", "expire_after", u.expire_after);
        reader.read_seconds(*t, "upload", "slot_timeout", u.slot_timeout);
        read_lists(reader, *t, u);
        if (const toml::node* url = reader.read_string(*t, "upload", "public_url", u.public_url)) {
            if (!valid_public_url(u.public_url)) {
                reader.fail(url->source(), "upload.public_url",
                            "expected a base URL such as \"https://chat.example.org\" (http or https, no trailing "
                            "slash, query or fragment; got " +
                                in_quotes(u.public_url) + ")");
            }
        }
        reader.read_int(*t, "upload", "max_slots_per_minute", u.max_slots_per_minute, 1, 100000);
        reader.read_int(*t, "upload", "max_pending_slots", u.max_pending_slots, 1, 100000);
    }
    if (!u.enabled || !reader.ok()) {
        return;
    }
    if (!services_configured) {
        default_services(reader, root, c);
    }
    bool derived_clear_text = false;
    if (u.public_url.empty()) {
        default_public_url(c);
        derived_clear_text = u.public_url.starts_with("http://");
    }
    if (derived_clear_text && !enabled_configured) {
        // XEP-0363 wants HTTPS: slot secrets and files would cross the network in clear, and a loopback admin
        // listener is no address for remote clients. On by default only with an https listener or a public URL;
        // `enabled = true` takes the plain http listener anyway (a LAN, tests).
        u.enabled = false;
        u.services.clear();
        u.service_hosts.clear();
        return;
    }
    if (u.public_url.empty()) {
        // Nowhere to PUT or GET: an error when the admin asked for uploads, else no upload service.
        if (enabled_configured) {
            const toml::node* where = root.at_path("upload.enabled").node();
            reader.fail(where ? where->source() : root.source(), "upload.enabled",
                        "uploads need an http or https listener ([[listen]] kind = \"http\") or upload.public_url");
        } else {
            u.enabled = false;
            u.services.clear();
            u.service_hosts.clear();
        }
    }
}

}  // namespace hush::config_detail
