#pragma once
// Greylisting by network range (the operators' "greylist, don't reject the c-class"): a stranger's first message or
// invitation arriving from a greylisted range — the configured ranges, widened to their /24 (IPv4) or /48 (IPv6)
// — is deferred with a wait error; the same sender retrying after `retry_after` passes on (to the challenge, say).
// Never a rejection: people retry, most spam engines do not.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "antispim/blocklist.hpp"
#include "antispim/bounded_map.hpp"
#include "antispim/policy.hpp"
#include "antispim/config.hpp"

namespace hush {

class greylist {
public:
    // First sights remembered at once: when full, the one least recently seen is forgotten (that sender only waits
    // once more), so a flood of new triples cannot make everyone wait again. 100000 is the old wipe-all cap.
    static constexpr std::size_t default_max_entries = 100000;

    // `evictions`, when set, counts first sights forgotten for room (for /metrics).
    explicit greylist(const antispim_config::greylist_options& options, std::size_t max_entries = default_max_entries,
                      std::atomic<std::uint64_t>* evictions = nullptr);

    std::unique_ptr<antispim::policy> make_policy();

    // The network a peer address belongs to, if it is greylisted ("192.0.2.0/24").
    std::optional<std::string> greylisted_network(std::string_view peer_address) const;
    // First sight of `key` at `now`: how long to wait; zero once it may pass.
    std::chrono::seconds check(const std::string& key, std::chrono::steady_clock::time_point now);
    // The same for a sender a server-wide entry greylists (an imported one, or a range the DoS detector saw a farm
    // in): once per sender and receiver, whichever entry it is.
    std::chrono::seconds check_listed(std::string_view sender, std::string_view receiver,
                                      std::chrono::steady_clock::time_point now);

    const antispim_config::greylist_options& options() const { return options_; }

private:
    antispim_config::greylist_options options_;
    std::vector<antispim::ip_range> ranges_;
    std::mutex mutex_;
    antispim::bounded_map<std::string, std::chrono::steady_clock::time_point> first_seen_;
};

}  // namespace hush
