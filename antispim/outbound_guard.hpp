#pragma once
// Outbound protection (seed 1's compromised accounts): a local account first-contacting more than `throttle_at`
// distinct strangers within the window has further first contacts refused (a wait error) until the window moves
// on, and is flagged; past `suspend_at` its first contacts to strangers are refused until an admin clears the
// account (hushctl account clear, DELETE /api/accounts/flagged/JID). Accounts younger than `new_account` get the
// tighter new_* limits. Contacts and local users are never counted. Flags are stored, so a suspension survives
// restarts and hushctl sees it; the admins are told. In dry-run nothing is refused or stored, only logged and
// counted.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "antispim/bounded_map.hpp"
#include "antispim/admin_notifier.hpp"
#include "antispim/config.hpp"
#include "antispim/layer.hpp"
#include "storage/async_store.hpp"

namespace hush {

class outbound_guard final : public outbound_filter {
public:
    // Accounts counted at once: when full, the one idle for longest is forgotten, so many accounts writing cannot
    // reset the count of one that is still spraying. 100000 is the old wipe-all cap.
    static constexpr std::size_t default_max_accounts = 100000;

    // `evictions`, when set, counts accounts forgotten for room (for /metrics).
    outbound_guard(const antispim_config& cfg, storage::async_store& store, admin_notifier& admins, stranger_oracle& strangers,
                   std::size_t max_accounts = default_max_accounts, std::atomic<std::uint64_t>* evictions = nullptr);

    boost::asio::awaitable<std::optional<outbound_refusal>> check(const stanza& s, const jid& from,
                                                                  const jid& to, outgoing& out,
                                                                  relation_ahead* ahead) override;

    // Counts `target` for `account` at `now`; returns the distinct targets within the window (bounded memory).
    std::size_t record(const std::string& account, const std::string& target, std::chrono::steady_clock::time_point now);

    enum class outcome : std::size_t { allowed, throttled, suspended, would_throttle, would_suspend, refused_suspended };
    static constexpr std::size_t outcome_count = 6;
    static std::string_view outcome_name(outcome o);
    std::array<std::uint64_t, outcome_count> counters() const;

private:
    void count(outcome o) { counters_[static_cast<std::size_t>(o)].fetch_add(1); }
    boost::asio::awaitable<void> flag(const jid& account, std::string state, std::string reason, outgoing& out);

    antispim_config::outbound_options options_;
    storage::async_store& store_;
    admin_notifier& admins_;
    stranger_oracle& strangers_;
    std::mutex mutex_;
    antispim::bounded_map<std::string, std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>>>
        contacted_;
    std::array<std::atomic<std::uint64_t>, outcome_count> counters_{};
};

}  // namespace hush
