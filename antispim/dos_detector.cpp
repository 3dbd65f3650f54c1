#include "antispim/dos_detector.hpp"
#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "antispim/blocklist.hpp"

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
        // tell which, so it is blocked only with that evidence. A sender reaching them alone is blocked as it is.
        const bool domain_crossed = by_domain >= limit && detector_.evidence_against("domain:" + ctx.sender.domain());
        const bool network_crossed = by_network >= limit && detector_.evidence_against("ip:" + network);
        if (by_sender < limit && !domain_crossed && !network_crossed) {
            co_return result(as::verdict::pass());
        }
        // The widest key that crossed the line: a flood from one service blocks the service (the seed: blacklist
        // abusive services), a flood from many domains in one network the network, a local sender only itself.
        std::string kind = domain_crossed ? "domain" : network_crossed ? "ip" : "jid";
        std::string value = kind == "jid"      ? ctx.sender.bare_string()
                            : kind == "domain" ? ctx.sender.domain()
                                               : network;
        const std::size_t reached = std::max({by_sender, by_domain, by_network});
        as::verdict v;
        v.kind = as::verdict_kind::reject;
        v.reason = "dos:" + kind + ":" + value;
        v.error_condition = "policy-violation";
        v.error_text = "too many users of this server contacted at once; blocked for a while";
        auto* detector = &detector_;
        struct block_effect final : as::verdict_effect {
            dos_detector* detector;
            std::string kind, value;
            std::size_t reached;
            asio::awaitable<void> apply(const stanza&, outgoing& out) override {
                co_await detector->block(kind, value, reached, out);
            }
        };
        auto effect = std::make_shared<block_effect>();
        effect->detector = detector;
        effect->kind = std::move(kind);
        effect->value = std::move(value);
        effect->reached = reached;
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
      not_blocked_said_(1000) {}

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
                     "and {} passed: not blocked, each is challenged",
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

asio::awaitable<void> dos_detector::block(std::string kind, std::string value, std::size_t reached, outgoing& out) {
    storage::blocklist_entry entry;
    entry.kind = std::move(kind);
    entry.value = std::move(value);
    entry.reason = "contacted " + std::to_string(reached) + " users as a stranger within " +
                   std::to_string(limits_.window.count()) + " s";
    if (entry.kind != "jid") {
        // The evidence a service or network was blocked on, for the admins and for importers of /blocklist.xml.
        const auto tally = evidence_.of((entry.kind == "domain" ? "domain:" : "ip:") + entry.value,
                                        std::chrono::steady_clock::now());
        entry.reason += "; " + std::to_string(tally.failed) + " of its senders locked out by challenges, " +
                        std::to_string(tally.passed) + " passed";
    }
    entry.source = "dos detector";
    entry.added_at = unix_now();
    entry.expires_at = entry.added_at + std::chrono::duration_cast<std::chrono::seconds>(limits_.block_for).count();
    spdlog::warn("antispim: DoS detector blocks {} {} for {} h: {} (admins: review with hushctl blocklist list)",
                 entry.kind, entry.value, limits_.block_for.count(), entry.reason);
    auto put = [entry](storage::store& s) { return s.put_blocklist_entry(entry); };
    if (auto stored = co_await store_.run(std::move(put)); !stored) {
        spdlog::error("antispim: DoS detector cannot store the block: {}", stored.error().message);
        co_return;
    }
    co_await blocklist_.reload();
    if (notifier_ != nullptr) {
        notifier_->notify("DoS detector blocked " + entry.kind + " " + entry.value,
                          entry.value + " is blocked server-wide for " + std::to_string(limits_.block_for.count()) +
                              " h: " + entry.reason + ". Review with `hushctl blocklist list` or the admin page.",
                          out);
    }
}

}  // namespace hush
