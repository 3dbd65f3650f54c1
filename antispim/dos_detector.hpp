#pragma once
// DoS detection (the seed's "a server can detect someone DoS'ing several of its users"): the "dos" policy counts,
// per sender, per remote domain and per remote server network (/24, /48), the distinct local users reached with
// stranger stanzas within a window; at the threshold the sender goes on the server-wide blocklist for a while,
// source "dos detector", and the admins are told; the stanza that crossed the line is refused. A remote domain
// goes there, or a network is greylisted there (its first contacts deferred once each, never refused: the seed's
// "greylist, don't reject the c-class"), only when challenges hold evidence against it
// (antispim/challenge_evidence.hpp): a conference writing to many people at once is no farm, and its people are
// challenged one by one like anyone.
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

    // The distinct receivers `key` reached within the window, without counting anything (the combined score's
    // "behaviour" part reads what the dos policy counted).
    std::size_t reached(const std::string& key, std::chrono::steady_clock::time_point now);

    const antispim_config::dos_limits& limits() const { return limits_; }

    // What a crossing does: block a sender or a service, greylist a network, or both.
    struct actions {
        std::string block_kind, block_value;  // "jid"/"domain" and its value; empty: nothing to block
        std::string greylist_network;         // "192.0.2.0/24"; empty: nothing to greylist
        std::size_t reached = 0;
    };
    // Stores the entries (one storage job), reloads the list, logs and tells the admins.
    boost::asio::awaitable<void> act(actions acts, outgoing& out);
    // Whether a server-wide entry already covers the range `peer_address` is in.
    bool greylisted(std::string_view peer_address) const;
    // The wait of a first contact the crossing defers, noted as a greylisted entry's first sight.
    std::chrono::seconds first_sight_wait(std::string_view sender, std::string_view receiver);
    // Whether this crossing stores the entry for `key` ("jid:…", "domain:…", "ip:…"): false while another one is
    // (for up to acting_for, should its effect never run, as in a dry run). done_acting ends it.
    bool begin_acting(const std::string& key);
    void done_acting(const std::string& key);
    static constexpr std::chrono::seconds acting_for{60};
    bool is_local(std::string_view domain) const { return is_local_(domain); }
    // Whether challenges hold evidence against `key` ("domain:…", "ip:…") to block it; a crossing without it is
    // logged, once per window and key.
    bool evidence_against(const std::string& key);
    // The /24 (IPv4) or /48 (IPv6) a peer address is counted in ("192.0.2.0/24"); empty if it is no address.
    std::string network_of(std::string_view peer_address) const;

private:
    storage::blocklist_entry entry_for(std::string kind, std::string value, std::string trust, std::size_t reached);

    antispim_config::dos_limits limits_;
    storage::async_store& store_;
    blocklist_service& blocklist_;
    antispim::challenge_evidence& evidence_;
    std::function<bool(std::string_view)> is_local_;
    admin_notifier* const notifier_;
    std::mutex mutex_;
    antispim::bounded_map<std::string, std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>>> seen_;
    antispim::bounded_map<std::string, std::chrono::steady_clock::time_point> not_blocked_said_;
    antispim::bounded_map<std::string, std::chrono::steady_clock::time_point> acting_;
};

}  // namespace hush
