#include "server/sm/resumption_registry.hpp"

namespace hush::sm {

resumption_registry::resumption_registry(std::size_t max_sessions, std::size_t max_per_account)
    : entries_(max_sessions), max_detached_(max_sessions), max_per_account_(max_per_account) {}

bool resumption_registry::reserve_detached(const jid& account) {
    std::lock_guard lock(detached_mutex_);
    const std::string bare = account.bare_string();
    auto it = detached_by_account_.find(bare);
    if ((it != detached_by_account_.end() && it->second >= max_per_account_) || detached_.load() >= max_detached_) {
        return false;
    }
    ++detached_by_account_[bare];
    detached_.fetch_add(1);
    return true;
}

void resumption_registry::release_detached(const jid& account) {
    std::lock_guard lock(detached_mutex_);
    auto it = detached_by_account_.find(account.bare_string());
    if (it == detached_by_account_.end()) {
        return;
    }
    if (--it->second == 0) {
        detached_by_account_.erase(it);
    }
    detached_.fetch_sub(1);
}

void resumption_registry::add(const std::string& id, const jid& bare, std::weak_ptr<resumable> holder) {
    std::lock_guard lock(mutex_);
    entries_.insert_or_assign(id, entry{bare.bare_string(), std::move(holder), std::nullopt});
}

void resumption_registry::replace(const std::string& id, std::weak_ptr<resumable> holder) {
    std::lock_guard lock(mutex_);
    if (entry* e = entries_.find(id)) {
        e->holder = std::move(holder);
        e->ended_handled.reset();
    }
}

std::shared_ptr<resumable> resumption_registry::find(const std::string& id, const jid& bare) const {
    std::lock_guard lock(mutex_);
    const entry* e = entries_.peek(id);
    if (e == nullptr || e->bare != bare.bare_string() || e->ended_handled) {
        return nullptr;
    }
    return e->holder.lock();
}

void resumption_registry::ended(const std::string& id, std::uint32_t handled) {
    std::lock_guard lock(mutex_);
    if (entry* e = entries_.find(id)) {
        e->holder.reset();
        e->ended_handled = handled;
    }
}

std::optional<std::uint32_t> resumption_registry::ended_count(const std::string& id, const jid& bare) const {
    std::lock_guard lock(mutex_);
    const entry* e = entries_.peek(id);
    if (e == nullptr || e->bare != bare.bare_string()) {
        return std::nullopt;
    }
    return e->ended_handled;
}

std::size_t resumption_registry::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace hush::sm
