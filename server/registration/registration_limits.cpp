#include "server/registration/registration_limits.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace hush {

registration_limiter::registration_limiter(std::size_t max_per_window, std::chrono::seconds window,
                                           std::size_t max_keys)
    : max_(max_per_window), window_(window), max_keys_(max_keys) {}

void registration_limiter::expire(std::deque<clock::time_point>& times, clock::time_point now) const {
    while (!times.empty() && now - times.front() >= window_) {
        times.pop_front();
    }
}

void registration_limiter::sweep(clock::time_point now) {
    // Whole-map sweeps at most once per window (or when full) keep keys that never come back from piling up.
    if (now - last_sweep_ < window_ && slots_.size() < max_keys_) {
        return;
    }
    last_sweep_ = now;
    std::erase_if(slots_, [&](const auto& kv) { return kv.second.empty() || now - kv.second.back() >= window_; });
}

bool registration_limiter::has_room(const std::string& key, clock::time_point now) {
    sweep(now);
    auto it = slots_.find(key);
    if (it == slots_.end()) {
        return slots_.size() < max_keys_;
    }
    expire(it->second, now);
    return it->second.size() < max_;
}

bool registration_limiter::try_reserve(const std::string& key, clock::time_point now) {
    if (!has_room(key, now)) {
        return false;
    }
    slots_[key].push_back(now);
    return true;
}

void registration_limiter::release(const std::string& key, clock::time_point reserved_at) {
    auto it = slots_.find(key);
    if (it == slots_.end()) {
        return;
    }
    auto& times = it->second;
    if (auto slot = std::find(times.begin(), times.end(), reserved_at); slot != times.end()) {
        times.erase(slot);
    }
    if (times.empty()) {
        slots_.erase(it);
    }
}

std::size_t registration_limiter::used(const std::string& key, clock::time_point now) {
    auto it = slots_.find(key);
    if (it == slots_.end()) {
        return 0;
    }
    return static_cast<std::size_t>(
        std::count_if(it->second.begin(), it->second.end(), [&](auto t) { return now - t < window_; }));
}

std::string registration_network(const std::string& address) {
    in_addr v4{};
    if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
        auto bytes = reinterpret_cast<unsigned char*>(&v4);
        bytes[3] = 0;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v4, text, sizeof text);
        return std::string(text) + "/24";
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
        // An IPv4-mapped address is an IPv4 client: its /24 is what it can rotate in.
        if (IN6_IS_ADDR_V4MAPPED(&v6)) {
            std::memcpy(&v4, &v6.s6_addr[12], 4);
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &v4, text, sizeof text);
            return registration_network(text);
        }
        std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), 0);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &v6, text, sizeof text);
        return std::string(text) + "/64";
    }
    return address;
}

registration_limits::registration_limits(std::size_t per_ip, std::size_t per_network, std::size_t total,
                                         std::chrono::seconds window)
    : per_ip_(per_ip, window), per_network_(per_network, window), total_(total, window, 1) {}

registration_limits::refusal registration_limits::try_reserve(const std::string& address, clock::time_point now,
                                                              reservation& out) {
    static const std::string all = "*";
    std::lock_guard lock(mutex_);
    const std::string network = registration_network(address);
    // Checked before anything is taken, so a refusal leaves every count as it was.
    if (!per_ip_.has_room(address, now)) {
        return refusal::address;
    }
    if (!per_network_.has_room(network, now)) {
        return refusal::network;
    }
    if (!total_.has_room(all, now)) {
        return refusal::total;
    }
    per_ip_.try_reserve(address, now);
    per_network_.try_reserve(network, now);
    total_.try_reserve(all, now);
    out = reservation{address, network, now};
    return refusal::none;
}

void registration_limits::release(const reservation& r) {
    std::lock_guard lock(mutex_);
    per_ip_.release(r.address, r.at);
    per_network_.release(r.network, r.at);
    total_.release("*", r.at);
}

}  // namespace hush
