// XEP-0357 registrations and notifications: the XEP's enable example round-trips through storage, disable by
// service or by node, the per-account cap, only the account itself may enable, and the notification says no more
// than the config lets it (message-count; sender and body only when allowed), with the client's publish-options.
#include <doctest.h>

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
    push_service push{store, cfg};
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

    std::vector<stanza> notify(const std::string& body = "Wherefore art thou, Romeo?") {
        outgoing out;
        run_sync(push.notify(account, stanza::parse("<message type='chat' from='juliet@capulet.example/balcony' "
                                                    "to='user@example.com'><body>" + body + "</body></message>"),
                             out));
        std::vector<stanza> sent;
        for (auto& o : out.take()) {
            sent.push_back(std::move(o.content));
        }
        return sent;
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
    auto enable = [&](const std::string& service, const std::string& node) {
        return f.ask("<iq type='set' id='e' from='user@example.com/m'><enable xmlns='urn:xmpp:push:0' jid='" + service +
                     "' node='" + node + "'/></iq>");
    };
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
    CHECK(foreign.serialize().find("forbidden") != std::string::npos);
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
