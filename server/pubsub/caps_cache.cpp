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

caps_cache::caps_cache(std::size_t max_entries, std::size_t max_jids)
    : max_entries_(std::max<std::size_t>(1, max_entries)), max_jids_(std::max<std::size_t>(1, max_jids)) {}

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
    return jids_.emplace(name, jid_state{full, {}, nullptr, std::prev(ages_.end())}).first->second;
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

std::optional<caps::announcement> caps_cache::announce(const jid& from, const stanza& presence) {
    const auto c = caps::parse(presence);
    // A verifiable ver is the same answer whoever announces it; any other is only what that one JID says.
    std::string key;
    if (c) {
        key = caps::known_algorithm(c->hash) ? c->hash + " " + c->ver : "~" + c->node + "#" + c->ver;
    }
    std::lock_guard lock(mutex_);
    auto& state = record(from);
    if (state.key != key) {
        set_key(state, key);
    }
    if (auto it = entries_.find(key); it != entries_.end()) {
        lru_.splice(lru_.end(), lru_, it->second.lru);
        spdlog::debug("caps: {} has {} features", from.full_string(), it->second.features->size());
    }
    return c;
}

bool caps_cache::learn(const jid& from, const stanza& answer) {
    std::string key;
    {
        std::lock_guard lock(mutex_);
        auto it = jids_.find(from.full_string());
        if (it == jids_.end() || it->second.key.empty()) {
            return false;  // gone, or announces nothing to learn about
        }
        key = it->second.key;
    }
    auto info = caps::read_disco_info(answer.child("query", ns::disco_info));
    if (!info) {
        spdlog::debug("caps: {}'s disco#info is not cached: {}", from.full_string(), info.error());
        return false;
    }
    const bool verifiable = !key.starts_with("~");
    if (verifiable) {
        const auto space = key.find(' ');
        const std::string hash = key.substr(0, space);
        const std::string ver = key.substr(space + 1);
        if (caps::ver(hash, *info) != ver) {
            spdlog::info("caps: {}'s disco#info does not hash to its ver {} ({}): not cached", from.full_string(), ver,
                         hash);
            return false;
        }
    }
    auto features = sorted_features(std::move(info->features));
    spdlog::debug("caps: {} has {} features", from.full_string(), features->size());
    std::lock_guard lock(mutex_);
    if (verifiable) {
        store(key, std::move(features));
        return true;
    }
    auto it = jids_.find(from.full_string());
    if (it == jids_.end() || it->second.key != key) {
        return false;  // announced something else meanwhile
    }
    it->second.own = std::move(features);
    return true;
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

}  // namespace hush
