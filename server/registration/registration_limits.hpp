#pragma once
// How many accounts may be registered without an invitation, per window: per address, per network (IPv4 /24,
// IPv6 /64: rotating addresses inside one allocation does not help) and in all. Thread-safe: sessions on every
// event-loop thread share one. A slot is reserved before the account is created and released if creation fails,
// so concurrent attempts cannot overshoot a limit.
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace hush {

// Counts reservations per key over a sliding window. Not thread-safe by itself (registration_limits locks).
// Bounded: at most max_keys keys; a new key beyond that is refused (registration fails closed, never grows).
class registration_limiter {
public:
    using clock = std::chrono::steady_clock;

    registration_limiter(std::size_t max_per_window, std::chrono::seconds window, std::size_t max_keys = 100000);

    // Takes a slot for `key` at `now`; false when the key used all of them in the window (or the map is full).
    bool try_reserve(const std::string& key, clock::time_point now = clock::now());
    // Would try_reserve succeed? Takes nothing.
    bool has_room(const std::string& key, clock::time_point now);
    // Gives back the slot taken at `reserved_at` (the registration did not happen).
    void release(const std::string& key, clock::time_point reserved_at);
    // Slots in use for `key` at `now`.
    std::size_t used(const std::string& key, clock::time_point now = clock::now());
    std::size_t tracked_keys() const { return slots_.size(); }

private:
    void sweep(clock::time_point now);
    void expire(std::deque<clock::time_point>& times, clock::time_point now) const;

    std::size_t max_;
    std::chrono::seconds window_;
    std::size_t max_keys_;
    std::unordered_map<std::string, std::deque<clock::time_point>> slots_;  // oldest first
    clock::time_point last_sweep_{};
};

// The network an address counts against: "a.b.c.0/24" for IPv4 (and IPv4-mapped IPv6), the /64 for IPv6
// ("2001:db8:1:2::/64"); the text itself when it is not an address.
std::string registration_network(const std::string& address);

class registration_limits {
public:
    using clock = registration_limiter::clock;

    enum class refusal { none, address, network, total };

    struct reservation {
        std::string address;
        std::string network;
        clock::time_point at;
    };

    registration_limits(std::size_t per_ip, std::size_t per_network, std::size_t total, std::chrono::seconds window);

    // All three slots or none: which limit refused, or a reservation to release if the account is not created.
    refusal try_reserve(const std::string& address, clock::time_point now, reservation& out);
    void release(const reservation& r);

private:
    std::mutex mutex_;
    registration_limiter per_ip_;
    registration_limiter per_network_;
    registration_limiter total_;
};

}  // namespace hush
