// XEP-0077 after authentication (password change, account removal) and what both halves share; the half before
// authentication is registration_signup.cpp.
#include "server/registration/registration.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "server/im/accounts.hpp"

namespace hush {

// ---- registration_service ----

namespace registration_detail {

stanza error_reply(const stanza& iq, std::string_view condition, std::string_view text) {
    stanza stripped = iq.clone();
    stripped.element().remove_children();
    return make_error_reply(stripped, condition, text);
}

stanza error_reply(const stanza& iq, std::string_view condition, error_type type, std::string_view text) {
    stanza stripped = iq.clone();
    stripped.element().remove_children();
    return make_error_reply(stripped, condition, type, text);
}

std::optional<std::string> field(pugi::xml_node query, const char* name) {
    for (auto c : query.children(name)) {
        const auto ns = c.attribute("xmlns");
        if (!ns || registration_service::register_ns == ns.value()) {
            return std::string(c.text().get());
        }
    }
    return std::nullopt;
}

pugi::xml_node add_query(stanza& reply) {
    auto q = reply.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(registration_service::register_ns).c_str());
    return q;
}

void add_text(pugi::xml_node parent, const char* name, const std::string& text) {
    auto node = parent.append_child(name);
    if (!text.empty()) {
        node.append_child(pugi::node_pcdata).set_value(text.c_str());
    }
}

}  // namespace registration_detail

namespace {

using namespace registration_detail;

std::size_t count_elements(pugi::xml_node parent) {
    std::size_t n = 0;
    for (auto c : parent.children()) {
        n += c.type() == pugi::node_element ? 1 : 0;
    }
    return n;
}

// Unicode code points in valid UTF-8: every byte but the continuation bytes starts one.
std::size_t code_points(std::string_view utf8) {
    return static_cast<std::size_t>(
        std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

registration_service::registration_service(const config& cfg, storage::async_store& store, admin_notifier* admins)
    : cfg_(cfg),
      store_(store),
      limits_(cfg.registration.max_per_ip, cfg.registration.max_per_network, cfg.registration.max_total,
              std::chrono::duration_cast<std::chrono::seconds>(cfg.registration.window)),
      admins_(admins) {}

bool registration_service::stream_feature_enabled(const config& cfg) {
    return cfg.registration.mode != registration_mode::closed;
}

bool registration_service::reserved(const std::string& node) const {
    const auto& names = cfg_.registration.reserved_names;
    return std::find(names.begin(), names.end(), node) != names.end();
}

std::string registration_service::check_password(std::string_view password) const {
    // Counted as it will be stored: after SASLprep (which also refuses prohibited characters).
    const auto prepped = saslprep(password);
    if (!prepped || prepped->empty()) {
        return "the password is empty or contains characters that are not allowed";
    }
    const std::size_t min = cfg_.registration.min_password_length;
    if (code_points(*prepped) < min) {
        return "the password must be at least " + std::to_string(min) + " characters long";
    }
    return {};
}

boost::asio::awaitable<registration_outcome> registration_service::handle_authenticated(const stanza& iq,
                                                                                        const jid& account) {
    registration_outcome out;
    const std::string_view type = iq.type();
    if (type != "get" && type != "set") {
        co_return out;  // results and errors are never answered
    }
    const jid owner = account.bare();
    const pugi::xml_node query = iq.child("query", register_ns);
    if (!query) {
        out.reply = error_reply(iq, "bad-request", "expected a jabber:iq:register query");
        co_return out;
    }
    if (type == "get") {
        // XEP-0077 §3.1: a registered entity gets <registered/> and what is on file (never the password).
        out.reply = make_iq_result(iq);
        auto q = add_query(out.reply);
        q.append_child("registered");
        add_text(q, "instructions", "Send a new password to change it, or <remove/> to delete your account.");
        add_text(q, "username", owner.node());
        add_text(q, "password", {});
        co_return out;
    }
    if (query.child("remove")) {
        if (count_elements(query) != 1) {
            out.reply = error_reply(iq, "bad-request", "<remove/> must be the only element of the query");
            co_return out;
        }
        registration_outcome removed = co_await remove(iq, owner);
        co_return removed;
    }
    out.reply = co_await change_password(iq, query, owner);
    co_return out;
}

boost::asio::awaitable<stanza> registration_service::change_password(const stanza& iq, pugi::xml_node query,
                                                                     const jid& owner) {
    const auto username = field(query, "username");
    const auto password = field(query, "password");
    if (!username || !password) {
        co_return error_reply(iq, "bad-request", "a username and a password are required");
    }
    // Clients send the local part; some (data forms) the bare JID.
    bool own = false;
    if (username->find('@') != std::string::npos) {
        const auto given = jid::parse(*username);
        own = given && given->is_bare() && given->equals_bare(owner);
    } else {
        const auto node = nodeprep(*username);
        own = node && *node == owner.node();
    }
    if (!own) {
        co_return error_reply(iq, "forbidden", "you can only change your own password");
    }
    // XEP-0077 §3.3: an empty password never replaces the current one.
    if (const std::string why = check_password(*password); !why.empty()) {
        co_return error_reply(iq, "not-acceptable", why);
    }
    auto creds = accounts::make_credentials(*password, cfg_.sasl.scram_iterations);
    if (!creds) {
        co_return error_reply(iq, "not-acceptable", "the password contains characters that are not allowed");
    }
    auto update = [domain = owner.domain(), node = owner.node(), creds = std::move(*creds)](storage::store& s) {
        return s.set_credentials(domain, node, creds);
    };
    auto updated = co_await store_.run(std::move(update));
    if (!updated) {
        spdlog::error("registration: password change for {} failed: {}", owner.bare_string(),
                      updated.error().message);
        co_return error_reply(iq, "internal-server-error");
    }
    if (!*updated) {
        co_return error_reply(iq, "registration-required", "this account no longer exists");
    }
    spdlog::info("registration: {} changed its password", owner.bare_string());
    co_return make_iq_result(iq);
}

boost::asio::awaitable<registration_outcome> registration_service::remove(const stanza& iq, const jid& owner) {
    registration_outcome out;
    const jid account = owner.bare();
    if (removal_hooks_.before) {
        co_await removal_hooks_.before(account);  // the archive writes what it queued, then the rows go with it
    }
    auto erase = [domain = owner.domain(), node = owner.node()](storage::store& s) {
        return s.delete_account(domain, node);
    };
    auto deleted = co_await store_.run(std::move(erase));
    store_.relations_changed();  // its roster and contact notes went with it
    if (deleted && *deleted && removal_hooks_.after) {
        removal_hooks_.after(account);  // what was queued or cached for it meanwhile
    }
    if (!deleted) {
        spdlog::error("registration: removing {} failed: {}", owner.bare_string(), deleted.error().message);
        out.reply = error_reply(iq, "internal-server-error");
        co_return out;
    }
    if (!*deleted) {
        out.reply = error_reply(iq, "registration-required", "this account no longer exists");
        co_return out;
    }
    spdlog::info("registration: {} removed its account", owner.bare_string());
    out.reply = make_iq_result(iq);
    out.removed = true;
    co_return out;
}

}  // namespace hush
