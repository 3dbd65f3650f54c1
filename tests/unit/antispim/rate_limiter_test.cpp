// Rate policies: token buckets on a fake clock, and which buckets a stranger stanza draws on.
#include <doctest.h>

#include "antispim/rate_limiter.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace std::chrono_literals;

TEST_CASE("token buckets: burst, refill, and all-or-nothing") {
    token_buckets buckets;
    const antispim_config::rate_limit three_per_minute{3, 60s};
    const antispim_config::rate_limit ten_per_minute{10, 60s};
    const auto t0 = token_buckets::clock::now();
    const std::vector<token_buckets::request> one{{"messages|sender|bot@spam.test", three_per_minute},
                                                  {"messages|domain|spam.test", ten_per_minute}};
    CHECK_FALSE(buckets.take_all(one, t0));
    CHECK_FALSE(buckets.take_all(one, t0));
    CHECK_FALSE(buckets.take_all(one, t0));
    const auto refused = buckets.take_all(one, t0);
    REQUIRE(refused);
    CHECK(refused->index == 0);
    CHECK(refused->retry_after == 20s);  // one token per 20 s
    // A refused stanza took nothing from the domain's bucket: 7 are left for other senders of spam.test.
    const std::vector<token_buckets::request> other{{"messages|sender|bot2@spam.test", ten_per_minute},
                                                    {"messages|domain|spam.test", ten_per_minute}};
    for (int i = 0; i < 7; ++i) {
        CHECK_FALSE(buckets.take_all(other, t0));
    }
    const auto domain_dry = buckets.take_all(other, t0);
    REQUIRE(domain_dry);
    CHECK(domain_dry->index == 1);
    // Refill: after 20 s the sender has one token again, and the domain one too (10 per minute → 2 in 20 s).
    CHECK_FALSE(buckets.take_all(one, t0 + 20s));
    CHECK(buckets.take_all(one, t0 + 20s));
    // "off" (count 0) never limits.
    const std::vector<token_buckets::request> unlimited{{"invites|ip|192.0.2.1", {0, 60s}}};
    for (int i = 0; i < 100; ++i) {
        CHECK_FALSE(buckets.take_all(unlimited, t0));
    }
}

TEST_CASE("token buckets: a full set forgets idle buckets, not the one of a sender that keeps trying") {
    std::atomic<std::uint64_t> evictions{0};
    token_buckets buckets(20, &evictions);
    const antispim_config::rate_limit one_per_hour{1, 3600s};
    const auto t0 = token_buckets::clock::now();
    const std::vector<token_buckets::request> bot{{"messages|sender|bot@spam.test", one_per_hour}};
    CHECK_FALSE(buckets.take_all(bot, t0));
    CHECK(buckets.take_all(bot, t0));  // dry
    // 1000 new senders, one message each; the bot tries again after every 10 and stays refused.
    for (int i = 0; i < 1000; ++i) {
        const std::vector<token_buckets::request> other{
            {"messages|sender|s" + std::to_string(i) + "@example.net", one_per_hour}};
        CHECK_FALSE(buckets.take_all(other, t0 + 1s));
        if (i % 10 == 0) {
            CHECK(buckets.take_all(bot, t0 + 1s));
        }
    }
    CHECK(buckets.size() == 20);
    CHECK(evictions.load() == 1000 + 1 - 20);
    // An early sender was forgotten: it has a full bucket again.
    const std::vector<token_buckets::request> first{{"messages|sender|s0@example.net", one_per_hour}};
    CHECK_FALSE(buckets.take_all(first, t0 + 2s));
}

TEST_CASE("rate limiter: only strangers' first contacts, per sender, domain, IP and receiver with the service") {
    antispim_config::rate_options options;
    rate_limiter limiter(options, [](std::string_view d) { return d == "example.org"; });
    stanza invite = stanza::parse("<presence type='subscribe' from='bot@spam.test' to='bob@example.org'/>");
    antispim::spim_context ctx{invite};
    ctx.sender = *jid::parse("bot@spam.test/x");
    ctx.receiver = *jid::parse("bob@example.org");
    ctx.peer_address = "192.0.2.7";
    auto requests = limiter.requests_for(ctx);
    REQUIRE(requests.size() == 4);
    CHECK(requests[0].key == "invites|sender|bot@spam.test");
    CHECK(requests[1].key == "invites|domain|spam.test");
    CHECK(requests[2].key == "invites|ip|192.0.2.7");
    // A receiver's share per sending service: a farm on spam.test cannot use up what bob accepts from elsewhere.
    CHECK(requests[3].key == "invites|receiver|bob@example.org|spam.test");
    CHECK(requests[0].limit.count == options.invites.sender.count);
    ctx.stranger = false;  // contacts are never rate-limited here
    CHECK(limiter.requests_for(ctx).empty());
    // A local sender: no domain bucket.
    stanza message = stanza::parse("<message from='alice@example.org' to='bob@example.org'><body>hi</body></message>");
    antispim::spim_context local{message};
    local.sender = *jid::parse("alice@example.org/a");
    local.receiver = *jid::parse("bob@example.org");
    requests = limiter.requests_for(local);
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].key == "messages|sender|alice@example.org");
    CHECK(requests[1].key == "messages|receiver|bob@example.org|example.org");
    // Receipts and other non-first-contact stanzas are left alone.
    stanza result = stanza::parse("<iq type='result' id='1' from='bot@spam.test' to='bob@example.org'/>");
    antispim::spim_context iq_ctx{result};
    CHECK(limiter.requests_for(iq_ctx).empty());
}

TEST_CASE("rate policy: the refusal names the limit; defer mode adds retry-after") {
    antispim_config::rate_options options;
    options.messages.sender = {1, 60s};
    options.defer = true;
    rate_limiter limiter(options, [](std::string_view d) { return d == "example.org"; });
    auto policy = limiter.make_policy();
    stanza message = stanza::parse("<message from='bot@spam.test' to='bob@example.org'><body>buy</body></message>");
    antispim::spim_context ctx{message};
    ctx.sender = *jid::parse("bot@spam.test");
    ctx.receiver = *jid::parse("bob@example.org");
    auto first = test::run_sync(policy->evaluate(ctx));
    REQUIRE(first);
    CHECK(first->kind == antispim::verdict_kind::pass);
    auto second = test::run_sync(policy->evaluate(ctx));
    REQUIRE(second);
    CHECK(second->kind == antispim::verdict_kind::defer);
    CHECK(second->reason == "rate:messages:sender");
    CHECK(second->error_condition == "policy-violation");
    CHECK(second->error_text.find("1 per minute") != std::string::npos);
    CHECK(second->error_payload.find("retry-after") != std::string::npos);
}

TEST_CASE("rate policy: a first contact let through leaves the share of its fullest bucket used, for the score") {
    antispim_config::rate_options options;
    options.messages.sender = {4, 60s};
    rate_limiter limiter(options, [](std::string_view d) { return d == "example.org"; });
    auto policy = limiter.make_policy();
    stanza message = stanza::parse("<message from='bot@spam.test' to='bob@example.org'><body>buy</body></message>");
    antispim::spim_context ctx{message};
    ctx.sender = *jid::parse("bot@spam.test");
    ctx.receiver = *jid::parse("bob@example.org");
    std::vector<double> used;
    for (int i = 0; i < 4; ++i) {
        auto v = test::run_sync(policy->evaluate(ctx));
        REQUIRE(v);
        CHECK(v->kind == antispim::verdict_kind::pass);
        used.push_back(ctx.rate_used);
    }
    // The sender's bucket of 4 is the fullest-used one (the others hold 60 or more); a little refills between calls.
    CHECK(used[0] == doctest::Approx(0.25).epsilon(0.01));
    CHECK(used[1] == doctest::Approx(0.5).epsilon(0.01));
    CHECK(used[3] == doctest::Approx(1.0).epsilon(0.01));
    // A contact draws on no bucket: nothing used.
    antispim::spim_context contact{message};
    contact.sender = ctx.sender;
    contact.receiver = ctx.receiver;
    contact.stranger = false;
    REQUIRE(test::run_sync(policy->evaluate(contact)));
    CHECK(contact.rate_used == 0);
}
