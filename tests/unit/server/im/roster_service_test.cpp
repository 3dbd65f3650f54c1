// The roster service (RFC 6121 §2) on a real SQLite store: get with and without versioning, set and its pushes to
// the resources that asked for the roster, removal with its unsubscriptions, and the errors a client can cause.
#include <doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/im/accounts.hpp"
#include "server/im/roster_service.hpp"
#include "tests/unit/test_support.hpp"
#include "tests/unit/recording.hpp"

using namespace hush;
using test::recording_session;
using test::recording_sink;
using test::run_sync;

namespace {

using test::parse_jid;

stanza parse(std::string_view xml) {
    stanza s = stanza::parse(std::string(xml));
    REQUIRE(s.valid());
    return s;
}

struct fixture {
    fixture() : store(test::sqlite_options(dir.path())), ctx{store, registry}, roster(ctx) {
        auto creds = accounts::make_credentials("secret-password", 4096);
        REQUIRE(creds);
        REQUIRE(run_sync(store.run([creds = *creds](storage::store& s) {
            return s.create_account("example.org", "alice", creds);
        })));
        for (const char* resource : {"phone", "desk"}) {
            auto session = std::make_shared<recording_session>();
            registry.bind(parse_jid(std::string("alice@example.org/") + resource), session);
            sessions.push_back(session);
        }
    }

    // An iq from alice's phone.
    stanza ask(std::string_view type, std::string_view payload, std::string_view from = "alice@example.org/phone") {
        const stanza iq = parse("<iq type='" + std::string(type) + "' id='r1' from='" + std::string(from) + "'>" +
                                std::string(payload) + "</iq>");
        return run(roster.handle(iq, parse_jid("alice@example.org"), out));
    }

    // Runs a service call, then carries out what it returned as the router would.
    template <class T>
    T run(boost::asio::awaitable<T> work) {
        T result = run_sync(std::move(work));
        for (auto& o : out.take()) {
            if (o.path != outgoing_path::resource) {
                sink.sent.push_back(std::move(o.content));
            } else if (auto target = registry.find(o.resource)) {
                target->deliver(share(o.content.serialize()));
            }
        }
        return result;
    }

    test::temp_dir dir;
    storage::async_store store;
    session_registry registry;
    recording_sink sink;  // what was routed
    im_context ctx;
    outgoing out;
    roster_service roster;
    std::vector<std::shared_ptr<recording_session>> sessions;  // phone, desk
};

constexpr std::string_view query = "<query xmlns='jabber:iq:roster'/>";

std::string set_item(std::string_view attributes, std::string_view children = {}) {
    return "<query xmlns='jabber:iq:roster'><item " + std::string(attributes) + ">" + std::string(children) +
           "</item></query>";
}

}  // namespace

TEST_CASE("get: the whole roster with its version, and the resource now gets pushes") {
    fixture f;
    stanza empty = f.ask("get", query);
    CHECK(empty.type() == "result");
    CHECK(empty.child("query", "jabber:iq:roster"));
    for (const auto& r : f.registry.resources(parse_jid("alice@example.org"))) {
        CHECK(r.interested == (r.full.resource() == "phone"));
    }
    CHECK(f.ask("set", set_item("jid='bob@example.org' name='Bob'", "<group>Friends</group>")).type() == "result");
    stanza full = f.ask("get", query);
    const auto items = full.child("query", "jabber:iq:roster");
    REQUIRE(items);
    const auto item = items.child("item");
    CHECK(std::string_view(item.attribute("jid").value()) == "bob@example.org");
    CHECK(std::string_view(item.attribute("name").value()) == "Bob");
    CHECK(std::string_view(item.attribute("subscription").value()) == "none");
    CHECK(std::string_view(item.child_value("group")) == "Friends");
    CHECK(std::string_view(items.attribute("ver").value()).size() > 0);
}

TEST_CASE("set: pushed to every resource that asked for the roster, not to the others") {
    fixture f;
    f.ask("get", query);  // the phone asked; the desk did not
    CHECK(f.ask("set", set_item("jid='bob@example.org'")).type() == "result");
    REQUIRE(f.sessions[0]->delivered.size() == 1);
    CHECK(f.sessions[0]->delivered[0].serialize().find("type=\"set\"") != std::string::npos);
    CHECK(f.sessions[0]->delivered[0].serialize().find("jid=\"bob@example.org\"") != std::string::npos);
    CHECK(f.sessions[0]->delivered[0].serialize().find("ver=\"") != std::string::npos);
    CHECK(f.sessions[1]->delivered.empty());
}

TEST_CASE("versioned get: nothing changed is an empty result; changes come as pushes after an empty result") {
    fixture f;
    f.ask("set", set_item("jid='bob@example.org'"));
    const std::string ver = f.ask("get", query).child("query", "jabber:iq:roster").attribute("ver").value();
    stanza same = f.ask("get", "<query xmlns='jabber:iq:roster' ver='" + ver + "'/>");
    CHECK(same.type() == "result");
    CHECK_FALSE(same.child("query", "jabber:iq:roster"));
    f.ask("set", set_item("jid='carol@example.org'"));
    f.sessions[0]->delivered.clear();
    stanza answered = f.ask("get", "<query xmlns='jabber:iq:roster' ver='" + ver + "'/>");
    CHECK_FALSE(answered.valid());  // already sent: the empty result, then the pushes
    REQUIRE(f.sessions[0]->delivered.size() == 2);
    CHECK(f.sessions[0]->delivered[0].serialize().find("type=\"result\"") != std::string::npos);
    CHECK(f.sessions[0]->delivered[1].serialize().find("carol@example.org") != std::string::npos);
    CHECK(f.sessions[0]->delivered[1].serialize().find("bob@example.org") == std::string::npos);
    // A version we never gave out: the whole roster.
    stanza unknown = f.ask("get", "<query xmlns='jabber:iq:roster' ver='not-a-version'/>");
    CHECK(unknown.child("query", "jabber:iq:roster").child("item"));
}

TEST_CASE("remove: a tombstone push, and unsubscriptions for the subscriptions there were") {
    fixture f;
    f.ask("get", query);
    storage::roster_item both;
    both.contact = "bob@example.org";
    both.sub = storage::subscription::both;
    REQUIRE(f.run(f.roster.save(parse_jid("alice@example.org"), both, f.out)));
    f.sessions[0]->delivered.clear();
    CHECK(f.ask("set", set_item("jid='bob@example.org' subscription='remove'")).type() == "result");
    REQUIRE(f.sessions[0]->delivered.size() == 1);
    CHECK(f.sessions[0]->delivered[0].serialize().find("subscription=\"remove\"") != std::string::npos);
    REQUIRE(f.sink.sent.size() == 2);
    CHECK(f.sink.sent[0].serialize().find("type=\"unsubscribe\"") != std::string::npos);
    CHECK(f.sink.sent[1].serialize().find("type=\"unsubscribed\"") != std::string::npos);
    CHECK(f.sink.sent[1].serialize().find("to=\"bob@example.org\"") != std::string::npos);
    CHECK_FALSE(run_sync(f.roster.item(parse_jid("alice@example.org"), parse_jid("bob@example.org"))));
}

TEST_CASE("errors a client can cause") {
    fixture f;
    auto condition = [](const stanza& s) { return std::string(s.element().child("error").first_child().name()); };
    // Someone else's roster (RFC 6121 §2.1.5).
    CHECK(condition(f.ask("get", query, "mallory@example.org/x")) == "forbidden");
    // One's own JID (§2.3.3), removing what is not there, two items at once.
    CHECK(condition(f.ask("set", set_item("jid='alice@example.org'"))) == "not-allowed");
    CHECK(condition(f.ask("set", set_item("jid='nobody@example.org' subscription='remove'"))) == "item-not-found");
    CHECK(condition(f.ask("set", "<query xmlns='jabber:iq:roster'><item jid='a@example.org'/><item "
                                 "jid='b@example.org'/></query>")) == "bad-request");
    CHECK(f.sink.sent.empty());
}
