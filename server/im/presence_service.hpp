#pragma once
// RFC 6121 §3 and §4: presence subscriptions (both sides of Appendix A), presence broadcast and probes,
// and what an account receives when it comes online: other resources' presence, stored subscription requests
// and offline messages (XEP-0160, with XEP-0203 delay stamps).
#include <cstdint>
#include <optional>
#include <set>

#include "protocol/subscription.hpp"
#include "server/im/im_context.hpp"
#include "server/im/privacy_service.hpp"
#include "server/im/roster_service.hpp"

namespace hush {

class presence_service {
public:
    presence_service(im_context& ctx, roster_service& roster, privacy_service& privacy)
        : ctx_(ctx), roster_(roster), privacy_(privacy) {}

    // A presence without 'to' from `full` (available or unavailable): update the registry, broadcast.
    boost::asio::awaitable<void> own_presence(const jid& full, const stanza& presence, outgoing& out);
    // The session of `full` ended without unavailable presence: broadcast unavailable for it.
    // `directed` holds the JIDs it sent directed presence to; `status` is the status text of its last unavailable
    // presence, recorded with the time for XEP-0012 when it was the account's last available resource.
    boost::asio::awaitable<void> session_ended(const jid& full, bool was_available, const std::set<std::string>& directed,
                                               const std::string& status, outgoing& out);

    // Outbound subscription stanza from a local user: updates the user's roster and sends on what Appendix A
    // says to send (the stanza with bare from/to, then presence or unavailable presence as §3 requires).
    boost::asio::awaitable<void> outbound_subscription(stanza s, const jid& user, const jid& contact,
                                                       subscriptions::presence_type type, outgoing& out);
    // Inbound subscription stanza for local `user` from `contact`; delivers, stores or answers it itself.
    boost::asio::awaitable<void> inbound_subscription(const stanza& s, const jid& user, const jid& contact,
                                                      subscriptions::presence_type type, outgoing& out);
    // A probe from `prober` for local `user` (RFC 6121 §4.3.2).
    boost::asio::awaitable<void> answer_probe(const jid& user, const jid& prober, outgoing& out);

    // Sends each available resource's presence to `to` if `user` has a from/both subscription with it and
    // privacy allows (after an unblock, XEP-0191 §3.4).
    boost::asio::awaitable<void> send_current_presence_if_subscribed(const jid& user, const jid& to, outgoing& out);

    // A message for `user` found no available resource: store it (referencing its archive item, if it is one).
    // Returns false when over quota.
    boost::asio::awaitable<bool> store_offline(const jid& user, const stanza& message,
                                               std::optional<std::int64_t> archive_id = std::nullopt);

private:
    boost::asio::awaitable<void> broadcast(const jid& full, const stanza& presence, bool to_subscribers, outgoing& out);
    boost::asio::awaitable<void> send_current_presence(const jid& user, const jid& to, outgoing& out);
    boost::asio::awaitable<void> initial_presence_extras(const jid& full, outgoing& out);
    boost::asio::awaitable<bool> has_pending_request(const jid& user, const jid& contact);
    boost::asio::awaitable<std::pair<std::optional<storage::roster_item>, subscriptions::state>> load_state(
        const jid& user, const jid& contact);
    boost::asio::awaitable<void> save_state(const jid& user, const jid& contact,
                                            const std::optional<storage::roster_item>& item,
                                            const subscriptions::state& next_state, outgoing& out);
    void deliver_to_available(const jid& user, const stanza& s, bool interested_only, outgoing& out);

    im_context& ctx_;
    roster_service& roster_;
    privacy_service& privacy_;
};

}  // namespace hush
