#include "server/sm/unacknowledged.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "protocol/xep0082.hpp"
#include "server/stream/supervised.hpp"

namespace hush::sm {

namespace {

// A message a person wrote to this account (not a copy of one another resource got, not a room's, not an error).
bool worth_rerouting(const stanza& s) {
    if (s.kind() != stanza_kind::message) {
        return false;
    }
    const std::string_view type = s.type();
    if (type == "error" || type == "groupchat") {
        return false;
    }
    if (s.child("received", "urn:xmpp:carbons:2") || s.child("sent", "urn:xmpp:carbons:2")) {
        return false;  // the resource it was for, or the sender's, has it
    }
    return bool(s.element().child("body"));
}

}  // namespace

boost::asio::awaitable<std::size_t> reroute_unacknowledged(router& routes, const jid& full,
                                                           std::deque<unacked_stanza> unacked) {
    std::size_t rerouted = 0;
    for (auto& u : unacked) {
        stanza s = stanza::parse(*u.bytes);
        if (!s.valid() || !worth_rerouting(s)) {
            continue;
        }
        const auto from = jid::parse(s.from());
        if (!from) {
            continue;
        }
        // To the account: its other available resources, else offline storage. Unfiltered: the anti-SPIM layer
        // judged it on its way in, and its sender must not be counted twice.
        s.set_attribute("to", full.bare_string());
        // XEP-0203: when it first reached the session, so a client shows it at its time, not at the rerouting's
        // (offline storage keeps a stamp it finds).
        if (!s.child("delay", "urn:xmpp:delay")) {
            auto delay = s.element().append_child("delay");
            delay.append_attribute("xmlns").set_value("urn:xmpp:delay");
            delay.append_attribute("from").set_value(full.domain().c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp(u.queued_at).c_str());
        }
        co_await routes.send_unfiltered(std::move(s));
        ++rerouted;
    }
    if (rerouted > 0) {
        spdlog::info("sm {}: {} unacknowledged message(s) routed to the account again", full.full_string(), rerouted);
    }
    co_return rerouted;
}

void reroute_later(const boost::asio::any_io_executor& executor, router& routes, const jid& full,
                   std::deque<unacked_stanza> unacked) {
    // Posted, never run inline: the caller is in the middle of handling a delivery, and what it reroutes must not
    // come back to it before it is done.
    boost::asio::post(executor, [executor, &routes, full, unacked = std::move(unacked)]() mutable {
        spawn_supervised(executor, "sm: rerouting unacknowledged stanzas of " + full.full_string(),
                         [&routes, full, unacked = std::move(unacked)]() mutable -> boost::asio::awaitable<void> {
                             co_await reroute_unacknowledged(routes, full, std::move(unacked));
                         });
    });
}

}  // namespace hush::sm
