// Loads hush.toml; conf/hush.toml documents every key and its default. The typed, located reads live in
// config_reader.{hpp,cpp}; this file knows the keys, the defaults and the rules between fields. Rules between
// fields run only when every field read so far was valid, so they never reason about a half-read value.
#include "server/config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "protocol/jid.hpp"
#include "server/config/config_antispim.hpp"
#include "server/config/config_reader.hpp"
#include "server/config/config_mam.hpp"
#include "server/config/config_muc.hpp"
#include "server/config/config_web.hpp"
#include "server/config/config_upload.hpp"
#include "server/config/config_pubsub.hpp"
#include "server/config/config_registration.hpp"
#include "server/config/config_stream_management.hpp"

namespace hush {
namespace {

namespace fs = std::filesystem;
using namespace config_detail;

constexpr std::array<std::string_view, 5> log_levels{"trace", "debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 2> tls_versions{"1.2", "1.3"};
constexpr std::array<std::string_view, 6> listener_kinds{"c2s", "c2s_direct_tls", "s2s", "s2s_direct_tls",
                                                        "http", "https"};  // as listener_config::kind
constexpr std::array<std::uint16_t, 6> listener_default_ports{5222, 5223, 5269, 5270, 5280, 5281};
constexpr std::array<std::string_view, 2> backends{"sqlite", "postgresql"};         // as store_options::backend_kind

hush::expected<std::string, std::string> read_file(const fs::path& path) {
    struct closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    const std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        return hush::unexpected{std::generic_category().message(errno)};
    }
    std::string text;
    char buffer[8192];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
        text.append(buffer, n);
    }
    if (std::ferror(file.get())) {
        return hush::unexpected{std::generic_category().message(errno)};
    }
    return text;
}

class loader : private toml_reader {
public:
    loader(std::string file, fs::path dir) : toml_reader(std::move(file)), dir_(std::move(dir)) {}

    using toml_reader::error;

    config load(const toml::table& root) {
        config c;
        check_keys(root, "",
                   {"server", "log", "tls", "listen", "limits", "sasl", "storage", "antispim", "registration", "s2s",
                    "stream_management", "push", "mam", "pubsub", "muc", "http", "websocket", "upload"});
        load_server(root, c);
        load_log(root, c);
        load_tls(root, c);
        load_listeners(root, c);
        load_limits(root, c);
        load_sasl(root, c);
        load_storage(root, c);
        load_antispim(*this, root, c, dir_);
        c.antispim.offline_quota = c.limits.max_offline_messages;  // for the notices the layer keeps offline
        load_registration(*this, root, c);
        load_s2s(root, c);
        load_stream_management(*this, root, c);
        load_push(*this, root, c);
        load_mam(*this, root, c);
        load_pubsub(*this, root, c);
        load_muc(*this, root, c);  // after [pubsub]: a room service must not take its domain
        load_web(*this, root, c);
        load_upload(*this, root, c);  // after [muc] and the listeners: its domains and its default URL
        return c;
    }

private:
    void load_server(const toml::table& root, config& c) {
        c.hosts = {"localhost"};
        c.data_dir = resolve(dir_, "../var");
        const toml::table* t = section(root, "server");
        if (!t) {
            return;
        }
        check_keys(*t, "server", {"hosts", "data_dir", "threads", "admins"});
        if (const toml::array* hosts = read_string_list(*t, "server", "hosts", c.hosts)) {
            check_hosts(*hosts, c.hosts);
        }
        if (const toml::array* admins = read_string_list(*t, "server", "admins", c.admins)) {
            for (std::size_t i = 0; i < c.admins.size(); ++i) {
                const auto admin = jid::parse(c.admins[i]);
                if (!admin || !admin->has_node() || !admin->is_bare()) {
                    fail(admins->get(i)->source(), indexed("server.admins", i),
                         in_quotes(c.admins[i]) + " is not a bare JID (user@example.org)");
                } else {
                    c.admins[i] = admin->bare_string();
                }
            }
        }
        read_path(*t, "server", "data_dir", dir_, c.data_dir, false);
        read_int(*t, "server", "threads", c.threads, 0, 1024);
    }

    void check_hosts(const toml::array& nodes, std::vector<std::string>& hosts) {
        if (hosts.empty()) {
            fail(nodes.source(), "server.hosts", "at least one host is required");
            return;
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            const toml::source_region& where = nodes.get(i)->source();
            const std::string key = indexed("server.hosts", i);
            // A host is the domain part of JIDs, so it gets exactly the JID domain preparation (nameprep per
            // label, host-name characters, trailing dot dropped), and "Example.COM." and "example.com" collide.
            const std::optional<jid> domain = jid::from_parts({}, hosts[i]);
            if (!domain) {
                fail(where, key, in_quotes(hosts[i]) + " is not a valid domain name");
            } else if (!seen.insert(domain->domain()).second) {
                fail(where, key, "duplicate host " + in_quotes(domain->domain()));
            } else {
                hosts[i] = domain->domain();
            }
        }
    }

    void load_log(const toml::table& root, config& c) {
        const toml::table* t = section(root, "log");
        if (!t) {
            return;
        }
        check_keys(*t, "log", {"level"});
        if (const auto i = read_choice(*t, "log", "level", log_levels)) {
            c.log_level = log_levels[*i];
        }
    }

    void load_tls(const toml::table& root, config& c) {
        const toml::table* t = section(root, "tls");
        if (!t) {
            return;
        }
        check_keys(*t, "tls", {"certificate", "key", "min_version"});
        const toml::node* certificate = read_path(*t, "tls", "certificate", dir_, c.tls.certificate, true);
        const toml::node* key = read_path(*t, "tls", "key", dir_, c.tls.key, true);
        if (const auto i = read_choice(*t, "tls", "min_version", tls_versions)) {
            c.tls.min_version = tls_versions[*i];
        }
        // One without the other is a half-done setup, not a request for the self-signed fallback.
        if (ok() && c.tls.certificate.empty() != c.tls.key.empty()) {
            if (c.tls.key.empty()) {
                fail(certificate->source(), "tls.certificate", "is set but tls.key is not; set both or neither");
            } else {
                fail(key->source(), "tls.key", "is set but tls.certificate is not; set both or neither");
            }
        }
    }

    void load_listeners(const toml::table& root, config& c) {
        using kind = listener_config::kind;
        c.listeners = {listener_config{kind::c2s_starttls, "127.0.0.1", 5222},
                       listener_config{kind::c2s_direct_tls, "127.0.0.1", 5223},
                       listener_config{kind::s2s_starttls, "127.0.0.1", 5269},
                       listener_config{kind::http, "127.0.0.1", 5280}};
        const toml::node* node = root.get("listen");
        if (!node) {
            return;
        }
        const toml::array* array = node->as_array();
        if (!array || !array->is_array_of_tables()) {
            fail(node->source(), "listen",
                 array && array->empty() ? "at least one listener is required"
                                         : "expected an array of tables ([[listen]] sections)");
            return;
        }
        std::vector<listener_config> listeners;
        std::vector<std::string> addresses;  // canonical, for the duplicate check
        for (std::size_t i = 0; i < array->size(); ++i) {
            const toml::table& t = *array->get(i)->as_table();
            const std::string prefix = indexed("listen", i);
            check_keys(t, prefix, {"kind", "address", "port"});
            listener_config l;
            if (const auto k = read_choice(t, prefix, "kind", listener_kinds)) {
                l.type = static_cast<kind>(*k);
            }
            l.port = listener_default_ports[static_cast<std::size_t>(l.type)];
            read_int(t, prefix, "port", l.port, 0, 65535);
            std::string canonical = l.address;
            if (const toml::node* address = read_string(t, prefix, "address", l.address)) {
                if (auto ip = canonical_ip(l.address)) {
                    canonical = std::move(*ip);
                } else {
                    fail(address->source(), join(prefix, "address"),
                         "expected an IP address such as 127.0.0.1, ::1, 0.0.0.0 or :: (got " + in_quotes(l.address) +
                             ")");
                }
            }
            // Port 0 asks the kernel for a fresh port each time, so those never collide.
            for (std::size_t j = 0; ok() && l.port != 0 && j < listeners.size(); ++j) {
                if (listeners[j].port == l.port && addresses[j] == canonical) {
                    fail(t.source(), prefix,
                         l.address + " port " + std::to_string(l.port) + " is already used by " + indexed("listen", j));
                }
            }
            listeners.push_back(std::move(l));
            addresses.push_back(std::move(canonical));
        }
        c.listeners = std::move(listeners);
    }

    void load_limits(const toml::table& root, config& c) {
        const toml::table* t = section(root, "limits");
        if (!t) {
            return;
        }
        check_keys(*t, "limits",
                   {"max_stanza_bytes", "max_depth", "max_connections_per_ip", "max_outbox_bytes", "handshake_timeout",
                    "idle_timeout", "auth_failures_per_connection", "auth_failures_before_delay", "max_offline_messages"});
        limits_config& l = c.limits;
        read_int(*t, "limits", "max_stanza_bytes", l.max_stanza_bytes, 1024, 16 * 1024 * 1024);
        read_int(*t, "limits", "max_depth", l.max_depth, 2, 1000);
        read_int(*t, "limits", "max_connections_per_ip", l.max_connections_per_ip, 1, no_max);
        read_int(*t, "limits", "max_outbox_bytes", l.max_outbox_bytes, 1024, no_max);
        read_seconds(*t, "limits", "handshake_timeout", l.handshake_timeout);
        read_seconds(*t, "limits", "idle_timeout", l.idle_timeout);
        read_int(*t, "limits", "auth_failures_per_connection", l.auth_failures_per_connection, 1, 1000);
        read_int(*t, "limits", "auth_failures_before_delay", l.auth_failures_before_delay, 1, 1000);
        read_int(*t, "limits", "max_offline_messages", l.max_offline_messages, 0, 1000000);
    }

    void load_sasl(const toml::table& root, config& c) {
        const toml::table* t = section(root, "sasl");
        if (!t) {
            return;
        }
        check_keys(*t, "sasl", {"scram_iterations", "allow_plain", "strict_channel_binding", "fast",
                                "fast_token_lifetime", "fast_max_clients"});
        read_int(*t, "sasl", "scram_iterations", c.sasl.scram_iterations, 4096,
                 std::numeric_limits<std::uint32_t>::max());
        read_bool(*t, "sasl", "allow_plain", c.sasl.allow_plain);
        read_bool(*t, "sasl", "strict_channel_binding", c.sasl.strict_channel_binding);
        read_bool(*t, "sasl", "fast", c.sasl.fast);
        read_int(*t, "sasl", "fast_token_lifetime", c.sasl.fast_token_lifetime, 300, 365 * 24 * 3600);
        read_int(*t, "sasl", "fast_max_clients", c.sasl.fast_max_clients, 1, 1000);
    }

    void load_storage(const toml::table& root, config& c) {
        using backend = storage::store_options::backend_kind;
        storage::store_options& s = c.storage;
        s.backend = backend::sqlite;
        s.pool_size = 4;
        s.sqlite_readers = 2;
        fs::path sqlite_path = resolve(c.data_dir, "hush.db");
        const toml::table* t = section(root, "storage");
        if (t) {
            check_keys(*t, "storage", {"backend", "path", "url", "pool_size", "sqlite_readers", "max_queued",
                                          "queue_timeout_seconds"});
            const toml::node* backend_node = nullptr;
            if (const auto i = read_choice(*t, "storage", "backend", backends)) {
                s.backend = static_cast<backend>(*i);
                backend_node = t->get("backend");
            }
            // Empty is fine when PostgreSQL is used; checked below otherwise.
            read_path(*t, "storage", "path", c.data_dir, sqlite_path, true);
            const toml::node* url = read_string(*t, "storage", "url", s.postgres_url);
            read_int(*t, "storage", "pool_size", s.pool_size, 1, 256);
            // 0: reads share the one writer; each reader is a connection and a thread.
            read_int(*t, "storage", "sqlite_readers", s.sqlite_readers, 0, 64);
            read_int(*t, "storage", "max_queued", s.max_queued, 1, 10000000);
            std::chrono::seconds queue_timeout = std::chrono::duration_cast<std::chrono::seconds>(s.queue_timeout);
            if (read_seconds(*t, "storage", "queue_timeout_seconds", queue_timeout)) {
                s.queue_timeout = queue_timeout;
            }
            if (ok() && s.backend == backend::sqlite && sqlite_path.empty()) {
                fail(t->get("path")->source(), "storage.path", "must not be empty when backend = \"sqlite\"");
            }
            if (ok() && s.backend == backend::postgresql && s.postgres_url.empty()) {
                fail((url ? url : backend_node)->source(), "storage.url",
                     "is required when backend = \"postgresql\"");
            }
        }
        s.sqlite_path = sqlite_path.string();
    }

    // A remote domain as a key of [s2s.hosts] or [s2s.domains]: the JID domain preparation (as server.hosts get),
    // never one of ours, each at most once per table. Errors point at the key, since the key is what is wrong.
    struct seen_key {
        std::string key;
        toml::source_region where;
    };

    std::optional<std::string> remote_domain(const toml::key& name, const std::string& key, const config& c,
                                             std::map<std::string, seen_key>& seen) {
        const std::optional<jid> domain = jid::from_parts({}, name.str());
        if (!domain) {
            fail(name.source(), key, in_quotes(name.str()) + " is not a valid domain name");
            return std::nullopt;
        }
        if (std::find(c.hosts.begin(), c.hosts.end(), domain->domain()) != c.hosts.end()) {
            fail(name.source(), key,
                 in_quotes(domain->domain()) + " is one of server.hosts; Hush never federates with itself");
            return std::nullopt;
        }
        // "Example.NET" and "example.net" are one domain; silently keeping one would hide a typo. Tables iterate
        // in key order, not file order, so the error goes to whichever of the two comes later in the file.
        if (const auto [it, fresh] = seen.emplace(domain->domain(), seen_key{key, name.source()}); !fresh) {
            const toml::source_position a = it->second.where.begin;
            const toml::source_position b = name.source().begin;
            if (a.line < b.line || (a.line == b.line && a.column < b.column)) {
                fail(name.source(), key, "the same domain as " + it->second.key);
            } else {
                fail(it->second.where, it->second.key, "the same domain as " + key);
            }
            return std::nullopt;
        }
        return domain->domain();
    }

    void load_s2s(const toml::table& root, config& c) {
        const toml::table* t = section(root, "s2s");
        if (!t) {
            return;
        }
        check_keys(*t, "s2s",
                   {"require_valid_certificates", "ca_file", "dns_servers", "connect_timeout", "idle_timeout",
                    "max_queued_stanzas", "retry_initial", "retry_max", "hosts", "domains", "source_addresses"});
        s2s_config& s = c.s2s;
        read_bool(*t, "s2s", "require_valid_certificates", s.require_valid_certificates);
        if (const toml::node* ca = read_path(*t, "s2s", "ca_file", dir_, s.ca_file, true)) {
            // Checked here so a typo stops the start instead of failing every TLS handshake with a peer later.
            std::error_code ec;
            if (!s.ca_file.empty() && !fs::is_regular_file(s.ca_file, ec)) {
                fail(ca->source(), "s2s.ca_file", in_quotes(s.ca_file.string()) + " does not exist or is not a file");
            }
        }
        read_string(*t, "s2s", "dns_servers", s.dns_servers);
        if (const toml::array* list = read_string_list(*t, "s2s", "source_addresses", s.source_addresses)) {
            bool v4 = false;
            bool v6 = false;
            for (auto& address : s.source_addresses) {
                auto ip = canonical_ip(address);
                if (!ip) {
                    fail(list->source(), "s2s.source_addresses",
                         "expected IP addresses such as 192.0.2.10 or 2001:db8::10 (got " + in_quotes(address) + ")");
                    break;
                }
                bool& seen = ip->find(':') == std::string::npos ? v4 : v6;
                if (seen) {
                    fail(list->source(), "s2s.source_addresses", "takes at most one IPv4 and one IPv6 address");
                    break;
                }
                seen = true;
                address = std::move(*ip);
            }
        }
        read_seconds(*t, "s2s", "connect_timeout", s.connect_timeout);
        read_seconds(*t, "s2s", "idle_timeout", s.idle_timeout);
        read_int(*t, "s2s", "max_queued_stanzas", s.max_queued_stanzas, 1, 1000000);
        const toml::node* retry_initial = read_seconds(*t, "s2s", "retry_initial", s.retry_initial);
        const toml::node* retry_max = read_seconds(*t, "s2s", "retry_max", s.retry_max);
        if (ok() && s.retry_max < s.retry_initial) {
            // Blame the key that is in the file: retry_max when given, else retry_initial against the default.
            if (retry_max) {
                fail(retry_max->source(), "s2s.retry_max",
                     "must not be less than s2s.retry_initial (" + std::to_string(s.retry_initial.count()) + ")");
            } else if (retry_initial) {
                fail(retry_initial->source(), "s2s.retry_initial",
                     "must not be more than s2s.retry_max (" + std::to_string(s.retry_max.count()) + ")");
            }
        }
        load_s2s_hosts(*t, c);
        load_s2s_domains(*t, c);
    }

    void load_s2s_hosts(const toml::table& s2s, config& c) {
        const toml::table* hosts = section(s2s, "s2s", "hosts");
        if (!hosts) {
            return;
        }
        std::map<std::string, seen_key> seen;
        for (const auto& [name, node] : *hosts) {
            const std::string key = "s2s.hosts." + in_quotes(name.str());
            const auto domain = remote_domain(name, key, c, seen);
            if (!domain) {
                continue;
            }
            std::vector<endpoint_spec> targets;
            auto add = [&](const toml::node& value, const std::string& value_key, std::string_view expected) {
                const auto* text = value.as_string();
                if (!text) {
                    fail_type(value, value_key, expected);
                    return;
                }
                auto spec = parse_static_host(text->get());
                if (!spec) {
                    fail(value.source(), value_key,
                         "expected \"host:port\", \"[v6]:port\" or \"host\", optionally prefixed with \"tls:\" (got " +
                             in_quotes(text->get()) + ")");
                    return;
                }
                targets.push_back(std::move(*spec));
            };
            if (const auto* list = node.as_array()) {
                if (list->empty()) {
                    fail(node.source(), key, "needs at least one \"host:port\"");
                }
                for (std::size_t i = 0; i < list->size(); ++i) {
                    add(*list->get(i), indexed(key, i), "a string such as \"host:5269\"");
                }
            } else {
                add(node, key, "a string such as \"host:5269\" or an array of them");
            }
            c.s2s.hosts[*domain] = std::move(targets);
        }
    }

    void load_s2s_domains(const toml::table& s2s, config& c) {
        const toml::table* domains = section(s2s, "s2s", "domains");
        if (!domains) {
            return;
        }
        std::map<std::string, seen_key> seen;
        for (const auto& [name, node] : *domains) {
            const std::string key = "s2s.domains." + in_quotes(name.str());
            const toml::table* t = node.as_table();
            if (!t) {
                fail_type(node, key, "a table ([s2s.domains.\"example.net\"])");
                continue;
            }
            check_keys(*t, key, {"require_valid_certificate"});
            const auto domain = remote_domain(name, key, c, seen);
            bool required = c.s2s.require_valid_certificates;
            if (read_bool(*t, key, "require_valid_certificate", required) && domain) {
                c.s2s.require_valid_certificate_for[*domain] = required;
            }
        }
    }

    fs::path dir_;  // the config file's directory, absolute
};

}  // namespace

hush::expected<config, std::string> load_config(const std::filesystem::path& path) {
    const std::string file = path.string();
    auto text = read_file(path);
    if (!text) {
        return hush::unexpected{file + ": cannot read: " + text.error()};
    }
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(path, ec).lexically_normal();
    if (ec) {
        return hush::unexpected{file + ": cannot read: " + ec.message()};
    }

    toml::parse_result parsed = toml::parse(std::string_view{*text}, std::string_view{file});
    if (!parsed) {
        const toml::parse_error& err = parsed.error();
        const toml::source_position at = err.source().begin;
        return hush::unexpected{file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                                std::string(err.description())};
    }

    loader l(file, absolute.parent_path());
    config c = l.load(parsed.table());
    if (l.error()) {
        return hush::unexpected{*l.error()};
    }
    c.source = absolute;
    return c;
}

}  // namespace hush
