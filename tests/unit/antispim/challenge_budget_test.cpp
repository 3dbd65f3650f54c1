// A suspect service's guess budget (issue 16): when challenges hold evidence against a sender's service or network,
// its answers are judged with [antispim.dos] suspect_tries tries, whatever the receiver allows; other senders keep
// the receiver's; an answer to a missing account is judged the same way; each such answer is counted. A sender its
// receiver judges spam after passing (or reports from the message requests) is evidence like a lockout.
#include <doctest.h>

#include "antispim/challenge_evidence.hpp"
#include "antispim/stranger_service.hpp"
#include "server/config/config.hpp"
#include "server/im/accounts.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::run_sync;

namespace {

using test::parse_jid;

struct fixture {
    explicit fixture(unsigned suspect_tries = 1)
        : cfg(make_config(dir, suspect_tries)), store(cfg.storage), evidence(cfg.antispim.dos.evidence_window),
                service(cfg.antispim, store, [](std::string_view d) { return d == "example.org"; }, nullptr, {},
                        &evidence) {
        auto creds = accounts::make_credentials("secret-password", 4096);
        REQUIRE(creds);
        auto create = [creds = *creds](storage::store& s) { return s.create_account("example.org", "bob", creds); };
        REQUIRE(run_sync(store.run(std::move(create))));
    }

    static config make_config(const test::temp_dir& dir, unsigned suspect_tries) {
        config c;
        c.hosts = {"example.org"};
        c.storage = test::sqlite_options(dir.path());
        c.antispim.challenge.max_tries = 3;
        c.antispim.challenge.min_answer = std::chrono::seconds{0};  // answering at once is no fault here
        c.antispim.dos.evidence_senders = 2;
        c.antispim.dos.suspect_tries = suspect_tries;
        return c;
    }

    void failed(const std::string& key, int senders) {
        for (int i = 0; i < senders; ++i) {
            evidence.record(key, "locked" + std::to_string(i) + "@x.test", true, std::chrono::steady_clock::now());
        }
    }

    // `sender` writes to `receiver` (challenged), then answers a wrong number once, through a server at
    // `peer_address` (none: its outcome is evidence about its service only).
    antispim::answer_outcome::kind wrong_answer(std::string_view receiver, std::string_view sender, bool exists,
                                                std::string peer_address = {}) {
        const std::string xml = "<message from='" + std::string(sender) + "' to='" + std::string(receiver) +
                                "' type='chat'><body>hi</body></message>";
        stanzas.push_back(std::make_unique<stanza>(stanza::parse(xml)));
        const jid r = parse_jid(receiver);
        const jid s = parse_jid(sender);
        auto step = run_sync(service.record_stranger_stanza(r, s.bare_string(), cfg.antispim.challenge, exists,
                                                            stanzas.back().get()));
        REQUIRE(step);
        REQUIRE(step->outcome.what == antispim::stranger_outcome::kind::challenge);
        // Five digits: never the four-digit code.
        return run_sync(service.answer(r, s, "10000", *stanzas.back(), out, peer_address)).what;
    }

    test::temp_dir dir;
    config cfg;
    storage::async_store store;
    antispim::challenge_evidence evidence;
    antispim_service service;
    std::vector<std::unique_ptr<stanza>> stanzas;
    outgoing out;
};

using kind = antispim::answer_outcome::kind;

}  // namespace

TEST_CASE("a sender of a service with evidence against it has one try; others keep the receiver's three") {
    fixture f;
    CHECK(f.wrong_answer("bob@example.org", "first@spam.test", true) == kind::wrong);  // no evidence yet
    f.failed("domain:spam.test", 2);
    CHECK(f.wrong_answer("bob@example.org", "mallory@spam.test", true) == kind::locked_out);
    // A lockout after one try is no evidence (a person's typo would keep the service suspect): still 2 failed.
    CHECK(f.evidence.of("domain:spam.test", std::chrono::steady_clock::now()).failed == 2);
    CHECK(f.wrong_answer("bob@example.org", "eve@fine.test", true) == kind::wrong);
    CHECK(f.evidence.stricter() == 1);
    // A missing account answers exactly as an existing one.
    CHECK(f.wrong_answer("nobody@example.org", "m2@spam.test", false) == kind::locked_out);
    CHECK(f.wrong_answer("nobody@example.org", "eve2@fine.test", false) == kind::wrong);
    CHECK(f.evidence.stricter() == 2);
}

TEST_CASE("a network with evidence against it: every service in it has one try") {
    fixture f;
    f.failed("ip:192.0.2.0/24", 2);
    CHECK(f.wrong_answer("bob@example.org", "x@little.test", true, "192.0.2.77") == kind::locked_out);
    CHECK(f.wrong_answer("bob@example.org", "y@little.test", true, "203.0.113.5") == kind::wrong);
}

TEST_CASE("evidence needs more failed than passed senders; dry run and suspect_tries 0 turn the budget off") {
    fixture f;
    f.failed("domain:mixed.test", 2);
    for (int i = 0; i < 2; ++i) {
        f.evidence.record("domain:mixed.test", "person" + std::to_string(i) + "@mixed.test", false,
                          std::chrono::steady_clock::now());
    }
    CHECK(f.wrong_answer("bob@example.org", "a@mixed.test", true) == kind::wrong);  // 2 failed, 2 passed: a crowd

    CHECK(f.service.suspect_of(parse_jid("alice@example.org"), "").tries == 0);  // local senders: never
    f.failed("domain:spam.test", 5);
    CHECK(f.service.suspect_of(parse_jid("mallory@spam.test"), "192.0.2.1").tries == 1);

    fixture dry;
    dry.cfg.antispim.dry_run = {"dos"};  // evidence acts as the dos policy: in its dry run, only logged
    dry.failed("domain:spam.test", 5);
    CHECK(dry.service.suspect_of(parse_jid("mallory@spam.test"), "192.0.2.1").tries == 0);
    CHECK(dry.wrong_answer("bob@example.org", "mallory@spam.test", true) == kind::wrong);
    CHECK(dry.evidence.stricter() == 0);

    fixture off(0);
    off.failed("domain:spam.test", 5);
    CHECK(off.service.suspect_of(parse_jid("mallory@spam.test"), "192.0.2.1").tries == 0);
    CHECK(off.wrong_answer("bob@example.org", "mallory@spam.test", true) == kind::wrong);
}

TEST_CASE("a sender its receiver judges spam after all counts against its service, as a lockout does") {
    fixture f;
    const jid bob = parse_jid("bob@example.org");
    // reader@spam.test reads the number and passes; bob blocks it afterwards.
    const stanza first = stanza::parse("<message from='reader@spam.test/x' to='bob@example.org' type='chat'>"
                                       "<body>hi</body></message>");
    auto step = run_sync(f.service.record_stranger_stanza(bob, "reader@spam.test", f.cfg.antispim.challenge, true,
                                                          &first));
    REQUIRE(step);
    const auto passed = run_sync(f.service.answer(bob, parse_jid("reader@spam.test/x"), step->state.code, first, f.out));
    REQUIRE(passed.what == kind::pass);
    auto now = std::chrono::steady_clock::now();
    CHECK(f.evidence.of("domain:spam.test", now).passed == 1);
    run_sync(f.service.advise_if_passed(bob, "reader@spam.test", f.out));
    CHECK(f.evidence.of("domain:spam.test", now).passed == 0);
    CHECK(f.evidence.of("domain:spam.test", now).failed == 1);  // its latest outcome: judged spam

    // held@spam.test never answered; bob reports it from his message requests.
    const stanza held = stanza::parse("<message from='held@spam.test/x' to='bob@example.org' type='chat'>"
                                      "<body>pills</body></message>");
    REQUIRE(run_sync(f.service.record_stranger_stanza(bob, "held@spam.test", f.cfg.antispim.challenge, true, &held)));
    REQUIRE(run_sync(f.service.resolve_request(bob, "held@spam.test",
                                              antispim_service::request_action::report, f.out)));
    CHECK(f.evidence.of("domain:spam.test", std::chrono::steady_clock::now()).failed == 2);
    // Rejecting a request is no judgement of spam; local senders are never evidence.
    const stanza other = stanza::parse("<message from='maybe@spam.test/x' to='bob@example.org' type='chat'>"
                                       "<body>hello</body></message>");
    REQUIRE(run_sync(f.service.record_stranger_stanza(bob, "maybe@spam.test", f.cfg.antispim.challenge, true, &other)));
    REQUIRE(run_sync(f.service.resolve_request(bob, "maybe@spam.test",
                                              antispim_service::request_action::reject, f.out)));
    f.service.judged_spam("alice@example.org");
    CHECK(f.evidence.of("domain:spam.test", std::chrono::steady_clock::now()).failed == 2);
    CHECK(f.evidence.of("domain:example.org", std::chrono::steady_clock::now()).failed == 0);
}
