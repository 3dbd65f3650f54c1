// antispim_service against a real SQLite async_store: the one definition of a stranger, and the challenge policy's
// verdicts — decided without side effects (so dry-run changes nothing), applied only through their effect.
#include <doctest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "antispim/chain.hpp"
#include "server/im/accounts.hpp"
#include "server/config/config.hpp"
#include "antispim/documents.hpp"
#include "antispim/stranger_service.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"
#include "tests/unit/recording.hpp"

using namespace hush;
using test::run_sync;

namespace {

using test::parse_jid;

stanza make_stanza(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    REQUIRE(doc->load_buffer(xml.data(), xml.size()));
    return stanza(std::move(doc), "");
}

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
          service(cfg.antispim, store, [](std::string_view d) { return d == "example.org"; }, nullptr, {}) {
        for (const char* node : {"bob", "carol"}) {
            auto creds = accounts::make_credentials("secret-password", 4096);
            REQUIRE(creds);
            auto create = [node, creds = *creds](storage::store& s) { return s.create_account("example.org", node, creds); };
            REQUIRE(run_sync(store.run(std::move(create))));
        }
    }

    bool stranger(std::string_view receiver, std::string_view sender) {
        return run_sync(service.stranger_to_user(parse_jid(receiver), parse_jid(sender), {}, nullptr));
    }

    relation_facts relation(std::string_view receiver, std::string_view sender, bool check_exists = true) {
        auto found = run_sync(service.relation(parse_jid(receiver), parse_jid(sender), check_exists));
        REQUIRE(found);
        return *found;
    }

    template <class F>
    void with_store(F f) {
        auto done = run_sync(store.run(std::move(f)));
        REQUIRE(done);
    }

    test::temp_dir dir;
    config cfg;
    storage::async_store store;
    // What the service returned to be sent, as the router would have received it.
    std::vector<stanza>& sent() {
        test::drain(out, sent_);
        return sent_;
    }

    outgoing out;
    std::vector<stanza> sent_;
    antispim_service service;
};

}  // namespace

TEST_CASE("a stranger: nobody the receiver knows, asked, pre-approved, wrote to, or approved") {
    fixture f;
    const auto bob = "bob@example.org";
    CHECK(f.stranger(bob, "mallory@spam.test/x"));
    CHECK_FALSE(f.stranger(bob, "bob@example.org/other"));  // the user's own account
    CHECK_FALSE(f.stranger(bob, "example.org"));            // the user's own server
    CHECK(f.stranger(bob, "carol@example.org/c"));          // no relationship (trust is not one)
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
                                    parse_jid("bob@example.org/desk"), parse_jid("mallory@spam.test"), nullptr));
        CHECK(f.stranger(bob, "mallory@spam.test/x"));
        run_sync(f.service.outbound(make_stanza("<message type='chat'><body>hi</body></message>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("mallory@spam.test"), nullptr));
        CHECK_FALSE(f.stranger(bob, "mallory@spam.test/x"));
    }
    SUBCASE("directed presence (joining a room) makes the room no stranger") {
        run_sync(f.service.outbound(make_stanza("<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("coffee@rooms.spam.test/bob"), nullptr));
        CHECK_FALSE(f.stranger(bob, "coffee@rooms.spam.test/alice"));
    }
    SUBCASE("an iq request to a service (registering with a transport) makes the service a contact") {
        run_sync(f.service.outbound(make_stanza("<iq type='set' id='r1'><query xmlns='jabber:iq:register'/></iq>"),
                                    parse_jid("bob@example.org/desk"), parse_jid("icq.gateway.test"), nullptr));
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

TEST_CASE("trust_local_users covers established accounts only: old enough, with mutual contacts") {
    SUBCASE("a brand-new local account is judged like a remote stranger by default") {
        fixture f;
        const auto facts = f.relation("bob@example.org", "carol@example.org/c");
        CHECK(facts.account_exists);
        CHECK_FALSE(facts.contact);
        CHECK_FALSE(facts.trusted_local);
        CHECK(facts.record);  // the challenge data came with the answer
    }
    SUBCASE("an account old enough with a mutual contact is trusted (and remembered)") {
        fixture f;
        f.cfg.antispim.trusted_after = std::chrono::hours{0};
        CHECK_FALSE(f.relation("bob@example.org", "carol@example.org/c").trusted_local);  // no mutual contact yet
        storage::roster_item item;
        item.contact = "dave@elsewhere.test";
        item.sub = storage::subscription::both;
        f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "carol", item); });
        const auto facts = f.relation("bob@example.org", "carol@example.org/c");
        CHECK(facts.trusted_local);
        CHECK_FALSE(facts.contact);
    }
    SUBCASE("trusted_after 0 and no contacts needed: every local account") {
        fixture f;
        f.cfg.antispim.trusted_after = std::chrono::hours{0};
        f.cfg.antispim.trusted_min_contacts = 0;
        CHECK(f.relation("bob@example.org", "carol@example.org/c").trusted_local);
        CHECK_FALSE(f.relation("bob@example.org", "mallory@spam.test/x").trusted_local);
    }
    SUBCASE("without trust_local_users, other local accounts are strangers too") {
        fixture f(false);
        f.cfg.antispim.trusted_after = std::chrono::hours{0};
        f.cfg.antispim.trusted_min_contacts = 0;
        CHECK_FALSE(f.relation("bob@example.org", "carol@example.org/c").trusted_local);
        CHECK_FALSE(f.stranger("bob@example.org", "example.org"));
    }
}

TEST_CASE("a missing account: the same facts as an existing one, from memory") {
    fixture f;
    const auto missing = f.relation("nobody@example.org", "mallory@spam.test/x");
    CHECK_FALSE(missing.account_exists);
    CHECK_FALSE(missing.contact);
    REQUIRE(missing.record);
    CHECK_FALSE(missing.record->account_exists);
    const auto existing = f.relation("bob@example.org", "mallory@spam.test/x");
    REQUIRE(existing.record);
    CHECK(existing.record->settings == missing.record->settings);
    CHECK(existing.record->key_id.size() == missing.record->key_id.size());
}

TEST_CASE("errors and iq results answer what a user addressed; groupchat comes from rooms joined") {
    fixture f;
    CHECK_FALSE(f.relation("bob@example.org", "mallory@spam.test/x").answers_receiver);
    run_sync(f.service.outbound(make_stanza("<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>"),
                                parse_jid("bob@example.org/desk"), parse_jid("mallory@spam.test"), nullptr));
    CHECK(f.relation("bob@example.org", "mallory@spam.test/x").answers_receiver);
    CHECK_FALSE(f.relation("bob@example.org", "spam.test").answers_receiver);  // bob wrote to mallory, not her server
    CHECK_FALSE(f.relation("bob@example.org", "eve@other.test").answers_receiver);
    CHECK_FALSE(f.relation("bob@example.org/desk", "room@muc.test/x").joined_room);
    run_sync(f.service.outbound(make_stanza("<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>"),
                                parse_jid("bob@example.org/desk"), parse_jid("room@muc.test/bob"), nullptr));
    CHECK(f.relation("bob@example.org/desk", "room@muc.test/alice").joined_room);
    CHECK_FALSE(f.relation("bob@example.org/phone", "room@muc.test/alice").joined_room);  // per resource
    run_sync(f.service.outbound(make_stanza("<presence/>"), parse_jid("bob@example.org/phone"),
                                parse_jid("room@muc.test/bob"), nullptr));
    run_sync(f.service.outbound(make_stanza("<presence type='unavailable'/>"), parse_jid("bob@example.org/desk"),
                                parse_jid("room@muc.test/bob"), nullptr));
    CHECK_FALSE(f.relation("bob@example.org/desk", "room@muc.test/alice").joined_room);
    CHECK(f.relation("bob@example.org/phone", "room@muc.test/alice").joined_room);  // the other device stays
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
    CHECK(f.sent().empty());
    auto requests = run_sync(f.service.message_requests(parse_jid("bob@example.org")));
    REQUIRE(requests);
    CHECK(requests->empty());
    // The effect: held, and a challenge sent from bob's bare JID.
    run_sync(v->effect->apply(s, f.out));
    requests = run_sync(f.service.message_requests(parse_jid("bob@example.org")));
    REQUIRE(requests);
    REQUIRE(requests->size() == 1);
    CHECK(requests->front().sender == "mallory@spam.test");
    // The receiver's notice that requests wait (the first one), then the challenge: the question as a chat message
    // without the form (clients that do not know XEP-0158 would drop both), then the form without a body.
    REQUIRE(f.sent().size() == 3);
    CHECK(f.sent()[0].serialize().find("<requests xmlns=\"urn:hush:antispim:0\" count=\"1\"/>") != std::string::npos);
    CHECK(f.sent()[0].serialize().find("to=\"bob@example.org\"") != std::string::npos);
    const std::string text = f.sent()[1].serialize();
    CHECK(text.find("from=\"bob@example.org\"") != std::string::npos);
    CHECK(text.find("type=\"chat\"") != std::string::npos);
    CHECK(text.find("xml:lang=\"en\"") != std::string::npos);
    CHECK(text.find("<body>Automatic reply from example.org, on behalf of bob@example.org:") != std::string::npos);
    CHECK(text.find("<question xmlns=\"urn:hush:antispim:0\" challenge=\"") != std::string::npos);
    CHECK(text.find("urn:xmpp:captcha") == std::string::npos);
    const std::string form = f.sent()[2].serialize();
    CHECK(form.find("urn:xmpp:captcha") != std::string::npos);
    CHECK(form.find("<body") == std::string::npos);
    CHECK(form.find("from=\"bob@example.org\"") != std::string::npos);
    SUBCASE("a contact passes untouched") {
        ctx.stranger = false;
        auto pass = run_sync(policy->evaluate(ctx));
        REQUIRE(pass);
        CHECK(pass->kind == antispim::verdict_kind::pass);
        CHECK_FALSE(pass->effect);
    }
}

TEST_CASE("the challenge speaks the sender's language when the server has texts for it") {
    fixture f;
    antispim::challenge_texts german;
    german.preamble = "Automatische Antwort von {server} für {receiver}:";
    f.cfg.antispim.wording.languages["de"] = german;
    auto policy = f.service.make_challenge_policy();
    const stanza s = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat' "
                                 "xml:lang='de-AT'><body>Hallo</body></message>");
    antispim::spim_context ctx{s};
    ctx.sender = parse_jid("mallory@spam.test/x");
    ctx.receiver = parse_jid("bob@example.org");
    ctx.kind = stanza_kind::message;
    ctx.stranger = true;
    auto v = run_sync(policy->evaluate(ctx));
    REQUIRE(v);
    REQUIRE(v->effect);
    run_sync(v->effect->apply(s, f.out));
    const auto question = std::find_if(f.sent().begin(), f.sent().end(),
                                       [](const stanza& x) { return bool(x.child("question", "urn:hush:antispim:0")); });
    REQUIRE(question != f.sent().end());
    const std::string text = question->serialize();
    CHECK(text.find("xml:lang=\"de\"") != std::string::npos);
    CHECK(text.find("Automatische Antwort von example.org für bob@example.org:") != std::string::npos);
}

TEST_CASE("a stranger's first message costs two storage round trips: one read, one atomic decision") {
    // Counted on the real store (async_store::runs), along the router's path: relation() for the classification
    // and the chain's context, the challenge policy's verdict (no storage: it reads the context), and the effect
    // (one atomic operation: state, held stanza, notice).
    fixture f;
    auto policy = f.service.make_challenge_policy();
    const stanza s = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat'><body>buy</body></message>");
    const auto before = f.store.runs();
    auto facts = run_sync(f.service.relation(parse_jid("bob@example.org"), parse_jid("mallory@spam.test/x"), true));
    REQUIRE(facts);
    REQUIRE_FALSE(facts->contact);
    antispim::spim_context ctx{s};
    ctx.sender = parse_jid("mallory@spam.test/x");
    ctx.receiver = parse_jid("bob@example.org");
    ctx.kind = stanza_kind::message;
    ctx.stranger = true;
    ctx.record = facts->record;
    auto v = run_sync(policy->evaluate(ctx));
    REQUIRE(v);
    REQUIRE(v->kind == antispim::verdict_kind::hold);
    CHECK(f.store.runs() - before == 1);  // deciding read nothing more
    run_sync(v->effect->apply(s, f.out));
    CHECK(f.store.runs() - before == 2);
    REQUIRE(f.sent().size() >= 1);  // the challenge (and the receiver's notice)
}

TEST_CASE("an offline receiver's notice is kept offline by the same atomic operation that holds the stanza") {
    fixture f;
    const jid bob = parse_jid("bob@example.org");
    const stanza first = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat'><body>hi</body></message>");
    const auto before = f.store.runs();
    auto step = run_sync(f.service.record_stranger_stanza(bob, "mallory@spam.test", f.cfg.antispim.challenge, true,
                                                          &first, false));
    REQUIRE(step);
    CHECK(f.store.runs() - before == 1);
    CHECK(step->held);
    CHECK(step->notify_requests == 1);
    CHECK(step->notice_offline);
    std::vector<storage::offline_message> offline;
    f.with_store([&](storage::store& s) {
        auto found = s.get_offline_messages("example.org", "bob");
        if (found) {
            offline = *found;
        }
        return found;
    });
    REQUIRE(offline.size() == 1);
    CHECK(offline[0].stanza.find("<requests xmlns=\"urn:hush:antispim:0\" count=\"1\"/>") != std::string::npos);
    CHECK(offline[0].stanza.find("from=\"example.org\"") != std::string::npos);
    SUBCASE("online: the notice is left to the router") {
        const stanza second = make_stanza("<message from='eve@spam.test/x' to='bob@example.org' type='chat'><body>hi</body></message>");
        f.with_store([](storage::store& s) { return s.delete_document("example.org", "bob", "antispim:notice"); });
        auto next = run_sync(f.service.record_stranger_stanza(bob, "eve@spam.test", f.cfg.antispim.challenge, true,
                                                              &second, true));
        REQUIRE(next);
        CHECK(next->notify_requests == 2);
        CHECK_FALSE(next->notice_offline);
    }
}

TEST_CASE("parallel first messages of one stranger: every one held, one challenge, one notice") {
    fixture f;
    const jid bob = parse_jid("bob@example.org");
    const stanza s = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat'><body>hi</body></message>");
    boost::asio::io_context io;
    std::vector<std::future<hush::expected<antispim_service::stranger_step, std::string>>> steps;
    for (int i = 0; i < 5; ++i) {
        steps.push_back(boost::asio::co_spawn(
            io, f.service.record_stranger_stanza(bob, "mallory@spam.test", f.cfg.antispim.challenge, true, &s, false),
            boost::asio::use_future));
    }
    io.run();
    int challenged = 0, held = 0, notified = 0;
    for (auto& fut : steps) {
        auto step = fut.get();
        REQUIRE(step);
        challenged += step->outcome.what == antispim::stranger_outcome::kind::challenge ? 1 : 0;
        held += step->held ? 1 : 0;
        notified += step->notice_offline ? 1 : 0;
    }
    CHECK(challenged == 1);  // the others see its state: the same challenge stands (resend)
    CHECK(held == 5);
    CHECK(notified == 1);
    std::size_t offline = 0;
    f.with_store([&](storage::store& st) {
        auto found = st.get_offline_messages("example.org", "bob");
        offline = found ? found->size() : 99;
        return found;
    });
    CHECK(offline == 1);
}

TEST_CASE("answers are judged one at a time: parallel wrong answers cost exactly max_tries") {
    fixture f;
    f.cfg.antispim.challenge.max_tries = 3;
    const jid bob = parse_jid("bob@example.org");
    const jid mallory = parse_jid("mallory@spam.test/x");
    const stanza first = make_stanza("<message from='mallory@spam.test/x' to='bob@example.org' type='chat'><body>hi</body></message>");
    auto step = run_sync(f.service.record_stranger_stanza(bob, "mallory@spam.test", f.cfg.antispim.challenge, true, &first));
    REQUIRE(step);
    REQUIRE(step->outcome.what == antispim::stranger_outcome::kind::challenge);
    // Ten answers started together on one event loop: their storage operations interleave freely.
    boost::asio::io_context io;
    std::vector<std::future<antispim::answer_outcome>> outcomes;
    REQUIRE(step->state.code.size() == 4);  // the default challenge: a number to type
    const std::string wrong = "10000";      // five digits: never the code, whichever each new challenge draws
    for (int i = 0; i < 10; ++i) {
        outcomes.push_back(boost::asio::co_spawn(io, f.service.answer(bob, mallory, wrong, first, f.out), boost::asio::use_future));
    }
    io.run();
    int wrong_count = 0;
    int locked = 0;
    for (auto& o : outcomes) {
        const auto got = o.get();
        wrong_count += got.what == antispim::answer_outcome::kind::wrong ? 1 : 0;
        locked += got.what == antispim::answer_outcome::kind::locked_out ? 1 : 0;
    }
    CHECK(wrong_count == 2);
    CHECK(locked == 8);
}

TEST_CASE("a contact of an online receiver is answered from memory until a relationship may have ended") {
    fixture f;
    storage::roster_item item;
    item.contact = "mallory@spam.test";
    item.sub = storage::subscription::both;
    f.with_store([item](storage::store& s) { return s.put_roster_item("example.org", "bob", item); });
    CHECK(f.relation("bob@example.org", "mallory@spam.test/x", false).contact);
    const auto before = f.store.runs();
    CHECK(f.relation("bob@example.org", "mallory@spam.test/x", false).contact);
    CHECK(f.store.runs() == before);  // no storage round trip for a known contact
    // An offline receiver's existence is unknown: storage is asked, as before.
    CHECK(f.relation("bob@example.org", "mallory@spam.test/x", true).contact);
    CHECK(f.store.runs() == before + 1);

    // The roster item goes (the IM core bumps the generation after such a write): a stranger again at once.
    f.with_store([](storage::store& s) { return s.remove_roster_item("example.org", "bob", "mallory@spam.test"); });
    f.store.relations_changed();
    CHECK_FALSE(f.relation("bob@example.org", "mallory@spam.test/x", false).contact);
    CHECK(f.stranger("bob@example.org", "mallory@spam.test/x"));
}
