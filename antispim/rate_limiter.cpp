#include "antispim/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

#include "antispim/challenge.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

namespace {

std::string describe(const antispim_config::rate_limit& limit) {
    const auto s = limit.per.count();
    const std::string unit = s == 1 ? "second" : s == 60 ? "minute" : s == 3600 ? "hour" : s == 86400 ? "day"
                                                                                   : std::to_string(s) + " s";
    return std::to_string(limit.count) + " per " + unit;
}

class rate_policy final : public as::policy {
public:
    explicit rate_policy(rate_limiter& limiter) : limiter_(limiter) {}
    std::string_view name() const override { return "rate"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        const auto requests = limiter_.requests_for(ctx);
        if (requests.empty()) {
            co_return result(as::verdict::pass());
        }
        double used = 0;
        const auto refused = limiter_.buckets().take_all(requests, token_buckets::clock::now(), &used);
        if (!refused) {
            ctx.rate_used = used;  // for the combined score's `rate` part (the content policy comes after)
            co_return result(as::verdict::pass());
        }
        const auto& r = requests[refused->index];
        // "invites|sender|x" → "rate:invites:sender"
        const auto first = r.key.find('|');
        const auto second = r.key.find('|', first + 1);
        const std::string what = r.key.substr(0, first);
        const std::string per = r.key.substr(first + 1, second - first - 1);
        as::verdict v;
        v.reason = "rate:" + what + ":" + per;
        v.error_condition = "policy-violation";
        v.error_text = "too many " + std::string(what == "invites" ? "invitations" : "messages to strangers") +
                       " (limit " + describe(r.limit) + " per " + per + "); try again in " +
                       std::to_string(refused->retry_after.count()) + " s";
        if (limiter_.options().defer) {
            v.kind = as::verdict_kind::defer;
            const auto until = std::chrono::system_clock::now() + refused->retry_after;
            v.error_payload = as::retry_after_payload(until);
        } else {
            v.kind = as::verdict_kind::reject;
        }
        co_return result(std::move(v));
    }

private:
    rate_limiter& limiter_;
};

}  // namespace

token_buckets::token_buckets(std::size_t max_buckets, std::atomic<std::uint64_t>* evictions)
    : buckets_(std::max(max_buckets, min_buckets), evictions) {}

double token_buckets::level(bucket& b, const antispim_config::rate_limit& limit, clock::time_point now) const {
    const double per_second = static_cast<double>(limit.count) / static_cast<double>(limit.per.count());
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min<double>(limit.count, b.tokens + std::max(0.0, elapsed) * per_second);
    b.at = now;
    return b.tokens;
}

std::optional<token_buckets::refusal> token_buckets::take_all(const std::vector<request>& requests,
                                                              clock::time_point now, double* used_share) {
    std::lock_guard lock(mutex_);
    std::vector<bucket*> taken;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        if (r.limit.count == 0) {
            taken.push_back(nullptr);
            continue;
        }
        // Bounded: a full map forgets its least recently used bucket, never one taken just above (min_buckets).
        auto& b = buckets_.try_emplace(r.key, bucket{static_cast<double>(r.limit.count), now}).first;
        if (level(b, r.limit, now) < 1.0) {
            const double per_second = static_cast<double>(r.limit.count) / static_cast<double>(r.limit.per.count());
            const double missing = 1.0 - b.tokens;
            return refusal{i, std::chrono::seconds{static_cast<std::int64_t>(std::ceil(missing / per_second))}};
        }
        taken.push_back(&b);
    }
    double used = 0;
    for (std::size_t i = 0; i < taken.size(); ++i) {
        if (taken[i] != nullptr) {
            taken[i]->tokens -= 1.0;
            const double capacity = static_cast<double>(requests[i].limit.count);
            used = std::max(used, std::clamp(1.0 - taken[i]->tokens / capacity, 0.0, 1.0));
        }
    }
    if (used_share != nullptr) {
        *used_share = used;
    }
    return std::nullopt;
}

std::size_t token_buckets::size() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

rate_limiter::rate_limiter(const antispim_config::rate_options& options, std::function<bool(std::string_view)> is_local,
                           std::size_t max_buckets, std::atomic<std::uint64_t>* evictions)
    : options_(options), is_local_(std::move(is_local)), buckets_(max_buckets, evictions) {}

std::unique_ptr<as::policy> rate_limiter::make_policy() { return std::make_unique<rate_policy>(*this); }

std::vector<token_buckets::request> rate_limiter::requests_for(const as::spim_context& ctx) const {
    const auto path = as::path_of(ctx.stanza);
    if (!ctx.stranger || !as::is_first_contact(path)) {
        return {};
    }
    const bool invite = path == as::stranger_path::invite;
    const auto& limits = invite ? options_.invites : options_.messages;
    const std::string what = invite ? "invites" : "messages";
    std::vector<token_buckets::request> out;
    out.push_back({what + "|sender|" + ctx.sender.bare_string(), limits.sender});
    if (!is_local_(ctx.sender.domain())) {
        out.push_back({what + "|domain|" + ctx.sender.domain(), limits.domain});
    }
    if (!ctx.peer_address.empty()) {
        out.push_back({what + "|ip|" + ctx.peer_address, limits.ip});
    }
    // Per receiver and sending service: a farm on one service drains its own share of what a receiver accepts,
    // never the share of people writing from anywhere else (issue 16: 28 of 40 newcomers were refused with a farm).
    out.push_back({what + "|receiver|" + ctx.receiver.bare_string() + "|" + ctx.sender.domain(), limits.receiver});
    return out;
}

}  // namespace hush
