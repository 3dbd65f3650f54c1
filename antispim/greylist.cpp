#include "antispim/greylist.hpp"

#include <spdlog/spdlog.h>

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

namespace {

class greylist_policy final : public as::policy {
public:
    explicit greylist_policy(greylist& list) : list_(list) {}
    std::string_view name() const override { return "greylist"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        if (!ctx.stranger || !as::is_first_contact(as::path_of(ctx.stanza))) {
            co_return result(as::verdict::pass());
        }
        const auto network = list_.greylisted_network(ctx.peer_address);
        if (!network) {
            co_return result(as::verdict::pass());
        }
        // The same first sight as a listed range's (blocklist entries with trust "greylist"): a sender in both
        // waits once.
        const auto wait = list_.check_listed(ctx.sender.bare_string(), ctx.receiver.bare_string(),
                                             std::chrono::steady_clock::now());
        if (wait.count() == 0) {
            co_return result(as::verdict::pass());
        }
        // Deciding records the first sight; that is the point of greylisting, not a side effect to undo.
        as::verdict v;
        v.kind = as::verdict_kind::defer;
        v.reason = "greylisted:" + *network;
        v.error_condition = "policy-violation";
        v.error_text = "your network is greylisted here: please try again in " + std::to_string(wait.count()) + " s";
        co_return result(std::move(v));
    }

private:
    greylist& list_;
};

}  // namespace

greylist::greylist(const antispim_config::greylist_options& options, std::size_t max_entries,
                   std::atomic<std::uint64_t>* evictions)
    : options_(options), first_seen_(max_entries, evictions) {
    for (const auto& text : options_.ranges) {
        if (auto r = as::parse_ip_range(text)) {
            ranges_.push_back(*r);
        }
    }
}

std::unique_ptr<as::policy> greylist::make_policy() { return std::make_unique<greylist_policy>(*this); }

std::optional<std::string> greylist::greylisted_network(std::string_view peer_address) const {
    auto address = as::parse_ip_range(peer_address);
    if (!address) {
        return std::nullopt;
    }
    for (const auto& range : ranges_) {
        if (range.contains(*address)) {
            // The network the sender is counted in: its /24 or /48, not the whole greylisted range.
            return as::network_of(peer_address, options_.ipv4_prefix, options_.ipv6_prefix);
        }
    }
    return std::nullopt;
}

std::chrono::seconds greylist::check(const std::string& key, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    // Bounded: a full map forgets the least recently seen key; forgetting only means waiting once more.
    const auto [first, inserted] = first_seen_.try_emplace(key, now);
    const auto waited = now - first;
    if (waited >= options_.retry_after) {
        return std::chrono::seconds{0};
    }
    return std::chrono::ceil<std::chrono::seconds>(options_.retry_after - waited);
}

std::chrono::seconds greylist::check_listed(std::string_view sender, std::string_view receiver,
                                            std::chrono::steady_clock::time_point now) {
    std::string key = "listed ";
    key.append(sender).append(" ").append(receiver);
    return check(key, now);
}

}  // namespace hush
