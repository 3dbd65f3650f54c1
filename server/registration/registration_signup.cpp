// XEP-0077 before authentication: what [registration] mode lets a stranger do. Invitation tokens (XEP-0445
// <preauth/>), the form (with the XEP-0158 question in open mode) and account creation, which in open mode passes
// the CAPTCHA, the reserved names and the limits per address, network and in all, and may wait for approval.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "protocol/xep0082.hpp"
#include "server/im/accounts.hpp"
#include "server/registration/invites.hpp"
#include "server/registration/registration.hpp"

namespace hush {

namespace {

using namespace registration_detail;

constexpr std::string_view data_ns = "jabber:x:data";
constexpr std::string_view token_refused = "The provided token is invalid or expired";  // XEP-0445 §5

bool has_ns(pugi::xml_node node, std::string_view ns) {
    const auto attr = node.attribute("xmlns");
    return attr && ns == attr.value();
}

// The submitted data form's value of `var`: nullopt when there is no form or no such field.
std::optional<std::string> form_value(pugi::xml_node query, std::string_view var) {
    for (auto x : query.children("x")) {
        if (!has_ns(x, data_ns)) {
            continue;
        }
        for (auto f : x.children("field")) {
            if (var == f.attribute("var").value()) {
                return std::string(f.child("value").text().get());
            }
        }
    }
    return std::nullopt;
}

// Legacy fields first, then the form's (XEP-0077 §4: a client uses one or the other).
std::optional<std::string> value_of(pugi::xml_node query, const char* name) {
    if (auto v = field(query, name)) {
        return v;
    }
    return form_value(query, name);
}

void add_field(pugi::xml_node form, const char* type, const char* var, const std::string& label,
               const std::string& value, bool required) {
    auto f = form.append_child("field");
    f.append_attribute("type").set_value(type);
    f.append_attribute("var").set_value(var);
    if (!label.empty()) {
        f.append_attribute("label").set_value(label.c_str());
    }
    if (required) {
        f.append_child("required");
    }
    if (!value.empty()) {
        f.append_child("value").append_child(pugi::node_pcdata).set_value(value.c_str());
    }
}

}  // namespace

bool registration_service::handles_unauthenticated(const stanza& iq) {
    return static_cast<bool>(iq.child("query", register_ns)) || static_cast<bool>(iq.child("preauth", preauth_ns));
}

boost::asio::awaitable<stanza> registration_service::handle_unauthenticated(const stanza& iq,
                                                                            const std::string& domain,
                                                                            const std::string& peer_ip,
                                                                            registration_session& session,
                                                                            outgoing* notices) {
    const std::string_view type = iq.type();
    if (type != "get" && type != "set") {
        co_return stanza{};  // results and errors are never answered
    }
    // Before authentication the client has no address: never send a reply to whatever 'from' it claimed.
    stanza request = iq.clone();
    request.remove_attribute("from");
    if (cfg_.registration.mode == registration_mode::closed) {
        counters_.add(registration_counters::outcome::refused_closed);
        co_return error_reply(request, "service-unavailable", "in-band registration is disabled on this server");
    }
    if (request.child("preauth", preauth_ns)) {
        if (type != "set") {
            co_return error_reply(request, "bad-request", "a token is sent with an iq of type set");
        }
        stanza reply = co_await preauth(request, domain, session);
        co_return reply;
    }
    const pugi::xml_node query = request.child("query", register_ns);
    if (!query) {
        co_return error_reply(request, "bad-request", "expected a jabber:iq:register query");
    }
    if (type == "get") {
        co_return form(request, peer_ip, session);
    }
    if (query.child("remove")) {
        // XEP-0077 §3.2: there is no registration to cancel before logging in.
        co_return error_reply(request, "unexpected-request", error_type::cancel, "log in to remove your account");
    }
    stanza reply = co_await create(request, query, domain, peer_ip, session, notices);
    co_return reply;
}

boost::asio::awaitable<stanza> registration_service::preauth(const stanza& iq, const std::string& domain,
                                                             registration_session& session) {
    // Tokens are 120 random bits, so guessing is hopeless; the cap only keeps one stream from costing many lookups.
    if (session.failed_tokens >= max_failed_tokens) {
        co_return error_reply(iq, "resource-constraint", error_type::wait, "too many refused tokens on this stream");
    }
    const std::string token = iq.child("preauth", preauth_ns).attribute("token").value();
    if (token.empty() || token.size() > 256) {
        co_return error_reply(iq, "bad-request", "expected <preauth token='...'/>");
    }
    const std::string digest = invites::digest(token);
    auto lookup = [digest](storage::store& s) { return s.get_invite(digest); };
    auto found = co_await store_.read(std::move(lookup));
    if (!found) {
        spdlog::error("registration: looking up an invite failed: {}", found.error().message);
        co_return error_reply(iq, "internal-server-error");
    }
    if (!*found || !invites::usable(**found, domain, unix_now())) {
        ++session.failed_tokens;
        counters_.add(registration_counters::outcome::refused_token);
        co_return error_reply(iq, "item-not-found", error_type::cancel, token_refused);
    }
    // XEP-0445: the token is not used until the registration succeeds, and its expiry is not checked again.
    session.invite_sha256 = digest;
    session.invite_username = (*found)->username;
    co_return make_iq_result(iq);
}

stanza registration_service::form(const stanza& iq, const std::string& peer_ip, const registration_session& session) {
    stanza reply = make_iq_result(iq);
    auto q = add_query(reply);
    const bool invited = !session.invite_sha256.empty();
    const bool open = cfg_.registration.mode == registration_mode::open;
    if (!invited && !open) {
        add_text(q, "instructions", "Registration on this server needs an invitation: open the link you were sent.");
        add_text(q, "username", session.invite_username);
        add_text(q, "password", {});
        return reply;
    }
    if (invited || !cfg_.registration.captcha) {
        add_text(q, "instructions", "Choose a username and password to register with this server.");
        add_text(q, "username", session.invite_username);
        add_text(q, "password", {});
        return reply;
    }
    // XEP-0158 §5: the CAPTCHA form goes straight into the query; no legacy fields, which could not carry it.
    const auto challenge = captcha_.issue(peer_ip);
    add_text(q, "instructions", "Choose a username and password, and answer the question.");
    auto x = q.append_child("x");
    x.append_attribute("xmlns").set_value(std::string(data_ns).c_str());
    x.append_attribute("type").set_value("form");
    add_text(x, "title", "Create an account");
    add_text(x, "instructions", "Choose a username and password, and answer the question.");
    add_field(x, "hidden", "FORM_TYPE", {}, std::string(captcha_ns), false);
    add_field(x, "hidden", "challenge", {}, challenge.id, false);
    add_field(x, "hidden", "sid", {}, std::string(iq.id()), false);
    add_field(x, "text-single", "username", "Username", {}, true);
    add_field(x, "text-private", "password", "Password", {}, true);
    add_field(x, "text-single", "qa", challenge.question, {}, true);
    return reply;
}

boost::asio::awaitable<stanza> registration_service::create(const stanza& iq, pugi::xml_node query,
                                                            const std::string& domain, const std::string& peer_ip,
                                                            const registration_session& session, outgoing* notices) {
    const bool invited = !session.invite_sha256.empty();
    if (!invited && cfg_.registration.mode != registration_mode::open) {
        counters_.add(registration_counters::outcome::refused_no_invite);
        co_return error_reply(iq, "forbidden", error_type::auth,
                              "registration on this server needs an invitation: open the link you were sent");
    }
    const auto username = value_of(query, "username");
    const auto password = value_of(query, "password");
    // XEP-0077 §3.1: missing or empty required fields (an empty password included) are <not-acceptable/>.
    if (!username || username->empty() || !password || password->empty()) {
        co_return error_reply(iq, "not-acceptable", "a username and a password are required");
    }
    const auto who = jid::from_parts(*username, domain);
    if (!who || !who->has_node()) {
        co_return error_reply(iq, "jid-malformed", "this username is not allowed in an address");
    }
    if (const std::string why = check_password(*password); !why.empty()) {
        co_return error_reply(iq, "not-acceptable", why);
    }
    if (invited && !session.invite_username.empty() && session.invite_username != who->node()) {
        co_return error_reply(iq, "forbidden", error_type::auth, "this invitation is for another username");
    }
    // The question before anything about the name, so probing names costs a solved CAPTCHA each.
    if (!invited && cfg_.registration.captcha) {
        const auto challenge = form_value(query, "challenge");
        const auto answer = form_value(query, "qa");
        if (!challenge || !answer || !captcha_.answer(*challenge, *answer)) {
            spdlog::info("registration: wrong or missing CAPTCHA answer from {}", peer_ip);
            counters_.add(registration_counters::outcome::refused_captcha);
            co_return error_reply(iq, "not-acceptable", error_type::modify,
                                  "the answer to the question is wrong or missing; ask for a new form");
        }
    }
    // A reserved name is as good as taken (XEP-0077's <conflict/>), unless an invite names exactly it.
    if (reserved(who->node()) && session.invite_username != who->node()) {
        counters_.add(registration_counters::outcome::refused_taken);
        co_return error_reply(iq, "conflict", "this username is taken");
    }
    // A taken name is refused before the key derivation, so probing names costs no PBKDF2 work; register_account
    // below still settles a race between two registrations of the same name.
    auto lookup = [domain = who->domain(), node = who->node()](storage::store& s) {
        return s.account_exists(domain, node);
    };
    auto exists = co_await store_.run(std::move(lookup));
    if (!exists) {
        spdlog::error("registration: looking up {} failed: {}", who->bare_string(), exists.error().message);
        co_return error_reply(iq, "internal-server-error");
    }
    if (*exists) {
        counters_.add(registration_counters::outcome::refused_taken);
        co_return error_reply(iq, "conflict", "this username is taken");
    }
    // Invited registrations skip the limits: the invitation is what vouches for them. Reserved before the key
    // derivation, so a client over its limit costs no PBKDF2 work.
    std::optional<registration_limits::reservation> slot;
    if (!invited) {
        registration_limits::reservation r;
        const auto refused = limits_.try_reserve(peer_ip, registration_limits::clock::now(), r);
        if (refused != registration_limits::refusal::none) {
            static constexpr std::array<const char*, 4> which{"", "address", "network", "server"};
            spdlog::info("registration: refused for {} from {}: the {} limit is reached", who->bare_string(), peer_ip,
                         which[static_cast<std::size_t>(refused)]);
            using counted = registration_counters::outcome;
            counters_.add(refused == registration_limits::refusal::address   ? counted::refused_limit_address
                          : refused == registration_limits::refusal::network ? counted::refused_limit_network
                                                                             : counted::refused_limit_total);
            const auto& rc = cfg_.registration;
            const std::string per = " per " + std::to_string(rc.window.count()) + " minutes";
            if (refused == registration_limits::refusal::network) {
                const std::string network = registration_network(peer_ip);
                notice_burst(network,
                             "Registrations from " + network + " reached max_per_network (" +
                                 std::to_string(rc.max_per_network) + per + "); more from there are refused for now.",
                             notices);
            } else if (refused == registration_limits::refusal::total) {
                notice_burst("*",
                             "Registrations on this server reached max_total (" + std::to_string(rc.max_total) + per +
                                 "); every registration without an invitation is refused for now.",
                             notices);
            }
            co_return error_reply(iq, "resource-constraint", error_type::wait,
                                  "too many accounts were registered recently; try again later");
        }
        slot = r;
    }
    auto release = [&] {
        if (slot) {
            limits_.release(*slot);
        }
    };
    auto creds = accounts::make_credentials(*password, cfg_.sasl.scram_iterations);
    if (!creds) {
        release();
        co_return error_reply(iq, "not-acceptable", "the password contains characters that are not allowed");
    }
    storage::new_registration request{who->domain(), who->node(), session.invite_sha256,
                                      !invited && cfg_.registration.approval, peer_ip, unix_now()};
    auto register_it = [request = std::move(request), creds = std::move(*creds)](storage::store& s) {
        return s.register_account(request, creds);
    };
    auto status = co_await store_.run(std::move(register_it));
    if (!status) {
        release();
        spdlog::error("registration: creating {} failed: {}", who->bare_string(), status.error().message);
        co_return error_reply(iq, "internal-server-error");
    }
    switch (*status) {
    case storage::registration_status::taken:
        release();
        counters_.add(registration_counters::outcome::refused_taken);
        co_return error_reply(iq, "conflict", "this username is taken");
    case storage::registration_status::invite_refused:
        counters_.add(registration_counters::outcome::refused_token);
        co_return error_reply(iq, "item-not-found", error_type::cancel, token_refused);
    case storage::registration_status::created:
        break;
    }
    const bool pending = !invited && cfg_.registration.approval;
    counters_.add(invited   ? registration_counters::outcome::created_invited
                  : pending ? registration_counters::outcome::created_pending
                            : registration_counters::outcome::created);
    if (pending && admins_ != nullptr && notices != nullptr) {
        admins_->notify("account waiting for approval",
                        who->bare_string() + " registered from " + peer_ip +
                            " and waits for approval: hushctl registration approve|deny " + who->bare_string() +
                            ", the admin page, or the command \"Accounts waiting for approval\".",
                        *notices);
    }
    spdlog::info("registration: created {} from {}{}{}", who->bare_string(), peer_ip,
                 invited ? " with invite " + session.invite_sha256.substr(0, 12) : std::string(),
                 pending ? ", pending approval" : "");
    co_return make_iq_result(iq);
}

void registration_service::notice_burst(const std::string& key, const std::string& text, outgoing* notices) {
    if (admins_ == nullptr || notices == nullptr) {
        return;
    }
    constexpr std::size_t max_keys = 1000;
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(notice_mutex_);
        std::erase_if(burst_notices_, [&](const auto& kv) { return now - kv.second >= cfg_.registration.window; });
        if (burst_notices_.contains(key) || burst_notices_.size() >= max_keys) {
            return;  // told already in this window (or a storm of networks: the first thousand said enough)
        }
        burst_notices_[key] = now;
    }
    admins_->notify("registration limit reached", text, *notices);
}

}  // namespace hush
