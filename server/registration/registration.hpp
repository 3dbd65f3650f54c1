#pragma once
// XEP-0077 in-band registration (jabber:iq:register):
//   before authentication (after STARTTLS): get the form, create an account;
//   after authentication: change one's password, remove one's account.
// Only creating accounts depends on [registration] enabled; the rest is account management and always works.
// Error replies never echo the request back: it holds a password (XEP-0077 §3.3).
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

// Counts successful registrations per IP address over a sliding window. Thread-safe: sessions on every
// event-loop thread share one. A slot is reserved before the account is created and released if creation
// fails, so concurrent attempts from one address cannot overshoot the limit.
class registration_limiter {
public:
    using clock = std::chrono::steady_clock;

    registration_limiter(std::size_t max_per_window, std::chrono::seconds window);

    // Takes a slot for `address` at `now`; false when the address already used all of them in the window.
    bool try_reserve(const std::string& address, clock::time_point now = clock::now());
    // Gives back the slot taken at `reserved_at` (the registration did not happen).
    void release(const std::string& address, clock::time_point reserved_at);
    // Slots in use for `address` at `now`.
    std::size_t used(const std::string& address, clock::time_point now = clock::now());

private:
    void sweep(clock::time_point now);

    std::size_t max_;
    std::chrono::seconds window_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::deque<clock::time_point>> slots_;  // oldest first
    clock::time_point last_sweep_{};
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

    // `cfg` (its registration and sasl sections) must outlive the service, as the server's config does.
    registration_service(const config& cfg, storage::async_store& store);

    // An iq with a <query xmlns='jabber:iq:register'/> payload received after TLS and before SASL success, on a
    // stream for `domain` (a local host, nameprepped) from `peer_ip`. Returns the reply to send; an iq of type
    // result or error gets none: the returned stanza is then empty (valid() == false).
    boost::asio::awaitable<stanza> handle_unauthenticated(const stanza& iq, const std::string& domain,
                                                          const std::string& peer_ip);

    // The same after authentication, from `account` (the session's JID; only its bare part is used): get shows
    // the registration, set changes the password (<username> = own + <password>) or removes the account
    // (<remove/>). `removed` says the account was deleted.
    boost::asio::awaitable<registration_outcome> handle_authenticated(const stanza& iq, const jid& account);

    // Advertise <register xmlns='http://jabber.org/features/iq-register'/> in the post-TLS stream features?
    static bool stream_feature_enabled(const config& cfg);

    registration_limiter& limiter() { return limiter_; }

private:
    boost::asio::awaitable<stanza> create(const stanza& iq, pugi::xml_node query, const std::string& domain,
                                          const std::string& peer_ip);
    boost::asio::awaitable<stanza> change_password(const stanza& iq, pugi::xml_node query, const jid& owner);
    boost::asio::awaitable<registration_outcome> remove(const stanza& iq, const jid& owner);
    // Empty when the password is acceptable for a new account or a password change, else why not.
    std::string check_password(std::string_view password) const;

    const config& cfg_;
    storage::async_store& store_;
    registration_limiter limiter_;
};

}  // namespace hush
