// The [http] and [websocket] sections: what browsers and reverse proxies need of the http listeners.
#include "server/config/config_web.hpp"

#include <string>

namespace hush::config_detail {

namespace {

bool is_origin_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '.' || ch == ':' || ch == '[' || ch == ']';
}

// "https://host[:port]" (no path): what a browser sends as Origin and what public_url must start with.
bool valid_origin(std::string_view text) {
    std::string_view rest;
    if (text.starts_with("https://")) {
        rest = text.substr(8);
    } else if (text.starts_with("http://")) {
        rest = text.substr(7);
    } else {
        return false;
    }
    if (rest.empty()) {
        return false;
    }
    for (const char ch : rest) {
        if (!is_origin_char(ch)) {
            return false;
        }
    }
    return true;
}

void load_http(toml_reader& reader, const toml::table& root, config& c) {
    const toml::table* t = reader.section(root, "http");
    if (!t) {
        return;
    }
    reader.check_keys(*t, "http", {"trusted_proxies", "public_url"});
    if (const toml::array* proxies = reader.read_string_list(*t, "http", "trusted_proxies", c.http.trusted_proxies)) {
        for (std::size_t i = 0; i < c.http.trusted_proxies.size(); ++i) {
            if (auto ip = canonical_ip(c.http.trusted_proxies[i])) {
                c.http.trusted_proxies[i] = std::move(*ip);
            } else {
                reader.fail(proxies->get(i)->source(), indexed("http.trusted_proxies", i),
                            "expected an IP address such as 127.0.0.1 or ::1 (got " +
                                in_quotes(c.http.trusted_proxies[i]) + ")");
            }
        }
    }
    if (const toml::node* url = reader.read_string(*t, "http", "public_url", c.http.public_url)) {
        std::string& u = c.http.public_url;
        while (u.ends_with('/')) {
            u.pop_back();
        }
        // A path prefix is allowed (a proxy serving Hush under /chat): only the scheme and host are checked.
        const auto slash = u.find('/', u.find("://") == std::string::npos ? 0 : u.find("://") + 3);
        if (!u.empty() && !valid_origin(std::string_view(u).substr(0, slash))) {
            reader.fail(url->source(), "http.public_url",
                        "expected an http:// or https:// URL such as \"https://chat.example.org\" (got " +
                            in_quotes(u) + ")");
        }
    }
}

void load_websocket(toml_reader& reader, const toml::table& root, config& c) {
    const toml::table* t = reader.section(root, "websocket");
    if (!t) {
        return;
    }
    reader.check_keys(*t, "websocket", {"enabled", "allowed_origins"});
    reader.read_bool(*t, "websocket", "enabled", c.websocket.enabled);
    if (const toml::array* origins =
            reader.read_string_list(*t, "websocket", "allowed_origins", c.websocket.allowed_origins)) {
        for (std::size_t i = 0; i < c.websocket.allowed_origins.size(); ++i) {
            std::string& o = c.websocket.allowed_origins[i];
            while (o.ends_with('/')) {
                o.pop_back();
            }
            if (o != "*" && !valid_origin(o)) {
                reader.fail(origins->get(i)->source(), indexed("websocket.allowed_origins", i),
                            "expected \"*\" or an origin such as \"https://chat.example.org\" (scheme, host and "
                            "port only; got " + in_quotes(o) + ")");
            }
        }
    }
}

}  // namespace

void load_web(toml_reader& reader, const toml::table& root, config& c) {
    load_http(reader, root, c);
    load_websocket(reader, root, c);
}

}  // namespace hush::config_detail
