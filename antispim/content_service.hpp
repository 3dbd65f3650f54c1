#pragma once
// Content scoring and the combined score (issue 17). The "content" policy scores what a stranger's message or
// invitation says — a SpamAssassin spamd, the built-in Bayes classifier, URL/domain lists — adds what the other
// defences know of the sender (listed, reputation, behaviour, a new local account), and the sum decides:
//   below challenge_at  pass, no objection: the receiver's own challenge settings apply
//   from challenge_at   pass, but the sender is challenged even if the receiver lets strangers through
//   from hold_at        hold as a message request with no challenge to answer: only the receiver can release it
//   from reject_at      reject (policy-violation)
// Every verdict carries its parts ("score 12.5 = spamd 5.5 [GTUBE] + bayes 7.0"). An encrypted body (OMEMO,
// OpenPGP) has no content to score; the verdict says so and only the sender's other parts count.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "antispim/bayes.hpp"
#include "antispim/config.hpp"
#include "antispim/policy.hpp"
#include "antispim/spamd_client.hpp"
#include "antispim/url_lists.hpp"
#include "storage/async_store.hpp"

namespace hush::antispim {

// What the other defences know of a sender, for the combined score (the server gathers it).
struct sender_signals {
    bool listed = false;      // a server-wide entry challenges or greylists it or its network
    bool suspect = false;     // challenges hold evidence against its service or network
    std::size_t reached = 0;  // distinct receivers it reached within the DoS window
    bool new_account = false; // a local account younger than [antispim.outbound] new_account_hours
    double rate_used = 0;     // the largest share of a rate bucket this first contact left used (0..1)
};

// One combined score and its parts.
struct score_sheet {
    double total = 0;
    std::vector<std::pair<std::string, double>> parts;  // ("spamd [GTUBE]", 5.5)
    std::vector<std::string> notes;                      // "encrypted: no content score", "bayes untrained"
    bool spamd_failed = false;  // spamd was asked and gave no score (its fail mode applies)
    void add(std::string what, double points);
    std::string explain() const;  // "score 12.5 = spamd 5.5 [GTUBE] + bayes 7.0; bayes untrained"
};

class content_service {
public:
    using signal_source = std::function<boost::asio::awaitable<sender_signals>(const spim_context&)>;
    // The hold band: keep the stanza as a message request and send no challenge (the stranger service does it).
    using quiet_hold = std::function<boost::asio::awaitable<hush::expected<verdict, policy_failure>>(const spim_context&)>;

    // `token_key`: the key of the Bayes token hashes (the server's secret). Throws at start-up when a URL list
    // cannot be read (the error names its file:line).
    // `executor`: where lessons queued by learn_later run.
    content_service(const antispim_config& cfg, storage::async_store& store, std::string token_key,
                    signal_source signals, quiet_hold hold, boost::asio::any_io_executor executor);

    std::unique_ptr<policy> make_policy();

    // The combined score of a stranger's stanza (its body, or an invitation's status), without deciding.
    boost::asio::awaitable<score_sheet> score(const spim_context& ctx);

    // Learns a message of a class: its tokens are stored (one storage operation) and counted in memory. Texts
    // without words are skipped. The error is storage's.
    boost::asio::awaitable<hush::expected<void, std::string>> learn(bool spam, std::string text);
    // learn() in the background, for callers on the data path; at most max_lessons_queued at once, more are
    // skipped (counted in lessons_skipped).
    void learn_later(bool spam, std::string text);
    static constexpr std::size_t max_lessons_queued = 64;
    // The share of a rate bucket used from which the combined score has a `rate` part.
    static constexpr double rate_part_from = 0.5;
    std::uint64_t lessons_skipped() const { return lessons_skipped_.load(std::memory_order_relaxed); }
    // Re-reads the model from storage (hushctl content train writes there too), and with `lists` the URL lists.
    boost::asio::awaitable<void> reload(bool lists = true);
    bayes_stats stats() const { return bayes_.stats(); }

    // Whether a message carries an encrypted payload instead of a plaintext body (OMEMO, OpenPGP, legacy PGP).
    static bool encrypted(const hush::stanza& s);
    // The text to score: a message's body, an invitation's or presence's status.
    static std::string text_of(const hush::stanza& s);

    const antispim_config& options() const { return cfg_; }
    // The hold band's verdict (see quiet_hold).
    boost::asio::awaitable<hush::expected<verdict, policy_failure>> hold(const spim_context& ctx) { return hold_(ctx); }
    // Checks whose spamd was unreachable, slow or busy (the fail mode applied), for /metrics.
    std::uint64_t spamd_failures() const { return spamd_failures_.load(std::memory_order_relaxed); }

private:
    const antispim_config& cfg_;
    storage::async_store& store_;
    std::string token_key_;
    signal_source signals_;
    quiet_hold hold_;
    bayes_model bayes_;
    url_lists urls_;
    std::unique_ptr<spamd_client> spamd_;
    std::atomic<std::uint64_t> spamd_failures_{0};
    std::atomic<std::uint64_t> message_ids_{0};
    boost::asio::any_io_executor executor_;
    std::atomic<std::size_t> lessons_queued_{0};
    std::atomic<std::uint64_t> lessons_skipped_{0};
};

}  // namespace hush::antispim
