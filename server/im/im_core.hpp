#pragma once
// The IM core the router calls (RFC 6121 and its XEPs): its hooks on the stanza path, its iq handlers, and what
// a bound session's own presence, end and account requests mean.
//   outbound: a local user's stanza before routing — subscriptions (Appendix A.2), blocking, carbons "sent";
//   inbound:  a stanza for a local account after anti-SPIM — privacy/blocking, subscriptions (A.3), probes;
//   offline:  a message no resource can take.
#include <optional>
#include <set>

#include "server/im/im_context.hpp"
#include "server/im/presence_service.hpp"
#include "server/im/privacy_service.hpp"
#include "server/im/roster_service.hpp"
#include "server/push/push_service.hpp"

namespace hush {

enum class hook_result { proceed, consumed };

class registration_service;
struct registration_outcome;
class push_service;

// Every call puts what it wants sent into `out`, for the router to carry out; nothing here sends by itself.
class im_core {
public:
    // `registration`: XEP-0077 for bound sessions (password change, removal); `push`: XEP-0357 notifications for
    // what is stored offline. Either null where there is none.
    im_core(im_context& ctx, registration_service* registration, push_service* push = nullptr);

    boost::asio::awaitable<hook_result> outbound(stanza& s, const jid& from, const jid& to, outgoing& out);
    boost::asio::awaitable<hook_result> inbound(const stanza& s, const jid& from, const jid& to, outgoing& out);
    // Returns the error condition for the sender, or empty when stored. A stored message wakes the account's
    // phones (XEP-0357: notifications into `out`). `archive_id`: the account's archive item holding the message.
    boost::asio::awaitable<std::string> undeliverable(const stanza& s, const jid& to, outgoing& out,
                                                      std::optional<std::int64_t> archive_id = std::nullopt);
    // A message kept for a session waiting to be resumed (XEP-0198): its phones are woken as for offline storage.
    boost::asio::awaitable<void> waiting_session_message(const stanza& s, const jid& to, outgoing& out);

    // XEP-0357: an app server's answer to a notification still outstanding (push_service::take_answer; no storage
    // access, asked before classification), and what it then does (an error saying the registration is gone
    // disables it).
    std::optional<push_answer> take_push_answer(const stanza& iq, const jid& from, const jid& to);
    boost::asio::awaitable<void> push_answered(const push_answer& answer);

    // iq get/set addressed to an account's bare JID (or to the server for carbons); nullopt if not ours.
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

    // Carbons: copies of a message delivered to `to` for the account's other carbons-enabled resources.
    void received_copies(const stanza& message, const jid& to, const std::vector<std::string>& delivered_to,
                         outgoing& out);

    // A bound session's own presence (no 'to'): registry, broadcast, and at first availability probes, other
    // resources' presence, stored requests and offline messages.
    boost::asio::awaitable<void> session_presence(const jid& full, const stanza& presence, outgoing& out);
    // A bound session ended: unavailable presence to contacts and directed-presence recipients if it was
    // available (RFC 6121 §4.5.3.2), and its privacy state forgotten. `status`: of its last unavailable presence,
    // kept for XEP-0012.
    boost::asio::awaitable<void> session_ended(const jid& full, bool was_available,
                                               const std::set<std::string>& directed, const std::string& status,
                                               outgoing& out);
    // XEP-0077 from a bound session (password change, §3.3 removal). After a removal every contact is told
    // (unsubscribe/unsubscribed); the caller sends the reply and closes the account's sessions.
    boost::asio::awaitable<registration_outcome> account_request(const stanza& iq, const jid& full, outgoing& out);

    // May `requester` see `account`'s presence-derived data (XEP-0012 last activity)? The account itself, or a
    // contact with a from/both subscription that privacy settings do not block.
    boost::asio::awaitable<bool> may_see_presence(const jid& account, const jid& requester);

    static const std::vector<std::string>& account_features();
    static const std::vector<std::string>& server_features();

private:
    void sent_copies(const stanza& message, const jid& from, outgoing& out);
    // XEP-0115: an available or unavailable presence goes to the caps cache (ctx_.caps); its disco#info query, if
    // any, into `out`.
    boost::asio::awaitable<void> track_caps(const jid& from, const stanza& presence, outgoing& out);
    void cancel_subscriptions(const jid& account, const std::vector<storage::roster_item>& items, outgoing& out);

    im_context& ctx_;
    registration_service* registration_;
    push_service* push_;
    roster_service roster_;
    privacy_service privacy_;
    presence_service presence_;
};

}  // namespace hush
