#include "antispim/pass_policy.hpp"

namespace hush::antispim {

boost::asio::awaitable<hush::expected<verdict, policy_failure>> pass_policy::evaluate(const spim_context&) {
    co_return verdict::pass();
}

}  // namespace hush::antispim
