#include "server/pubsub/caps_cache.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/caps.hpp"
#include "protocol/namespaces.hpp"

namespace hush {

namespace {

const std::shared_ptr<const caps_cache::feature_set>& no_features() {
    static const auto none = std::make_shared<const caps_cache::feature_set>();
    return none;
}

std::shared_ptr<const caps_cache::feature_set> sorted_features(std::vector<std::string> features) {
    std::sort(features.begin(), features.end());
    features.erase(std::unique(features.begin(), features.end()), features.end());
    return std::make_shared<const caps_cache::feature_set>(std::move(features));
}

}  // namespace

caps_cache::caps_cache(std::string self, std::size_t max_entries, std::size_t max_jids)
    : self_(std::move(self)), max_entries_(std::max<std::size_t>(1, max_entries)),
      max_jids_(std::max<std::size_t>(1, max_jids)) {}

void caps_cache::on_known(known_fn fn) {
    std::lock_guard lock(mutex_);
    known_ = std::move(fn);
}

caps_cache::jid_state& caps_cache::record(const jid& full) {
    const std::string& name = full.full_string();
    if (auto it = jids_.find(name); it != jids_.end()) {
        ages_.splice(ages_.end(), ages_, it->second.age);
        return it->second;
    }
    while (jids_.size() >= max_jids_) {
        erase_jid(ages_.front());
    }
    ages_.push_back(name);
    by_bare_[full.bare_string()].insert(name);
    return jids_.emplace(name, jid_state{full, {}, nullptr, false, std::prev(ages_.end())}).first->second;
}

void caps_cache::set_key(jid_state& state, std::string key) {
    if (!state.key.empty()) {
        if (auto it = by_key_.find(state.key); it != by_key_.end()) {
            it->second.erase(state.full.full_string());
            if (it->second.empty()) {
                by_key_.erase(it);
            }
        }
    }
    state.key = std::move(key);
    state.own.reset();
    state.refused = false;
    if (!state.key.empty()) {
        by_key_[state.key].insert(state.full.full_string());
    }
}

void caps_cache::erase_jid(const std::string& full) {
    auto it = jids_.find(full);
    if (it == jids_.end()) {
        return;
    }
    set_key(it->second, {});
    ages_.erase(it->second.age);
    if (auto b = by_bare_.find(it->second.full.bare_string()); b != by_bare_.end()) {
        b->second.erase(full);
        if (b->second.empty()) {
            by_bare_.erase(b);
        }
    }
    jids_.erase(it);
}

void caps_cache::forget(const jid& full) {
    std::lock_guard lock(mutex_);
    erase_jid(full.full_string());
}

void caps_cache::expire_queries(clock::time_point now) {
    for (auto it = outstanding_.begin(); it != outstanding_.end();) {
        if (now - it->second.sent >= query_timeout) {
            asked_.erase(it->second.dedup);
            it = outstanding_.erase(it);
        } else {
            ++it;
        }
    }
}

void caps_cache::store(const std::string& key, std::shared_ptr<const feature_set> features) {
    if (auto it = entries_.find(key); it != entries_.end()) {
        it->second.features = std::move(features);
        lru_.splice(lru_.end(), lru_, it->second.lru);
        return;
    }
    while (entries_.size() >= max_entries_) {
        entries_.erase(lru_.front());
        lru_.pop_front();
    }
    lru_.push_back(key);
    entries_.emplace(key, entry{std::move(features), std::prev(lru_.end())});
}

void caps_cache::refused(const query& q) {
    std::lock_guard lock(mutex_);
    if (auto it = jids_.find(q.to.full_string()); it != jids_.end() && it->second.key == q.key) {
        it->second.refused = true;
    }
}

std::shared_ptr<const caps_cache::feature_set> caps_cache::features_locked(const jid_state& state) const {
    if (state.key.empty()) {
        return no_features();  // no <c/>: nothing to tell (XEP-0115 §1.2)
    }
    if (state.own) {
        return state.own;
    }
    auto it = entries_.find(state.key);
    return it != entries_.end() ? it->second.features : nullptr;
}

boost::asio::awaitable<std::optional<stanza>> caps_cache::presence(const jid& from, const stanza& presence) {
    const std::string_view type = presence.type();
    if (type == "unavailable") {
        forget(from);
        co_return std::nullopt;
    }
    if (!type.empty()) {
        co_return std::nullopt;
    }
    const auto c = caps::parse(presence);
    const bool verifiable = c && caps::known_algorithm(c->hash);
    // A verifiable ver is the same answer whoever announces it; any other is only what that one JID says.
    std::string key;
    if (c) {
        key = verifiable ? c->hash + " " + c->ver : "~" + c->node + "#" + c->ver;
    }
    std::optional<stanza> ask;
    std::shared_ptr<const feature_set> known_now;
    known_fn tell;
    {
        std::lock_guard lock(mutex_);
        auto& state = record(from);
        const bool changed = state.key != key;
        if (changed) {
            set_key(state, key);
        }
        bool needed = false;
        if (!c || state.refused) {
            needed = false;  // nothing to ask, or what it answered for this ver was refused already
        } else if (verifiable) {
            if (auto it = entries_.find(key); it != entries_.end()) {
                lru_.splice(lru_.end(), lru_, it->second.lru);
                if (changed) {
                    known_now = it->second.features;
                    tell = known_;
                }
            } else {
                needed = true;
            }
        } else {
            needed = !state.own;
        }
        const std::string dedup = verifiable ? key : "~" + from.full_string();
        const auto now = needed ? now_() : clock::time_point();
        if (auto a = needed ? asked_.find(dedup) : asked_.end(); a != asked_.end()) {
            // A query nobody answered in time no longer holds this ver back.
            auto o = outstanding_.find(a->second);
            if (o == outstanding_.end() || now - o->second.sent >= query_timeout) {
                if (o != outstanding_.end()) {
                    outstanding_.erase(o);
                }
                asked_.erase(a);
            }
        }
        if (needed && !asked_.contains(dedup)) {
            expire_queries(now);
            if (outstanding_.size() < max_outstanding) {
                std::string id = "caps-" + std::to_string(++next_id_);
                stanza iq = stanza::make("iq");
                iq.set_attribute("type", "get");
                iq.set_attribute("from", self_);
                iq.set_attribute("to", from.full_string());
                iq.set_attribute("id", id);
                auto q = iq.element().append_child("query");
                q.append_attribute("xmlns").set_value(std::string(ns::disco_info).c_str());
                q.append_attribute("node").set_value((c->node + "#" + c->ver).c_str());
                asked_.emplace(dedup, id);
                outstanding_.emplace(id, query{from, key, verifiable, c->hash, c->ver, dedup, now});
                ask = std::move(iq);
            }
        }
    }
    if (known_now) {
        spdlog::debug("caps: {} has {} features", from.full_string(), known_now->size());
        if (tell) {
            co_await tell(from, known_now);
        }
    }
    co_return ask;
}

boost::asio::awaitable<bool> caps_cache::handle(const stanza& s) {
    if (s.kind() != stanza_kind::iq || (s.type() != "result" && s.type() != "error")) {
        co_return false;
    }
    const auto from = jid::parse(s.from());
    query q;
    {
        std::lock_guard lock(mutex_);
        auto it = outstanding_.find(std::string(s.id()));
        // Only the JID asked may answer (`from` is the authenticated sender): anyone else's is not ours.
        if (it == outstanding_.end() || !from || !(*from == it->second.to)) {
            co_return false;
        }
        q = std::move(it->second);
        asked_.erase(q.dedup);
        outstanding_.erase(it);
    }
    if (s.is_error()) {
        spdlog::debug("caps: {} answered disco#info for {} with an error", q.to.full_string(), q.ver);
        refused(q);
        co_return true;
    }
    auto info = caps::read_disco_info(s.child("query", ns::disco_info));
    if (!info) {
        spdlog::debug("caps: {}'s disco#info is not cached: {}", q.to.full_string(), info.error());
        refused(q);
        co_return true;
    }
    if (q.verifiable && caps::ver(q.hash, *info) != q.ver) {
        spdlog::info("caps: {}'s disco#info does not hash to its ver {} ({}): not cached", q.to.full_string(), q.ver,
                     q.hash);
        refused(q);
        co_return true;
    }
    auto features = sorted_features(std::move(info->features));
    std::vector<jid> told;
    known_fn tell;
    {
        std::lock_guard lock(mutex_);
        tell = known_;
        if (q.verifiable) {
            store(q.key, features);
            if (auto it = by_key_.find(q.key); it != by_key_.end()) {
                for (const auto& full : it->second) {
                    told.push_back(jids_.at(full).full);
                }
            }
        } else if (auto it = jids_.find(q.to.full_string()); it != jids_.end() && it->second.key == q.key) {
            it->second.own = features;
            told.push_back(q.to);
        }
    }
    for (const auto& full : told) {
        spdlog::debug("caps: {} has {} features", full.full_string(), features->size());
        if (tell) {
            co_await tell(full, features);
        }
    }
    co_return true;
}

std::shared_ptr<const caps_cache::feature_set> caps_cache::features(const jid& full) const {
    std::lock_guard lock(mutex_);
    auto it = jids_.find(full.full_string());
    return it != jids_.end() ? features_locked(it->second) : nullptr;
}

std::vector<jid> caps_cache::wanting(const jid& bare, std::string_view node) const {
    const std::string wanted = std::string(node) + "+notify";
    std::vector<jid> out;
    std::lock_guard lock(mutex_);
    auto b = by_bare_.find(bare.bare_string());
    if (b == by_bare_.end()) {
        return out;
    }
    for (const auto& full : b->second) {
        const auto& state = jids_.at(full);
        const auto f = features_locked(state);
        if (f && std::binary_search(f->begin(), f->end(), wanted)) {
            out.push_back(state.full);
        }
    }
    return out;
}

std::size_t caps_cache::vers() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

std::size_t caps_cache::jids() const {
    std::lock_guard lock(mutex_);
    return jids_.size();
}

std::size_t caps_cache::outstanding() const {
    std::lock_guard lock(mutex_);
    return outstanding_.size();
}

}  // namespace hush
