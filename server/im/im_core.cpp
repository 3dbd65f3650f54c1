#include "server/im/im_core.hpp"

#include "server/pubsub/caps_cache.hpp"
#include "server/push/push_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/namespaces.hpp"
#include "server/registration/registration.hpp"

namespace hush {

namespace {

constexpr const char* carbons_ns = "urn:xmpp:carbons:2";
constexpr const char* forward_ns = "urn:xmpp:forward:0";

pugi::xml_node payload_of(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

// Chat states and hints alone are not worth keeping for later (XEP-0160 §3, XEP-0334).
bool worth_storing(const stanza& message) {
    for (auto c : message.element().children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        const std::string_view child_ns = c.attribute("xmlns").value();
        if (child_ns != "http://jabber.org/protocol/chatstates" && child_ns != "urn:xmpp:hints") {
            return true;
        }
    }
    return false;
}

bool skips_carbons(const stanza& message) {
    return message.type() != "chat" || message.child("private", carbons_ns) || message.child("no-copy", "urn:xmpp:hints");
}

stanza carbon(const stanza& message, const char* direction, const jid& account, const jid& to) {
    stanza wrapper = stanza::make("message");
    wrapper.set_attribute("from", account.bare_string());
    wrapper.set_attribute("to", to.full_string());
    wrapper.set_attribute("type", message.type());
    auto dir = wrapper.element().append_child(direction);
    dir.append_attribute("xmlns").set_value(carbons_ns);
    auto forwarded = dir.append_child("forwarded");
    forwarded.append_attribute("xmlns").set_value(forward_ns);
    auto inner = forwarded.append_copy(message.element());
    inner.prepend_attribute("xmlns").set_value(ns::client.data());
    return wrapper;
}

}  // namespace

im_core::im_core(im_context& ctx, registration_service* registration, push_service* push)
    : ctx_(ctx),
      registration_(registration),
      push_(push),
      roster_(ctx),
      // XEP-0191 §3.4: an unblocked contact that may see our presence gets it again.
      privacy_(ctx, roster_,
               [this](const jid& account, const std::vector<std::string>& jids,
                      outgoing& out) -> boost::asio::awaitable<void> {
                   for (const auto& j : jids) {
                       if (auto other = jid::parse(j)) {
                           co_await presence_.send_current_presence_if_subscribed(account, *other, out);
                       }
                   }
               }),
      presence_(ctx, roster_, privacy_) {}

const std::vector<std::string>& im_core::server_features() {
    static const std::vector<std::string> features{carbons_ns, "urn:xmpp:blocking", "jabber:iq:privacy", "msgoffline",
                                                   "urn:xmpp:delay"};
    return features;
}

const std::vector<std::string>& im_core::account_features() {
    static const std::vector<std::string> features{};
    return features;
}

boost::asio::awaitable<hook_result> im_core::outbound(stanza& s, const jid& from, const jid& to, outgoing& out) {
    const stanza_kind kind = s.kind();
    const std::string_view type = s.type();
    if (kind == stanza_kind::presence) {
        subscriptions::presence_type sub_type{};
        if (subscriptions::parse_presence_type(type, sub_type)) {
            // XEP-0191 §3.3: nothing goes out to a blocked JID, subscription stanzas included (and the roster
            // does not change on their account); dropped silently, as directed presence is.
            if (co_await privacy_.blocks(from.bare(), to)) {
                co_return hook_result::consumed;
            }
            co_await presence_.outbound_subscription(s, from.bare(), to.bare(), sub_type, out);
            co_return hook_result::consumed;
        }
        if (!co_await privacy_.allows(from, to, privacy::stanza_class::presence_out)) {
            co_return hook_result::consumed;  // presence-out denied: silently not sent (XEP-0016 §2.13)
        }
        co_return hook_result::proceed;
    }
    if (s.is_error() || type == "result") {
        co_return hook_result::proceed;
    }
    if (co_await privacy_.blocks(from.bare(), to)) {
        // XEP-0191 §3.5: the user tried to talk to someone they blocked.
        stanza reply = make_error_reply(s, "not-acceptable");
        auto blocked = reply.element().child("error").append_child("blocked");
        blocked.append_attribute("xmlns").set_value("urn:xmpp:blocking:errors");
        out.to_resource(from, std::move(reply));
        co_return hook_result::consumed;
    }
    if (kind == stanza_kind::message && !skips_carbons(s)) {
        sent_copies(s, from, out);
    }
    co_return hook_result::proceed;
}

boost::asio::awaitable<hook_result> im_core::inbound(const stanza& s, const jid& from, const jid& to, outgoing& out) {
    const stanza_kind kind = s.kind();
    const std::string_view type = s.type();
    if (kind == stanza_kind::presence) {
        subscriptions::presence_type sub_type{};
        const bool subscription = subscriptions::parse_presence_type(type, sub_type);
        if (subscription || type == "probe") {
            if (!co_await privacy_.allows(to, from, privacy::stanza_class::presence_other)) {
                co_return hook_result::consumed;  // blocked or denied: dropped silently (XEP-0191 §3.4)
            }
            if (subscription) {
                co_await presence_.inbound_subscription(s, to.bare(), from.bare(), sub_type, out);
            } else {
                co_await presence_.answer_probe(to.bare(), from, out);
            }
            co_return hook_result::consumed;
        }
        if (!co_await privacy_.allows(to, from, privacy::stanza_class::presence_in)) {
            co_return hook_result::consumed;
        }
        co_await track_caps(from, s, out);
        co_return hook_result::proceed;
    }
    const auto cls = kind == stanza_kind::message ? privacy::stanza_class::message : privacy::stanza_class::iq;
    if (!co_await privacy_.allows(to, from, cls)) {
        // Blocked or denied: the sender learns nothing more than "not available" (XEP-0191 §3.4, XEP-0016 §2.10).
        if (!s.is_error() && type != "result" && type != "groupchat" && type != "headline") {
            out.route(make_error_reply(s, "service-unavailable"));
        }
        co_return hook_result::consumed;
    }
    co_return hook_result::proceed;
}

boost::asio::awaitable<std::string> im_core::undeliverable(const stanza& s, const jid& to, outgoing& out,
                                                          std::optional<std::int64_t> archive_id) {
    if (!worth_storing(s)) {
        co_return std::string();
    }
    if (co_await presence_.store_offline(to.bare(), s, archive_id)) {
        if (push_ != nullptr) {
            co_await push_->notify(to.bare(), s, out);
        }
        spdlog::debug("offline: a message for {} stored", to.bare_string());
        co_return std::string();
    }
    co_return std::string("resource-constraint");
}

boost::asio::awaitable<void> im_core::waiting_session_message(const stanza& s, const jid& to, outgoing& out) {
    if (push_ != nullptr) {
        co_await push_->notify(to.bare(), s, out);
    }
}

std::optional<push_answer> im_core::take_push_answer(const stanza& iq, const jid& from, const jid& to) {
    if (push_ == nullptr) {
        return std::nullopt;
    }
    return push_->take_answer(iq, from, to);
}

boost::asio::awaitable<void> im_core::push_answered(const push_answer& answer) {
    if (push_ != nullptr) {
        co_await push_->answered(answer);
    }
}

boost::asio::awaitable<std::optional<stanza>> im_core::handle_iq(const stanza& iq, const jid& addressed, outgoing& out) {
    const auto payload = payload_of(iq);
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    if (addressed.has_node() && payload_ns == "jabber:iq:roster") {
        co_return co_await roster_.handle(iq, addressed, out);
    }
    if (addressed.has_node() && payload_ns == "jabber:iq:privacy") {
        co_return co_await privacy_.handle_privacy(iq, addressed, out);
    }
    if (addressed.has_node() && payload_ns == "urn:xmpp:blocking") {
        co_return co_await privacy_.handle_blocking(iq, addressed, out);
    }
    if (payload_ns == carbons_ns && iq.type() == "set") {
        const auto from = jid::parse(iq.from());
        const std::string_view name = payload.name();
        if (!from || (name != "enable" && name != "disable") ||
            (addressed.has_node() && !from->equals_bare(addressed))) {
            co_return make_error_reply(iq, "bad-request");
        }
        ctx_.registry.set_carbons(*from, name == "enable");
        co_return make_iq_result(iq);
    }
    co_return std::nullopt;
}

boost::asio::awaitable<bool> im_core::may_see_presence(const jid& account, const jid& requester) {
    if (requester.equals_bare(account)) {
        co_return true;
    }
    auto item = co_await roster_.item(account.bare(), requester.bare());
    if (!item || (item->sub != storage::subscription::from && item->sub != storage::subscription::both)) {
        co_return false;
    }
    co_return co_await privacy_.allows(account, requester, privacy::stanza_class::presence_out);
}

boost::asio::awaitable<void> im_core::session_presence(const jid& full, const stanza& presence, outgoing& out) {
    co_await presence_.own_presence(full, presence, out);
    co_await track_caps(full, presence, out);
}

boost::asio::awaitable<void> im_core::track_caps(const jid& from, const stanza& presence, outgoing& out) {
    // A room's occupant presence announces the occupant's client, reachable only through the room: not kept.
    if (ctx_.caps == nullptr || presence.child("x", "http://jabber.org/protocol/muc#user")) {
        co_return;
    }
    if (auto query = co_await ctx_.caps->presence(from, presence)) {
        out.route(std::move(*query));
    }
}

boost::asio::awaitable<void> im_core::session_ended(const jid& full, bool was_available,
                                                    const std::set<std::string>& directed, const std::string& status,
                                                    outgoing& out) {
    co_await presence_.session_ended(full, was_available, directed, status, out);
    privacy_.session_ended(full);
    if (ctx_.caps != nullptr) {
        ctx_.caps->forget(full);
    }
}

boost::asio::awaitable<registration_outcome> im_core::account_request(const stanza& iq, const jid& full, outgoing& out) {
    if (registration_ == nullptr) {
        co_return registration_outcome{make_error_reply(iq, "service-unavailable"), false};
    }
    // The roster is read first: once the account is gone, so is its roster (XEP-0077 §3.3).
    std::vector<storage::roster_item> contacts;
    if (iq.type() == "set" && iq.child("query", registration_service::register_ns).child("remove")) {
        contacts = co_await roster_.roster(full.bare());
    }
    auto outcome = co_await registration_->handle_authenticated(iq, full);
    if (outcome.removed) {
        cancel_subscriptions(full.bare(), contacts, out);
    }
    co_return outcome;
}

void im_core::cancel_subscriptions(const jid& account, const std::vector<storage::roster_item>& items, outgoing& out) {
    using storage::subscription;
    for (const auto& item : items) {
        const bool to = item.sub == subscription::to || item.sub == subscription::both || item.pending_out;
        const bool from = item.sub == subscription::from || item.sub == subscription::both;
        for (const auto& [wanted, type] : {std::pair{to, "unsubscribe"}, std::pair{from, "unsubscribed"}}) {
            if (!wanted) {
                continue;
            }
            stanza p = stanza::make("presence");
            p.set_attribute("type", type);
            p.set_attribute("from", account.bare_string());
            p.set_attribute("to", item.contact);
            out.route(std::move(p));
        }
    }
}

void im_core::sent_copies(const stanza& message, const jid& from, outgoing& out) {
    if (!ctx_.registry.any_carbons(from)) {
        return;  // the common case, without copying the account's resources
    }
    for (const auto& r : ctx_.registry.resources(from.bare())) {
        if (r.carbons && r.full.resource() != from.resource()) {
            out.to_resource(r.full, carbon(message, "sent", from, r.full));
        }
    }
}

void im_core::received_copies(const stanza& message, const jid& to, const std::vector<std::string>& delivered_to,
                              outgoing& out) {
    if (!ctx_.registry.any_carbons(to) || skips_carbons(message)) {
        return;
    }
    for (const auto& r : ctx_.registry.resources(to.bare())) {
        if (r.carbons && r.available &&
            std::find(delivered_to.begin(), delivered_to.end(), r.full.resource()) == delivered_to.end()) {
            out.to_resource(r.full, carbon(message, "received", to, r.full));
        }
    }
}

}  // namespace hush
