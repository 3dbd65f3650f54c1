// XEP-0163 §4.3: which of a contact's (or the account's own) resources want an account's PEP nodes, learned from
// the caps their presence announces (XEP-0115), and the last items they get once that is known.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/namespaces.hpp"
#include "protocol/privacy_list.hpp"
#include "protocol/scram.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "server/pubsub/pubsub_job.hpp"

namespace hush {

using namespace pubsub_detail;

boost::asio::awaitable<void> pubsub_engine::presence_seen(const jid& account, const jid& from, const stanza& presence,
                                                          outgoing& out) {
    if (!options_.enabled || caps_ == nullptr || from.is_bare()) {
        co_return;
    }
    if (presence.type() == "unavailable") {
        // Gone for this account (a directed unavailable is not gone for everyone); for the server once no account
        // sees it any more. A session's end forgets it outright (forget()).
        bool nobody = true;  // no record (never seen, or evicted): nobody is known to see it
        {
            std::lock_guard lock(mutex_);
            if (auto it = seen_.find(from.full_string()); it != seen_.end()) {
                it->second.erase(account.bare_string());
                nobody = it->second.empty();
            }
        }
        if (nobody) {
            forget(from);
        }
        co_return;
    }
    if (!presence.type().empty() || presence.child("x", "http://jabber.org/protocol/muc#user")) {
        co_return;  // a room's occupant: its client is reachable only through the room
    }
    const auto announced = caps_->announce(from, presence);
    const std::string ver = announced ? announced->node + "#" + announced->ver : std::string();
    const std::string key = account.bare_string() + " " + from.full_string();
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        auto known = seen_.find(from.full_string());
        if (known != seen_.end()) {
            const auto before = known->second.find(account.bare_string());
            if (before != known->second.end() && before->second == ver) {
                co_return;  // a new status, the same client: its last items went already (or are on their way)
            }
        }
        const bool ask = caps_->features(from) == nullptr && announced;
        if (ask) {
            if (asked_.size() >= max_tracked / 10) {
                std::erase_if(asked_, [&](const auto& e) { return now - e.second.when >= ask_timeout; });
            }
            if (asked_.size() >= max_tracked) {
                co_return;  // full of live queries: not recorded as seen, so a later presence asks again
            }
            asked_[key] = asked{ver, now};
        }
        if (known == seen_.end()) {
            if (seen_.size() >= max_tracked) {
                seen_.erase(seen_.begin());
            }
            known = seen_.emplace(from.full_string(), std::map<std::string, std::string>{}).first;
        }
        known->second[account.bare_string()] = ver;
    }
    if (caps_->features(from) != nullptr) {
        co_await last_items(account, from, out);
        co_return;
    }
    if (!announced) {
        co_return;  // no caps: a client that says nothing wants nothing
    }
    // Asked by the account's PEP service, from its bare JID, as XEP-0163 services do (a client that answers disco
    // only to its contacts answers this).
    stanza query = stanza::make("iq");
    query.set_attribute("type", "get");
    query.set_attribute("id", "disco");
    query.set_attribute("from", account.bare_string());
    query.set_attribute("to", from.full_string());
    auto q = query.element().append_child("query");
    q.append_attribute("xmlns").set_value(std::string(ns::disco_info).c_str());
    q.append_attribute("node").set_value(ver.c_str());
    out.route(std::move(query));
}

void pubsub_engine::forget(const jid& full) {
    if (caps_ == nullptr) {
        return;
    }
    caps_->forget(full);
    std::lock_guard lock(mutex_);
    seen_.erase(full.full_string());
}

std::unique_ptr<pubsub_engine::caps_reply> pubsub_engine::take_caps_answer(const stanza& iq, const jid& from,
                                                                           const jid& to) {
    if (caps_ == nullptr || (iq.type() != "result" && iq.type() != "error") || !to.is_bare() || from.is_bare()) {
        return nullptr;
    }
    std::lock_guard lock(mutex_);
    const auto it = asked_.find(to.bare_string() + " " + from.full_string());
    if (it == asked_.end() || std::chrono::steady_clock::now() - it->second.when >= ask_timeout) {
        return nullptr;
    }
    // The answer names what it answers: one about other caps (announced since) is not this query's.
    const auto query = iq.child("query", ns::disco_info);
    if (iq.type() == "result" && query && query.attribute("node") &&
        std::string_view(query.attribute("node").value()) != it->second.node_ver) {
        return nullptr;
    }
    auto reply = std::make_unique<caps_reply>(caps_reply{to.bare(), from, it->second.node_ver, iq});
    asked_.erase(it);
    return reply;
}

boost::asio::awaitable<void> pubsub_engine::caps_answered(const caps_reply& answer, outgoing& out) {
    if (answer.iq.type() != "result" || !caps_->learn(answer.from, answer.iq)) {
        spdlog::debug("pubsub: {} did not say what it wants ({})", answer.from.full_string(), answer.node_ver);
        co_return;
    }
    // What asked learns it: the account's last items go to the resource now (other accounts that asked get theirs
    // with their own answers; later presences find the caps known).
    co_await last_items(answer.account, answer.from, out);
}

boost::asio::awaitable<void> pubsub_engine::last_items(const jid& account, const jid& to, outgoing& out) {
    const auto features = caps_->features(to);
    if (features == nullptr) {
        co_return;
    }
    auto wants = [&](const std::string& node) {
        return std::binary_search(features->begin(), features->end(), node + "+notify");
    };
    if (std::none_of(features->begin(), features->end(), [](const std::string& f) { return f.ends_with("+notify"); })) {
        co_return;  // nothing to read for a client that wants no notification
    }
    const pubsub_host host = host_for(account);
    const std::size_t limit = options_.max_items_per_node;
    auto found = co_await store_.read([&](storage::store& s) -> storage::result<std::vector<pending_event>> {
        std::vector<pending_event> events;
        if (!to.equals_bare(account)) {
            auto blocked = s.get_blocklist(account.domain(), account.node());
            if (!blocked) {
                return hush::unexpected(blocked.error());
            }
            if (privacy::is_blocked(*blocked, to)) {
                return events;  // XEP-0191 §3.4: nothing goes to what the account blocks
            }
        }
        auto nodes = s.list_pubsub_nodes(host.key);
        if (!nodes) {
            return hush::unexpected(nodes.error());
        }
        for (const auto& record : *nodes) {
            if (!wants(record.node)) {
                continue;
            }
            auto n = load_node(s, host.key, record.node, false, limit);
            if (!n) {
                return hush::unexpected(n.error());
            }
            if (!*n || (*n)->config.send_last_published_item != pubsub::send_last::on_sub_and_presence ||
                !(*n)->config.deliver_notifications) {
                continue;
            }
            auto a = affiliation_of(s, host.key, true, **n, to, false);
            if (!a) {
                return hush::unexpected(a.error());
            }
            // A whitelist node is the account's own (and its members'); the rest by the access model.
            auto allowed = access_of(s, **n, host.account, *a, to);
            if (!allowed) {
                return hush::unexpected(allowed.error());
            }
            if (*allowed != access::allowed) {
                continue;
            }
            auto last = s.get_pubsub_items(host.key, record.node, {}, 1);
            if (!last) {
                return hush::unexpected(last.error());
            }
            if (last->empty()) {
                continue;
            }
            const auto& item = last->front();
            const std::string publisher = publisher_of(item, **n, true);
            events.push_back(pending_event{event_kind::items,
                                           pubsub_delivery{record.node, (*n)->config, {}, {}, {}, true},
                                           {{item.id, publisher, item.payload}},
                                           {}});
        }
        return events;
    });
    if (!found) {
        spdlog::error("pubsub: last items of {} for {}: {}", account.bare_string(), to.full_string(),
                      found.error().message);
        co_return;
    }
    for (const auto& e : *found) {
        stanza m = pubsub::event_message(account.bare_string(), to.full_string(), e.to.config.notification_type);
        m.set_attribute("id", sasl::random_hex(8));
        pubsub::append_items_event(m, e.to.node, e.items, e.to.config.deliver_payloads);
        out.route(std::move(m));
    }
}

}  // namespace hush
