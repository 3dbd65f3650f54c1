#pragma once
// Passes everything: the chain's placeholder until real policies are configured.
#include "antispim/policy.hpp"

namespace hush::antispim {

class pass_policy final : public policy {
public:
    std::string_view name() const override { return "pass"; }
    boost::asio::awaitable<hush::expected<verdict, policy_failure>> evaluate(const spim_context& ctx) override;
};

}  // namespace hush::antispim
