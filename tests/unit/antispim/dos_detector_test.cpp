// The DoS detector: distinct receivers per key within the window, and what a crossing does — block a sender,
// block a service with evidence, greylist a network with evidence (once).
#include <doctest.h>

#include "antispim/dos_detector.hpp"
#include "antispim/greylist.hpp"
#include "server/config/config.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace std::chrono_literals;

TEST_CASE("distinct receivers are counted per key within the window") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    cfg.antispim.dos.window = std::chrono::seconds{60};
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; });
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(detector.record("jid:bot@spam.test", "a@example.org", t0) == 1);
    CHECK(detector.record("jid:bot@spam.test", "a@example.org", t0 + std::chrono::seconds(1)) == 1);  // same user
    CHECK(detector.record("jid:bot@spam.test", "b@example.org", t0 + std::chrono::seconds(2)) == 2);
    CHECK(detector.record("jid:other@spam.test", "c@example.org", t0 + std::chrono::seconds(3)) == 1);  // own key
    // Past the window, the early contacts no longer count.
    CHECK(detector.record("jid:bot@spam.test", "c@example.org", t0 + std::chrono::seconds(62)) == 2);
    CHECK(detector.record("jid:bot@spam.test", "d@example.org", t0 + std::chrono::seconds(200)) == 1);
}

TEST_CASE("remote servers are also counted by network") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; });
    CHECK(detector.network_of("192.0.2.77") == "192.0.2.0/24");
    CHECK(detector.network_of("2001:db8:1:2::9") == "2001:db8:1::/48");
    CHECK(detector.network_of("not an address").empty());
}

TEST_CASE("a full detector forgets idle keys, not a sender that keeps sending") {
    test::temp_dir dir;
    config cfg;
    cfg.hosts = {"example.org"};
    cfg.storage = test::sqlite_options(dir.path());
    cfg.antispim.dos.window = std::chrono::seconds{600};
    storage::async_store store(cfg.storage);
    blocklist_service blocklist(cfg.antispim, cfg.storage, "", store);
    std::atomic<std::uint64_t> evictions{0};
    antispim::challenge_evidence evidence(cfg.antispim.dos.evidence_window);
    dos_detector detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; }, 50,
                          &evictions);
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t reached = 0;
    // 1000 one-off keys flood the 50 slots; the bot contacts a new user after every 20 of them.
    for (int i = 0; i < 1000; ++i) {
        const auto at = t0 + std::chrono::milliseconds(i);
        detector.record("jid:flood" + std::to_string(i) + "@spam.test", "x@example.org", at);
        if (i % 20 == 0) {
            reached = detector.record("jid:bot@spam.test", "u" + std::to_string(i) + "@example.org", at);
        }
    }
    CHECK(reached == 50);  // every contact still counted
    CHECK(evictions.load() == 1000 + 1 - 50);
    // The oldest one-off keys are gone: counting starts again for them.
    CHECK(detector.record("jid:flood0@spam.test", "y@example.org", t0 + std::chrono::seconds(1)) == 1);
}

namespace {

// A DoS policy over a real (SQLite) blocklist with a greylist for its entries: the farm's network, its services.
struct policy_fixture {
    policy_fixture()
        : cfg(make_config(dir)),
          store(cfg.storage),
          grey(cfg.antispim.greylist),
          blocklist(cfg.antispim, cfg.storage, "", store, &grey),
          evidence(cfg.antispim.dos.evidence_window),
          detector(cfg.antispim, store, blocklist, evidence, [](std::string_view d) { return d == "example.org"; }),
          policy(detector.make_policy()),
          listed(blocklist.make_policy()) {}

    static config make_config(const test::temp_dir& dir) {
        config c;
        c.hosts = {"example.org"};
        c.storage = test::sqlite_options(dir.path());
        c.antispim.dos.distinct_receivers = 3;
        c.antispim.dos.evidence_senders = 2;
        return c;
    }

    // A first message from `sender`, arriving over S2S from `address`, to `receiver`.
    antispim::verdict judge(antispim::policy& p, std::string_view sender, std::string_view receiver,
                            std::string address = "192.0.2.7") {
        const std::string xml = "<message from='" + std::string(sender) + "' to='" + std::string(receiver) +
                                "'><body>hi</body></message>";
        stanzas.push_back(std::make_unique<stanza>(stanza::parse(xml)));
        antispim::spim_context ctx{*stanzas.back()};
        ctx.sender = *jid::parse(sender);
        ctx.receiver = *jid::parse(receiver);
        ctx.origin = antispim::origin_kind::remote_domain;
        ctx.peer_address = std::move(address);
        auto v = test::run_sync(p.evaluate(ctx));
        REQUIRE(v);
        return std::move(*v);
    }

    void apply(const antispim::verdict& v) {
        REQUIRE(v.effect);
        test::run_sync(v.effect->apply(*stanzas.back(), out));
    }

    std::optional<storage::blocklist_entry> entry(std::string_view kind, std::string_view value) {
        for (const auto& e : blocklist.local_entries()) {
            if (e.kind == kind && e.value == value) {
                return e;
            }
        }
        return std::nullopt;
    }

    void lock_out(const std::string& key, int senders) {
        for (int i = 0; i < senders; ++i) {
            evidence.record(key, "locked" + std::to_string(i) + "@x.test", true, std::chrono::steady_clock::now());
        }
    }

    test::temp_dir dir;
    config cfg;
    storage::async_store store;
    greylist grey;
    blocklist_service blocklist;
    antispim::challenge_evidence evidence;
    dos_detector detector;
    std::unique_ptr<antispim::policy> policy;
    std::unique_ptr<antispim::policy> listed;
    std::vector<std::unique_ptr<stanza>> stanzas;
    outgoing out;
};

}  // namespace

TEST_CASE("a network reaching many users is greylisted only with evidence, and only once") {
    policy_fixture f;
    // Three little services in one /24, each sender writing to one user: only the network crosses the line.
    CHECK(f.judge(*f.policy, "a@one.test", "u1@example.org").kind == antispim::verdict_kind::pass);
    CHECK(f.judge(*f.policy, "b@two.test", "u2@example.org").kind == antispim::verdict_kind::pass);
    // No evidence: a crowd, not a farm. Each is challenged; nothing is listed.
    CHECK(f.judge(*f.policy, "c@three.test", "u3@example.org").kind == antispim::verdict_kind::pass);
    f.lock_out("ip:192.0.2.0/24", 2);
    const auto v = f.judge(*f.policy, "d@four.test", "u4@example.org");
    CHECK(v.kind == antispim::verdict_kind::defer);  // never a refusal: people retry
    CHECK(v.reason == "dos:greylist:ip:192.0.2.0/24");
    CHECK(v.error_text.find("greylisted") != std::string::npos);
    CHECK(v.error_text.find("300 s") != std::string::npos);
    f.apply(v);
    const auto greylisted = f.entry("ip", "192.0.2.0/24");
    REQUIRE(greylisted);
    CHECK(greylisted->trust == "greylist");
    CHECK(greylisted->source == "dos detector");
    CHECK(greylisted->reason.find("2 of its senders locked out by challenges, 0 passed") != std::string::npos);
    CHECK(greylisted->expires_at - greylisted->added_at == 24 * 3600);
    CHECK_FALSE(f.entry("domain", "four.test"));
    // Listed now: the DoS policy lets the range's next senders on; the entry defers each first contact once.
    CHECK(f.judge(*f.policy, "e@five.test", "u5@example.org").kind == antispim::verdict_kind::pass);
    const auto deferred = f.judge(*f.listed, "e@five.test", "u5@example.org");
    CHECK(deferred.kind == antispim::verdict_kind::defer);
    CHECK(deferred.reason == "listed-greylist-ip:192.0.2.0/24");
    CHECK(deferred.error_text.find("your network is greylisted here") != std::string::npos);
    // The sender the crossing deferred waits once, not twice: its first sight is the entry's.
    CHECK(f.grey.check_listed("d@four.test", "u4@example.org", std::chrono::steady_clock::now() + 301s).count() == 0);
    // Another network is not touched.
    CHECK(f.judge(*f.listed, "x@six.test", "u6@example.org", "198.51.100.9").kind == antispim::verdict_kind::pass);
}

TEST_CASE("a service reaching many users with evidence is blocked; a lone sender is blocked without") {
    policy_fixture f;
    f.lock_out("domain:farm.test", 2);
    f.judge(*f.policy, "a@farm.test", "u1@example.org", "203.0.113.1");
    f.judge(*f.policy, "b@farm.test", "u2@example.org", "203.0.113.1");
    const auto v = f.judge(*f.policy, "c@farm.test", "u3@example.org", "203.0.113.1");
    CHECK(v.kind == antispim::verdict_kind::reject);
    CHECK(v.reason == "dos:domain:farm.test");
    f.apply(v);
    const auto blocked = f.entry("domain", "farm.test");
    REQUIRE(blocked);
    CHECK(blocked->trust == "block");
    CHECK_FALSE(f.entry("ip", "203.0.113.0/24"));  // the network had no evidence of its own

    for (const char* user : {"u1@example.org", "u2@example.org"}) {
        f.judge(*f.policy, "lone@big.test", user, "198.51.100.9");
    }
    const auto lone = f.judge(*f.policy, "lone@big.test", "u3@example.org", "198.51.100.9");
    CHECK(lone.kind == antispim::verdict_kind::reject);
    CHECK(lone.reason == "dos:jid:lone@big.test");
}

TEST_CASE("parallel crossings store an entry once; a sender that already waited is not deferred again") {
    policy_fixture f;
    CHECK(f.detector.begin_acting("ip:192.0.2.0/24"));
    CHECK_FALSE(f.detector.begin_acting("ip:192.0.2.0/24"));  // another crossing is storing it
    CHECK(f.detector.begin_acting("domain:farm.test"));         // other keys are not held up
    f.detector.done_acting("ip:192.0.2.0/24");
    CHECK(f.detector.begin_acting("ip:192.0.2.0/24"));
    f.detector.done_acting("ip:192.0.2.0/24");

    // A crossing while the entry is being stored: the same verdict, no second effect.
    f.lock_out("ip:192.0.2.0/24", 2);
    f.judge(*f.policy, "a@one.test", "u1@example.org");
    f.judge(*f.policy, "b@two.test", "u2@example.org");
    const auto first = f.judge(*f.policy, "c@three.test", "u3@example.org");
    REQUIRE(first.kind == antispim::verdict_kind::defer);
    REQUIRE(first.effect);
    const auto second = f.judge(*f.policy, "d@four.test", "u4@example.org");
    CHECK(second.kind == antispim::verdict_kind::defer);
    CHECK_FALSE(second.effect);
    f.apply(first);
    CHECK(f.entry("ip", "192.0.2.0/24"));
}

TEST_CASE("a crossing sender that already waited out a greylist is not deferred a second time") {
    policy_fixture f;
    f.lock_out("ip:192.0.2.0/24", 2);
    // x@six.test was deferred by a greylist to u3 six minutes ago (retry_after is 300 s).
    CHECK(f.grey.check_listed("x@six.test", "u3@example.org", std::chrono::steady_clock::now() - 360s).count() == 300);
    f.judge(*f.policy, "a@one.test", "u1@example.org");
    f.judge(*f.policy, "b@two.test", "u2@example.org");
    CHECK(f.judge(*f.policy, "x@six.test", "u3@example.org").kind == antispim::verdict_kind::pass);
    // The next sender of that network meets the crossing as usual.
    CHECK(f.judge(*f.policy, "y@seven.test", "u4@example.org").kind == antispim::verdict_kind::defer);
}
