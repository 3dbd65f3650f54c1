#include "antispim/chain.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "antispim/pass_policy.hpp"

namespace hush::antispim {

std::string_view verdict_name(verdict_kind kind) {
    switch (kind) {
    case verdict_kind::pass: return "pass";
    case verdict_kind::hold: return "hold";
    case verdict_kind::defer: return "defer";
    case verdict_kind::reject: return "reject";
    case verdict_kind::drop: return "drop";
    }
    return "pass";
}

struct chain::counter_cells {
    std::array<std::atomic<std::uint64_t>, verdict_kind_count> enforced{};
    std::array<std::atomic<std::uint64_t>, verdict_kind_count> dry_run{};
    std::atomic<std::uint64_t> failures{0};
};

chain::chain(std::vector<policy_slot> slots)
    : slots_(std::move(slots)), cells_(std::make_unique<counter_cells[]>(slots_.size())) {}

chain::~chain() = default;

std::unique_ptr<chain> chain::build(const antispim_config& config,
                                    const std::map<std::string, policy_factory>& factories) {
    std::vector<policy_slot> slots;
    for (const auto& name : config.chain) {
        policy_slot slot;
        if (name == "pass") {
            slot.impl = std::make_unique<pass_policy>();
        } else if (auto factory = factories.find(name); factory != factories.end()) {
            slot.impl = factory->second();
        } else {
            throw std::runtime_error("unknown anti-SPIM policy '" + name + "'");
        }
        slot.dry_run = std::find(config.dry_run.begin(), config.dry_run.end(), name) != config.dry_run.end();
        slots.push_back(std::move(slot));
    }
    return std::make_unique<chain>(std::move(slots));
}

boost::asio::awaitable<decision> chain::evaluate(const spim_context& ctx) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& slot = slots_[i];
        auto& cells = cells_[i];
        verdict v;
        auto outcome = co_await slot.impl->evaluate(ctx);
        if (outcome) {
            v = std::move(*outcome);
        } else {
            cells.failures.fetch_add(1, std::memory_order_relaxed);
            spdlog::error("antispim: policy {} failed ({}); applying its failure verdict {} for {} -> {}",
                          slot.impl->name(), outcome.error().message, verdict_name(slot.on_failure.kind),
                          ctx.sender.full_string(), ctx.receiver.full_string());
            v = slot.on_failure;
            if (v.reason.empty()) {
                v.reason = "policy-failure";
            }
        }
        const auto k = static_cast<std::size_t>(v.kind);
        if (slot.dry_run) {
            cells.dry_run[k].fetch_add(1, std::memory_order_relaxed);
            if (v.kind != verdict_kind::pass || v.require_challenge) {
                spdlog::info("antispim: dry-run {} would {} {} -> {} ({}){}{}", slot.impl->name(),
                             v.kind == verdict_kind::pass ? "require a challenge of" : verdict_name(v.kind),
                             ctx.sender.full_string(), ctx.receiver.full_string(), v.reason,
                             v.explanation.empty() ? "" : ": ", v.explanation);
            }
            continue;
        }
        cells.enforced[k].fetch_add(1, std::memory_order_relaxed);
        if (!v.explanation.empty() && ctx.score_explanation.empty()) {
            ctx.score_explanation = v.explanation;
        }
        if (v.kind == verdict_kind::pass && v.require_challenge) {
            ctx.must_challenge = true;
        }
        if (v.kind != verdict_kind::pass) {
            if (v.explanation.empty()) {
                v.explanation = ctx.score_explanation;
            }
            spdlog::info("antispim: {} {} {} -> {} ({}){}{}", slot.impl->name(), verdict_name(v.kind),
                         ctx.sender.full_string(), ctx.receiver.full_string(), v.reason,
                         v.explanation.empty() ? "" : ": ", v.explanation);
            co_return decision{std::move(v), std::string(slot.impl->name())};
        }
    }
    co_return decision{};
}

std::vector<std::string> chain::policy_names() const {
    std::vector<std::string> names;
    for (const auto& slot : slots_) {
        names.emplace_back(slot.impl->name());
    }
    return names;
}

bool chain::enforces(std::string_view name) const {
    return std::any_of(slots_.begin(), slots_.end(),
                       [&](const policy_slot& slot) { return !slot.dry_run && slot.impl->name() == name; });
}

policy_counters chain::counters(std::size_t index) const {
    policy_counters out;
    const auto& cells = cells_[index];
    for (std::size_t k = 0; k < verdict_kind_count; ++k) {
        out.enforced[k] = cells.enforced[k].load(std::memory_order_relaxed);
        out.dry_run[k] = cells.dry_run[k].load(std::memory_order_relaxed);
    }
    out.failures = cells.failures.load(std::memory_order_relaxed);
    return out;
}

}  // namespace hush::antispim
