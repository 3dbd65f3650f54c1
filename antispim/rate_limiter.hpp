#pragma once
// Rate policies per stanza type (the operators' "rate policies"): token buckets for strangers' invitations and
// messages, per sender bare JID, per remote domain, per source IP and per local receiver and sending domain (so a
// farm on one service drains only its own share of a receiver's, not that of people elsewhere). A first contact that
// finds any of its buckets empty is refused — <policy-violation/>, or a wait error when `exceeded = "defer"` —
// and takes no token from the others, so a refused sender does not also drain its domain's bucket.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "antispim/bounded_map.hpp"
#include "antispim/policy.hpp"
#include "antispim/config.hpp"

namespace hush {

class token_buckets {
public:
    using clock = std::chrono::steady_clock;
    struct request {
        std::string key;  // "invites|sender|eve@spam.test"
        antispim_config::rate_limit limit;
    };
    struct refusal {
        std::size_t index = 0;             // which request ran dry
        std::chrono::seconds retry_after{0};  // until one token is back
    };
    // Buckets kept at once: when full, the least recently used one is forgotten — most likely refilled long ago,
    // so forgetting it changes nothing — instead of all of them. 200000 is the old cap.
    static constexpr std::size_t default_max_buckets = 200000;
    // At least this many, so that one take_all (up to four requests) never evicts a bucket it has just taken.
    static constexpr std::size_t min_buckets = 16;

    // `evictions`, when set, counts buckets forgotten for room (for /metrics).
    explicit token_buckets(std::size_t max_buckets = default_max_buckets,
                           std::atomic<std::uint64_t>* evictions = nullptr);

    // Takes one token from every bucket, or none when one of them is empty. `used_share`, when given and all were
    // taken, is set to the largest share of a bucket's capacity now used (0: full, 1: empty) — the combined
    // score's `rate` part.
    std::optional<refusal> take_all(const std::vector<request>& requests, clock::time_point now,
                                    double* used_share = nullptr);

    std::size_t size() const;

private:
    struct bucket {
        double tokens = 0;
        clock::time_point at;
    };
    double level(bucket& b, const antispim_config::rate_limit& limit, clock::time_point now) const;

    mutable std::mutex mutex_;
    antispim::bounded_map<std::string, bucket> buckets_;
};

class rate_limiter {
public:
    explicit rate_limiter(const antispim_config::rate_options& options, std::function<bool(std::string_view)> is_local,
                          std::size_t max_buckets = token_buckets::default_max_buckets,
                          std::atomic<std::uint64_t>* evictions = nullptr);

    std::unique_ptr<antispim::policy> make_policy();

    // The buckets a stranger stanza draws on (empty for anything that is not a first contact).
    std::vector<token_buckets::request> requests_for(const antispim::spim_context& ctx) const;
    token_buckets& buckets() { return buckets_; }
    const antispim_config::rate_options& options() const { return options_; }

private:
    antispim_config::rate_options options_;
    std::function<bool(std::string_view)> is_local_;
    token_buckets buckets_;
};

}  // namespace hush
