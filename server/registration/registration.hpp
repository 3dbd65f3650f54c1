#pragma once
// XEP-0077 in-band registration (jabber:iq:register), docs/registration.md:
//   before authentication (after STARTTLS): an invitation token (XEP-0445 <preauth/>), the form (with the XEP-0158
//   CAPTCHA in open mode), account creation as [registration] mode allows;
//   after authentication: change one's password, remove one's account (account management, whatever the mode).
// Error replies never echo the request back: it holds a password (XEP-0077 §3.3). A stranger learns nothing about
// which accounts exist beyond what XEP-0077 itself says (<conflict/> for a taken name).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "antispim/admin_notifier.hpp"
#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "server/registration/captcha.hpp"
#include "server/registration/registration_limits.hpp"
#include "storage/async_store.hpp"

namespace hush {

// What one stream negotiated before registering: kept by the session, handed back with every request.
struct registration_session {
    std::string invite_sha256;    // the digest of an accepted XEP-0445 token; empty: none
    std::string invite_username;  // the one name that invite may register; empty: any
    unsigned failed_tokens = 0;   // refused tokens on this stream (bounded: then every token is refused)
};

// What became of registrations before login, for /metrics: one counter per outcome.
class registration_counters {
public:
    enum class outcome {
        created,          // without an invitation, may log in
        created_invited,  // with an invitation
        created_pending,  // waiting for approval
        refused_closed,   // mode = "closed"
        refused_no_invite,
        refused_token,    // a <preauth/> token refused (unknown, used up, expired), or its last use taken meanwhile
        refused_captcha,
        refused_taken,    // the name exists or is reserved
        refused_limit_address,
        refused_limit_network,
        refused_limit_total,
        count_
    };
    static constexpr std::array<std::string_view, static_cast<std::size_t>(outcome::count_)> names{
        "created",        "created_invited",       "created_pending",       "refused_closed",
        "refused_no_invite", "refused_token",      "refused_captcha",       "refused_taken",
        "refused_limit_address", "refused_limit_network", "refused_limit_total"};

    void add(outcome o) { counts_[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t get(outcome o) const { return counts_[static_cast<std::size_t>(o)].load(std::memory_order_relaxed); }

private:
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(outcome::count_)> counts_{};
};

// What an authenticated jabber:iq:register request did.
struct registration_outcome {
    stanza reply;          // send it to the requesting session
    bool removed = false;  // the account is gone: after sending `reply`, close EVERY session of the account
                           // with the stream error <not-authorized/> (XEP-0077 §3.2)
};

class registration_service {
public:
    static constexpr std::string_view register_ns = "jabber:iq:register";
    static constexpr std::string_view feature_ns = "http://jabber.org/features/iq-register";
    static constexpr std::string_view token_feature_ns = "urn:xmpp:ibr-token:0";  // XEP-0445 stream feature
    static constexpr std::string_view preauth_ns = "urn:xmpp:pars:0";
    static constexpr std::string_view captcha_ns = "urn:xmpp:captcha";
    static constexpr unsigned max_failed_tokens = 5;

    // `cfg` (its registration and sasl sections) must outlive the service, as the server's config does. `admins`
    // (may be null) is told about accounts waiting for approval and about registration limits being reached.
    registration_service(const config& cfg, storage::async_store& store, admin_notifier* admins = nullptr);

    // Is this unauthenticated iq for the service (a jabber:iq:register query or a XEP-0445 <preauth/>)?
    static bool handles_unauthenticated(const stanza& iq);

    // An iq handles_unauthenticated() accepted, received after TLS and before SASL success, on a stream for
    // `domain` (a local host, nameprepped) from `peer_ip`, with the stream's `session`. Returns the reply to send;
    // an iq of type result or error gets none: the returned stanza is then empty (valid() == false). The admins'
    // notices go into `notices` (when given) for the caller to send.
    boost::asio::awaitable<stanza> handle_unauthenticated(const stanza& iq, const std::string& domain,
                                                          const std::string& peer_ip, registration_session& session,
                                                          outgoing* notices = nullptr);

    // The same after authentication, from `account` (the session's JID; only its bare part is used): get shows
    // the registration, set changes the password (<username> = own + <password>) or removes the account
    // (<remove/>). `removed` says the account was deleted.
    boost::asio::awaitable<registration_outcome> handle_authenticated(const stanza& iq, const jid& account);

    // Advertise <register xmlns='http://jabber.org/features/iq-register'/> (and XEP-0445's
    // <register xmlns='urn:xmpp:ibr-token:0'/>) in the post-TLS stream features?
    static bool stream_feature_enabled(const config& cfg);

    // What else holds an account's state and must follow its removal (the message archive: its write queue and
    // cached preferences). `before` runs before the account is deleted, `after` once it is: nothing queued or
    // cached for it may reach an account created again under the name. Set them before the first request.
    struct removal_hooks {
        std::function<boost::asio::awaitable<void>(const jid& account)> before;
        std::function<void(const jid& account)> after;
    };
    void on_removal(removal_hooks hooks) { removal_hooks_ = std::move(hooks); }

    registration_limits& limits() { return limits_; }
    const registration_counters& counters() const { return counters_; }
    captcha_book& captcha() { return captcha_; }

private:
    // registration_signup.cpp: everything before authentication.
    boost::asio::awaitable<stanza> preauth(const stanza& iq, const std::string& domain, registration_session& session);
    stanza form(const stanza& iq, const std::string& peer_ip, const registration_session& session);
    boost::asio::awaitable<stanza> create(const stanza& iq, pugi::xml_node query, const std::string& domain,
                                          const std::string& peer_ip, const registration_session& session,
                                          outgoing* notices);
    // Tells the admins that `limit` refused a registration for `key` (a network, or "*" for the server), once per
    // window and key: a burst is news, every refusal in it is not.
    void notice_burst(const std::string& key, const std::string& text, outgoing* notices);
    // registration.cpp: account management after authentication.
    boost::asio::awaitable<stanza> change_password(const stanza& iq, pugi::xml_node query, const jid& owner);
    boost::asio::awaitable<registration_outcome> remove(const stanza& iq, const jid& owner);
    // Empty when the password is acceptable for a new account or a password change, else why not.
    std::string check_password(std::string_view password) const;
    bool reserved(const std::string& node) const;

    const config& cfg_;
    storage::async_store& store_;
    registration_limits limits_;
    captcha_book captcha_;
    admin_notifier* admins_;
    registration_counters counters_;
    removal_hooks removal_hooks_;
    std::mutex notice_mutex_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> burst_notices_;  // bounded, swept
};

// Shared by registration.cpp and registration_signup.cpp.
namespace registration_detail {

// The error reply without the request's payload, which holds a password.
stanza error_reply(const stanza& iq, std::string_view condition, std::string_view text = {});
stanza error_reply(const stanza& iq, std::string_view condition, error_type type, std::string_view text);
// The text of <name/> in the query's namespace, or nullopt when there is no such element.
std::optional<std::string> field(pugi::xml_node query, const char* name);
pugi::xml_node add_query(stanza& reply);
void add_text(pugi::xml_node parent, const char* name, const std::string& text);

}  // namespace registration_detail

}  // namespace hush
