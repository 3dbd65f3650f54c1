#pragma once
// The ordered anti-SPIM chain the router calls for every inbound stanza from a possible stranger. The first
// verdict other than pass wins. A policy in dry-run mode has its verdict logged and counted as "would_*" and the
// stanza goes on. A policy that fails yields its slot's failure verdict, logged — never skipped silently.
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/policy.hpp"
#include "antispim/config.hpp"

namespace hush::antispim {

struct policy_counters {
    std::array<std::uint64_t, verdict_kind_count> enforced{};  // verdicts that took effect (pass included)
    std::array<std::uint64_t, verdict_kind_count> dry_run{};   // verdicts a dry-run policy would have given
    std::uint64_t failures = 0;
};

struct policy_slot {
    std::unique_ptr<policy> impl;
    bool dry_run = false;
    verdict on_failure;  // what a failing policy yields (default: pass, logged loudly)
};

struct decision {
    verdict result;
    std::string policy;  // which policy decided; empty when everything passed
};

class chain {
public:
    explicit chain(std::vector<policy_slot> slots);
    ~chain();

    // Policies that need the server's services (storage, routing) are made by factories the server supplies.
    using policy_factory = std::function<std::unique_ptr<policy>()>;

    // Builds the chain named in config. Throws std::runtime_error for an unknown policy (start-up only;
    // config validation already rejects them).
    static std::unique_ptr<chain> build(const antispim_config& config,
                                        const std::map<std::string, policy_factory>& factories = {});

    boost::asio::awaitable<decision> evaluate(const spim_context& ctx);

    std::vector<std::string> policy_names() const;
    // Whether the policy is in the chain and not in dry-run.
    bool enforces(std::string_view name) const;
    policy_counters counters(std::size_t index) const;
    std::size_t size() const { return slots_.size(); }

private:
    struct counter_cells;
    std::vector<policy_slot> slots_;
    std::unique_ptr<counter_cells[]> cells_;
};

}  // namespace hush::antispim
