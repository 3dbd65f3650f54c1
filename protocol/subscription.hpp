#pragma once
// The presence subscription state machine of RFC 6121 Appendix A, as pure functions over a roster item's
// subscription state. The server applies them on both sides: the user's server for outbound stanzas (A.2),
// the contact's server for inbound ones (A.3). No I/O here.
#include "protocol/roster_item.hpp"

namespace hush::subscriptions {

enum class presence_type { subscribe, subscribed, unsubscribe, unsubscribed };

// One account's view of one contact (no roster item = all false / none).
struct state {
    subscription sub = subscription::none;
    bool pending_out = false;
    bool pending_in = false;
    bool approved = false;  // pre-approval (only meaningful while the contact has no "from")

    bool operator==(const state&) const = default;
};

// The user sends `type` to the contact (Appendix A.2 and §3.1.2, §3.2.2, §3.3.2, §3.4).
struct outbound_result {
    state next;
    bool route = false;    // send the stanza on to the contact
    bool changed = false;  // the roster item changed: persist and push
};
outbound_result apply_outbound(const state& current, presence_type type);

// The contact's `type` arrives for the user (Appendix A.3 and §3.1.3, §3.2.3, §3.3.3).
struct inbound_result {
    state next;
    bool deliver = false;          // deliver to the user (a request is also stored while pending)
    bool changed = false;          // persist and push
    // Answer <subscribed/> for the user and deliver nothing: a pre-approved subscribe (§3.4), or a subscribe from
    // a contact that already has a subscription (Table 6 note [2]: the contact lost its state; resynchronize).
    bool auto_subscribed = false;
    // Answer <unsubscribed/> for the user (Table 7 note [1], SHOULD): set with every delivered unsubscribe.
    bool auto_unsubscribed = false;
};
inbound_result apply_inbound(const state& current, presence_type type);

// The roster item attribute values (RFC 6121 §2.1.2): "none", "to", "from", "both".
const char* subscription_name(subscription sub);
bool parse_presence_type(std::string_view text, presence_type& out);

}  // namespace hush::subscriptions
