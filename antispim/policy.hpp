#pragma once
// One small anti-SPIM policy. Policies are built once from validated config and are immutable afterwards
// (their own counters and state excepted, which they guard themselves).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "antispim/context.hpp"
#include "antispim/verdict.hpp"
#include "protocol/expected.hpp"

namespace hush::antispim {

// Why a policy could not decide (a storage error, say). The chain then applies the slot's failure verdict.
struct policy_failure {
    std::string message;
};

class policy {
public:
    virtual ~policy() = default;
    virtual std::string_view name() const = 0;
    virtual boost::asio::awaitable<hush::expected<verdict, policy_failure>> evaluate(const spim_context& ctx) = 0;
};

}  // namespace hush::antispim
