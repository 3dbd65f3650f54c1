// antispim_service against a real SQLite async_store: the one definition of a stranger, and the challenge policy's
// verdicts — decided without side effects (so dry-run changes nothing), applied only through their effect.
#include <doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "antispim/chain.hpp"
#include "server/accounts.hpp"
#include "server/antispim_documents.hpp"
#include "server/antispim_service.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"

using namespace hush;
using test::run_sync;

namespace {

jid parse_jid(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE(j);
    return *j;
}

stanza make_stanza(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    REQUIRE(doc->load_buffer(xml.data(), xml.size()));
    return stanza(std::move(doc), "");
}

// Collects what the service sends.
class recording_sink final : public stanza_sink {
public:
    boost::asio::awaitable<void> send(stanza s) override {
        sent.push_back(s.serialize());
        co_return;
    }
    std::vector<std::string> sent;
};

config make_config(bool trust_local_users) {
    config c;
    c.hosts = {"example.org"};
    c.antispim.trust_local_users = trust_local_users;
    c.antispim.challenge.min_answer = std::chrono::seconds{0};
    return c;
}

class fixture {
public:
    explicit fixture(bool trust_local_users = true)
        : cfg(make_config(trust_local_users)),
          store(test::sqlite_options(dir.path())),
          service(cfg, store, [](std::string_view d) { return d == "example.org"; }) {
        service.set_sink(&sink);
        for (const char* node : {"bob", "carol"}) {
            auto creds = accounts::make_credentials("secret-password", 4096);
            REQUIRE(creds);
            auto create = [node, creds = *creds](storage::store& s) { return s.create_account("example.org", node, creds); };
            REQUIRE(run_sync(store.run(std::move(create))));
        }
    }

    bool stranger(std::string_view receiver, std::string_view sender) {
        return run_sync(service.is_stranger(parse_jid(receiver), parse_jid(sender)));
    }

    template <class F>
    void with_store(F f) {
        auto done = run_sync(store.run(std::move(f)));
        REQUIRE(done);
    }

    test::temp_dir dir;
    config cfg;
    storage::async_store store;
    recording_sink sink;
    antispim_service service;
};

}  // namespace

TEST_CASE("a stranger: nobody the receiver knows, asked, pre-approved, wrote to, or approved") {
    fixture f;
    const auto bob = "bob@example.org";
    CHECK(f.stranger(bob, "mallory@spam.test/x"));
    CHECK_FALSE(f.stranger(bob, "bob@example.org/other"));  // the user's own account
    CHECK_FALSE(f.stranger(bob, "example.org"));            // the user's own server
    CHECK_FALSE(f.stranger(bob, "carol@example.org/c"));    // trust_local_users
    SUBCASE("a subscription either way") {
        storage::roster_item item;
        item.contact = "mallory@spam.test";
        item.sub = storage::subscription::from;
        f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "bob", item); });
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
    }
    SUBCASE("asked by the user, or pre-approved") {
        storage::roster_item item;
        item.contact = "mallory@spam.test";
        item.pending_out = true;
        f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "bob", item); });
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
        item.pending_out = false;
        item.approved = true;
        f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "bob", item); });
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
    }
    SUBCASE("only asking the user (pending in) keeps a stranger a stranger") {
        storage::roster_item item;
        item.contact = "mallory@spam.test";
        item.pending_in = true;
        f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "bob", item); });
        CHECK(f.stranger(bob, "mallory@spam.test/x"));
    }
    SUBCASE("the user wrote first: a message with a body, not a chat state") {
        run_sync(f.service.outbound(make_stanza("<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("mallory@spam.test")));
        CHECK(f.stranger(bob, "mallory@spam.test/x"));
        run_sync(f.service.outbound(make_stanza("<message type='chat'><body>hi</body></message>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("mallory@spam.test")));
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
    }
    SUBCASE("directed presence (joining a room) makes the room no stranger") {
        run_sync(f.service.outbound(make_stanza("<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("coffee@rooms.spam.test/bob")));
        CHECK_FALSE(f.stranger(bob, "coffee@rooms.spam.test/alice"));
    }
    SUBCASE("an iq request to a service (registering with a transport) makes the service a contact") {
        run_sync(f.service.outbound(make_stanza("<iq type='set' id='r1'><query xmlns='jabber:iq:register'/></iq>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("icq.gateway.test")));
        CHECK_FALSE(f.stranger(bob, "icq.gateway.test"));
        CHECK(f.stranger(bob, "other.gateway.test"));
    }
    SUBCASE("approved under the current key only") {
        f.with_store([](storage::store& s) { return antispim_documents::approve(s, "example.org", "bob", "mallory@spam.test"); });
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
        f.with_store([](storage::store& s) { return antispim_documents::rotate_key(s, "example.org", "bob"); });
        CHECK(f.stranger(bob, "mallory@spam.test/x"));
    }
}

TEST_CASE("without trust_local_users, other local accounts are strangers too") {
    fixture f(false);
    CHECK(f.stranger("bob@example.org", "carol@example.org/c"));
    CHECK_FALSE(f.stranger("bob@example.org", "example.org"));
}

TEST_CASE("the policy decides without side effects; its effect holds and challenges") {
    fixture f;
    auto policy = f.service.make_challenge_policy();
    const stanza s = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat'><body>buy</body></message>");
    antispim::spim_context ctx{s};
    ctx.sender = parse_jid("mallory@spam.test/x");
    ctx.receiver = parse_jid("bob@example.org");
    ctx.kind = stanza_kind::message;
    ctx.stranger = true;
    auto v = run_sync(policy->evaluate(ctx));
    REQUIRE(v);
    CHECK(v->kind == antispim::verdict_kind::hold);
    CHECK(v->reason == "stranger-challenged");
    REQUIRE(v->effect);
    // Deciding stored nothing and sent nothing (what a dry-run policy amounts to).
    CHECK(f.sink.sent.empty());
    auto requests = run_sync(f.service.message_requests(parse_jid("bob@example.org")));
    REQUIRE(requests);
    CHECK(requests->empty());
    // The effect: held, and a challenge sent from bob's bare JID.
    run_sync(v->effect->apply(s));
    requests = run_sync(f.service.message_requests(parse_jid("bob@example.org")));
    REQUIRE(requests);
    REQUIRE(requests->size() == 1);
    CHECK(requests->front().sender == "mallory@spam.test");
    REQUIRE(f.sink.sent.size() == 1);
    CHECK(f.sink.sent[0].find("urn:xmpp:captcha") != std::string::npos);
    CHECK(f.sink.sent[0].find("from=\"bob@example.org\"") != std::string::npos);
    SUBCASE("a contact passes untouched") {
        ctx.stranger = false;
        auto pass = run_sync(policy->evaluate(ctx));
        REQUIRE(pass);
        CHECK(pass->kind == antispim::verdict_kind::pass);
        CHECK_FALSE(pass->effect);
    }
}
