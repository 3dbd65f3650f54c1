// XEP-0484 FAST token storage (migration 12): a client's current and previous token, rotation, replayed counts,
// expiry, the per-account cap on clients, revocation, and the tokens going with the account. Both backends.
#include <doctest.h>

#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

fast_token token(std::string agent, std::string id, std::int64_t created, std::int64_t expires = 1000) {
    return fast_token{std::move(agent), std::move(id), "HT-SHA-256-NONE", created, expires, -1, 0};
}

std::vector<std::string> token_ids(const std::vector<fast_token>& tokens) {
    std::vector<std::string> out;
    for (const auto& t : tokens) {
        out.push_back(t.token_id);
    }
    return out;
}

using names = std::vector<std::string>;

}  // namespace

TEST_CASE_TEMPLATE("fast tokens: a client keeps the token it used last until the new one is used", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_fast_token(domain, "alice", token("phone", "t1", 1), 10));
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t1", -1, 10, 100, false)));
    CHECK(must(s->get_fast_tokens(domain, "alice", "phone")).front().used_at == 100);
    must(s->put_fast_token(domain, "alice", token("phone", "t2", 2), 10));
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", "phone"))) == names{"t2", "t1"});
    // The success carrying t2 was lost: the client logs in with t1 again and gets t3. t1 stays (the client holds
    // it), t2 — never used — goes.
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t1", -1, 10, 200, false)));
    must(s->put_fast_token(domain, "alice", token("phone", "t3", 3), 10));
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", "phone"))) == names{"t3", "t1"});
    // Using the new one drops the older.
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t3", -1, 10, 300, false)));
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", "phone"))) == names{"t3"});
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "phone", "t1", -1, 10, 400, false)));
    // Another account's or another client's name for the token finds nothing.
    CHECK_FALSE(must(s->use_fast_token(domain, "bob", "phone", "t3", -1, 10, 400, false)));
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "laptop", "t3", -1, 10, 400, false)));
    // Invalidated: the login passes and the client's tokens are gone with it.
    must(s->put_fast_token(domain, "alice", token("phone", "t4", 4), 10));
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t3", -1, 10, 500, true)));
    CHECK(must(s->get_fast_tokens(domain, "alice", "phone")).empty());
}

TEST_CASE_TEMPLATE("fast tokens: a count must grow, an expired token is refused and swept", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_fast_token(domain, "alice", token("phone", "t1", 1, 100), 10));
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t1", 5, 10, 1, false)));
    CHECK(must(s->get_fast_tokens(domain, "alice", "phone")).front().last_count == 5);
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "phone", "t1", 5, 10, 2, false)));  // replayed
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "phone", "t1", 4, 10, 3, false)));
    // A refused count ends nothing, even asked to.
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "phone", "t1", 5, 10, 4, true)));
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t1", 3000000000LL, 10, 5, false)));  // past 32 bits
    CHECK(must(s->use_fast_token(domain, "alice", "phone", "t1", -1, 10, 6, false)));  // none given: no check
    CHECK_FALSE(must(s->use_fast_token(domain, "alice", "phone", "t1", 3000000001LL, 100, 7, false)));  // expired
    must(s->put_fast_token(domain, "bob", token("laptop", "b1", 1, 500), 10));
    CHECK(must(s->delete_expired_fast_tokens(100)) == 1);
    CHECK(must(s->get_fast_tokens(domain, "alice", "")).empty());
    CHECK(must(s->get_fast_tokens(domain, "bob", "")).size() == 1);
}

TEST_CASE_TEMPLATE("fast tokens: past the cap the least recently active client goes; revocation; account deletion",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_fast_token(domain, "alice", token("a", "a1", 1), 2));
    must(s->put_fast_token(domain, "alice", token("b", "b1", 2), 2));
    CHECK(must(s->use_fast_token(domain, "alice", "a", "a1", -1, 10, 3, false)));  // a is now the most recent
    must(s->put_fast_token(domain, "alice", token("c", "c1", 4), 2));                // b goes
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", ""))) == names{"c1", "a1"});
    // Logging in every day keeps a client that was issued its token long ago.
    CHECK(must(s->use_fast_token(domain, "alice", "a", "a1", -1, 10, 100, false)));
    must(s->put_fast_token(domain, "alice", token("d", "d1", 5), 2));  // c (4) goes, not a (100)
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", ""))) == names{"d1", "a1"});
    CHECK(must(s->delete_fast_tokens(domain, "alice", "a")) == 1);
    CHECK(token_ids(must(s->get_fast_tokens(domain, "alice", ""))) == names{"d1"});
    must(s->put_fast_token(domain, "alice", token("e", "e1", 6), 2));
    CHECK(must(s->delete_fast_tokens(domain, "alice", "")) == 2);
    must(s->put_fast_token(domain, "alice", token("f", "f1", 7), 2));
    CHECK(must(s->delete_account(domain, "alice")));
    CHECK(must(s->get_fast_tokens(domain, "alice", "")).empty());
    // No token for an account that does not exist.
    CHECK_FALSE(s->put_fast_token(domain, "nobody", token("x", "x1", 1), 2).has_value());
}

TEST_CASE_TEMPLATE("fast tokens: a new password revokes them", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_fast_token(domain, "alice", token("phone", "t1", 1), 10));
    must(s->put_fast_token(domain, "bob", token("phone", "b1", 1), 10));
    auto creds = must(s->get_credentials(domain, "alice"));
    REQUIRE(creds);
    CHECK(must(s->set_credentials(domain, "alice", *creds)));
    CHECK(must(s->get_fast_tokens(domain, "alice", "")).empty());
    CHECK(must(s->get_fast_tokens(domain, "bob", "")).size() == 1);
}
