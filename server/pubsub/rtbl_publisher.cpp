#include "server/pubsub/rtbl_publisher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "antispim/blocklist.hpp"
#include "protocol/jid.hpp"
#include "protocol/xep0082.hpp"
#include "server/pubsub/node_access.hpp"

namespace hush {

namespace asio = boost::asio;

namespace rtbl_publication {

wanted_items wanted(const std::vector<storage::blocklist_entry>& published, std::int64_t now) {
    wanted_items w;
    for (const auto node : nodes) {
        w.ids[std::string(node)];
    }
    for (const auto& e : published) {
        if (e.trust != "block" || (e.expires_at != 0 && e.expires_at <= now)) {
            continue;  // an RTBL item blocks wherever it lands; an expired entry is no longer listed
        }
        if (e.kind == "domain") {
            w.ids["spam_source_domains"].insert(e.value);
        } else if (e.kind == "jid-sha256") {
            w.ids["spam_source_jids_sha256"].insert(e.value);
        } else if (e.kind == "jid") {
            const auto j = jid::parse(e.value);
            if (!j) {
                continue;
            }
            w.ids["spam_source_jids_sha256"].insert(antispim::jid_sha256(*j));  // never in clear on the nodes
        } else if (e.kind == "ip") {
            w.ids["spam_source_ips"].insert(e.value);
        } else {
            continue;
        }
        if (e.expires_at != 0 && (w.next_expiry == 0 || e.expires_at < w.next_expiry)) {
            w.next_expiry = e.expires_at;
        }
    }
    return w;
}

changes diff(const std::set<std::string>& wanted, const std::vector<std::string>& present) {
    changes c;
    const std::set<std::string> have(present.begin(), present.end());
    std::set_difference(wanted.begin(), wanted.end(), have.begin(), have.end(), std::back_inserter(c.publish));
    std::set_difference(have.begin(), have.end(), wanted.begin(), wanted.end(), std::back_inserter(c.retract));
    return c;
}

pubsub::node_config node_configuration(std::string_view node) {
    pubsub::node_config c;
    c.title = "Real-time blocklist: " + std::string(node);
    c.type = "urn:xmpp:reporting:1";
    c.access = pubsub::access_model::open;
    c.publish = pubsub::publish_model::publishers;
    c.max_items = pubsub_detail::own_node_max_items;
    c.persist_items = true;
    c.deliver_notifications = true;
    c.deliver_payloads = true;
    c.notify_retract = true;
    c.send_last_published_item = pubsub::send_last::never;
    return c;
}

}  // namespace rtbl_publication

rtbl_publisher::rtbl_publisher(pubsub_engine& engine, entries_source published, generation_source generation,
                               deliverer deliver)
    : engine_(engine),
      published_(std::move(published)),
      generation_(std::move(generation)),
      deliver_(std::move(deliver)) {}

asio::awaitable<bool> rtbl_publisher::sync() {
    namespace rp = rtbl_publication;
    if (!nodes_ready_) {
        bool ready = true;
        for (const auto node : rp::nodes) {
            ready = co_await engine_.ensure_own_node(std::string(node), rp::node_configuration(node)) && ready;
        }
        if (!ready) {
            co_return false;
        }
        nodes_ready_ = true;
    }
    const auto want = rp::wanted(published_(), unix_now());
    next_expiry_ = want.next_expiry;
    bool ok = true;
    for (const auto& [node, ids] : want.ids) {
        const auto present = co_await engine_.own_item_ids(node);
        if (!present) {
            ok = false;
            continue;
        }
        const auto todo = rp::diff(ids, *present);
        if (todo.empty()) {
            continue;
        }
        // One item at a time, each notified as it lands: a subscriber never misses one that failed later.
        for (const auto& id : todo.publish) {
            outgoing out;
            ok = co_await engine_.publish_own(node, id, std::string(rp::report_payload), out) && ok;
            co_await deliver_(std::move(out));
        }
        for (const auto& id : todo.retract) {
            outgoing out;
            ok = co_await engine_.retract_own(node, id, out) && ok;
            co_await deliver_(std::move(out));
        }
        spdlog::info("pubsub: rtbl {} on {}: {} published, {} retracted, {} item(s)", node,
                     engine_.service_domain(), todo.publish.size(), todo.retract.size(), ids.size());
    }
    if (!ok) {
        nodes_ready_ = false;  // a node deleted meanwhile (by an admin) is made again on the next pass
    }
    co_return ok;
}

asio::awaitable<void> rtbl_publisher::run(const std::atomic<bool>& stopping) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!stopping) {
        // Read before the pass: a change made while it runs moves the generation again, and is picked up next.
        const std::uint64_t seen = generation_();
        const bool ok = co_await sync();
        const auto retry_at = std::chrono::steady_clock::now() + retry_after;
        while (!stopping) {
            timer.expires_after(poll);
            auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                co_return;
            }
            const bool expired = next_expiry_ != 0 && unix_now() >= next_expiry_;
            if (generation_() != seen || expired || (!ok && std::chrono::steady_clock::now() >= retry_at)) {
                break;
            }
        }
    }
}

}  // namespace hush
