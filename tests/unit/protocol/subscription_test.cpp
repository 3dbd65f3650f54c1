#include <doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/subscription.hpp"

using hush::subscription;
using namespace hush::subscriptions;

namespace {

// The nine states of RFC 6121 Appendix A.1, named as in the tables, so each row below is a transcription.
state named(std::string_view name) {
    state s;
    if (name == "None") {
    } else if (name == "None + Pending Out") {
        s.pending_out = true;
    } else if (name == "None + Pending In") {
        s.pending_in = true;
    } else if (name == "None + Pending Out+In") {
        s.pending_out = true;
        s.pending_in = true;
    } else if (name == "To") {
        s.sub = subscription::to;
    } else if (name == "To + Pending In") {
        s.sub = subscription::to;
        s.pending_in = true;
    } else if (name == "From") {
        s.sub = subscription::from;
    } else if (name == "From + Pending Out") {
        s.sub = subscription::from;
        s.pending_out = true;
    } else if (name == "Both") {
        s.sub = subscription::both;
    } else {
        FAIL("unknown state name ", std::string(name));
    }
    return s;
}

// The inverse, for readable failures; anything outside the nine states shows its flags.
std::string name_of(const state& s) {
    std::string out;
    switch (s.sub) {
    case subscription::none: out = "None"; break;
    case subscription::to: out = "To"; break;
    case subscription::from: out = "From"; break;
    case subscription::both: out = "Both"; break;
    }
    if (s.pending_out && s.pending_in) {
        out += " + Pending Out+In";
    } else if (s.pending_out) {
        out += " + Pending Out";
    } else if (s.pending_in) {
        out += " + Pending In";
    }
    if (s.approved) {
        out += " (approved)";
    }
    return out;
}

const char* type_name(presence_type t) {
    switch (t) {
    case presence_type::subscribe: return "subscribe";
    case presence_type::subscribed: return "subscribed";
    case presence_type::unsubscribe: return "unsubscribe";
    case presence_type::unsubscribed: return "unsubscribed";
    }
    return "?";
}

// One row: existing state, stanza type, whether it is routed/delivered (MUST = yes; M.N. and S.N. = no), and the
// new state ("no state change" is written as the existing state).
struct row {
    const char* existing;
    presence_type type;
    bool passes;
    const char* next;
};

std::string outcome(bool passes, const std::string& next) {
    return (passes ? "pass -> " : "hold -> ") + next;
}

void check_outbound(const std::vector<row>& rows) {
    for (const auto& r : rows) {
        const state before = named(r.existing);
        const outbound_result res = apply_outbound(before, r.type);
        INFO("outbound ", std::string(type_name(r.type)), " in \"", std::string(r.existing), "\"");
        CHECK(outcome(res.route, name_of(res.next)) == outcome(r.passes, r.next));
        CHECK(res.changed == (res.next != before));
    }
}

void check_inbound(const std::vector<row>& rows) {
    for (const auto& r : rows) {
        const state before = named(r.existing);
        const inbound_result res = apply_inbound(before, r.type);
        INFO("inbound ", std::string(type_name(r.type)), " in \"", std::string(r.existing), "\"");
        CHECK(outcome(res.deliver, name_of(res.next)) == outcome(r.passes, r.next));
        CHECK(res.changed == (res.next != before));
    }
}

constexpr auto subscribe = presence_type::subscribe;
constexpr auto subscribed = presence_type::subscribed;
constexpr auto unsubscribe = presence_type::unsubscribe;
constexpr auto unsubscribed = presence_type::unsubscribed;

}  // namespace

TEST_CASE("subscriptions: RFC 6121 Table 2, outbound subscribe") {
    check_outbound({
        {"None", subscribe, true, "None + Pending Out"},
        {"None + Pending Out", subscribe, true, "None + Pending Out"},
        {"None + Pending In", subscribe, true, "None + Pending Out+In"},
        {"None + Pending Out+In", subscribe, true, "None + Pending Out+In"},
        {"To", subscribe, true, "To"},
        {"To + Pending In", subscribe, true, "To + Pending In"},
        {"From", subscribe, true, "From + Pending Out"},
        {"From + Pending Out", subscribe, true, "From + Pending Out"},
        {"Both", subscribe, true, "Both"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 3, outbound unsubscribe") {
    check_outbound({
        {"None", unsubscribe, true, "None"},
        {"None + Pending Out", unsubscribe, true, "None"},
        {"None + Pending In", unsubscribe, true, "None + Pending In"},
        {"None + Pending Out+In", unsubscribe, true, "None + Pending In"},
        {"To", unsubscribe, true, "None"},
        {"To + Pending In", unsubscribe, true, "None + Pending In"},
        {"From", unsubscribe, true, "From"},
        {"From + Pending Out", unsubscribe, true, "From"},
        {"Both", unsubscribe, true, "From"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 4, outbound subscribed") {
    check_outbound({
        {"None", subscribed, false, "None (approved)"},                              // pre-approval
        {"None + Pending Out", subscribed, false, "None + Pending Out (approved)"},  // pre-approval
        {"None + Pending In", subscribed, true, "From"},
        {"None + Pending Out+In", subscribed, true, "From + Pending Out"},
        {"To", subscribed, false, "To (approved)"},  // pre-approval
        {"To + Pending In", subscribed, true, "Both"},
        {"From", subscribed, false, "From"},
        {"From + Pending Out", subscribed, false, "From + Pending Out"},
        {"Both", subscribed, false, "Both"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 5, outbound unsubscribed") {
    check_outbound({
        {"None", unsubscribed, false, "None"},
        {"None + Pending Out", unsubscribed, false, "None + Pending Out"},
        {"None + Pending In", unsubscribed, true, "None"},
        {"None + Pending Out+In", unsubscribed, true, "None + Pending Out"},
        {"To", unsubscribed, false, "To"},
        {"To + Pending In", unsubscribed, true, "To"},
        {"From", unsubscribed, true, "None"},
        {"From + Pending Out", unsubscribed, true, "None + Pending Out"},
        {"Both", unsubscribed, true, "To"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 6, inbound subscribe") {
    check_inbound({
        {"None", subscribe, true, "None + Pending In"},
        {"None + Pending Out", subscribe, true, "None + Pending Out+In"},
        {"None + Pending In", subscribe, false, "None + Pending In"},
        {"None + Pending Out+In", subscribe, false, "None + Pending Out+In"},
        {"To", subscribe, true, "To + Pending In"},
        {"To + Pending In", subscribe, false, "To + Pending In"},
        {"From", subscribe, false, "From"},
        {"From + Pending Out", subscribe, false, "From + Pending Out"},
        {"Both", subscribe, false, "Both"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 7, inbound unsubscribe") {
    check_inbound({
        {"None", unsubscribe, false, "None"},
        {"None + Pending Out", unsubscribe, false, "None + Pending Out"},
        {"None + Pending In", unsubscribe, true, "None"},
        {"None + Pending Out+In", unsubscribe, true, "None + Pending Out"},
        {"To", unsubscribe, false, "To"},
        {"To + Pending In", unsubscribe, true, "To"},
        {"From", unsubscribe, true, "None"},
        {"From + Pending Out", unsubscribe, true, "None + Pending Out"},
        {"Both", unsubscribe, true, "To"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 8, inbound subscribed") {
    check_inbound({
        {"None", subscribed, false, "None"},
        {"None + Pending Out", subscribed, true, "To"},
        {"None + Pending In", subscribed, false, "None + Pending In"},
        {"None + Pending Out+In", subscribed, true, "To + Pending In"},
        {"To", subscribed, false, "To"},
        {"To + Pending In", subscribed, false, "To + Pending In"},
        {"From", subscribed, false, "From"},
        {"From + Pending Out", subscribed, true, "Both"},
        {"Both", subscribed, false, "Both"},
    });
}

TEST_CASE("subscriptions: RFC 6121 Table 9, inbound unsubscribed") {
    check_inbound({
        {"None", unsubscribed, false, "None"},
        {"None + Pending Out", unsubscribed, true, "None"},
        {"None + Pending In", unsubscribed, false, "None + Pending In"},
        {"None + Pending Out+In", unsubscribed, true, "None + Pending In"},
        {"To", unsubscribed, true, "None"},
        {"To + Pending In", unsubscribed, true, "None + Pending In"},
        {"From", unsubscribed, false, "From"},
        {"From + Pending Out", unsubscribed, true, "From"},
        {"Both", unsubscribed, true, "From"},
    });
}

TEST_CASE("subscriptions: auto-replies follow the table notes") {
    // Table 6 note [2]: a subscribe from a contact that already has a subscription is answered, not delivered.
    for (const char* name : {"From", "From + Pending Out", "Both"}) {
        INFO(std::string(name));
        const auto r = apply_inbound(named(name), subscribe);
        CHECK(r.auto_subscribed);
        CHECK_FALSE(r.deliver);
        CHECK_FALSE(r.changed);
    }
    for (const char* name : {"None", "None + Pending Out", "None + Pending In", "To", "To + Pending In"}) {
        INFO(std::string(name));
        CHECK_FALSE(apply_inbound(named(name), subscribe).auto_subscribed);
    }
    // Table 7 note [1]: every delivered unsubscribe is answered with unsubscribed, and only those.
    for (const char* name : {"None", "None + Pending Out", "None + Pending In", "None + Pending Out+In", "To",
                             "To + Pending In", "From", "From + Pending Out", "Both"}) {
        INFO(std::string(name));
        const auto r = apply_inbound(named(name), unsubscribe);
        CHECK(r.auto_unsubscribed == r.deliver);
    }
    // No other inbound type asks for an automatic answer.
    for (auto t : {subscribed, unsubscribed}) {
        const auto r = apply_inbound(named("None + Pending Out"), t);
        CHECK_FALSE(r.auto_subscribed);
        CHECK_FALSE(r.auto_unsubscribed);
    }
}

TEST_CASE("subscriptions: pre-approval (RFC 6121 §3.4)") {
    SUBCASE("outbound subscribed without from or pending in sets approved, routes nothing, and is persisted") {
        for (const char* name : {"None", "None + Pending Out", "To"}) {
            INFO(std::string(name));
            const auto r = apply_outbound(named(name), subscribed);
            CHECK(r.next.approved);
            CHECK_FALSE(r.route);
            CHECK(r.changed);
            // A second pre-approval changes nothing.
            const auto again = apply_outbound(r.next, subscribed);
            CHECK(again.next == r.next);
            CHECK_FALSE(again.changed);
            CHECK_FALSE(again.route);
        }
    }
    SUBCASE("a pre-approved subscribe is answered by the server: from/both, approval used up, nothing delivered") {
        struct case_ {
            const char* existing;
            const char* next;
        };
        for (const auto& c : {case_{"None", "From"}, case_{"None + Pending Out", "From + Pending Out"},
                              case_{"To", "Both"}}) {
            INFO(std::string(c.existing));
            state before = named(c.existing);
            before.approved = true;
            const auto r = apply_inbound(before, subscribe);
            CHECK(r.auto_subscribed);
            CHECK_FALSE(r.deliver);
            CHECK(r.changed);
            CHECK_FALSE(r.next.approved);
            CHECK(name_of(r.next) == c.next);
        }
    }
    SUBCASE("outbound unsubscribed cancels a pre-approval without routing (Table 5 note [1])") {
        for (const char* name : {"None", "None + Pending Out", "To"}) {
            INFO(std::string(name));
            state before = named(name);
            before.approved = true;
            const auto r = apply_outbound(before, unsubscribed);
            CHECK_FALSE(r.next.approved);
            CHECK_FALSE(r.route);
            CHECK(r.changed);
            CHECK(name_of(r.next) == name);
        }
    }
    SUBCASE("a pre-approval survives transitions of the other direction") {
        state s = named("None");
        s.approved = true;
        auto out = apply_outbound(s, subscribe);
        CHECK(out.next.approved);
        CHECK(name_of(out.next) == "None + Pending Out (approved)");
        auto in = apply_inbound(out.next, subscribed);
        CHECK(in.next.approved);
        CHECK(name_of(in.next) == "To (approved)");
        auto unsub = apply_inbound(in.next, unsubscribed);
        CHECK(name_of(unsub.next) == "None (approved)");
    }
    SUBCASE("a full exchange: pre-approve, contact subscribes, both ways") {
        state s;  // no roster item
        s = apply_outbound(s, subscribed).next;
        s = apply_outbound(s, subscribe).next;
        CHECK(name_of(s) == "None + Pending Out (approved)");
        auto r = apply_inbound(s, subscribe);
        CHECK(r.auto_subscribed);
        s = r.next;
        CHECK(name_of(s) == "From + Pending Out");
        s = apply_inbound(s, subscribed).next;
        CHECK(name_of(s) == "Both");
    }
}

TEST_CASE("subscriptions: pending in is cleared by outbound subscribed and unsubscribed") {
    for (const char* name : {"None + Pending In", "None + Pending Out+In", "To + Pending In"}) {
        INFO(std::string(name));
        CHECK_FALSE(apply_outbound(named(name), subscribed).next.pending_in);
        CHECK_FALSE(apply_outbound(named(name), unsubscribed).next.pending_in);
        // ... but not by the user's own requests about the other direction.
        CHECK(apply_outbound(named(name), subscribe).next.pending_in);
        CHECK(apply_outbound(named(name), unsubscribe).next.pending_in);
    }
    // An approval answers the request; it never turns into a pre-approval.
    CHECK_FALSE(apply_outbound(named("None + Pending In"), subscribed).next.approved);
}

TEST_CASE("subscriptions: subscription names and presence types") {
    CHECK(std::string(subscription_name(subscription::none)) == "none");
    CHECK(std::string(subscription_name(subscription::to)) == "to");
    CHECK(std::string(subscription_name(subscription::from)) == "from");
    CHECK(std::string(subscription_name(subscription::both)) == "both");

    presence_type t = presence_type::subscribe;
    CHECK(parse_presence_type("subscribed", t));
    CHECK(t == presence_type::subscribed);
    CHECK(parse_presence_type("unsubscribe", t));
    CHECK(t == presence_type::unsubscribe);
    CHECK(parse_presence_type("unsubscribed", t));
    CHECK(t == presence_type::unsubscribed);
    CHECK(parse_presence_type("subscribe", t));
    CHECK(t == presence_type::subscribe);

    // Not subscription types: left untouched.
    for (std::string_view other : {"", "probe", "unavailable", "error", "Subscribe", "subscribe ", "subscribes"}) {
        INFO(std::string(other));
        presence_type u = presence_type::unsubscribed;
        CHECK_FALSE(parse_presence_type(other, u));
        CHECK(u == presence_type::unsubscribed);
    }
}
