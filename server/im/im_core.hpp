#pragma once
// The IM core the router calls (RFC 6121 and its XEPs): its hooks on the stanza path and its iq handlers.
//   outbound: a local user's stanza before routing — subscriptions (Appendix A.2), blocking, carbons "sent";
//   inbound:  a stanza for a local account after anti-SPIM — privacy/blocking, subscriptions (A.3), probes;
//   offline:  a message no resource can take.
#include <optional>

#include "server/im/im_context.hpp"
#include "server/im/presence_service.hpp"
#include "server/im/privacy_service.hpp"
#include "server/im/roster_service.hpp"

namespace hush {

enum class hook_result { proceed, consumed };

class im_core {
public:
    explicit im_core(im_context& ctx);

    boost::asio::awaitable<hook_result> outbound(stanza& s, const jid& from, const jid& to);
    boost::asio::awaitable<hook_result> inbound(const stanza& s, const jid& from, const jid& to);
    // Returns the error condition for the sender, or empty when stored.
    boost::asio::awaitable<std::string> undeliverable(const stanza& s, const jid& to);

    // iq get/set addressed to an account's bare JID (or to the server for carbons); nullopt if not ours.
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed);

    // Carbons: copies of a message delivered to `to` for the account's other carbons-enabled resources.
    void received_copies(const stanza& message, const jid& to, const std::vector<std::string>& delivered_to);

    // May `requester` see `account`'s presence-derived data (XEP-0012 last activity)? The account itself, or a
    // contact with a from/both subscription that privacy settings do not block.
    boost::asio::awaitable<bool> may_see_presence(const jid& account, const jid& requester);

    // XEP-0077 §3.3: an account about to be removed; returns its roster so that, once removed, every contact
    // can be told with cancel_subscriptions().
    boost::asio::awaitable<std::vector<storage::roster_item>> roster_of(const jid& account);
    boost::asio::awaitable<void> cancel_subscriptions(const jid& account, const std::vector<storage::roster_item>& items);

    presence_service& presence() { return presence_; }
    privacy_service& privacy() { return privacy_; }

    static const std::vector<std::string>& account_features();
    static const std::vector<std::string>& server_features();

private:
    void sent_copies(const stanza& message, const jid& from);

    im_context& ctx_;
    roster_service roster_;
    privacy_service privacy_;
    presence_service presence_;
};

}  // namespace hush
