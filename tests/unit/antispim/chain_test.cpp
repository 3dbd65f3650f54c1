#include <doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "antispim/chain.hpp"
#include "antispim/pass_policy.hpp"

using namespace hush;
using namespace hush::antispim;

namespace {

// A policy that returns a fixed outcome and counts its calls.
class fixed_policy final : public policy {
public:
    fixed_policy(std::string name, hush::expected<verdict, policy_failure> outcome, int* calls)
        : name_(std::move(name)), outcome_(std::move(outcome)), calls_(calls) {}
    std::string_view name() const override { return name_; }
    boost::asio::awaitable<hush::expected<verdict, policy_failure>> evaluate(const spim_context&) override {
        ++*calls_;
        co_return outcome_;
    }

private:
    std::string name_;
    hush::expected<verdict, policy_failure> outcome_;
    int* calls_;
};

verdict make(verdict_kind kind, std::string reason) {
    verdict v;
    v.kind = kind;
    v.reason = std::move(reason);
    return v;
}

decision run(chain& c) {
    boost::asio::io_context io;
    const auto s = stanza::make("message");
    spim_context ctx{s};
    ctx.sender = *jid::from_parts("mallory", "spam.test", "bot");
    ctx.receiver = *jid::from_parts("bob", "example.org");
    auto fut = boost::asio::co_spawn(io, c.evaluate(ctx), boost::asio::use_future);
    io.run();
    return fut.get();
}

}  // namespace

TEST_CASE("the first non-pass verdict wins and later policies are not asked") {
    int a = 0, b = 0, c = 0;
    std::vector<policy_slot> slots;
    slots.push_back({std::make_unique<fixed_policy>("a", verdict::pass(), &a), false, {}});
    slots.push_back({std::make_unique<fixed_policy>("b", make(verdict_kind::reject, "blocked"), &b), false, {}});
    slots.push_back({std::make_unique<fixed_policy>("c", make(verdict_kind::drop, "never"), &c), false, {}});
    chain ch(std::move(slots));
    auto d = run(ch);
    CHECK(d.result.kind == verdict_kind::reject);
    CHECK(d.result.reason == "blocked");
    CHECK(d.policy == "b");
    CHECK(a == 1);
    CHECK(b == 1);
    CHECK(c == 0);
    CHECK(ch.counters(0).enforced[static_cast<std::size_t>(verdict_kind::pass)] == 1);
    CHECK(ch.counters(1).enforced[static_cast<std::size_t>(verdict_kind::reject)] == 1);
    CHECK(ch.counters(2).enforced[static_cast<std::size_t>(verdict_kind::drop)] == 0);
}

TEST_CASE("a dry-run policy is counted as would-be but the stanza goes on") {
    int a = 0, b = 0;
    std::vector<policy_slot> slots;
    slots.push_back({std::make_unique<fixed_policy>("shadow", make(verdict_kind::drop, "looks-spammy"), &a), true, {}});
    slots.push_back({std::make_unique<fixed_policy>("b", verdict::pass(), &b), false, {}});
    chain ch(std::move(slots));
    auto d = run(ch);
    CHECK(d.result.kind == verdict_kind::pass);
    CHECK(d.policy.empty());
    CHECK(b == 1);
    const auto counters = ch.counters(0);
    CHECK(counters.dry_run[static_cast<std::size_t>(verdict_kind::drop)] == 1);
    CHECK(counters.enforced[static_cast<std::size_t>(verdict_kind::drop)] == 0);
}

TEST_CASE("a failing policy yields its configured failure verdict, counted") {
    int a = 0, b = 0;
    std::vector<policy_slot> slots;
    slots.push_back({std::make_unique<fixed_policy>("broken", hush::unexpected(policy_failure{"db down"}), &a), false,
                     make(verdict_kind::defer, "")});
    slots.push_back({std::make_unique<fixed_policy>("b", verdict::pass(), &b), false, {}});
    chain ch(std::move(slots));
    auto d = run(ch);
    CHECK(d.result.kind == verdict_kind::defer);
    CHECK(d.result.reason == "policy-failure");
    CHECK(d.policy == "broken");
    CHECK(b == 0);
    CHECK(ch.counters(0).failures == 1);
    CHECK(ch.counters(0).enforced[static_cast<std::size_t>(verdict_kind::defer)] == 1);
}

TEST_CASE("a failing policy whose failure verdict is pass lets the stanza through, still counted") {
    int a = 0;
    std::vector<policy_slot> slots;
    slots.push_back({std::make_unique<fixed_policy>("broken", hush::unexpected(policy_failure{"oops"}), &a), false, {}});
    chain ch(std::move(slots));
    auto d = run(ch);
    CHECK(d.result.kind == verdict_kind::pass);
    CHECK(ch.counters(0).failures == 1);
}

TEST_CASE("build from config: built-in policies, and those the server supplies through factories") {
    antispim_config cfg;
    CHECK(cfg.chain == std::vector<std::string>{"blocklist", "dos", "rate", "content", "challenge"});  // the server's
    CHECK_THROWS(chain::build(cfg));
    int made = 0;
    auto make = [&made] {
        ++made;
        return std::unique_ptr<policy>(std::make_unique<pass_policy>());
    };
    const std::map<std::string, chain::policy_factory> factories{{"challenge", make}, {"blocklist", make}, {"dos", make},
                                                                 {"rate", make}, {"content", make}};
    auto ch = chain::build(cfg, factories);
    REQUIRE(ch->size() == 5);
    CHECK(made == 5);
    cfg.chain = {"pass"};
    ch = chain::build(cfg);
    CHECK(ch->policy_names() == std::vector<std::string>{"pass"});
    CHECK(run(*ch).result.kind == verdict_kind::pass);
    cfg.chain = {"no-such-policy"};
    CHECK_THROWS(chain::build(cfg, factories));
}
