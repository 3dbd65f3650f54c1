#include "antispim/dos_detector.hpp"
#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "antispim/blocklist.hpp"
#include "antispim/greylist.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

namespace {

class dos_policy final : public as::policy {
public:
    explicit dos_policy(dos_detector& detector) : detector_(detector) {}
    std::string_view name() const override { return "dos"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        if (!ctx.stranger || !as::is_first_contact(as::path_of(ctx.stanza))) {
            co_return result(as::verdict::pass());
        }
        const auto now = std::chrono::steady_clock::now();
        const std::string receiver = ctx.receiver.bare_string();
        const std::size_t by_sender = detector_.record("jid:" + ctx.sender.bare_string(), receiver, now);
        std::size_t by_domain = 0;
        if (!detector_.is_local(ctx.sender.domain())) {  // our own domain is never blocked as a whole
            by_domain = detector_.record("domain:" + ctx.sender.domain(), receiver, now);
        }
        // Remote servers' addresses by network: a spammer's many little domains often sit in one range.
        std::size_t by_network = 0;
        std::string network;
        if (ctx.origin == as::origin_kind::remote_domain && !ctx.peer_address.empty()) {
            network = detector_.network_of(ctx.peer_address);
            if (!network.empty()) {
                by_network = detector_.record("ip:" + network, receiver, now);
            }
        }
        const std::size_t limit = detector_.limits().distinct_receivers;
        // A service or a network reaching many users is a crowd or a farm: only its senders' answers to challenges
        // tell which, so it is acted on only with that evidence. A sender reaching them alone is blocked as it is.
        // A service with evidence is blocked; a network is greylisted (the seed: greylist ranges, don't reject
        // them), once: its entry then defers each first contact, and its people go on to be challenged.
        const bool sender_crossed = by_sender >= limit;
        const bool domain_crossed = by_domain >= limit && detector_.evidence_against("domain:" + ctx.sender.domain());
        const bool network_crossed = by_network >= limit && !detector_.greylisted(ctx.peer_address) &&
                                     detector_.evidence_against("ip:" + network);
        if (!sender_crossed && !domain_crossed && !network_crossed) {
            co_return result(as::verdict::pass());
        }
        dos_detector::actions acts;
        acts.reached = std::max({by_sender, by_domain, by_network});
        if (domain_crossed || sender_crossed) {
            // The widest key that crossed the line: a flood from one service blocks the service, a local sender
            // only itself (our own domain is never counted).
            acts.block_kind = domain_crossed ? "domain" : "jid";
            acts.block_value = domain_crossed ? ctx.sender.domain() : ctx.sender.bare_string();
        }
        if (network_crossed) {
            acts.greylist_network = network;
        }
        as::verdict v;
        v.error_condition = "policy-violation";
        if (!acts.block_kind.empty()) {
            v.kind = as::verdict_kind::reject;
            v.reason = "dos:" + acts.block_kind + ":" + acts.block_value;
            v.error_text = "too many users of this server contacted at once; blocked for a while";
        } else {
            const auto wait = detector_.first_sight_wait(ctx.sender.bare_string(), receiver);
            if (wait.count() == 0) {
                co_return result(as::verdict::pass());  // it waited once already (or waits are off): never twice
            }
            v.kind = as::verdict_kind::defer;
            v.reason = "dos:greylist:ip:" + network;
            v.error_text = "too many users of this server contacted from your network at once; it is greylisted "
                           "here: please try again in " + std::to_string(wait.count()) + " s";
        }
        // Parallel crossings store each entry once, and the admins hear of it once.
        if (!acts.block_kind.empty() && !detector_.begin_acting(acts.block_kind + ":" + acts.block_value)) {
            acts.block_kind.clear();
        }
        if (!acts.greylist_network.empty() && !detector_.begin_acting("ip:" + acts.greylist_network)) {
            acts.greylist_network.clear();
        }
        if (acts.block_kind.empty() && acts.greylist_network.empty()) {
            co_return result(std::move(v));  // the same verdict; another stanza's effect is storing the entry
        }
        struct act_effect final : as::verdict_effect {
            dos_detector* detector;
            dos_detector::actions acts;
            asio::awaitable<void> apply(const stanza&, outgoing& out) override { co_await detector->act(acts, out); }
        };
        auto effect = std::make_shared<act_effect>();
        effect->detector = &detector_;
        effect->acts = std::move(acts);
        v.effect = std::move(effect);
        co_return result(std::move(v));
    }

private:
    dos_detector& detector_;
};

}  // namespace

dos_detector::dos_detector(const antispim_config& cfg, storage::async_store& store, blocklist_service& blocklist,
                           as::challenge_evidence& evidence, std::function<bool(std::string_view)> is_local,
                           std::size_t max_keys, std::atomic<std::uint64_t>* evictions, admin_notifier* notifier)
    : limits_(cfg.dos),
      store_(store),
      blocklist_(blocklist),
      evidence_(evidence),
      is_local_(std::move(is_local)),
      notifier_(notifier),
      seen_(max_keys, evictions),
      not_blocked_said_(1000),
      acting_(1000) {}

bool dos_detector::evidence_against(const std::string& key) {
    const auto now = std::chrono::steady_clock::now();
    const auto tally = evidence_.of(key, now);
    const bool abusive = as::challenge_evidence::abusive(tally, limits_.evidence_senders);
    bool say = false;
    if (!abusive) {
        std::lock_guard lock(mutex_);
        auto [said_at, first] = not_blocked_said_.try_emplace(key, now);
        say = first || now - said_at > limits_.window;  // once per window and key, not once per stanza
        if (say) {
            said_at = now;
        }
    }
    if (say) {
        spdlog::info("antispim: DoS detector: {} reached {} users, but of its senders {} were locked out by a challenge "
                     "and {} passed: not blocked nor greylisted, each is challenged",
                     key, limits_.distinct_receivers, tally.failed, tally.passed);
    }
    return abusive;
}

std::unique_ptr<as::policy> dos_detector::make_policy() { return std::make_unique<dos_policy>(*this); }

std::string dos_detector::network_of(std::string_view peer_address) const {
    return as::network_of(peer_address, 24, 48);  // as greylisting counts by default
}

std::size_t dos_detector::record(const std::string& key, const std::string& receiver,
                                 std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto& seen = seen_[key];  // bounded: a full map forgets the least recently counted key
    while (!seen.empty() && now - seen.front().first > limits_.window) {
        seen.pop_front();
    }
    seen.emplace_back(now, receiver);
    if (seen.size() > limits_.distinct_receivers * 4) {
        seen.pop_front();  // a flood to few receivers must not grow without bound
    }
    std::set<std::string_view> distinct;
    for (const auto& [at, who] : seen) {
        distinct.insert(who);
    }
    return distinct.size();
}

std::size_t dos_detector::reached(const std::string& key, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    const auto* seen = seen_.peek(key);
    if (seen == nullptr) {
        return 0;
    }
    std::set<std::string_view> distinct;
    for (const auto& [at, who] : *seen) {
        if (now - at <= limits_.window) {
            distinct.insert(who);
        }
    }
    return distinct.size();
}

bool dos_detector::greylisted(std::string_view peer_address) const {
    // A range already greylisted or blocked needs no second entry; one that is only challenged does.
    const auto* entry = blocklist_.current()->match_address(peer_address, unix_now());
    return entry != nullptr && antispim::trust_severity(entry->trust) >= antispim::trust_severity("greylist");
}

bool dos_detector::begin_acting(const std::string& key) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    auto [since, first] = acting_.try_emplace(key, now);
    if (!first && now - since < acting_for) {
        return false;
    }
    since = now;
    return true;
}

void dos_detector::done_acting(const std::string& key) {
    std::lock_guard lock(mutex_);
    acting_.erase(key);
}

std::chrono::seconds dos_detector::first_sight_wait(std::string_view sender, std::string_view receiver) {
    greylist* grey = blocklist_.greylist_for_entries();
    if (grey == nullptr) {
        return std::chrono::seconds{0};
    }
    // Noted as the entry's own first sight, so the sender retrying after the wait is not deferred twice.
    return grey->check_listed(sender, receiver, std::chrono::steady_clock::now());
}

storage::blocklist_entry dos_detector::entry_for(std::string kind, std::string value, std::string trust,
                                                 std::size_t reached) {
    storage::blocklist_entry entry;
    entry.kind = std::move(kind);
    entry.value = std::move(value);
    entry.trust = std::move(trust);
    entry.reason = "contacted " + std::to_string(reached) + " users as a stranger within " +
                   std::to_string(limits_.window.count()) + " s";
    if (entry.kind != "jid") {
        // The evidence a service or network was listed on, for the admins and for importers of /blocklist.xml.
        const auto tally = evidence_.of((entry.kind == "domain" ? "domain:" : "ip:") + entry.value,
                                        std::chrono::steady_clock::now());
        entry.reason += "; " + std::to_string(tally.failed) + " of its senders locked out by challenges, " +
                        std::to_string(tally.passed) + " passed";
    }
    entry.source = "dos detector";
    entry.added_at = unix_now();
    entry.expires_at = entry.added_at + std::chrono::duration_cast<std::chrono::seconds>(limits_.block_for).count();
    return entry;
}

asio::awaitable<void> dos_detector::act(actions acts, outgoing& out) {
    struct finish {  // whatever happens below, the next crossing may act again
        dos_detector* detector;
        std::vector<std::string> keys;
        ~finish() {
            for (const auto& key : keys) {
                detector->done_acting(key);
            }
        }
    } done{this, {}};
    if (!acts.block_kind.empty()) {
        done.keys.push_back(acts.block_kind + ":" + acts.block_value);
    }
    if (!acts.greylist_network.empty()) {
        done.keys.push_back("ip:" + acts.greylist_network);
    }
    std::vector<storage::blocklist_entry> entries;
    if (!acts.block_kind.empty()) {
        entries.push_back(entry_for(acts.block_kind, acts.block_value, "block", acts.reached));
    }
    if (!acts.greylist_network.empty()) {
        entries.push_back(entry_for("ip", acts.greylist_network, "greylist", acts.reached));
    }
    auto put = [entries](storage::store& s) -> storage::result<void> {
        for (const auto& entry : entries) {
            if (auto stored = s.put_blocklist_entry(entry); !stored) {
                return stored;
            }
        }
        return {};
    };
    if (auto stored = co_await store_.run(std::move(put)); !stored) {
        spdlog::error("antispim: DoS detector cannot store its entries: {}", stored.error().message);
        co_return;
    }
    co_await blocklist_.reload();
    for (const auto& entry : entries) {
        const char* does = entry.trust == "block" ? "blocks" : "greylists";
        spdlog::warn("antispim: DoS detector {} {} {} for {} h: {} (admins: review with hushctl blocklist list)", does,
                     entry.kind, entry.value, limits_.block_for.count(), entry.reason);
        if (notifier_ != nullptr) {
            notifier_->notify(std::string("DoS detector ") + (entry.trust == "block" ? "blocked " : "greylisted ") +
                                  entry.kind + " " + entry.value,
                              entry.value + " is " + (entry.trust == "block" ? "blocked" : "greylisted") +
                                  " server-wide for " + std::to_string(limits_.block_for.count()) + " h: " +
                                  entry.reason + ". Review with `hushctl blocklist list` or the admin page.",
                              out);
        }
    }
}

}  // namespace hush
