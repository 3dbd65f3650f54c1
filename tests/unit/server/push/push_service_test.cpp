// XEP-0357 registrations and notifications: the XEP's enable example round-trips through storage, disable by
// service or by node, the per-account cap, only the account itself may enable (anyone else: what a missing
// account gives), and the notification says no more than the config lets it (message-count; sender and body only
// when allowed), with the client's publish-options. What may be an app server (a service: no user part, not this
// server), the bounds on what is kept, one notification outstanding per registration, an error answer disabling
// the registration, and concurrent enables against the cap on both backends.
#include <doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "server/push/push_service.hpp"
#include "tests/unit/storage/test_backends.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::run_sync;

namespace {

constexpr const char* enable_example =
    "<iq type='set' id='x42' from='user@example.com/mobile' to='user@example.com'>"
    "<enable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='yxs32uqsflafdk3iuqo'>"
    "<x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>eruio234vzxc2kla-91</value></field>"
    "</x></enable></iq>";

struct fixture {
    test::temp_dir dir;
    storage::store_options options = test::sqlite_options(dir.path());
    storage::async_store store{options};
    push_config cfg;
    push_service push{store, cfg, {"example.com", "chat.example.com"}};
    const jid account = *jid::parse("user@example.com");

    fixture() {
        auto made = run_sync(store.run([](storage::store& s) {
            return s.create_account("example.com", "user", storage::testing::make_credentials('x'));
        }));
        REQUIRE(made);
    }

    stanza ask(const std::string& xml) {
        auto reply = run_sync(push.handle(stanza::parse(xml), account));
        REQUIRE(reply);
        return *reply;
    }

    // The notifications one offline message sends; the app servers answer each at once unless `answered` is false.
    std::vector<stanza> notify(bool answered = true, const std::string& body = "Wherefore art thou, Romeo?") {
        outgoing out;
        run_sync(push.notify(account, stanza::parse("<message type='chat' from='juliet@capulet.example/balcony' "
                                                    "to='user@example.com'><body>" + body + "</body></message>"),
                             out));
        std::vector<stanza> sent;
        for (auto& o : out.take()) {
            sent.push_back(std::move(o.content));
        }
        for (const auto& n : answered ? sent : std::vector<stanza>{}) {
            CHECK(answer(n, "<iq type='result'/>"));
        }
        return sent;
    }

    // The app server's answer (`reply`, given its type and payload) to notification `n`: whether it was taken as
    // the answer; what it does (a 'gone' error disables the registration) is done.
    bool answer(const stanza& n, const std::string& reply) {
        stanza iq = stanza::parse(reply);
        iq.set_attribute("id", std::string(n.id()));
        iq.set_attribute("from", std::string(n.to()));
        iq.set_attribute("to", std::string(n.from()));
        auto taken = push.take_answer(iq, *jid::parse(n.to()), account);
        if (taken) {
            run_sync(push.answered(*taken));
        }
        return taken.has_value();
    }

    stanza enable(const std::string& service, const std::string& node, const std::string& form = {}) {
        return ask("<iq type='set' id='e' from='user@example.com/m'><enable xmlns='urn:xmpp:push:0' jid='" + service +
                   "' node='" + node + "'>" + form + "</enable></iq>");
    }
};

std::string field(const stanza& iq, const char* var) {
    auto form = iq.element().child("pubsub").child("publish").child("item").child("notification").child("x");
    for (auto f : form.children("field")) {
        if (std::string_view(f.attribute("var").value()) == var) {
            return f.child("value").text().get();
        }
    }
    return "(none)";
}

}  // namespace

TEST_CASE("push: the XEP's enable, then a summary-only notification with the client's publish-options") {
    fixture f;
    CHECK(f.notify().empty());  // nothing enabled: nothing sent
    const stanza result = f.ask(enable_example);
    CHECK(result.type() == "result");
    const auto sent = f.notify();
    REQUIRE(sent.size() == 1);
    const stanza& iq = sent[0];
    CHECK(iq.type() == "set");
    CHECK(iq.to() == "push-5.client.example");
    CHECK(iq.from() == "user@example.com");
    CHECK(std::string(iq.element().child("pubsub").child("publish").attribute("node").value()) == "yxs32uqsflafdk3iuqo");
    CHECK(field(iq, "FORM_TYPE") == "urn:xmpp:push:summary");
    CHECK(field(iq, "message-count") == "1");
    CHECK(field(iq, "last-message-sender") == "(none)");  // by default neither who nor what
    CHECK(field(iq, "last-message-body") == "(none)");
    const std::string serialized = iq.serialize();
    CHECK(serialized.find("<publish-options><x xmlns=\"jabber:x:data\" type=\"submit\">") != std::string::npos);
    CHECK(serialized.find("eruio234vzxc2kla-91") != std::string::npos);
    CHECK(serialized.find("Romeo") == std::string::npos);

    f.cfg.include_sender = true;
    f.cfg.include_body = true;
    const auto told = f.notify();
    REQUIRE(told.size() == 1);
    CHECK(field(told[0], "last-message-sender") == "juliet@capulet.example");
    CHECK(field(told[0], "last-message-body") == "Wherefore art thou, Romeo?");
}

TEST_CASE("push: disable by node or by service; at most max_registrations; only the account itself") {
    fixture f;
    f.cfg.max_registrations = 2;
    auto enable = [&](const std::string& service, const std::string& node) { return f.enable(service, node); };
    CHECK(enable("push.a.example", "n1").type() == "result");
    CHECK(enable("push.a.example", "n1").type() == "result");  // the same again replaces it
    CHECK(enable("push.b.example", "n2").type() == "result");
    const stanza full = enable("push.c.example", "n3");
    CHECK(full.type() == "error");
    CHECK(full.serialize().find("resource-constraint") != std::string::npos);
    CHECK(f.notify().size() == 2);
    CHECK(f.ask("<iq type='set' id='d' from='user@example.com/m'><disable xmlns='urn:xmpp:push:0' "
                "jid='push.a.example' node='other'/></iq>").type() == "result");
    CHECK(f.notify().size() == 2);  // another node: nothing disabled
    f.ask("<iq type='set' id='d' from='user@example.com/m'><disable xmlns='urn:xmpp:push:0' jid='push.a.example'/></iq>");
    const auto left = f.notify();
    REQUIRE(left.size() == 1);
    CHECK(left[0].to() == "push.b.example");

    const stanza foreign = f.ask("<iq type='set' id='x' from='mallory@evil.example/x'><enable xmlns='urn:xmpp:push:0' "
                                 "jid='push.evil.example' node='spy'/></iq>");
    CHECK(foreign.type() == "error");
    CHECK(test::error_of(foreign).condition == "service-unavailable");  // as the router answers for no account
    const stanza bad = f.ask("<iq type='set' id='b' from='user@example.com/m'><enable xmlns='urn:xmpp:push:0' jid='push.a.example'/></iq>");
    CHECK(bad.serialize().find("bad-request") != std::string::npos);  // no node
    CHECK_FALSE(run_sync(f.push.handle(stanza::parse("<iq type='set' id='o' from='user@example.com/m'>"
                                                     "<query xmlns='jabber:iq:other'/></iq>"),
                                       f.account)));
}

TEST_CASE("push: chat states, errors and room messages wake nobody") {
    CHECK(push_service::worth_notifying(stanza::parse("<message type='chat'><body>hi</body></message>")));
    CHECK_FALSE(push_service::worth_notifying(stanza::parse(
        "<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")));
    CHECK_FALSE(push_service::worth_notifying(stanza::parse("<message type='error'><body>x</body></message>")));
    CHECK_FALSE(push_service::worth_notifying(stanza::parse("<message type='groupchat'><body>x</body></message>")));
}

TEST_CASE("push: an app server is a service, never a person's account nor this server; what is kept is bounded") {
    fixture f;
    auto refused = [&](const stanza& reply) {
        CHECK(reply.type() == "error");
        return test::error_of(reply).condition;
    };
    CHECK(refused(f.enable("stranger@elsewhere.example", "n")) == "not-acceptable");  // a user's account
    CHECK(refused(f.enable("stranger@elsewhere.example/phone", "n")) == "not-acceptable");
    CHECK(refused(f.enable("friend@example.com", "n")) == "not-acceptable");  // a local account
    CHECK(refused(f.enable("example.com", "n")) == "not-acceptable");         // this server itself
    CHECK(refused(f.enable("chat.example.com", "n")) == "not-acceptable");    // or another of its hosts
    CHECK(refused(f.enable("push.example.net", std::string(push_service::max_node_bytes + 1, 'n'))) ==
          "not-acceptable");
    const std::string big_form = "<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>" +
                                 std::string(push_service::max_options_bytes, 's') + "</value></field></x>";
    CHECK(refused(f.enable("push.example.net", "n", big_form)) == "not-acceptable");
    CHECK(f.notify().empty());  // nothing of that was kept

    CHECK(f.enable("push.example.net", std::string(push_service::max_node_bytes, 'n')).type() == "result");
    CHECK(f.enable("push.example.net/instance-1", "n").type() == "result");  // a service's resource is a service
    CHECK(f.notify().size() == 2);
}

TEST_CASE("push: one notification per registration awaits an answer; an answer or the timeout lets the next go") {
    fixture f;
    auto now = push_service::clock::now();
    f.push.set_clock([&] { return now; });
    REQUIRE(f.enable("push.a.example", "n1").type() == "result");
    REQUIRE(f.enable("push.b.example", "n2").type() == "result");

    const auto first = f.notify(false);
    REQUIRE(first.size() == 2);
    CHECK(f.push.outstanding() == 2);
    for (int i = 0; i < 10; ++i) {
        CHECK(f.notify(false).empty());  // a burst: the phones are already being woken
    }
    CHECK(f.push.outstanding() == 2);

    // a.example answers: its next message notifies it again; b.example's is still unanswered.
    CHECK(f.answer(first[0], "<iq type='result'/>"));
    CHECK_FALSE(f.answer(first[0], "<iq type='result'/>"));  // taken once
    const auto second = f.notify(false);
    REQUIRE(second.size() == 1);
    CHECK(second[0].to() == first[0].to());

    // Nobody answers for answer_timeout: the next message notifies both again.
    now += push_service::answer_timeout - std::chrono::seconds(1);
    CHECK(f.notify(false).empty());
    now += std::chrono::seconds(1);
    CHECK(f.notify(false).size() == 2);
    CHECK(f.push.outstanding() == 2);

    // Disabling and enabling again does not reopen it (it is the same registration).
    const std::string disable = "<iq type='set' id='d' from='user@example.com/m'><disable xmlns='urn:xmpp:push:0' "
                                "jid='push.a.example'/></iq>";
    CHECK(f.ask(disable).type() == "result");
    CHECK(f.enable("push.a.example", "n1").type() == "result");
    CHECK(f.notify(false).empty());
}

TEST_CASE("push: however often it disables and enables, an account holds at most max_registrations waiting") {
    fixture f;
    const std::string disable = "<iq type='set' id='d' from='user@example.com/m'><disable xmlns='urn:xmpp:push:0' "
                                "jid='push.a.example'/></iq>";
    for (int i = 0; i < 3 * static_cast<int>(f.cfg.max_registrations); ++i) {
        REQUIRE(f.enable("push.a.example", "n" + std::to_string(i)).type() == "result");
        CHECK(f.notify(false).size() == 1);  // a new node: a new registration, notified
        REQUIRE(f.ask(disable).type() == "result");
    }
    CHECK(f.push.outstanding() == f.cfg.max_registrations);
}

TEST_CASE("push: only the app server it went to answers a notification, for the account it came from") {
    fixture f;
    REQUIRE(f.enable("push.a.example", "n1").type() == "result");
    const auto sent = f.notify(false);
    REQUIRE(sent.size() == 1);
    stanza reply = stanza::parse("<iq type='error'><error type='cancel'><item-not-found "
                                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    reply.set_attribute("id", std::string(sent[0].id()));
    CHECK_FALSE(f.push.take_answer(reply, *jid::parse("push.evil.example"), f.account));  // another service
    CHECK_FALSE(f.push.take_answer(reply, *jid::parse("push.a.example"), *jid::parse("other@example.com")));
    reply.set_attribute("id", "push-guessed");
    CHECK_FALSE(f.push.take_answer(reply, *jid::parse("push.a.example"), f.account));  // an id never sent
    CHECK_FALSE(f.push.take_answer(stanza::parse("<message type='error'/>"), *jid::parse("push.a.example"), f.account));
    CHECK(f.push.outstanding() == 1);
    CHECK(f.notify(false).empty());  // still the registration's, still unanswered
}

TEST_CASE("push: an app server's error disables the registration, unless it says to wait") {
    fixture f;
    REQUIRE(f.enable("push.a.example", "n1").type() == "result");
    REQUIRE(f.enable("push.b.example", "n2").type() == "result");
    auto sent = f.notify(false);
    REQUIRE(sent.size() == 2);
    // A temporary error: the registration stays, and the next message notifies it again.
    CHECK(f.answer(sent[0], "<iq type='error'><error type='wait'><resource-constraint "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    // XEP-0357 §8: any other error means the registration is gone.
    CHECK(f.answer(sent[1], "<iq type='error'><error type='cancel'><item-not-found "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    sent = f.notify(false);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].to() == "push.a.example");
    CHECK(f.answer(sent[0], "<iq type='error'><error type='auth'><forbidden "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    CHECK(f.notify(false).empty());  // both gone
    auto stored = run_sync(f.store.read([](storage::store& s) {
        return s.get_document("example.com", "user", std::string(push_service::document_key));
    }));
    REQUIRE(stored);
    CHECK_FALSE(stored->has_value());  // the document went with its last registration
}

TEST_CASE("push: to anyone but the account itself, the same answer as for an account that does not exist") {
    fixture f;
    for (const char* from : {"friend@example.com/x", "mallory@evil.example/x", "example.com"}) {
        for (const char* payload : {"<enable xmlns='urn:xmpp:push:0' jid='push.a.example' node='n'/>",
                                    "<disable xmlns='urn:xmpp:push:0' jid='push.a.example'/>"}) {
            const stanza reply = f.ask(std::string("<iq type='set' id='x' from='") + from + "'>" + payload + "</iq>");
            CAPTURE(from);
            CHECK(reply.type() == "error");
            CHECK(test::error_of(reply).condition == "service-unavailable");
        }
    }
}

namespace {

// One resource's enable (parameters by value: a coroutine outlives the loop that starts it).
boost::asio::awaitable<void> enable_one(push_service& push, jid account, int i, std::string& answer) {
    const std::string n = std::to_string(i);
    auto reply = co_await push.handle(stanza::parse("<iq type='set' id='e" + n + "' from='user@example.com/r" + n +
                                                    "'><enable xmlns='urn:xmpp:push:0' jid='push" + n +
                                                    ".example' node='n" + n + "'/></iq>"),
                                      account);
    answer = reply ? std::string(reply->type()) + " " + test::error_of(*reply).condition : "none";
}

}  // namespace

TEST_CASE_TEMPLATE("push: enables at once from several resources all count against the cap, none lost", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    storage::async_store store(backend.options(4));  // PostgreSQL: four jobs at once
    REQUIRE(run_sync(store.run([](storage::store& s) {
        return s.create_account("example.com", "user", storage::testing::make_credentials('x'));
    })));
    push_config cfg;
    cfg.max_registrations = 3;
    push_service push(store, cfg, {"example.com"});
    const jid account = *jid::parse("user@example.com");

    constexpr int attempts = 12;
    std::vector<std::string> answers(attempts);
    boost::asio::io_context io;
    for (int i = 0; i < attempts; ++i) {
        boost::asio::co_spawn(io, enable_one(push, account, i, answers[i]), boost::asio::detached);
    }
    io.run();
    std::size_t accepted = 0;
    for (const auto& a : answers) {
        CAPTURE(a);
        CHECK((a == "result " || a == "error resource-constraint"));
        accepted += a == "result " ? 1 : 0;
    }
    CHECK(accepted == cfg.max_registrations);
    auto stored = run_sync(store.read([](storage::store& s) {
        return s.get_document("example.com", "user", std::string(push_service::document_key));
    }));
    REQUIRE(stored);
    REQUIRE(stored->has_value());
    CHECK(push_service::parse_registrations(**stored).size() == cfg.max_registrations);  // every accepted one kept
}
