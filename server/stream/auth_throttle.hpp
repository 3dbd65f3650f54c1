#pragma once
// Slows down password guessing: failed authentications are counted per IP address over a window, and past a
// threshold every further failure answer is delayed, doubling each time (capped).
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hush {

class auth_throttle {
public:
    using clock = std::chrono::steady_clock;

    explicit auth_throttle(unsigned free_failures, std::chrono::seconds window = std::chrono::minutes(10),
                           std::chrono::seconds max_delay = std::chrono::seconds(30));

    // Records a failure and returns how long to wait before answering it.
    std::chrono::milliseconds record_failure(const std::string& address, clock::time_point now = clock::now());
    void record_success(const std::string& address);
    unsigned failures(const std::string& address, clock::time_point now = clock::now());

private:
    struct entry {
        unsigned failures = 0;
        clock::time_point window_start;
    };
    void expire(clock::time_point now);

    unsigned free_failures_;
    std::chrono::seconds window_;
    std::chrono::seconds max_delay_;
    std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    clock::time_point last_sweep_{};
};

}  // namespace hush
