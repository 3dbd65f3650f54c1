#include "server/im/presence_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/mam.hpp"
#include "protocol/namespaces.hpp"

namespace hush {

namespace {

using storage::subscription;

bool has_from(subscription s) { return s == subscription::from || s == subscription::both; }
bool has_to(subscription s) { return s == subscription::to || s == subscription::both; }

stanza addressed(const stanza& original, const std::string& from, const std::string& to) {
    stanza copy = original.clone();
    copy.set_attribute("from", from);
    copy.set_attribute("to", to);
    return copy;
}

// A resource's stored presence (serialized: see bound_resource), addressed anew.
stanza stored_addressed(const std::string& stored, const std::string& from, const std::string& to) {
    stanza copy = stanza::parse(stored);
    if (copy.valid()) {
        copy.set_attribute("from", from);
        copy.set_attribute("to", to);
    }
    return copy;
}

stanza simple_presence(std::string_view type, const std::string& from, const std::string& to) {
    stanza p = stanza::make("presence");
    if (!type.empty()) {
        p.set_attribute("type", type);
    }
    p.set_attribute("from", from);
    p.set_attribute("to", to);
    return p;
}

}  // namespace

// ---- presence of the account's own resources ---------------------------------------------------------------------

boost::asio::awaitable<void> presence_service::own_presence(const jid& full, const stanza& presence, outgoing& out) {
    bool was_available = false;
    for (const auto& r : ctx_.registry.resources(full.bare())) {
        if (r.full.resource() == full.resource()) {
            was_available = r.available;
        }
    }
    stanza clean = presence.clone();
    clean.remove_attribute("to");
    clean.set_attribute("from", full.full_string());
    if (presence.type().empty()) {
        ctx_.registry.set_presence(full, true, presence_priority(presence), share(clean.serialize()));
        co_await broadcast(full, clean, true, out);
        if (!was_available) {
            co_await initial_presence_extras(full, out);
        }
        co_return;
    }
    if (presence.type() == "unavailable") {
        ctx_.registry.set_presence(full, false, 0);
        if (was_available) {
            co_await broadcast(full, clean, true, out);
            // The session stays bound; it only is no longer available.
            out.to_resource(full, addressed(clean, full.full_string(), full.full_string()));
        }
    }
    // Other types without 'to' (errors, probes) mean nothing from a client.
}

boost::asio::awaitable<void> presence_service::broadcast(const jid& full, const stanza& presence, bool to_subscribers,
                                                         outgoing& out) {
    if (to_subscribers) {
        for (const auto& item : co_await roster_.roster(full.bare())) {
            if (!has_from(item.sub)) {
                continue;
            }
            // Broadcasts are made by the server, so the blocklist and presence-out lists are applied here.
            const auto contact = jid::parse(item.contact);
            if (contact && co_await privacy_.allows(full, *contact, privacy::stanza_class::presence_out)) {
                out.route(addressed(presence, full.full_string(), item.contact));
            }
        }
    }
    // RFC 6121 §4.2.2 and §4.5.2: every available resource of the account, the sender included.
    for (const auto& r : ctx_.registry.resources(full.bare())) {
        if (r.available) {
            out.to_resource(r.full, addressed(presence, full.full_string(), r.full.full_string()));
        }
    }
}

boost::asio::awaitable<void> presence_service::initial_presence_extras(const jid& full, outgoing& out) {
    if (!ctx_.registry.find(full)) {
        co_return;
    }
    // Probes to the contacts whose presence we may see (RFC 6121 §4.3.1); the answers come back to the bare JID.
    for (const auto& item : co_await roster_.roster(full.bare())) {
        if (has_to(item.sub)) {
            out.route(simple_presence("probe", full.bare_string(), item.contact));
        }
    }
    // The account's other available resources (§4.2.2 step 4).
    for (const auto& r : ctx_.registry.resources(full.bare())) {
        if (r.available && r.full.resource() != full.resource() && r.presence) {
            out.to_resource(full, stored_addressed(*r.presence, r.full.full_string(), full.full_string()));
        }
    }
    // Subscription requests that arrived while no resource could answer them (§3.1.3).
    auto requests_query = [d = full.domain(), u = full.node()](storage::store& s) {
        return s.get_subscription_requests(d, u);
    };
    auto requests = co_await ctx_.store.read(std::move(requests_query));
    if (requests) {
        for (const auto& request : *requests) {
            stanza stored = stanza::parse(request.stanza);
            if (stored.valid()) {
                out.to_resource(full, std::move(stored));
            }
        }
    } else {
        spdlog::error("presence: cannot read subscription requests of {}: {}", full.bare_string(),
                      requests.error().message);
    }
    // Offline messages (XEP-0160), stamped with when they were stored (XEP-0203); deleted once queued.
    auto offline_query = [d = full.domain(), u = full.node()](storage::store& s) {
        return s.get_offline_messages(d, u);
    };
    auto messages = co_await ctx_.store.read(std::move(offline_query));
    if (!messages) {
        spdlog::error("offline: cannot read messages of {}: {}", full.bare_string(), messages.error().message);
        co_return;
    }
    if (messages->empty()) {
        co_return;
    }
    std::vector<std::int64_t> ids;
    for (const auto& m : *messages) {
        stanza s = stanza::parse(m.stanza);
        if (!s.valid()) {
            spdlog::error("offline: stored message {} of {} is not XML; dropped", m.id, full.bare_string());
            ids.push_back(m.id);
            continue;
        }
        if (m.from_archive && m.archive_id) {
            // The archive item is the message as it was before it got its stanza-id: the copy stored offline had
            // it added, so the flood sends the same stanza whichever copy it read.
            mam::add_stanza_id(s, full.bare_string(), std::to_string(*m.archive_id));
            spdlog::debug("offline: message {} of {} read from archive item {}", m.id, full.bare_string(),
                          *m.archive_id);
        }
        // XEP-0203: one stamp of ours; a message that already carries one (sent to a session that never
        // acknowledged it, then stored) keeps that earlier time.
        if (std::string_view(s.child("delay", ns::delay).attribute("from").value()) != full.domain()) {
            auto delay = s.element().append_child("delay");
            delay.append_attribute("xmlns").set_value(ns::delay.data());
            delay.append_attribute("from").set_value(full.domain().c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp(m.stored_at).c_str());
            delay.append_child(pugi::node_pcdata).set_value("Offline Storage");
        }
        out.to_resource(full, std::move(s));
        ids.push_back(m.id);
    }
    auto delete_query = [d = full.domain(), u = full.node(), ids](storage::store& s) {
        return s.delete_offline_messages(d, u, ids);
    };
    auto deleted = co_await ctx_.store.run(std::move(delete_query));
    if (!deleted) {
        spdlog::error("offline: cannot delete delivered messages of {}: {}", full.bare_string(),
                      deleted.error().message);
    }
}

boost::asio::awaitable<void> presence_service::session_ended(const jid& full, bool was_available,
                                                             const std::set<std::string>& directed,
                                                             const std::string& status, outgoing& out) {
    if (was_available) {
        const stanza unavailable = simple_presence("unavailable", full.full_string(), full.bare_string());
        co_await broadcast(full, unavailable, true, out);
    }
    // Directed presence is ended whether or not the session ever sent initial presence (a client may join a room
    // without it): the room must not keep a ghost occupant.
    for (const auto& to : directed) {
        out.route(simple_presence("unavailable", full.full_string(), to));
    }
    bool others_available = false;
    for (const auto& r : ctx_.registry.resources(full.bare())) {
        others_available = others_available || r.available;
    }
    if (!others_available) {
        storage::last_activity activity{unix_now(), status};
        auto query = [d = full.domain(), u = full.node(), activity](storage::store& s) {
            return s.set_last_activity(d, u, activity);
        };
        auto saved = co_await ctx_.store.run(std::move(query));
        if (!saved) {
            spdlog::warn("presence: cannot record last activity of {}: {}", full.bare_string(), saved.error().message);
        } else {
            spdlog::debug("presence: last activity of {} recorded", full.bare_string());
        }
    }
}

// ---- subscriptions --------------------------------------------------------------------------------------------------

boost::asio::awaitable<bool> presence_service::has_pending_request(const jid& user, const jid& contact) {
    auto query = [d = user.domain(), u = user.node()](storage::store& s) { return s.get_subscription_requests(d, u); };
    auto requests = co_await ctx_.store.read(std::move(query));
    if (!requests) {
        co_return false;
    }
    const auto from = contact.bare_string();
    co_return std::any_of(requests->begin(), requests->end(), [&](const auto& r) { return r.from == from; });
}

boost::asio::awaitable<std::pair<std::optional<storage::roster_item>, subscriptions::state>>
presence_service::load_state(const jid& user, const jid& contact) {
    auto item = co_await roster_.item(user, contact);
    subscriptions::state current;
    if (item) {
        current = {item->sub, item->pending_out, false, item->approved};
    }
    // Pending-in lives in the stored request, never as an item flag: a bare request makes no roster item.
    current.pending_in = co_await has_pending_request(user, contact);
    co_return std::make_pair(std::move(item), current);
}

boost::asio::awaitable<void> presence_service::save_state(const jid& user, const jid& contact,
                                                          const std::optional<storage::roster_item>& item,
                                                          const subscriptions::state& next_state, outgoing& out) {
    storage::roster_item next = item.value_or(storage::roster_item{});
    next.contact = contact.bare_string();
    next.sub = next_state.sub;
    next.pending_out = next_state.pending_out;
    next.approved = next_state.approved;
    next.pending_in = false;
    co_await roster_.save(user, std::move(next), out);
}

boost::asio::awaitable<void> presence_service::outbound_subscription(stanza s, const jid& user, const jid& contact,
                                                                     subscriptions::presence_type type,
                                                                     outgoing& out) {
    using subscriptions::presence_type;
    auto [item, current] = co_await load_state(user, contact);
    const auto result = subscriptions::apply_outbound(current, type);
    // As inbound: only a real relationship makes a roster item. Declining a stranger's request changes only
    // pending-in, which lives in the stored request (deleted below), so the stranger never lands on the roster.
    if (result.changed &&
        (item || result.next.sub != subscription::none || result.next.pending_out || result.next.approved)) {
        co_await save_state(user, contact, item, result.next, out);
    }
    if (type == presence_type::subscribed || type == presence_type::unsubscribed) {
        auto query = [d = user.domain(), u = user.node(), c = contact.bare_string()](storage::store& st) {
            return st.delete_subscription_request(d, u, c);
        };
        (void)co_await ctx_.store.run(std::move(query));
    }
    if (!result.route) {
        co_return;
    }
    // Subscription stanzas travel between bare JIDs (RFC 6121 §3.1.2).
    s.set_attribute("from", user.bare_string());
    s.set_attribute("to", contact.bare_string());
    out.route(std::move(s));
    if (type == presence_type::subscribed) {
        co_await send_current_presence(user, contact, out);  // §3.1.5
    } else if (type == presence_type::unsubscribed) {
        for (const auto& r : ctx_.registry.resources(user.bare())) {
            if (r.available) {
                out.route(simple_presence("unavailable", r.full.full_string(), contact.bare_string()));
            }
        }
    }
}

boost::asio::awaitable<void> presence_service::inbound_subscription(const stanza& s, const jid& user,
                                                                    const jid& contact,
                                                                    subscriptions::presence_type type,
                                                                    outgoing& out) {
    using subscriptions::presence_type;
    auto [item, current] = co_await load_state(user, contact);
    const auto result = subscriptions::apply_inbound(current, type);
    // Only a real relationship makes a roster item: a bare pending-in is the stored request (§3.1.3).
    if (result.changed && (item || result.next.sub != subscription::none || result.next.pending_out)) {
        co_await save_state(user, contact, item, result.next, out);
    }
    stanza clean = s.clone();
    clean.set_attribute("from", contact.bare_string());
    clean.set_attribute("to", user.bare_string());
    if (result.auto_subscribed) {
        out.route(simple_presence("subscribed", user.bare_string(), contact.bare_string()));
        co_await send_current_presence(user, contact, out);
        co_return;
    }
    if (type == presence_type::subscribe) {
        if (result.deliver) {
            // Kept until answered, and redelivered at each login until then (§3.1.3).
            storage::subscription_request request{contact.bare_string(), clean.serialize(), unix_now()};
            auto query = [d = user.domain(), u = user.node(), request](storage::store& st) {
                return st.put_subscription_request(d, u, request);
            };
            auto stored = co_await ctx_.store.run(std::move(query));
            if (!stored) {
                spdlog::error("presence: cannot store the subscription request from {} to {}: {}",
                              contact.bare_string(), user.bare_string(), stored.error().message);
            }
            deliver_to_available(user, clean, true, out);
        }
        co_return;
    }
    if (type == presence_type::unsubscribe || type == presence_type::unsubscribed) {
        auto query = [d = user.domain(), u = user.node(), c = contact.bare_string()](storage::store& st) {
            return st.delete_subscription_request(d, u, c);
        };
        (void)co_await ctx_.store.run(std::move(query));
    }
    if (result.deliver) {
        deliver_to_available(user, clean, false, out);
    }
    if (result.auto_unsubscribed) {
        // RFC 6121 table 7 note [1]: confirm the contact's unsubscribe on the user's behalf.
        out.route(simple_presence("unsubscribed", user.bare_string(), contact.bare_string()));
    }
    if (type == presence_type::unsubscribe && result.changed) {
        // The contact no longer receives our presence (§3.3.3).
        for (const auto& r : ctx_.registry.resources(user.bare())) {
            if (r.available) {
                out.route(simple_presence("unavailable", r.full.full_string(), contact.bare_string()));
            }
        }
    }
}

boost::asio::awaitable<void> presence_service::answer_probe(const jid& user, const jid& prober, outgoing& out) {
    auto item = co_await roster_.item(user, prober.bare());
    if (!item || !has_from(item->sub)) {
        co_return;  // not subscribed to us: nothing to say (§4.3.2)
    }
    bool any = false;
    for (const auto& r : ctx_.registry.resources(user.bare())) {
        if (r.available && r.presence && co_await privacy_.allows(r.full, prober, privacy::stanza_class::presence_out)) {
            any = true;
            out.route(stored_addressed(*r.presence, r.full.full_string(), prober.full_string()));
        }
    }
    if (!any) {
        out.route(simple_presence("unavailable", user.bare_string(), prober.full_string()));
    }
}

boost::asio::awaitable<void> presence_service::send_current_presence_if_subscribed(const jid& user, const jid& to,
                                                                                 outgoing& out) {
    auto item = co_await roster_.item(user.bare(), to.bare());
    if (item && has_from(item->sub)) {
        co_await send_current_presence(user, to, out);
    }
}

boost::asio::awaitable<void> presence_service::send_current_presence(const jid& user, const jid& to, outgoing& out) {
    for (const auto& r : ctx_.registry.resources(user.bare())) {
        if (r.available && r.presence && co_await privacy_.allows(r.full, to, privacy::stanza_class::presence_out)) {
            out.route(stored_addressed(*r.presence, r.full.full_string(), to.bare_string()));
        }
    }
}

void presence_service::deliver_to_available(const jid& user, const stanza& s, bool interested_only, outgoing& out) {
    for (const auto& r : ctx_.registry.resources(user.bare())) {
        if (r.available && (!interested_only || r.interested)) {
            out.to_resource(r.full, s.clone());
        }
    }
}

boost::asio::awaitable<bool> presence_service::store_offline(const jid& user, const stanza& message,
                                                            std::optional<std::int64_t> archive_id) {
    auto query = [d = user.domain(), u = user.node(), xml = message.serialize(), quota = ctx_.offline_quota,
                  now = unix_now(), archive_id](storage::store& s) {
        return s.store_offline_message(d, u, xml, now, quota, archive_id);
    };
    auto stored = co_await ctx_.store.run(std::move(query));
    if (!stored) {
        spdlog::error("offline: cannot store a message for {}: {}", user.bare_string(), stored.error().message);
        co_return false;
    }
    co_return *stored;
}

}  // namespace hush
