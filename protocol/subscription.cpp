#include "protocol/subscription.hpp"

namespace hush::subscriptions {

namespace {

using hush::subscription;

bool has_to(subscription s) {
    return s == subscription::to || s == subscription::both;
}

bool has_from(subscription s) {
    return s == subscription::from || s == subscription::both;
}

subscription with_to(subscription s) {
    return has_from(s) ? subscription::both : subscription::to;
}

subscription without_to(subscription s) {
    return has_from(s) ? subscription::from : subscription::none;
}

subscription with_from(subscription s) {
    return has_to(s) ? subscription::both : subscription::from;
}

subscription without_from(subscription s) {
    return has_to(s) ? subscription::to : subscription::none;
}

}  // namespace

// Row names below are the "EXISTING STATE" column of RFC 6121 Appendix A; "no state change" rows are listed too,
// so every row of every table is accounted for in exactly one branch.
outbound_result apply_outbound(const state& current, presence_type type) {
    outbound_result result;
    state next = current;
    switch (type) {
    case presence_type::subscribe:
        // Table 2 (A.2.1): MUST route in every row (the contact's server may have lost state and answers itself).
        // "None" -> "None + Pending Out"; "None + Pending In" -> "None + Pending Out+In";
        // "From" -> "From + Pending Out"; "None + Pending Out", "None + Pending Out+In", "To", "To + Pending In",
        // "From + Pending Out", "Both": no state change (already asked, or already subscribed).
        result.route = true;
        if (!has_to(current.sub)) {
            next.pending_out = true;
        }
        break;
    case presence_type::unsubscribe:
        // Table 3 (A.2.2): MUST route in every row; our side of the subscription ("to", pending out) ends.
        // "None + Pending Out" -> "None"; "None + Pending Out+In" -> "None + Pending In"; "To" -> "None";
        // "To + Pending In" -> "None + Pending In"; "From + Pending Out" -> "From"; "Both" -> "From";
        // "None", "None + Pending In", "From": no state change.
        result.route = true;
        next.sub = without_to(current.sub);
        next.pending_out = false;
        break;
    case presence_type::subscribed:
        if (has_from(current.sub)) {
            // Table 4 (A.2.3) "From", "From + Pending Out", "Both": MUST NOT route, no state change
            // (§3.4 rule 1: silently ignore).
        } else if (current.pending_in) {
            // Table 4 "None + Pending In" -> "From"; "None + Pending Out+In" -> "From + Pending Out";
            // "To + Pending In" -> "Both": MUST route. A normal approval (§3.1.5, §3.4 rule 2): the request is
            // answered, so pending in ends.
            result.route = true;
            next.sub = with_from(current.sub);
            next.pending_in = false;
            next.approved = false;
        } else {
            // Table 4 "None", "None + Pending Out", "To": MUST NOT route; pre-approval (§3.4 rules 3 and 4).
            next.approved = true;
        }
        break;
    case presence_type::unsubscribed:
        if (has_from(current.sub) || current.pending_in) {
            // Table 5 (A.2.4) "None + Pending In" -> "None"; "None + Pending Out+In" -> "None + Pending Out";
            // "To + Pending In" -> "To"; "From" -> "None"; "From + Pending Out" -> "None + Pending Out";
            // "Both" -> "To": MUST route. Denies the request or cancels the contact's subscription.
            result.route = true;
            next.sub = without_from(current.sub);
            next.pending_in = false;
            next.approved = false;
        } else {
            // Table 5 "None", "None + Pending Out", "To": SHOULD NOT route, no state change, except note [1]:
            // it cancels a pre-approval (§3.4).
            next.approved = false;
        }
        break;
    }
    result.next = next;
    result.changed = next != current;
    return result;
}

inbound_result apply_inbound(const state& current, presence_type type) {
    inbound_result result;
    state next = current;
    switch (type) {
    case presence_type::subscribe:
        if (has_from(current.sub)) {
            // Table 6 (A.3.1) "From", "From + Pending Out", "Both": SHOULD NOT deliver, no state change;
            // note [2]: SHOULD auto-reply "subscribed" (the contact's server forgot the subscription).
            result.auto_subscribed = true;
        } else if (current.approved) {
            // Table 6 note [1] and §3.4: pre-approved, so answer for the user instead of asking.
            // "None" -> "From"; "None + Pending Out" -> "From + Pending Out"; "To" -> "Both". The approval is
            // used up: once "from" exists it has no meaning.
            next.sub = with_from(current.sub);
            next.pending_in = false;
            next.approved = false;
            result.auto_subscribed = true;
        } else if (current.pending_in) {
            // Table 6 "None + Pending In", "None + Pending Out+In", "To + Pending In": SHOULD NOT deliver (the user
            // already has the request), no state change.
        } else {
            // Table 6 "None" -> "None + Pending In"; "None + Pending Out" -> "None + Pending Out+In";
            // "To" -> "To + Pending In": MUST deliver.
            next.pending_in = true;
            result.deliver = true;
        }
        break;
    case presence_type::unsubscribe:
        if (has_from(current.sub) || current.pending_in) {
            // Table 7 (A.3.2) "None + Pending In" -> "None"; "None + Pending Out+In" -> "None + Pending Out";
            // "To + Pending In" -> "To"; "From" -> "None"; "From + Pending Out" -> "None + Pending Out";
            // "Both" -> "To": MUST deliver; note [1]: SHOULD auto-reply "unsubscribed".
            next.sub = without_from(current.sub);
            next.pending_in = false;
            result.deliver = true;
            result.auto_unsubscribed = true;
        } else {
            // Table 7 "None", "None + Pending Out", "To": SHOULD NOT deliver, no state change.
        }
        break;
    case presence_type::subscribed:
        if (current.pending_out && !has_to(current.sub)) {
            // Table 8 (A.3.3) "None + Pending Out" -> "To"; "None + Pending Out+In" -> "To + Pending In";
            // "From + Pending Out" -> "Both": MUST deliver.
            next.sub = with_to(current.sub);
            next.pending_out = false;
            result.deliver = true;
        } else {
            // Table 8 "None", "None + Pending In", "To", "To + Pending In", "From", "Both": SHOULD NOT deliver, no
            // state change (nothing was asked, or the answer is already known).
        }
        break;
    case presence_type::unsubscribed:
        if (has_to(current.sub) || current.pending_out) {
            // Table 9 (A.3.4) "None + Pending Out" -> "None"; "None + Pending Out+In" -> "None + Pending In";
            // "To" -> "None"; "To + Pending In" -> "None + Pending In"; "From + Pending Out" -> "From";
            // "Both" -> "From": MUST deliver.
            next.sub = without_to(current.sub);
            next.pending_out = false;
            result.deliver = true;
        } else {
            // Table 9 "None", "None + Pending In", "From": SHOULD NOT deliver, no state change.
        }
        break;
    }
    result.next = next;
    result.changed = next != current;
    return result;
}

const char* subscription_name(subscription sub) {
    switch (sub) {
    case subscription::none: return "none";
    case subscription::to: return "to";
    case subscription::from: return "from";
    case subscription::both: return "both";
    }
    return "none";
}

bool parse_presence_type(std::string_view text, presence_type& out) {
    if (text == "subscribe") {
        out = presence_type::subscribe;
    } else if (text == "subscribed") {
        out = presence_type::subscribed;
    } else if (text == "unsubscribe") {
        out = presence_type::unsubscribe;
    } else if (text == "unsubscribed") {
        out = presence_type::unsubscribed;
    } else {
        return false;
    }
    return true;
}

}  // namespace hush::subscriptions
