// What the router does with what services return (router::carry_out) and with a bound session's own events: the
// router is the one place that sends, so these are the only ways a service's stanzas reach anyone.
#include <doctest.h>

#include "server/registration/registration.hpp"
#include "tests/unit/server/pipeline/router_fixture.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace hush::router_testing;

namespace {

stanza make(std::string_view xml) {
    stanza s = stanza::parse(xml);
    REQUIRE(s.valid());
    return s;
}

std::string body_of(const parsed& p) { return p.el().child_value("body"); }

}  // namespace

TEST_CASE("carry_out: a stanza for a resource reaches that session only, whatever its 'to'; a gone one is dropped") {
    router_fixture f;
    auto phone = f.connect(alice);
    auto desk = f.connect("alice@example.org/desk");
    outgoing out;
    // A roster push is addressed to the bare JID here on purpose: the resource named beside it decides.
    out.to_resource(parse_jid("alice@example.org/desk"),
                    make("<iq type='set' id='push1' to='alice@example.org'><query xmlns='jabber:iq:roster'/></iq>"));
    out.to_resource(parse_jid("alice@example.org/gone"), make("<message to='alice@example.org/gone'><body>x</body>"
                                                              "</message>"));
    test::run_sync(f.r.carry_out(std::move(out)));
    const auto got = only(*desk);
    CHECK(got.name() == std::string_view("iq"));
    CHECK(got.attr("id") == std::string_view("push1"));
    CHECK(phone->delivered.empty());  // nobody is told about the gone resource, and no error is made
    CHECK(f.log.calls == 0);          // written as is: not routed, not judged
}

TEST_CASE("carry_out keeps the order; routed stanzas are judged like any other, the anti-SPIM layer's are not") {
    router_fixture f(make_verdict(antispim::verdict_kind::drop));
    auto desk = f.connect("bob@example.org/desk");
    f.connect(alice);
    outgoing out;
    out.route(make("<message type='chat' from='alice@example.org/phone' to='bob@example.org'><body>one</body></message>"));
    out.unfiltered(
        make("<message type='chat' from='alice@example.org/phone' to='bob@example.org'><body>two</body></message>"));
    out.to_resource(parse_jid("bob@example.org/desk"),
                    make("<message type='chat' from='example.org' to='bob@example.org'><body>three</body></message>"));
    test::run_sync(f.r.carry_out(std::move(out)));
    CHECK(f.log.calls == 1);  // "one" went through the chain, which dropped it
    REQUIRE(desk->delivered.size() == 2);
    CHECK(body_of(parse(desk->delivered[0])) == "two");
    CHECK(body_of(parse(desk->delivered[1])) == "three");
}

TEST_CASE("without the IM core, a session's own presence still sets its availability, and its end is harmless") {
    router_fixture f;
    auto session = f.connect("bob@example.org/desk", false);  // the registry holds it weakly
    const jid desk = parse_jid("bob@example.org/desk");
    test::run_sync(f.r.session_presence(desk, make("<presence><priority>7</priority></presence>")));
    auto best = f.sessions.best_available(desk.bare());
    REQUIRE(best.size() == 1);
    CHECK(best[0].priority == 7);
    test::run_sync(f.r.session_presence(desk, make("<presence type='unavailable'/>")));
    CHECK(f.sessions.best_available(desk.bare()).empty());
    test::run_sync(f.r.session_ended(desk, false, {}));
    CHECK(f.log.calls == 0);
}

TEST_CASE("without the IM core, an account request gets <service-unavailable/> and removes nothing") {
    router_fixture f;
    f.connect(alice);
    const auto outcome = test::run_sync(f.r.account_request(
        make("<iq type='set' id='r1' from='alice@example.org/phone'><query xmlns='jabber:iq:register'><remove/>"
             "</query></iq>"),
        parse_jid(alice)));
    CHECK_FALSE(outcome.removed);
    REQUIRE(outcome.reply.valid());
    CHECK(outcome.reply.type() == "error");
    CHECK(outcome.reply.serialize().find("service-unavailable") != std::string::npos);
}

namespace {

// An inbox that takes what `takes` says and records what it was asked.
class recording_inbox final : public server_inbox {
public:
    explicit recording_inbox(bool takes) : takes_(takes) {}
    boost::asio::awaitable<bool> handle(const stanza& s) override {
        asked.push_back(std::string(s.id()));
        co_return takes_;
    }
    std::vector<std::string> asked;

private:
    bool takes_;
};

}  // namespace

TEST_CASE("server inboxes: answers to the server go to each in order until one takes them; presence to none") {
    recording_inbox declines(false);
    recording_inbox takes(true);
    recording_inbox never(true);
    session_registry sessions;
    fake_directory directory;
    policy_log log;
    antispim::chain chain(one_policy(antispim::verdict::pass(), &log));
    server_handlers handlers{"test-version", {}};
    router_links links;
    links.inboxes = {&declines, nullptr, &takes, &never};
    router r(std::vector<std::string>{std::string(domain)}, sessions, directory, chain, handlers, links);
    for (const char* xml : {"<iq type='result' id='a1' from='alice@example.org/phone' to='example.org'/>",
                            "<presence id='p1' from='alice@example.org/phone' to='example.org'/>"}) {
        test::run_sync(r.route(make(xml), {}));
    }
    CHECK(declines.asked == std::vector<std::string>{"a1"});
    CHECK(takes.asked == std::vector<std::string>{"a1"});
    CHECK(never.asked.empty());
}
