#include "server/stream/session_registry.hpp"

#include <algorithm>

namespace hush {

std::shared_ptr<session> session_registry::bind(const jid& full, const std::shared_ptr<session>& s) {
    std::unique_lock lock(mutex_);
    auto& list = by_bare_[full.bare_string()];
    for (auto& e : list) {
        if (e.resource == full.resource()) {
            auto previous = e.target.lock();
            e = entry{full.resource(), s, false, 0, false, false, nullptr, false};
            return previous;
        }
    }
    list.push_back(entry{full.resource(), s, false, 0, false, false, nullptr, false});
    ++count_;
    return nullptr;
}

bool session_registry::unbind(const jid& full, const session* s) {
    std::unique_lock lock(mutex_);
    auto it = by_bare_.find(full.bare_string());
    if (it == by_bare_.end()) {
        return true;
    }
    auto& list = it->second;
    const auto before = list.size();
    bool successor = false;
    std::erase_if(list, [&](const entry& e) {
        if (e.resource != full.resource()) {
            return false;
        }
        // A replaced session must not remove its successor's binding.
        auto current = e.target.lock();
        if (current != nullptr && current.get() != s) {
            successor = true;
            return false;
        }
        return true;
    });
    count_ -= before - list.size();
    if (list.empty()) {
        by_bare_.erase(it);
    }
    return !successor;
}

bool session_registry::rebind(const jid& full, const session* from, const std::shared_ptr<session>& to) {
    std::unique_lock lock(mutex_);
    auto it = by_bare_.find(full.bare_string());
    if (it == by_bare_.end()) {
        return false;
    }
    for (auto& e : it->second) {
        if (e.resource == full.resource()) {
            auto current = e.target.lock();
            if (current.get() != from) {
                return false;
            }
            e.target = to;
            return true;
        }
    }
    return false;
}

template <class Fn>
void session_registry::update(const jid& full, Fn fn) {
    std::unique_lock lock(mutex_);
    auto it = by_bare_.find(full.bare_string());
    if (it == by_bare_.end()) {
        return;
    }
    for (auto& e : it->second) {
        if (e.resource == full.resource()) {
            fn(e);
        }
    }
}

void session_registry::set_presence(const jid& full, bool available, int priority,
                                    shared_bytes presence) {
    update(full, [&](entry& e) {
        e.available = available;
        e.priority = priority;
        e.presence = available ? std::move(presence) : nullptr;
    });
}

void session_registry::set_interested(const jid& full, bool interested) {
    update(full, [&](entry& e) { e.interested = interested; });
}

void session_registry::set_carbons(const jid& full, bool enabled) {
    update(full, [&](entry& e) { e.carbons = enabled; });
}

void session_registry::set_blocklist_requested(const jid& full) {
    update(full, [](entry& e) { e.blocklist_requested = true; });
}

std::shared_ptr<session> session_registry::find(const jid& full) const {
    std::shared_lock lock(mutex_);
    auto it = by_bare_.find(full.bare_string());
    if (it == by_bare_.end()) {
        return nullptr;
    }
    for (const auto& e : it->second) {
        if (e.resource == full.resource()) {
            return e.target.lock();
        }
    }
    return nullptr;
}

std::vector<bound_resource> session_registry::resources(const jid& bare) const {
    std::vector<bound_resource> out;
    std::shared_lock lock(mutex_);
    auto it = by_bare_.find(bare.bare_string());
    if (it == by_bare_.end()) {
        return out;
    }
    for (const auto& e : it->second) {
        if (auto s = e.target.lock()) {
            out.push_back(bound_resource{bare.with_resource(e.resource), std::move(s), e.available, e.priority,
                                         e.interested, e.carbons, e.presence, e.blocklist_requested});
        }
    }
    return out;
}

template <class Pred>
bool session_registry::any_live(const jid& account, Pred pred) const {
    std::shared_lock lock(mutex_);
    auto it = by_bare_.find(account.bare_string());
    return it != by_bare_.end() &&
           std::any_of(it->second.begin(), it->second.end(), [&](const entry& e) { return !e.target.expired() && pred(e); });
}

bool session_registry::online(const jid& account) const {
    return any_live(account, [](const entry&) { return true; });
}

bool session_registry::any_carbons(const jid& account) const {
    return any_live(account, [](const entry& e) { return e.carbons; });
}

bool session_registry::any_available(const jid& bare) const {
    return any_live(bare, [](const entry& e) { return e.available; });
}

std::vector<bound_resource> session_registry::best_available(const jid& bare) const {
    auto all_resources = resources(bare);
    int best = -1;
    for (const auto& r : all_resources) {
        if (r.available && r.priority >= 0) {
            best = std::max(best, r.priority);
        }
    }
    std::erase_if(all_resources, [best](const bound_resource& r) {
        return best < 0 || !r.available || r.priority != best;
    });
    return all_resources;
}

std::vector<std::shared_ptr<session>> session_registry::all() const {
    std::vector<std::shared_ptr<session>> out;
    std::shared_lock lock(mutex_);
    for (const auto& [key, list] : by_bare_) {
        for (const auto& e : list) {
            if (auto s = e.target.lock()) {
                out.push_back(std::move(s));
            }
        }
    }
    return out;
}

std::size_t session_registry::size() const {
    std::shared_lock lock(mutex_);
    return count_;
}

}  // namespace hush
