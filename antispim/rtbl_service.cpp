#include "antispim/rtbl_service.hpp"

#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "antispim/blocklist.hpp"
#include "protocol/jid.hpp"

namespace hush {

namespace asio = boost::asio;

namespace {

std::string kind_of(const std::string& node) {
    return node == "spam_source_domains" ? "domain" : node == "spam_source_jids_sha256" ? "jid-sha256" : "ip";
}

}  // namespace

rtbl_service::rtbl_service(const antispim_config& cfg, std::string self, blocklist_service& blocklist)
    : cfg_(cfg), blocklist_(blocklist), self_(std::move(self)) {}

std::optional<storage::blocklist_entry> rtbl_service::entry_for(const antispim_config::rtbl_source& source,
                                                                const std::string& node, const std::string& item_id,
                                                                std::int64_t now) {
    const std::string kind = kind_of(node);
    auto value = antispim::normalize_blocklist_value(kind, item_id);
    if (!value) {
        return std::nullopt;
    }
    storage::blocklist_entry e;
    e.kind = kind;
    e.value = *value;
    e.reason = "listed by the real-time blocklist " + source.service + " (" + node + ")";
    e.source = "rtbl:" + source.service + "/" + node;
    e.added_at = now;
    e.trust = source.trust;
    return e;
}

asio::awaitable<void> rtbl_service::follow(std::size_t index, const std::atomic<bool>& stopping,
                                           stanza_sink& pipeline) {
    const auto& source = cfg_.rtbls[index];
    asio::steady_timer pause(co_await asio::this_coro::executor);
    bool subscribed = false;
    while (!stopping) {
        for (const auto& node : source.nodes) {
            if (!subscribed) {
                co_await request(index, node, false, pipeline);
            }
            co_await request(index, node, true, pipeline);
        }
        subscribed = true;  // a subscription lasts; the resync only catches what a lost push missed
        pause.expires_after(source.resync);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> rtbl_service::request(std::size_t index, const std::string& node, bool fetch,
                                            stanza_sink& pipeline) {
    const auto& source = cfg_.rtbls[index];
    std::string id;
    {
        std::lock_guard lock(mutex_);
        id = "rtbl-" + std::to_string(++next_id_);
        pending_[id] = pending{index, node, fetch};
        if (pending_.size() > 1000) {
            pending_.erase(pending_.begin());  // a service that never answers must not grow this
        }
    }
    stanza iq = stanza::make("iq");
    iq.set_attribute("type", fetch ? "get" : "set");
    iq.set_attribute("id", id);
    iq.set_attribute("from", self_);
    iq.set_attribute("to", source.service);
    auto ps = iq.element().append_child("pubsub");
    ps.append_attribute("xmlns").set_value(std::string(pubsub_ns).c_str());
    if (fetch) {
        ps.append_child("items").append_attribute("node").set_value(node.c_str());
    } else {
        auto sub = ps.append_child("subscribe");
        sub.append_attribute("node").set_value(node.c_str());
        sub.append_attribute("jid").set_value(self_.c_str());
    }
    co_await pipeline.send_unfiltered(std::move(iq));
}

std::optional<std::size_t> rtbl_service::source_of(std::string_view from) const {
    const auto sender = jid::parse(from);
    if (!sender) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < cfg_.rtbls.size(); ++i) {
        if (sender->bare_string() == cfg_.rtbls[i].service) {
            return i;
        }
    }
    return std::nullopt;
}

void rtbl_service::publish(std::size_t index, const std::string& node) {
    std::vector<storage::blocklist_entry> entries;
    for (const auto& [id, entry] : items_[{index, node}]) {
        entries.push_back(entry);
    }
    const auto& source = cfg_.rtbls[index];
    spdlog::info("antispim: rtbl {} {}: {} entr{} (trust: {})", source.service, node, entries.size(),
                 entries.size() == 1 ? "y" : "ies", source.trust);
    blocklist_.set_imported("rtbl:" + source.service + "/" + node, std::move(entries));
}

asio::awaitable<bool> rtbl_service::handle(const stanza& s) {
    const auto index = source_of(s.from());
    if (!index) {
        co_return false;
    }
    const auto& source = cfg_.rtbls[*index];
    const auto now = unix_now();
    if (s.kind() == stanza_kind::iq) {
        std::optional<pending> answered;
        {
            std::lock_guard lock(mutex_);
            if (auto it = pending_.find(std::string(s.id())); it != pending_.end() && it->second.source == *index) {
                answered = it->second;
                pending_.erase(it);
            }
        }
        if (!answered) {
            co_return false;
        }
        if (s.is_error()) {
            spdlog::warn("antispim: rtbl {} refused the {} of {}: {}", source.service,
                         answered->fetch ? "items request" : "subscription", answered->node, s.serialize());
            co_return true;
        }
        if (!answered->fetch) {
            spdlog::info("antispim: rtbl subscribed to {} {}", source.service, answered->node);
            co_return true;
        }
        std::map<std::string, storage::blocklist_entry> fresh;
        for (auto item : s.child("pubsub", pubsub_ns).child("items").children("item")) {
            if (auto e = entry_for(source, answered->node, item.attribute("id").value(), now)) {
                fresh.emplace(item.attribute("id").value(), std::move(*e));
            }
        }
        std::lock_guard lock(mutex_);
        items_[{*index, answered->node}] = std::move(fresh);
        publish(*index, answered->node);
        co_return true;
    }
    // A push: <message><event xmlns='…#event'><items node='…'><item id='…'/><retract id='…'/></items></event>.
    auto event = s.child("event", pubsub_event_ns);
    if (!event) {
        co_return false;
    }
    std::lock_guard lock(mutex_);
    for (auto items : event.children("items")) {
        const std::string node = items.attribute("node").value();
        if (std::find(source.nodes.begin(), source.nodes.end(), node) == source.nodes.end()) {
            continue;
        }
        auto& known = items_[{*index, node}];
        for (auto child : items.children()) {
            const std::string id = child.attribute("id").value();
            if (std::string_view(child.name()) == "item") {
                if (auto e = entry_for(source, node, id, now)) {
                    known.insert_or_assign(id, std::move(*e));
                }
            } else if (std::string_view(child.name()) == "retract") {
                known.erase(id);
            }
        }
        publish(*index, node);
    }
    for (auto purge : event.children("purge")) {
        const std::string node = purge.attribute("node").value();
        if (items_.erase({*index, node}) != 0) {
            publish(*index, node);
        }
    }
    co_return true;
}

}  // namespace hush
