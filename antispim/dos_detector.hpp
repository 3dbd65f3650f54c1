#pragma once
// DoS detection (the seed's "a server can detect someone DoS'ing several of its users"): the "dos" policy counts,
// per sender, per remote domain and per remote server network (/24, /48), the distinct local users reached with
// stranger stanzas within a window; at the threshold the sender goes on the server-wide blocklist for a while,
// source "dos detector", and the admins are told; the stanza that crossed the line is refused. A remote domain or
// network goes there only when challenges hold evidence against it (antispim/challenge_evidence.hpp): a conference
// writing to many people at once is no farm, and its people are challenged one by one like anyone.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "antispim/bounded_map.hpp"
#include "antispim/policy.hpp"
#include "antispim/admin_notifier.hpp"
#include "antispim/blocklist_service.hpp"
#include "antispim/challenge_evidence.hpp"
#include "antispim/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class dos_detector {
public:
    // Keys (senders, domains, networks) counted at once: when full, the key idle for longest is forgotten, so a
    // flood of fresh keys cannot reset the count of a sender that is still sending. 100000 is the old wipe-all cap.
    static constexpr std::size_t default_max_keys = 100000;

    // `evictions`, when set, counts keys forgotten for room (for /metrics); `notifier`, when set, hears of each
    // automatic block besides the log.
    dos_detector(const antispim_config& cfg, storage::async_store& store, blocklist_service& blocklist,
                 antispim::challenge_evidence& evidence, std::function<bool(std::string_view)> is_local,
                 std::size_t max_keys = default_max_keys,
                 std::atomic<std::uint64_t>* evictions = nullptr, admin_notifier* notifier = nullptr);

    std::unique_ptr<antispim::policy> make_policy();

    // Records that `key` ("jid:…" / "domain:…") reached `receiver` at `now`; returns the distinct receivers in
    // the window (bounded memory: old contacts fall out of the window).
    std::size_t record(const std::string& key, const std::string& receiver, std::chrono::steady_clock::time_point now);

    const antispim_config::dos_limits& limits() const { return limits_; }
    boost::asio::awaitable<void> block(std::string kind, std::string value, std::size_t reached, outgoing& out);
    bool is_local(std::string_view domain) const { return is_local_(domain); }
    // Whether challenges hold evidence against `key` ("domain:…", "ip:…") to block it; a crossing without it is
    // logged, once per window and key.
    bool evidence_against(const std::string& key);
    // The /24 (IPv4) or /48 (IPv6) a peer address is counted in ("192.0.2.0/24"); empty if it is no address.
    std::string network_of(std::string_view peer_address) const;

private:
    antispim_config::dos_limits limits_;
    storage::async_store& store_;
    blocklist_service& blocklist_;
    antispim::challenge_evidence& evidence_;
    std::function<bool(std::string_view)> is_local_;
    admin_notifier* const notifier_;
    std::mutex mutex_;
    antispim::bounded_map<std::string, std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>>> seen_;
    antispim::bounded_map<std::string, std::chrono::steady_clock::time_point> not_blocked_said_;
};

}  // namespace hush
