#include "server/sm/resumption_registry.hpp"

namespace hush::sm {

resumption_registry::resumption_registry(std::size_t max_sessions)
    : entries_(max_sessions), max_detached_(max_sessions) {}

bool resumption_registry::reserve_detached() {
    std::size_t now = detached_.load();
    while (now < max_detached_) {
        if (detached_.compare_exchange_weak(now, now + 1)) {
            return true;
        }
    }
    return false;
}

void resumption_registry::release_detached() { detached_.fetch_sub(1); }

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
