#include "server/stream/auth_throttle.hpp"

#include <algorithm>

namespace hush {

auth_throttle::auth_throttle(unsigned free_failures, std::chrono::seconds window, std::chrono::seconds max_delay)
    : free_failures_(free_failures), window_(window), max_delay_(max_delay) {}

void auth_throttle::expire(clock::time_point now) {
    // Sweep at most once per window so the map cannot grow without bound.
    if (now - last_sweep_ < window_) {
        return;
    }
    last_sweep_ = now;
    std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.window_start >= window_; });
}

std::chrono::milliseconds auth_throttle::record_failure(const std::string& address, clock::time_point now) {
    std::lock_guard lock(mutex_);
    expire(now);
    auto& e = entries_[address];
    if (e.failures == 0 || now - e.window_start >= window_) {
        e = entry{0, now};
    }
    ++e.failures;
    if (e.failures <= free_failures_) {
        return std::chrono::milliseconds(0);
    }
    const unsigned doublings = std::min(e.failures - free_failures_ - 1, 16u);
    const auto delay = std::chrono::milliseconds(1000) * (1u << doublings);
    return std::min<std::chrono::milliseconds>(delay, max_delay_);
}

void auth_throttle::record_success(const std::string& address) {
    std::lock_guard lock(mutex_);
    entries_.erase(address);
}

unsigned auth_throttle::failures(const std::string& address, clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(address);
    if (it == entries_.end() || now - it->second.window_start >= window_) {
        return 0;
    }
    return it->second.failures;
}

}  // namespace hush
