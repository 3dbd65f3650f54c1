// The content policy and the combined score: each band (pass, challenge, hold, reject) with the parts that made
// it, encrypted bodies, spamd's fail modes, and the Bayes model learnt, stored and read back.
#include <doctest.h>

#include <fstream>

#include <boost/asio/io_context.hpp>

#include "antispim/chain.hpp"
#include "antispim/content_service.hpp"
#include "server/config/config.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace hush::antispim;
using test::run_sync;
namespace asio = boost::asio;

namespace {

struct fixture {
    test::temp_dir dir;
    config cfg;
    std::unique_ptr<storage::async_store> store;
    asio::io_context io;
    sender_signals signals;
    int holds = 0;

    fixture() {
        cfg.hosts = {"example.org"};
        cfg.storage = test::sqlite_options(dir.path());
        store = std::make_unique<storage::async_store>(cfg.storage);
        const auto list = (dir.path() / "urls.txt").string();
        std::ofstream(list) << "bad.example\n";
        cfg.antispim.content.url_lists = {list};
    }

    std::unique_ptr<content_service> service() {
        return std::make_unique<content_service>(
            cfg.antispim, *store, "secret",
            [this](const spim_context&) -> asio::awaitable<sender_signals> { co_return signals; },
            [this](const spim_context&) -> asio::awaitable<hush::expected<verdict, policy_failure>> {
                ++holds;
                verdict v;
                v.kind = verdict_kind::hold;
                co_return v;
            },
            io.get_executor());
    }

    verdict judge(content_service& svc, const std::string& xml, bool stranger = true) {
        const stanza s = stanza::parse(xml);
        spim_context ctx{s};
        ctx.sender = *jid::parse("bot@spam.test/x");
        ctx.receiver = *jid::parse("bob@example.org");
        ctx.kind = s.kind();
        ctx.stranger = stranger;
        ctx.origin = origin_kind::remote_domain;
        auto policy = svc.make_policy();
        return run_sync(policy->evaluate(ctx)).value();
    }
};

std::string message(const std::string& body) {
    return "<message type='chat' from='bot@spam.test/x' to='bob@example.org'><body>" + body + "</body></message>";
}

}  // namespace

TEST_CASE("a clean stranger's message passes with its parts; a contact's is not scored") {
    fixture f;
    auto svc = f.service();
    const auto v = f.judge(*svc, message("hi bob, lunch tomorrow?"));
    CHECK(v.kind == verdict_kind::pass);
    CHECK_FALSE(v.require_challenge);
    CHECK(v.explanation == "score 0.0; bayes untrained (0 spam, 0 ham of 20 each)");
    CHECK(f.judge(*svc, message("https://bad.example/"), false).explanation.empty());
}

TEST_CASE("the bands: challenge from challenge_at, hold from hold_at, reject from reject_at") {
    fixture f;
    f.cfg.antispim.content.bayes = false;
    auto svc = f.service();
    // The sender's other parts alone: listed (3) + reputation (3) = 6, challenge band.
    f.signals.listed = true;
    f.signals.suspect = true;
    auto v = f.judge(*svc, message("hello"));
    CHECK(v.kind == verdict_kind::pass);
    CHECK(v.require_challenge);
    CHECK(v.reason == "content-challenge");
    CHECK(v.explanation == "score 6.0 = listed 3.0 + reputation 3.0");
    // A listed link (10) and half the DoS limit reached (4 x 10/20 = 2): 12, hold band, no challenge.
    f.signals = {};
    f.signals.reached = 10;
    v = f.judge(*svc, message("see https://promo.bad.example/x"));
    CHECK(v.kind == verdict_kind::hold);
    CHECK(v.reason == "content-hold");
    CHECK(f.holds == 1);
    CHECK(v.explanation == "score 12.0 = url-list bad.example 10.0 + behaviour 10/20 receivers 2.0");
    // Two listed links and all the others: reject.
    f.signals.listed = true;
    f.signals.suspect = true;
    v = f.judge(*svc, message("https://bad.example/a"));
    CHECK(v.kind == verdict_kind::hold);  // 10 + 3 + 3 + 2 = 18 < 20
    f.cfg.antispim.content.url_weight = 20;
    auto strict = f.service();
    v = f.judge(*strict, message("https://bad.example/a"));
    CHECK(v.kind == verdict_kind::reject);
    CHECK(v.error_condition == "policy-violation");
    CHECK(v.explanation.starts_with("score 28.0 = url-list bad.example 20.0 + listed 3.0"));
}

TEST_CASE("the rate part: from half a rate bucket used, its weight times the share") {
    fixture f;
    f.cfg.antispim.content.bayes = false;
    auto svc = f.service();
    f.signals.rate_used = 0.4;  // an ordinary first contact: no part
    CHECK(f.judge(*svc, message("hello")).explanation == "score 0.0");
    f.signals.rate_used = 0.75;
    auto v = f.judge(*svc, message("hello"));
    CHECK(v.explanation == "score 3.0 = rate 75% used 3.0");
    CHECK_FALSE(v.require_challenge);
    // A bucket run empty and a listed sender: the challenge band.
    f.signals.rate_used = 1.0;
    f.signals.listed = true;
    v = f.judge(*svc, message("hello"));
    CHECK(v.explanation == "score 7.0 = listed 3.0 + rate 100% used 4.0");
    CHECK(v.require_challenge);
    f.cfg.antispim.score.rate = 0;
    CHECK(f.judge(*f.service(), message("hello")).explanation == "score 3.0 = listed 3.0");
}

TEST_CASE("an encrypted body gets no content score, and the verdict says so") {
    fixture f;
    auto svc = f.service();
    const auto v = f.judge(*svc, "<message type='chat'><body>I sent you an OMEMO encrypted message https://bad.example/"
                                 "</body><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>");
    CHECK(v.kind == verdict_kind::pass);
    CHECK(v.explanation == "score 0.0; encrypted: no content score");
}

TEST_CASE("an invitation is scored by its status; chat states and receipts are not first contacts") {
    fixture f;
    f.cfg.antispim.content.bayes = false;
    auto svc = f.service();
    CHECK(f.judge(*svc, "<presence type='subscribe'><status>add me https://bad.example</status></presence>").kind ==
          verdict_kind::hold);
    CHECK(f.judge(*svc, "<presence/>").explanation.empty());
}

TEST_CASE("spamd down: fail mode pass gives no content score, hold keeps the message") {
    fixture f;
    f.cfg.antispim.content.bayes = false;
    f.cfg.antispim.content.spamd = "127.0.0.1:9";  // discard: nothing listens
    f.cfg.antispim.content.spamd_timeout = std::chrono::milliseconds{500};
    auto passing = f.service();
    auto v = f.judge(*passing, message("hello"));
    CHECK(v.kind == verdict_kind::pass);
    CHECK(v.explanation.find("spamd unavailable: ") != std::string::npos);
    CHECK(passing->spamd_failures() == 1);
    f.cfg.antispim.content.spamd_fail = "hold";
    auto holding = f.service();
    v = f.judge(*holding, message("hello"));
    CHECK(v.kind == verdict_kind::hold);
    CHECK(v.reason == "content-spamd-unavailable");
}

TEST_CASE("lessons are stored as hashes and read back; a trained model scores") {
    fixture f;
    f.cfg.antispim.content.bayes_min_messages = 5;
    auto svc = f.service();
    for (int i = 0; i < 5; ++i) {
        REQUIRE(run_sync(svc->learn(true, "win free bitcoin now guaranteed profit " + std::to_string(i))));
        REQUIRE(run_sync(svc->learn(false, "are we still on for lunch tomorrow with the team")));
    }
    CHECK(run_sync(svc->learn(true, "!!!")));  // no words: nothing to learn
    CHECK(svc->stats().spam_messages == 5);
    auto fresh = f.service();
    CHECK_FALSE(fresh->stats().trained());
    run_sync(fresh->reload());
    CHECK(fresh->stats().trained());
    CHECK(fresh->stats().spam_messages == 5);
    const auto v = f.judge(*fresh, message("free bitcoin profit guaranteed"));
    CHECK(v.explanation.starts_with("score 1"));
    CHECK(v.explanation.find("bayes p=") != std::string::npos);
    // Stored: hashes and counts, never the words.
    const auto model = run_sync(f.store->run([](storage::store& s) { return s.load_content_model(100); })).value();
    CHECK(model.ham_messages == 5);
    CHECK(model.tokens.size() > 5);
}

TEST_CASE("dry run: the content policy's verdict is only counted; no challenge is forced, no parts carried") {
    fixture f;
    f.cfg.antispim.content.bayes = false;
    f.signals.listed = true;
    f.signals.suspect = true;  // 6 points: the challenge band
    auto svc = f.service();
    const stanza s = stanza::parse(message("hello"));
    for (const bool dry : {true, false}) {
        std::vector<policy_slot> slots;
        slots.push_back({svc->make_policy(), dry, {}});
        chain ch(std::move(slots));
        spim_context ctx{s};
        ctx.sender = *jid::parse("bot@spam.test/x");
        ctx.receiver = *jid::parse("bob@example.org");
        ctx.kind = s.kind();
        ctx.origin = origin_kind::remote_domain;
        const auto d = run_sync(ch.evaluate(ctx));
        CHECK(d.result.kind == verdict_kind::pass);
        const auto pass = static_cast<std::size_t>(verdict_kind::pass);
        if (dry) {
            CHECK_FALSE(ctx.must_challenge);
            CHECK(ctx.score_explanation.empty());
            CHECK(ch.counters(0).dry_run[pass] == 1);
        } else {
            CHECK(ctx.must_challenge);  // the challenge policy after it asks whatever the receiver chose
            CHECK(ctx.score_explanation == "score 6.0 = listed 3.0 + reputation 3.0");
            CHECK(ch.counters(0).enforced[pass] == 1);
        }
    }
}
