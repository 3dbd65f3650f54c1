#pragma once
// What challenges have shown about remote services and networks (issue 16: evidence that spans accounts): per remote
// domain ("domain:spam.example") and per network ("ip:192.0.2.0/24"), the distinct senders whose latest challenge
// ended in a lockout (max_tries wrong or too fast answers: "failed") or a pass, within a sliding window; a sender
// its receiver judged spam after all (reported from the message requests, blocked after passing) counts as failed.
// A single wrong answer is not recorded: people mistype and pass at the next try. The DoS detector asks it before
// it blocks a whole service or network: many users reached at once is a crowd (a conference, a new team) or a farm,
// and only the answers tell which. The challenge asks it too: a sender of a service or network with evidence
// against it gets fewer tries (the guess budget of a suspect service), the first step before greylisting and
// blocking.
//
// Bounded: at most `max_keys` keys (the least recently used forgotten, counted in `evictions`) and
// `max_senders_per_key` senders per key (the oldest forgotten). Thread-safe.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "antispim/bounded_map.hpp"

namespace hush::antispim {

class challenge_evidence {
public:
    static constexpr std::size_t default_max_keys = 10000;
    static constexpr std::size_t max_senders_per_key = 64;
    using time_point = std::chrono::steady_clock::time_point;

    struct tally {
        std::size_t failed = 0;  // distinct senders whose latest answer failed
        std::size_t passed = 0;  // distinct senders whose latest answer passed
    };

    explicit challenge_evidence(std::chrono::seconds window, std::size_t max_keys = default_max_keys,
                                std::atomic<std::uint64_t>* evictions = nullptr);

    // `sender`'s answer under `key`: it replaces that sender's earlier one (a person who mistyped, then passed,
    // counts as passed).
    void record(const std::string& key, const std::string& sender, bool failed, time_point now);
    tally of(const std::string& key, time_point now);

    // Evidence of abuse: at least `min_failed` distinct senders failed, and more failed than passed.
    static bool abusive(const tally& t, std::size_t min_failed) { return t.failed >= min_failed && t.failed > t.passed; }

    // Answers judged with fewer tries because of this evidence (for /metrics).
    void count_stricter() { stricter_.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t stricter() const { return stricter_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> stricter_{0};
    struct answer {
        std::string sender;
        bool failed = false;
        time_point at{};
    };
    void expire(std::vector<answer>& answers, time_point now) const;

    const std::chrono::seconds window_;
    std::mutex mutex_;
    bounded_map<std::string, std::vector<answer>> keys_;
};

}  // namespace hush::antispim
