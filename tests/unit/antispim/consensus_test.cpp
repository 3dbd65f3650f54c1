// User consensus on a real (SQLite) store: votes of distinct local users block a sender server-wide, distinct
// voted senders of one remote domain block the domain when several voters judged them, a user voting twice or
// against itself counts once or not at all, votes weigh their voter's standing, dry-run only counts, and the admins
// are told of each block.
#include <doctest.h>

#include "antispim/consensus.hpp"
#include "server/config/config.hpp"
#include "server/im/accounts.hpp"
#include "tests/unit/test_support.hpp"
#include "tests/unit/recording.hpp"

using namespace hush;
using test::recording_sink;
using test::run_sync;

namespace {

using test::parse_jid;

struct fixture {
    explicit fixture(bool dry_run = false)
        : cfg(make_config(dir, dry_run)),
          store(cfg.storage),
          blocklist(cfg.antispim, cfg.storage, "", store),
          admins("example.org", {"admin@example.org"}),
          votes(cfg.antispim, store, blocklist, admins, [](std::string_view d) { return d == "example.org"; }) {}

    static config make_config(const test::temp_dir& dir, bool dry_run) {
        config c;
        c.hosts = {"example.org"};
        c.storage = test::sqlite_options(dir.path());
        c.antispim.consensus.users = 3;
        c.antispim.consensus.domain_senders = 2;
        c.antispim.consensus.domain_voters = 2;
        c.antispim.consensus.dry_run = dry_run;
        // Every voter in full standing, unless a test asks for the rule.
        c.antispim.consensus.voter_min_age = std::chrono::hours{0};
        c.antispim.consensus.voter_min_contacts = 0;
        return c;
    }

    void add_account(const char* node) {
        auto creds = accounts::make_credentials("secret-password", 4096);
        REQUIRE(creds);
        auto create = [node, creds = *creds](storage::store& s) { return s.create_account("example.org", node, creds); };
        REQUIRE(run_sync(store.run(std::move(create))));
    }

    void add_mutual_contact(const char* node, std::string contact) {
        roster_item item;
        item.contact = std::move(contact);
        item.sub = subscription::both;
        auto put = [node, item](storage::store& s) { return s.put_roster_item("example.org", node, item); };
        REQUIRE(run_sync(store.run(std::move(put))));
    }

    // The server-wide entry for kind/value, if any.
    std::optional<storage::blocklist_entry> entry(std::string_view kind, std::string_view value) {
        for (const auto& e : blocklist.local_entries()) {
            if (e.kind == kind && e.value == value) {
                return e;
            }
        }
        return std::nullopt;
    }

    void vote(std::string_view voter, std::string_view sender, std::string kind = "block") {
        run_sync(votes.vote(parse_jid(voter), parse_jid(sender), std::move(kind), out));
        test::drain(out, sink.sent);
    }

    test::temp_dir dir;
    config cfg;
    storage::async_store store;
    blocklist_service blocklist;
    admin_notifier admins;
    recording_sink sink;  // what the votes returned to be sent
    outgoing out;
    consensus votes;
};

}  // namespace

TEST_CASE("three distinct local users block a sender server-wide, and the admins hear of it") {
    fixture f;
    f.vote("alice@example.org", "spammer@spam.test");
    f.vote("alice@example.org/phone", "spammer@spam.test/bot", "report");  // the same user again: one voter
    f.vote("bob@example.org", "spammer@spam.test", "lockout");
    CHECK_FALSE(f.entry("jid", "spammer@spam.test"));
    CHECK(f.sink.sent.empty());
    f.vote("carol@example.org", "spammer@spam.test");
    const auto blocked = f.entry("jid", "spammer@spam.test");
    REQUIRE(blocked);
    CHECK(blocked->source == "user consensus");
    CHECK(blocked->expires_at - blocked->added_at == 7 * 24 * 3600);
    CHECK(blocked->reason.find("local users weighing 3 voters") != std::string::npos);
    CHECK(f.votes.totals().votes == 4);
    CHECK(f.votes.totals().blocks == 1);
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].serialize().find("to=\"admin@example.org\"") != std::string::npos);
    CHECK(f.sink.sent[0].serialize().find("spammer@spam.test") != std::string::npos);
    // Already listed: a fourth vote adds nothing and tells nobody again.
    f.vote("dave@example.org", "spammer@spam.test");
    CHECK(f.votes.totals().blocks == 1);
    CHECK(f.sink.sent.size() == 1);
}

TEST_CASE("distinct voted senders of one remote domain block the domain, when several voters judged them") {
    fixture f;
    f.vote("alice@example.org", "a@spam.test");
    CHECK_FALSE(f.entry("domain", "spam.test"));
    // One user judging many people of a big service is one voter: the service stays.
    for (const char* sender : {"b@spam.test", "c@spam.test", "d@spam.test", "e@spam.test"}) {
        f.vote("alice@example.org", sender);
    }
    CHECK_FALSE(f.entry("domain", "spam.test"));
    f.vote("bob@example.org", "a@spam.test");
    const auto blocked = f.entry("domain", "spam.test");
    REQUIRE(blocked);
    CHECK(blocked->reason.find("5 senders of this domain") != std::string::npos);
    CHECK(blocked->reason.find("weighing 2 voters") != std::string::npos);
    CHECK(blocked->trust == "block");
}

TEST_CASE("local senders count per JID but never get their own domain blocked") {
    fixture f;
    f.vote("alice@example.org", "x@example.org");
    f.vote("bob@example.org", "y@example.org");
    CHECK_FALSE(f.entry("domain", "example.org"));
}

TEST_CASE("votes that cannot count: against oneself, against a domain JID, with consensus off") {
    fixture f;
    f.vote("alice@example.org", "alice@example.org/other");
    f.vote("alice@example.org", "spam.test");
    CHECK(f.votes.totals().votes == 0);
    // Consensus off (options are read at construction): nothing is recorded, nothing blocked.
    config c = fixture::make_config(f.dir, false);
    c.antispim.consensus.enabled = false;
    consensus disabled(c.antispim, f.store, f.blocklist, f.admins, [](std::string_view) { return false; });
    for (const char* voter : {"a@example.org", "b@example.org", "c@example.org"}) {
        run_sync(disabled.vote(parse_jid(voter), parse_jid("spammer@spam.test"), "block", f.out));
    }
    CHECK(disabled.totals().votes == 0);
    CHECK_FALSE(f.entry("jid", "spammer@spam.test"));
}

TEST_CASE("dry run: counted and logged, nothing blocked, nobody told") {
    fixture f(true);
    for (const char* voter : {"alice@example.org", "bob@example.org", "carol@example.org"}) {
        f.vote(voter, "spammer@spam.test");
    }
    CHECK_FALSE(f.entry("jid", "spammer@spam.test"));
    CHECK(f.votes.totals().would_block == 1);
    CHECK(f.votes.totals().blocks == 0);
    CHECK(f.sink.sent.empty());
}

TEST_CASE("a report is stored for the admins and counts as a vote") {
    fixture f;
    spam_report_payload report;
    report.reason = "urn:xmpp:reporting:spam";
    run_sync(f.votes.report(parse_jid("alice@example.org"), parse_jid("spammer@spam.test"), report, f.out));
    test::drain(f.out, f.sink.sent);
    CHECK(f.votes.totals().reports == 1);
    CHECK(f.votes.totals().votes == 1);
    auto listed = run_sync(f.store.run([](storage::store& s) { return s.list_spam_reports(10); }));
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().reporter == "alice@example.org");
    CHECK(listed->front().reported == "spammer@spam.test");
}

TEST_CASE("a voter's weight is its standing: account age and mutual contacts") {
    antispim_config::consensus_options o;  // defaults: 7 days, 2 mutual contacts
    using std::chrono::hours;
    CHECK(voter_weight(hours{24 * 7}, 2, o) == 100);
    CHECK(voter_weight(hours{24 * 365}, 50, o) == 100);
    CHECK(voter_weight(hours{0}, 5, o) == 0);            // created a moment ago
    CHECK(voter_weight(hours{24 * 30}, 0, o) == 0);      // old, but nobody it talks with
    CHECK(voter_weight(hours{24 * 30}, 1, o) == 50);
    CHECK(voter_weight(hours{84}, 2, o) == 50);          // half the age
    CHECK(voter_weight(hours{84}, 1, o) == 25);
    CHECK(voter_weight(hours{-5}, 2, o) == 0);           // a clock that went back counts as new
    o.voter_min_age = hours{0};
    o.voter_min_contacts = 0;
    CHECK(voter_weight(hours{0}, 0, o) == 100);           // both rules off
}

TEST_CASE("throwaway accounts cannot blocklist anyone; the same votes count once the voters have contacts") {
    fixture f;
    f.cfg.antispim.consensus.voter_min_contacts = 1;
    consensus votes(f.cfg.antispim, f.store, f.blocklist, f.admins,
                    [](std::string_view d) { return d == "example.org"; });
    auto vote = [&](const char* voter) {
        run_sync(votes.vote(parse_jid(std::string(voter) + "@example.org"), parse_jid("victim@big.test"), "block",
                            f.out));
    };
    for (const char* node : {"t1", "t2", "t3", "t4", "t5"}) {
        f.add_account(node);
        vote(node);  // no contacts: weight 0
    }
    CHECK(votes.totals().votes == 5);
    CHECK_FALSE(f.entry("jid", "victim@big.test"));
    CHECK_FALSE(f.entry("domain", "big.test"));
    // Not an account at all (deleted since): no standing either.
    vote("ghost");
    CHECK_FALSE(f.entry("jid", "victim@big.test"));
    for (const char* node : {"t1", "t2", "t3"}) {
        f.add_mutual_contact(node, "friend@elsewhere.test");
        vote(node);  // a repeat refreshes the vote with the voter's standing now
    }
    const auto blocked = f.entry("jid", "victim@big.test");
    REQUIRE(blocked);
    CHECK(blocked->reason.find("weighing 3 voters") != std::string::npos);
}

TEST_CASE("contacts that count for standing: on other servers, or local accounts old enough themselves") {
    fixture f;
    auto& o = f.cfg.antispim.consensus;
    o.voter_min_age = std::chrono::hours{24};
    o.voter_min_contacts = 2;
    for (const char* node : {"voter", "sybil1", "sybil2"}) {
        f.add_account(node);
    }
    f.add_mutual_contact("voter", "sybil1@example.org");
    f.add_mutual_contact("voter", "sybil2@example.org");
    f.add_mutual_contact("voter", "ghost@example.org");  // no such account
    auto count = [&](std::int64_t at) {
        auto n = run_sync(f.store.run([&, at](storage::store& s) {
            return established_contacts(s, parse_jid("voter@example.org"), at, o,
                                        [](std::string_view d) { return d == "example.org"; });
        }));
        REQUIRE(n);
        return *n;
    };
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(count(now) == 0);               // two accounts created just now, befriending the voter: nobody yet
    CHECK(count(now + 25 * 3600) == 2);   // a day later they are established themselves
    f.add_mutual_contact("voter", "friend@elsewhere.test");
    CHECK(count(now) == 1);               // a contact on another server counts at once
    o.voter_min_contacts = 1;
    CHECK(count(now + 25 * 3600) == 1);   // counting stops at what is needed
}
