// In-band registration storage (migration 8 in this branch): invites, register_account's one transaction (account,
// invite use, pending mark, names reserved by invites) and the approval queue. Both backends (test_backends.hpp).
#include <doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

registration_invite invite(const std::string& digest, std::int64_t uses, std::int64_t expires_at = 0,
                           const std::string& username = "", const std::string& inviter = "") {
    registration_invite i;
    i.token_sha256 = digest;
    i.domain = domain;
    i.username = username;
    i.inviter = inviter;
    i.uses_left = uses;
    i.uses_total = uses;
    i.created_at = 1000;
    i.expires_at = expires_at;
    return i;
}

new_registration request(const std::string& username, const std::string& digest = "", bool pending = false) {
    return new_registration{domain, username, digest, pending, "192.0.2.1", 2000};
}

}  // namespace

TEST_CASE_TEMPLATE("invites: put, get, list newest first, remove", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->list_invites()).empty());
    CHECK_FALSE(must(s->get_invite("aa")).has_value());
    auto first = invite("aa", 3, 5000, "carol", "alice@example.org");
    auto second = invite("bb", 1);
    second.created_at = 1500;
    must(s->put_invite(first));
    must(s->put_invite(second));
    CHECK(must(s->get_invite("aa")) == first);
    const auto all = must(s->list_invites());
    REQUIRE(all.size() == 2);
    CHECK(all[0] == second);
    CHECK(all[1] == first);
    CHECK(must(s->remove_invite("aa")));
    CHECK_FALSE(must(s->remove_invite("aa")));
    CHECK(must(s->list_invites()).size() == 1);
}

TEST_CASE_TEMPLATE("register_account: an invite's uses are taken with the account, all or nothing", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_invite(invite("two", 2)));
    CHECK(must(s->register_account(request("carol", "two"), make_credentials('c'))) == registration_status::created);
    CHECK(must(s->get_invite("two"))->uses_left == 1);
    // A taken name gives the use back (the transaction rolled back).
    CHECK(must(s->register_account(request("alice", "two"), make_credentials('c'))) == registration_status::taken);
    CHECK(must(s->get_invite("two"))->uses_left == 1);
    CHECK(must(s->register_account(request("dave", "two"), make_credentials('d'))) == registration_status::created);
    CHECK(must(s->get_invite("two"))->uses_left == 0);
    // Used up: refused, and nothing is created.
    CHECK(must(s->register_account(request("erin", "two"), make_credentials('e'))) ==
          registration_status::invite_refused);
    CHECK_FALSE(must(s->account_exists(domain, "erin")));
    // Unknown, or for another host.
    CHECK(must(s->register_account(request("erin", "nope"), make_credentials('e'))) ==
          registration_status::invite_refused);
    auto other = invite("other", 1);
    other.domain = "example.com";
    must(s->put_invite(other));
    CHECK(must(s->register_account(request("erin", "other"), make_credentials('e'))) ==
          registration_status::invite_refused);
    CHECK(must(s->get_invite("other"))->uses_left == 1);
    CHECK(must(s->account_exists(domain, "carol")));
    CHECK(must(s->account_exists(domain, "dave")));
    // Without an invite: an ordinary creation.
    CHECK(must(s->register_account(request("frank"), make_credentials('f'))) == registration_status::created);
    CHECK(must(s->register_account(request("frank"), make_credentials('f'))) == registration_status::taken);
}

TEST_CASE_TEMPLATE("register_account: a name bound to a live invite is reserved for it", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_invite(invite("for-juliet", 1, 0, "juliet")));
    must(s->put_invite(invite("any", 5)));
    must(s->put_invite(invite("old-romeo", 1, 1500, "romeo")));  // expired at request time 2000
    CHECK(must(s->register_account(request("juliet"), make_credentials('j'))) == registration_status::taken);
    CHECK(must(s->register_account(request("juliet", "any"), make_credentials('j'))) == registration_status::taken);
    // The bound invite registers only its name.
    CHECK(must(s->register_account(request("mallory", "for-juliet"), make_credentials('m'))) ==
          registration_status::invite_refused);
    CHECK(must(s->register_account(request("juliet", "for-juliet"), make_credentials('j'))) ==
          registration_status::created);
    // An expired invite reserves nothing.
    CHECK(must(s->register_account(request("romeo"), make_credentials('r'))) == registration_status::created);
}

TEST_CASE_TEMPLATE("register_account: concurrent registrations share an invite's last use with no one", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto setup = open_with_accounts(backend);
    must(setup->put_invite(invite("last", 1)));
    std::atomic<int> created{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto s = open_store(backend.options());
            for (int attempt = 0; attempt < 50; ++attempt) {  // SQLite may answer "busy": try again
                auto r = s->register_account(request("racer" + std::to_string(i), "last"), make_credentials('r'));
                if (!r) {
                    continue;
                }
                (*r == registration_status::created ? created : refused)++;
                return;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(created.load() == 1);
    CHECK(refused.load() == 3);
    CHECK(must(setup->get_invite("last"))->uses_left == 0);
    int accounts = 0;
    for (int i = 0; i < 4; ++i) {
        accounts += must(setup->account_exists(domain, "racer" + std::to_string(i))) ? 1 : 0;
    }
    CHECK(accounts == 1);
}

TEST_CASE_TEMPLATE("live invites per inviter, and dead ones swept", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::string alice = "alice@example.org";
    must(s->put_invite(invite("a1", 1, 0, "", alice)));
    must(s->put_invite(invite("a2", 1, 3000, "", alice)));
    must(s->put_invite(invite("a3", 0, 0, "", alice)));  // used up
    must(s->put_invite(invite("b1", 1, 0, "", "bob@example.org")));
    CHECK(must(s->count_live_invites(alice, 2000)) == 2);
    CHECK(must(s->count_live_invites(alice, 3000)) == 1);  // a2 expires at 3000
    CHECK(must(s->count_live_invites("nobody@example.org", 0)) == 0);
    CHECK(must(s->delete_dead_invites(3500)) == 2);  // a3 (used up), a2 (expired before the cutoff)
    CHECK(must(s->list_invites()).size() == 2);
}

TEST_CASE_TEMPLATE("approval queue: pending accounts, approve, deny only what is pending", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->register_account(request("carol", "", true), make_credentials('c'))) ==
          registration_status::created);
    auto later = request("dave", "", true);
    later.now = 2500;
    later.address = "2001:db8::1";
    CHECK(must(s->register_account(later, make_credentials('d'))) == registration_status::created);
    const auto queue = must(s->list_pending_accounts());
    REQUIRE(queue.size() == 2);
    CHECK(queue[0] == pending_account{domain, "carol", 2000, "192.0.2.1"});
    CHECK(queue[1] == pending_account{domain, "dave", 2500, "2001:db8::1"});
    CHECK(must(s->is_pending(domain, "carol")));
    CHECK_FALSE(must(s->is_pending(domain, "alice")));

    CHECK(must(s->approve_pending(domain, "carol")));
    CHECK_FALSE(must(s->is_pending(domain, "carol")));
    CHECK(must(s->account_exists(domain, "carol")));
    CHECK_FALSE(must(s->approve_pending(domain, "carol")));
    // Deny deletes only a pending account: never an approved or an ordinary one.
    CHECK_FALSE(must(s->deny_pending(domain, "carol")));
    CHECK_FALSE(must(s->deny_pending(domain, "alice")));
    CHECK(must(s->account_exists(domain, "alice")));
    CHECK(must(s->deny_pending(domain, "dave")));
    CHECK_FALSE(must(s->account_exists(domain, "dave")));
    CHECK(must(s->list_pending_accounts()).empty());
    // Deleting a pending account takes its queue entry with it.
    CHECK(must(s->register_account(request("erin", "", true), make_credentials('e'))) ==
          registration_status::created);
    CHECK(must(s->delete_account(domain, "erin")));
    CHECK(must(s->list_pending_accounts()).empty());
}
