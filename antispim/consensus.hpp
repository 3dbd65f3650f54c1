#pragma once
// User consensus (seed 2: "when several users block the same sender, the server can block it for everyone"):
// every block (XEP-0191), spam report (XEP-0377, message requests) and — optionally — challenge lockout a local
// user makes is a vote, weighted by the voter's standing (account age and mutual contacts: throwaway accounts
// weigh nothing). When the voters against one sender within the window weigh `users`, the sender goes on the
// server-wide blocklist (source "user consensus") for block_hours; a remote domain does when `domain_senders` of
// its senders were judged by voters weighing `domain_voters` in all — several voters against several senders, so
// one user blocking five people of a big service cannot block it. The admins are told. In dry-run the votes are
// kept and what would be blocked is logged and counted, nothing more.
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/spam_report.hpp"
#include "antispim/admin_notifier.hpp"
#include "antispim/blocklist_service.hpp"
#include "antispim/config.hpp"
#include "storage/async_store.hpp"
#include "storage/store.hpp"

namespace hush {

// A voter's standing in hundredths: 100 for an account at least `min_age` old with `min_contacts` mutual contacts
// (that count: see established_contacts), else the product of the two fractions reached (a day-old account with no
// contacts: 0).
std::int64_t voter_weight(std::chrono::seconds age, std::size_t mutual_contacts,
                          const antispim_config::consensus_options& options);

// The voter's mutual contacts that count for its standing at `now` (unix seconds), up to voter_min_contacts: a
// contact on another server, or a local account itself voter_min_age old — throwaway accounts befriending each
// other do not make voters of each other.
storage::result<std::size_t> established_contacts(storage::store& s, const jid& voter, std::int64_t now,
                                                  const antispim_config::consensus_options& options,
                                                  const std::function<bool(std::string_view)>& is_local);

class consensus {
public:
    consensus(const antispim_config& cfg, storage::async_store& store, blocklist_service& blocklist, admin_notifier& admins,
              std::function<bool(std::string_view)> is_local);

    // `voter` (a local account) judged `sender`: kind "block", "report" or "lockout".
    boost::asio::awaitable<void> vote(const jid& voter, const jid& sender, std::string kind, outgoing& out);
    // An XEP-0377 report: stored for the admins, and a vote.
    boost::asio::awaitable<void> report(const jid& reporter, const jid& reported, const spam_report_payload& report,
                                        outgoing& out);

    struct counters {
        std::uint64_t votes = 0;
        std::uint64_t reports = 0;
        std::uint64_t blocks = 0;        // entries added
        std::uint64_t would_block = 0;   // dry-run
    };
    counters totals() const;
    const antispim_config::consensus_options& options() const { return options_; }

private:
    // Adds kind/value to the server-wide list unless an entry already covers it.
    boost::asio::awaitable<void> block(std::string kind, std::string value, std::string why, outgoing& out);

    antispim_config::consensus_options options_;
    storage::async_store& store_;
    blocklist_service& blocklist_;
    admin_notifier& admins_;
    std::function<bool(std::string_view)> is_local_;
    std::atomic<std::uint64_t> votes_{0}, reports_{0}, blocks_{0}, would_block_{0};
};

}  // namespace hush
