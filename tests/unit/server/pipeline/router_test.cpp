// The router's delivery rules (RFC 6120 §10, RFC 6121 §8) and its anti-SPIM hook, driven through fakes: sessions
// that record the bytes they are given (parsed back to assert on), an account directory, and a one-policy chain
// with a fixed verdict. The iq handler is the real one.
#include <doctest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pugixml.hpp>

#include "antispim/chain.hpp"
#include "protocol/namespaces.hpp"
#include "server/pipeline/router.hpp"
#include "server/im/server_handlers.hpp"
#include "server/stream/session_registry.hpp"

using namespace hush;

namespace {

constexpr std::string_view domain = "example.org";
constexpr std::string_view alice = "alice@example.org/phone";

// Records every delivery; the router's only view of a client.
class fake_session final : public session {
public:
    void deliver(shared_bytes serialized) override { delivered.push_back(std::move(serialized)); }
    void close(stream_error error) override { closed.push_back(std::move(error)); }

    std::vector<shared_bytes> delivered;
    std::vector<stream_error> closed;
};

// The set of existing bare JIDs, or a storage failure.
class fake_directory final : public account_directory {
public:
    boost::asio::awaitable<hush::expected<bool, std::string>> exists(const jid& bare) override {
        ++lookups;
        if (failing) {
            co_return hush::unexpected(std::string("database unreachable"));
        }
        const bool found = accounts.contains(bare.bare_string());
        co_return found;
    }

    std::set<std::string> accounts;
    bool failing = false;
    int lookups = 0;
};

// What every sender is to every receiver (a contact unless a test says otherwise); existence comes from the
// directory, as the real oracle reads it in the same storage operation.
class fake_oracle final : public stranger_oracle {
public:
    explicit fake_oracle(fake_directory& directory) : directory_(directory) {}
    boost::asio::awaitable<bool> is_stranger(const jid&, const jid& sender) override {
        co_return !is_contact(sender);
    }
    boost::asio::awaitable<hush::expected<relation_facts, std::string>> relation(const jid& receiver, const jid& sender,
                                                                                bool check_exists) override {
        relation_facts f = base;
        f.contact = is_contact(sender);
        if (check_exists) {
            auto found = co_await directory_.exists(receiver);
            if (!found) {
                co_return hush::unexpected(found.error());
            }
            f.account_exists = *found;
        }
        co_return f;
    }
    boost::asio::awaitable<void> outbound(const stanza&, const jid&, const jid&) override { co_return; }

    bool is_contact(const jid& sender) const { return !strangers.contains(sender.bare_string()) && base.contact; }

    relation_facts base{.contact = true};
    std::set<std::string> strangers;

private:
    fake_directory& directory_;
};

// What the chain was asked about.
struct policy_log {
    int calls = 0;
    std::string sender;
    std::string receiver;
    stanza_kind kind = stanza_kind::other;
    bool subscription_request = false;
    antispim::origin_kind origin = antispim::origin_kind::remote_domain;
    std::string origin_domain;
    std::string peer_address;
};

class fixed_policy final : public antispim::policy {
public:
    fixed_policy(antispim::verdict v, policy_log* log) : verdict_(std::move(v)), log_(log) {}
    std::string_view name() const override { return "fixed"; }
    boost::asio::awaitable<hush::expected<antispim::verdict, antispim::policy_failure>> evaluate(
        const antispim::spim_context& ctx) override {
        ++log_->calls;
        log_->sender = ctx.sender.full_string();
        log_->receiver = ctx.receiver.full_string();
        log_->kind = ctx.kind;
        log_->subscription_request = ctx.subscription_request;
        log_->origin = ctx.origin;
        log_->origin_domain = ctx.origin_domain;
        log_->peer_address = ctx.peer_address;
        antispim::verdict v = verdict_;
        co_return v;
    }

private:
    antispim::verdict verdict_;
    policy_log* log_;
};

antispim::verdict make_verdict(antispim::verdict_kind kind, std::string condition = {}, std::string text = {}) {
    antispim::verdict v;
    v.kind = kind;
    v.reason = "test";
    v.error_condition = std::move(condition);
    v.error_text = std::move(text);
    return v;
}

std::vector<antispim::policy_slot> one_policy(antispim::verdict v, policy_log* log) {
    std::vector<antispim::policy_slot> slots;
    antispim::policy_slot slot;
    slot.impl = std::make_unique<fixed_policy>(std::move(v), log);
    slots.push_back(std::move(slot));
    return slots;
}

jid parse_jid(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE(j);
    return *j;
}

class router_fixture {
public:
    explicit router_fixture(antispim::verdict v = antispim::verdict::pass())
        : chain(one_policy(std::move(v), &log)),
          r(std::vector<std::string>{std::string(domain)}, sessions, directory, chain, handlers) {
        r.set_strangers(&oracle);
    }

    // A bound session; `available`/`priority` as its last broadcast presence said.
    std::shared_ptr<fake_session> connect(std::string_view full, bool available = true, int priority = 0) {
        const jid j = parse_jid(full);
        auto s = std::make_shared<fake_session>();
        sessions.bind(j, s);
        sessions.set_presence(j, available, priority);
        directory.accounts.insert(j.bare_string());
        return s;
    }

    // Routes `xml` (validated and from-stamped, as a session would hand it over) to completion.
    void route(std::string_view xml, route_origin origin = {}) {
        auto doc = std::make_shared<pugi::xml_document>();
        REQUIRE(doc->load_buffer(xml.data(), xml.size()));
        stanza s(std::move(doc), "");
        boost::asio::io_context io;
        auto fut = boost::asio::co_spawn(io, r.route(std::move(s), std::move(origin)), boost::asio::use_future);
        io.run();
        fut.get();
    }

    policy_log log;
    session_registry sessions;
    fake_directory directory;
    fake_oracle oracle{directory};
    server_handlers handlers{"test-version"};
    antispim::chain chain;
    router r;
};

// A delivered stanza parsed back.
struct parsed {
    std::shared_ptr<pugi::xml_document> doc;
    pugi::xml_node el() const { return doc->first_child(); }
    std::string_view attr(const char* name) const { return el().attribute(name).value(); }
    std::string_view name() const { return el().name(); }
};

parsed parse(const shared_bytes& bytes) {
    REQUIRE(bytes);
    parsed p{std::make_shared<pugi::xml_document>()};
    REQUIRE(p.doc->load_buffer(bytes->data(), bytes->size()));
    return p;
}

// The only stanza `s` received.
parsed only(const fake_session& s) {
    REQUIRE(s.delivered.size() == 1);
    return parse(s.delivered.front());
}

struct error_info {
    std::string type;
    std::string condition;
    std::string text;
};

error_info error_of(const parsed& p) {
    error_info out;
    const auto e = p.el().child("error");
    out.type = e.attribute("type").value();
    for (auto c : e.children()) {
        if (c.type() != pugi::node_element || ns::stanza_errors != c.attribute("xmlns").value()) {
            continue;
        }
        if (std::string_view(c.name()) == "text") {
            out.text = c.child_value();
        } else {
            out.condition = c.name();
        }
    }
    return out;
}

// Asserts `p` is an error reply to a stanza `original_to` sent by alice.
void check_error(const parsed& p, std::string_view stanza_name, std::string_view original_to,
                 std::string_view condition, std::string_view type) {
    CHECK(p.name() == stanza_name);
    CHECK(p.attr("type") == std::string_view("error"));
    CHECK(p.attr("to") == alice);
    CHECK(p.attr("from") == original_to);
    const auto e = error_of(p);
    CHECK(e.condition == condition);
    CHECK(e.type == type);
}

std::string chat_to(std::string_view to, std::string_view type = "chat") {
    std::string xml = "<message from='" + std::string(alice) + "' to='" + std::string(to) + "' id='m1'";
    if (!type.empty()) {
        xml += " type='" + std::string(type) + "'";
    }
    return xml + "><body>hi</body></message>";
}

std::string iq_to(std::string_view to, std::string_view type, std::string_view payload) {
    return "<iq from='" + std::string(alice) + "' to='" + std::string(to) + "' type='" + std::string(type) +
           "' id='q1'>" + std::string(payload) + "</iq>";
}

constexpr std::string_view ping = "<ping xmlns='urn:xmpp:ping'/>";
constexpr std::string_view disco_info = "<query xmlns='http://jabber.org/protocol/disco#info'/>";

}  // namespace

TEST_CASE("a message to a full JID goes to that resource only") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 1);

    SUBCASE("as addressed") {
        f.route(chat_to("bob@example.org/laptop"));
    }
    SUBCASE("addressed with different case in node and domain (normalized)") {
        f.route(chat_to("BOB@Example.ORG/laptop"));
    }
    const auto got = only(*laptop);
    CHECK(got.name() == std::string_view("message"));
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("type") == std::string_view("chat"));
    CHECK(got.el().child_value("body") == std::string_view("hi"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("a message to a full JID whose resource is gone follows the bare JID rules") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("delivered to the best available resource, `to` unchanged") {
        auto desk = f.connect("bob@example.org/desk", true, 5);
        auto laptop = f.connect("bob@example.org/laptop", true, 1);
        f.route(chat_to("bob@example.org/tablet"));
        const auto got = only(*desk);
        CHECK(got.attr("to") == std::string_view("bob@example.org/tablet"));
        CHECK(laptop->delivered.empty());
        CHECK(sender->delivered.empty());
    }
    SUBCASE("no available resource: service-unavailable") {
        auto idle = f.connect("bob@example.org/idle", false);
        f.route(chat_to("bob@example.org/tablet"));
        check_error(only(*sender), "message", "bob@example.org/tablet", "service-unavailable", "cancel");
        CHECK(idle->delivered.empty());
    }
}

TEST_CASE("chat and normal messages to a bare JID reach every available resource of the highest priority") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 5);
    auto phone = f.connect("bob@example.org/phone", true, 1);
    auto zero = f.connect("bob@example.org/zero", true, 0);
    auto idle = f.connect("bob@example.org/idle", false, 10);  // connected, no presence: not a candidate
    auto hidden = f.connect("bob@example.org/hidden", true, -1);

    std::string type;
    SUBCASE("chat") {
        type = "chat";
    }
    SUBCASE("normal") {
        type = "normal";
    }
    SUBCASE("no type is normal") {
        type = "";
    }
    f.route(chat_to("bob@example.org", type));
    REQUIRE(desk->delivered.size() == 1);
    REQUIRE(laptop->delivered.size() == 1);
    CHECK(parse(desk->delivered.front()).attr("to") == std::string_view("bob@example.org"));
    CHECK(phone->delivered.empty());
    CHECK(zero->delivered.empty());
    CHECK(idle->delivered.empty());
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("priority zero wins over negative priorities") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto zero = f.connect("bob@example.org/zero", true, 0);
    auto hidden = f.connect("bob@example.org/hidden", true, -5);
    f.route(chat_to("bob@example.org"));
    CHECK(zero->delivered.size() == 1);
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("chat to a bare JID with no resource to take it: service-unavailable to the sender") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> bob;

    SUBCASE("only negative priorities") {
        bob = f.connect("bob@example.org/hidden", true, -1);
    }
    SUBCASE("connected but never sent presence") {
        bob = f.connect("bob@example.org/idle", false, 0);
    }
    SUBCASE("offline: known only to the directory") {
        f.directory.accounts.insert("bob@example.org");
    }
    f.route(chat_to("bob@example.org"));
    const auto reply = only(*sender);
    check_error(reply, "message", "bob@example.org", "service-unavailable", "cancel");
    CHECK(reply.attr("id") == std::string_view("m1"));
    if (bob) {
        CHECK(bob->delivered.empty());
    }
}

TEST_CASE("a headline to a bare JID with no available resource is dropped without an error") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> bob;
    SUBCASE("offline") {
        f.directory.accounts.insert("bob@example.org");
    }
    SUBCASE("only a negative priority") {
        bob = f.connect("bob@example.org/hidden", true, -1);
    }
    f.route(chat_to("bob@example.org", "headline"));
    CHECK(sender->delivered.empty());
    if (bob) {
        CHECK(bob->delivered.empty());
    }
}

TEST_CASE("groupchat from a room the receiver has not joined is dropped, never answered") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    SUBCASE("to a gone full JID") {
        f.route(chat_to("bob@example.org/gone", "groupchat"));
    }
    SUBCASE("to a bare JID with available resources") {
        f.route(chat_to("bob@example.org", "groupchat"));
    }
    SUBCASE("to the very resource") {
        f.route(chat_to("bob@example.org/desk", "groupchat"));
    }
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);
    CHECK(f.r.classified("groupchat-not-joined") == 1);
}

TEST_CASE("groupchat from a joined room reaches the resource") {
    router_fixture f;
    f.oracle.base.joined_room = true;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route(chat_to("bob@example.org/desk", "groupchat"));
    CHECK(desk->delivered.size() == 1);
    CHECK(f.r.classified("groupchat-joined-room") == 1);
}

TEST_CASE("a stranger's error, presence with text and unsolicited iq result are dropped and counted") {
    router_fixture f;
    f.oracle.strangers.insert("alice@example.org");
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e1'><body>buy now</body>"
            "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='unavailable'><status>buy now</status>"
            "</presence>");
    f.route("<presence from='alice@example.org/phone' to='bob@example.org/desk'><status>buy now</status></presence>");
    f.route(iq_to("bob@example.org/desk", "result", "<query xmlns='jabber:iq:version'><name>buy now</name></query>"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);
    CHECK(f.r.classified("error-unsolicited") == 1);
    CHECK(f.r.classified("stranger-presence") == 2);
    CHECK(f.r.classified("iq-answer-unsolicited") == 1);
    SUBCASE("an error answering what the receiver sent there is delivered") {
        f.oracle.base.answers_receiver = true;
        f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e2'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        CHECK(desk->delivered.size() == 1);
    }
}

TEST_CASE("a headline to a bare JID reaches every available non-negative resource") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto phone = f.connect("bob@example.org/phone", true, 0);
    auto hidden = f.connect("bob@example.org/hidden", true, -1);
    f.route(chat_to("bob@example.org", "headline"));
    CHECK(desk->delivered.size() == 1);
    CHECK(phone->delivered.size() == 1);
    CHECK(hidden->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("an error message to a bare JID or a gone resource is silently ignored") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    std::string to;
    SUBCASE("bare") {
        to = "bob@example.org";
    }
    SUBCASE("gone resource") {
        to = "bob@example.org/gone";
    }
    f.route("<message from='alice@example.org/phone' to='" + to +
            "' type='error' id='e1'><error type='cancel'>"
            "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("stanzas to a non-existent local account") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("a message gets service-unavailable") {
        f.route(chat_to("nobody@example.org"));
        check_error(only(*sender), "message", "nobody@example.org", "service-unavailable", "cancel");
    }
    SUBCASE("a message to a full JID gets service-unavailable") {
        f.route(chat_to("nobody@example.org/res", "normal"));
        check_error(only(*sender), "message", "nobody@example.org/res", "service-unavailable", "cancel");
    }
    SUBCASE("presence is silently dropped") {
        f.route("<presence from='alice@example.org/phone' to='nobody@example.org' type='subscribe'/>");
        CHECK(sender->delivered.empty());
    }
    SUBCASE("disco#info is answered as for an existing account") {
        f.route(iq_to("nobody@example.org", "get", disco_info));
        auto reply = only(*sender);
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(std::string_view(reply.el().child("query").child("identity").attribute("category").value()) == "account");
    }
    SUBCASE("an iq get of anything personal gets service-unavailable") {
        f.route(iq_to("nobody@example.org", "get", "<query xmlns='jabber:iq:last'/>"));
        check_error(only(*sender), "iq", "nobody@example.org", "service-unavailable", "cancel");
    }
    SUBCASE("an iq set gets service-unavailable") {
        f.route(iq_to("nobody@example.org/res", "set", "<query xmlns='jabber:iq:private'/>"));
        check_error(only(*sender), "iq", "nobody@example.org/res", "service-unavailable", "cancel");
    }
    SUBCASE("an iq result is silently dropped") {
        f.route(iq_to("nobody@example.org/res", "result", ""));
        CHECK(sender->delivered.empty());
    }
    CHECK(f.directory.lookups >= 1);
}

TEST_CASE("iq to the server domain is answered by the server") {
    router_fixture f;
    auto sender = f.connect(alice);

    SUBCASE("ping") {
        f.route(iq_to("example.org", "get", ping));
        const auto reply = only(*sender);
        CHECK(reply.name() == std::string_view("iq"));
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(reply.attr("id") == std::string_view("q1"));
        CHECK(reply.attr("from") == std::string_view("example.org"));
        CHECK(reply.attr("to") == alice);
        CHECK(!reply.el().first_child());
    }
    SUBCASE("disco#info lists the server identity and features") {
        f.route(iq_to("example.org", "get", disco_info));
        const auto reply = only(*sender);
        CHECK(reply.attr("type") == std::string_view("result"));
        CHECK(reply.attr("from") == std::string_view("example.org"));
        const auto query = reply.el().child("query");
        CHECK(query.attribute("xmlns").value() == ns::disco_info);
        CHECK(query.child("identity").attribute("category").value() == std::string_view("server"));
        CHECK(query.child("identity").attribute("type").value() == std::string_view("im"));
        CHECK(query.find_child_by_attribute("feature", "var", "urn:xmpp:ping"));
    }
    SUBCASE("an unknown payload gets service-unavailable from the server") {
        f.route(iq_to("example.org", "get", "<query xmlns='urn:example:nothing'/>"));
        check_error(only(*sender), "iq", "example.org", "service-unavailable", "cancel");
    }
    SUBCASE("an iq result to the server needs no answer") {
        f.route(iq_to("example.org", "result", ""));
        CHECK(sender->delivered.empty());
    }
    CHECK(f.log.calls == 0);
}

TEST_CASE("iq to an account's bare JID is answered by the server on its behalf") {
    router_fixture f;
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> desk;
    SUBCASE("the account is online") {
        desk = f.connect("bob@example.org/desk", true, 5);
    }
    SUBCASE("the account is offline") {
        f.directory.accounts.insert("bob@example.org");
    }
    f.route(iq_to("bob@example.org", "get", disco_info));
    const auto reply = only(*sender);
    CHECK(reply.attr("type") == std::string_view("result"));
    CHECK(reply.attr("from") == std::string_view("bob@example.org"));
    CHECK(reply.attr("to") == alice);
    const auto identity = reply.el().child("query").child("identity");
    CHECK(identity.attribute("category").value() == std::string_view("account"));
    CHECK(identity.attribute("type").value() == std::string_view("registered"));
    if (desk) {
        CHECK(desk->delivered.empty());
    }
}

TEST_CASE("iq to a full JID is delivered to that resource") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto laptop = f.connect("bob@example.org/laptop", true, 1);
    f.route(iq_to("bob@example.org/laptop", "get", "<query xmlns='jabber:iq:version'/>"));
    const auto got = only(*laptop);
    CHECK(got.name() == std::string_view("iq"));
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("id") == std::string_view("q1"));
    CHECK(got.el().child("query").attribute("xmlns").value() == std::string_view("jabber:iq:version"));
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("iq to a gone full JID") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);

    SUBCASE("get: service-unavailable") {
        f.route(iq_to("bob@example.org/gone", "get", ping));
        check_error(only(*sender), "iq", "bob@example.org/gone", "service-unavailable", "cancel");
    }
    SUBCASE("set: service-unavailable") {
        f.route(iq_to("bob@example.org/gone", "set", "<query xmlns='jabber:iq:private'/>"));
        check_error(only(*sender), "iq", "bob@example.org/gone", "service-unavailable", "cancel");
    }
    SUBCASE("result: nothing, to nobody") {
        f.route(iq_to("bob@example.org/gone", "result", ""));
        CHECK(sender->delivered.empty());
    }
    SUBCASE("error: nothing, to nobody") {
        f.route("<iq from='alice@example.org/phone' to='bob@example.org/gone' type='error' id='q1'>"
                "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</iq>");
        CHECK(sender->delivered.empty());
    }
    CHECK(desk->delivered.empty());  // iq never falls back to the bare JID
}

TEST_CASE("presence to a local account") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    auto hidden = f.connect("bob@example.org/hidden", true, -1);
    auto idle = f.connect("bob@example.org/idle", false);

    SUBCASE("to the bare JID: every available resource, one serialization") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org'/>");
        REQUIRE(desk->delivered.size() == 1);
        REQUIRE(hidden->delivered.size() == 1);
        CHECK(desk->delivered.front().get() == hidden->delivered.front().get());
        CHECK(idle->delivered.empty());
    }
    SUBCASE("directed to a gone resource: dropped") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org/gone'/>");
        CHECK(desk->delivered.empty());
        CHECK(hidden->delivered.empty());
        CHECK(idle->delivered.empty());
    }
    SUBCASE("a subscription request to a gone resource: treated as to the bare JID") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org/gone' type='subscribe'/>");
        CHECK(desk->delivered.size() == 1);
        CHECK(hidden->delivered.size() == 1);
        CHECK(idle->delivered.empty());
    }
    CHECK(sender->delivered.empty());
}

// Federation as the router sees it: whatever it is handed.
class fake_remote final : public remote_router {
public:
    void send(stanza s) override { sent.push_back(s.serialize()); }
    std::vector<std::string> sent;
};

TEST_CASE("with federation, stanzas for remote domains go to it untouched by the chain") {
    router_fixture f;
    fake_remote remote;
    f.r.set_remote(&remote);
    auto sender = f.connect(alice);
    f.route(chat_to("carol@remote.test"));
    f.route(iq_to("remote.test", "get", ping));
    REQUIRE(remote.sent.size() == 2);
    CHECK(remote.sent[0].find("to=\"carol@remote.test\"") != std::string::npos);
    CHECK(remote.sent[1].find("to=\"remote.test\"") != std::string::npos);
    CHECK(sender->delivered.empty());
    CHECK(f.log.calls == 0);  // outbound stanzas are the receiving server's to judge
}

TEST_CASE("a remote stanza passes the chain with its remote domain and peer address, then is delivered") {
    router_fixture f;
    fake_remote remote;
    f.r.set_remote(&remote);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    origin.peer_address = "198.51.100.9";
    f.route("<presence from='mallory@remote.test/x' to='bob@example.org' type='subscribe'/>", origin);
    CHECK(f.log.calls == 1);
    CHECK(f.log.sender == "mallory@remote.test/x");
    CHECK(f.log.subscription_request);
    CHECK(f.log.origin == antispim::origin_kind::remote_domain);
    CHECK(f.log.origin_domain == "remote.test");
    CHECK(f.log.peer_address == "198.51.100.9");
    CHECK(desk->delivered.size() == 1);
    CHECK(remote.sent.empty());
}

TEST_CASE("a remote verdict: the rejection goes back to the remote sender through federation") {
    router_fixture f(make_verdict(antispim::verdict_kind::reject, "forbidden", "no strangers"));
    fake_remote remote;
    f.r.set_remote(&remote);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    f.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='s1'><body>buy</body></message>",
            origin);
    CHECK(desk->delivered.empty());
    REQUIRE(remote.sent.size() == 1);
    CHECK(remote.sent[0].find("type=\"error\"") != std::string::npos);
    CHECK(remote.sent[0].find("to=\"mallory@remote.test/x\"") != std::string::npos);
    CHECK(remote.sent[0].find("<forbidden") != std::string::npos);
}

TEST_CASE("a mediated group-chat invitation is judged by the room that sent it, and by the inviter it names") {
    router_fixture f;
    fake_remote remote;
    f.r.set_remote(&remote);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "rooms.remote.test";
    const std::string invite =
        "<message from='coffee@rooms.remote.test' to='bob@example.org'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<invite from='carol@remote.test/laptop'><reason>join us</reason></invite></x><body>join</body></message>";
    SUBCASE("both acceptable: delivered") {
        f.route(invite, origin);
        CHECK(f.log.calls == 1);
        CHECK(f.log.sender == "coffee@rooms.remote.test");  // the authenticated sender, never the payload's claim
        CHECK(desk->delivered.size() == 1);
    }
    SUBCASE("the inviter it names is a stranger: dropped") {
        f.oracle.strangers.insert("carol@remote.test");
        f.route(invite, origin);
        CHECK(f.log.calls == 1);
        CHECK(desk->delivered.empty());
    }
    SUBCASE("naming the receiver itself or its contacts does not help a stranger room") {
        f.oracle.strangers.insert("coffee@rooms.remote.test");
        f.route("<message from='coffee@rooms.remote.test' to='bob@example.org'><x xmlns='http://jabber.org/protocol/muc#user'>"
                "<invite from='bob@example.org'/></x><body>buy now</body></message>",
                origin);
        CHECK(f.log.calls == 1);
        CHECK(f.log.sender == "coffee@rooms.remote.test");
        CHECK(desk->delivered.empty());  // the receiver never invites itself through a room
    }
}

TEST_CASE("a remote stanza for another remote domain is never relayed") {
    router_fixture f;
    fake_remote remote;
    f.r.set_remote(&remote);
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    f.route("<message from='mallory@remote.test/x' to='carol@third.test' type='chat'><body>relay?</body></message>",
            origin);
    CHECK(remote.sent.empty());
    CHECK(f.log.calls == 0);
}

TEST_CASE("stanzas for a remote domain get remote-server-not-found") {
    router_fixture f;
    auto sender = f.connect(alice);
    SUBCASE("message") {
        f.route(chat_to("carol@remote.test"));
        check_error(only(*sender), "message", "carol@remote.test", "remote-server-not-found", "cancel");
    }
    SUBCASE("iq to the remote server") {
        f.route(iq_to("remote.test", "get", ping));
        check_error(only(*sender), "iq", "remote.test", "remote-server-not-found", "cancel");
    }
    SUBCASE("an error stanza is not answered") {
        f.route("<message from='alice@example.org/phone' to='carol@remote.test' type='error' id='e1'>"
                "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        CHECK(sender->delivered.empty());
    }
    CHECK(f.directory.lookups == 0);
    CHECK(f.log.calls == 0);
}

TEST_CASE("the chain is asked once per inbound stanza, with what it needs to know") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    route_origin origin;
    origin.kind = antispim::origin_kind::local_session;
    origin.domain = "example.org";
    origin.peer_address = "192.0.2.7";

    SUBCASE("a chat message") {
        f.route(chat_to("bob@example.org"), origin);
        CHECK(f.log.kind == stanza_kind::message);
        CHECK(f.log.subscription_request == false);
        CHECK(f.log.receiver == "bob@example.org");
    }
    SUBCASE("a subscription request is an invite") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='subscribe'/>", origin);
        CHECK(f.log.kind == stanza_kind::presence);
        CHECK(f.log.subscription_request == true);
    }
    SUBCASE("an iq get to a full JID") {
        f.route(iq_to("bob@example.org/desk", "get", ping), origin);
        CHECK(f.log.kind == stanza_kind::iq);
        CHECK(f.log.receiver == "bob@example.org/desk");
    }
    CHECK(f.log.calls == 1);
    CHECK(f.log.sender == alice);
    CHECK(f.log.origin == antispim::origin_kind::local_session);
    CHECK(f.log.origin_domain == "example.org");
    CHECK(f.log.peer_address == "192.0.2.7");
    CHECK(desk->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("anti-SPIM reject: the sender gets the error, the receiver nothing") {
    SUBCASE("default condition: not-acceptable") {
        router_fixture f(make_verdict(antispim::verdict_kind::reject));
        auto sender = f.connect(alice);
        auto desk = f.connect("bob@example.org/desk", true, 5);
        f.route(chat_to("bob@example.org"));
        check_error(only(*sender), "message", "bob@example.org", "not-acceptable", "modify");
        CHECK(desk->delivered.empty());
        CHECK(f.log.calls == 1);
    }
    SUBCASE("the policy's condition and text") {
        router_fixture f(make_verdict(antispim::verdict_kind::reject, "forbidden", "you are blocked"));
        auto sender = f.connect(alice);
        auto desk = f.connect("bob@example.org/desk", true, 5);
        f.route(iq_to("bob@example.org/desk", "get", ping));
        const auto reply = only(*sender);
        check_error(reply, "iq", "bob@example.org/desk", "forbidden", "auth");
        CHECK(error_of(reply).text == "you are blocked");
        CHECK(desk->delivered.empty());
    }
}

TEST_CASE("anti-SPIM drop: nobody gets anything") {
    router_fixture f(make_verdict(antispim::verdict_kind::drop));
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    SUBCASE("message") {
        f.route(chat_to("bob@example.org"));
    }
    SUBCASE("iq get to a full JID") {
        f.route(iq_to("bob@example.org/desk", "get", ping));
    }
    SUBCASE("subscription request") {
        f.route("<presence from='alice@example.org/phone' to='bob@example.org' type='subscribe'/>");
    }
    CHECK(f.log.calls == 1);
    CHECK(desk->delivered.empty());
    CHECK(sender->delivered.empty());
}

TEST_CASE("anti-SPIM defer and hold: a temporary error (type wait)") {
    antispim::verdict_kind kind = antispim::verdict_kind::defer;
    SUBCASE("defer") {
        kind = antispim::verdict_kind::defer;
    }
    SUBCASE("hold (no hold store yet)") {
        kind = antispim::verdict_kind::hold;
    }
    router_fixture f(make_verdict(kind));
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.route(chat_to("bob@example.org"));
    const auto reply = only(*sender);
    check_error(reply, "message", "bob@example.org", "policy-violation", "wait");
    CHECK(!error_of(reply).text.empty());
    CHECK(desk->delivered.empty());
}

TEST_CASE("the chain is not consulted for errors, for an account's own resources, or for iq results") {
    // A chain that would reject everything: anything that reaches the receiver was never put to it.
    router_fixture f(make_verdict(antispim::verdict_kind::reject));
    auto sender = f.connect(alice);
    std::shared_ptr<fake_session> target;

    SUBCASE("an error message") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route("<message from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    SUBCASE("an error iq") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route("<iq from='alice@example.org/phone' to='bob@example.org/desk' type='error' id='q1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }
    SUBCASE("an iq result") {
        target = f.connect("bob@example.org/desk", true, 5);
        f.route(iq_to("bob@example.org/desk", "result", ""));
    }
    SUBCASE("chat between two resources of the same account") {
        target = f.connect("alice@example.org/laptop", true, 5);
        f.route(chat_to("alice@example.org/laptop"));
    }
    SUBCASE("an iq get between two resources of the same account") {
        target = f.connect("alice@example.org/laptop", true, 5);
        f.route(iq_to("alice@example.org/laptop", "get", ping));
    }
    CHECK(f.log.calls == 0);
    CHECK(target->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("an error stanza is never answered with an error") {
    router_fixture f;
    auto sender = f.connect(alice);
    SUBCASE("error message to a non-existent account") {
        f.route("<message from='alice@example.org/phone' to='nobody@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
        CHECK(f.directory.lookups == 1);
    }
    SUBCASE("error message to an offline account") {
        f.directory.accounts.insert("bob@example.org");
        f.route("<message from='alice@example.org/phone' to='bob@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    SUBCASE("error message when the directory fails") {
        f.directory.failing = true;
        f.route("<message from='alice@example.org/phone' to='nobody@example.org' type='error' id='e1'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</message>");
    }
    CHECK(sender->delivered.empty());
}

TEST_CASE("an account directory failure: internal-server-error (type wait) to the sender") {
    router_fixture f;
    auto sender = f.connect(alice);
    f.directory.failing = true;
    SUBCASE("message") {
        f.route(chat_to("bob@example.org"));
        check_error(only(*sender), "message", "bob@example.org", "internal-server-error", "wait");
    }
    SUBCASE("iq get to the bare JID") {
        f.route(iq_to("bob@example.org", "get", disco_info));
        check_error(only(*sender), "iq", "bob@example.org", "internal-server-error", "wait");
    }
    CHECK(f.log.calls == 0);
}

TEST_CASE("an online account needs no directory lookup") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 5);
    f.directory.failing = true;  // would turn any lookup into an error
    f.route(chat_to("bob@example.org"));
    CHECK(desk->delivered.size() == 1);
    CHECK(sender->delivered.empty());
}

TEST_CASE("delivered stanzas keep their stamped from and payload, serialized once for several resources") {
    router_fixture f;
    auto sender = f.connect(alice);
    auto desk = f.connect("bob@example.org/desk", true, 3);
    auto laptop = f.connect("bob@example.org/laptop", true, 3);
    f.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m7'>"
            "<body>hello &amp; welcome</body><thread>t1</thread><x xmlns='urn:example:ext' a='1'/></message>");
    REQUIRE(desk->delivered.size() == 1);
    REQUIRE(laptop->delivered.size() == 1);
    CHECK(desk->delivered.front().get() == laptop->delivered.front().get());
    const auto got = parse(desk->delivered.front());
    CHECK(got.attr("from") == alice);
    CHECK(got.attr("to") == std::string_view("bob@example.org"));
    CHECK(got.attr("id") == std::string_view("m7"));
    CHECK(got.el().child_value("body") == std::string_view("hello & welcome"));
    CHECK(got.el().child_value("thread") == std::string_view("t1"));
    CHECK(got.el().child("x").attribute("xmlns").value() == std::string_view("urn:example:ext"));
    CHECK(got.el().child("x").attribute("a").value() == std::string_view("1"));
    CHECK(sender->delivered.empty());
}
