// The privacy service on a real SQLite store and session registry: the XEP-0191 blocking command (blocklist get,
// block with its pushes and the unavailable presence a blocked subscriber gets, unblock and unblock-all with the
// unblock hook, the errors) and XEP-0016 privacy lists (set, get, remove with its conflict, active and default
// lists, pushes), and the checks the router asks of it: allows() for each stanza kind by JID, subscription and
// group, with the blocklist first, the session's active list over the default one, both read back from storage.
#include <doctest.h>

#include <string>
#include <vector>

#include "server/im/privacy_service.hpp"
#include "tests/unit/server/im/im_fixture.hpp"

using namespace hush;
using namespace hush::im_testing;
using privacy::stanza_class;
using storage::subscription;

namespace {


std::string condition(const stanza& reply) {
    CHECK(reply.type() == "error");
    return test::error_of(reply).condition;
}

std::string block_payload(std::string_view verb, const std::vector<std::string>& jids) {
    std::string xml = "<" + std::string(verb) + " xmlns='urn:xmpp:blocking'>";
    for (const auto& j : jids) {
        xml += "<item jid='" + j + "'/>";
    }
    return xml + "</" + std::string(verb) + ">";
}

struct privacy_fixture : im_world {
    privacy_fixture()
        : roster(ctx),
          privacy(ctx, roster,
                  [this](const jid& account, const std::vector<std::string>& jids,
                         outgoing&) -> boost::asio::awaitable<void> {
                      CHECK(account.bare_string() == "alice@example.org");
                      heard.push_back(jids);
                      co_return;
                  }) {}

    stanza iq(std::string_view type, std::string_view payload, std::string_view from) {
        return parse("<iq type='" + std::string(type) + "' id='p1' from='" + std::string(from) + "'>" +
                     std::string(payload) + "</iq>");
    }
    stanza blocking(std::string_view type, std::string_view payload, std::string_view from = phone) {
        return run(privacy.handle_blocking(iq(type, payload, from), alice, out));
    }
    stanza lists(std::string_view type, std::string_view payload, std::string_view from = phone) {
        return run(privacy.handle_privacy(
            iq(type, "<query xmlns='jabber:iq:privacy'>" + std::string(payload) + "</query>", from), alice, out));
    }

    bool allows(std::string_view account, std::string_view other, stanza_class kind) {
        return run_sync(privacy.allows(parse_jid(account), parse_jid(other), kind));
    }
    // The same question to a service that starts with nothing cached: what storage holds.
    bool allows_after_restart(std::string_view other, stanza_class kind) {
        privacy_service fresh(ctx, roster);
        return run_sync(fresh.allows(alice, parse_jid(other), kind));
    }
    std::vector<std::string> blocklist() {
        std::vector<std::string> out;
        const auto reply = blocking("get", "<blocklist xmlns='urn:xmpp:blocking'/>", desk);
        for (auto item : reply.child("blocklist", "urn:xmpp:blocking").children("item")) {
            out.emplace_back(item.attribute("jid").value());
        }
        return out;
    }

    void seed(std::string_view contact, subscription sub, std::vector<std::string> groups = {}) {
        storage::roster_item i;
        i.contact = std::string(contact);
        i.sub = sub;
        i.groups = std::move(groups);
        REQUIRE(run(roster.save(alice, i, out)));
    }

    const jid alice = parse_jid("alice@example.org");
    roster_service roster;
    privacy_service privacy;
    std::vector<std::vector<std::string>> heard;  // what the unblock hook heard
};

constexpr stanza_class every_kind[] = {stanza_class::message, stanza_class::iq, stanza_class::presence_in,
                                       stanza_class::presence_out, stanza_class::presence_other};

}  // namespace

TEST_CASE("blocklist get: the blocked JIDs; only resources that asked get the pushes (XEP-0191 §3.2, §3.3)") {
    privacy_fixture f;
    auto asking = f.bind(phone);
    auto other = f.bind(desk);
    const auto empty = f.blocking("get", "<blocklist xmlns='urn:xmpp:blocking'/>");
    CHECK(empty.type() == "result");
    REQUIRE(empty.child("blocklist", "urn:xmpp:blocking"));
    CHECK_FALSE(empty.child("blocklist", "urn:xmpp:blocking").child("item"));

    CHECK(f.blocking("set", block_payload("block", {"bob@example.net"}), desk).type() == "result");
    REQUIRE(asking->delivered.size() == 1);
    const auto& push = asking->delivered[0];
    CHECK(push.type() == "set");
    CHECK(push.to() == phone);
    CHECK(std::string(push.child("block", "urn:xmpp:blocking").child("item").attribute("jid").value()) ==
          "bob@example.net");
    CHECK(other->delivered.empty());  // the desk never asked for the list
    CHECK(f.blocking("set", block_payload("block", {"Carol@Example.NET", "bob@example.net"})).type() == "result");
    CHECK(f.blocklist() == std::vector<std::string>{"bob@example.net", "carol@example.net"});  // normalized, once
}

TEST_CASE("block: everything refused both ways, a subscriber sees us go, the others learn nothing") {
    privacy_fixture f;
    f.bind(phone);
    f.bind(desk);
    f.set_available(phone);
    f.set_available(desk);
    f.seed("bob@example.net", subscription::from);
    f.seed("erin@example.net", subscription::to);  // we see erin; erin does not see us
    REQUIRE(f.blocking("set", block_payload("block", {"bob@example.net", "carol@example.net", "erin@example.net"}))
                .type() == "result");

    const auto gone = of_type(f.sink.sent, "presence", "unavailable");
    REQUIRE(gone.size() == 2);
    CHECK(between(gone, phone, "bob@example.net").size() == 1);
    CHECK(between(gone, desk, "bob@example.net").size() == 1);

    CHECK(run_sync(f.privacy.blocks(f.alice, parse_jid("bob@example.net/laptop"))));
    CHECK_FALSE(run_sync(f.privacy.blocks(f.alice, parse_jid("dave@example.net"))));
    for (const auto kind : every_kind) {
        CHECK_FALSE(f.allows(phone, "bob@example.net/laptop", kind));
        CHECK_FALSE(f.allows("alice@example.org", "carol@example.net", kind));
        CHECK(f.allows(phone, "dave@example.net", kind));
    }
    CHECK_FALSE(f.allows_after_restart("bob@example.net", stanza_class::message));
}

TEST_CASE("unblock: the hook hears what was unblocked; unblock with no item unblocks everything") {
    privacy_fixture f;
    auto asking = f.bind(phone);
    const auto& heard = f.heard;
    REQUIRE(f.blocking("set", block_payload("block", {"bob@example.net", "carol@example.net", "example.com"}))
                .type() == "result");
    CHECK_FALSE(f.allows(phone, "anyone@example.com/x", stanza_class::message));  // a domain blocks all of it
    f.blocking("get", "<blocklist xmlns='urn:xmpp:blocking'/>");
    asking->delivered.clear();

    CHECK(f.blocking("set", block_payload("unblock", {"bob@example.net"})).type() == "result");
    REQUIRE(heard.size() == 1);
    CHECK(heard[0] == std::vector<std::string>{"bob@example.net"});
    CHECK(f.allows(phone, "bob@example.net", stanza_class::message));
    CHECK_FALSE(f.allows(phone, "carol@example.net", stanza_class::message));
    REQUIRE(asking->delivered.size() == 1);
    CHECK(asking->delivered[0].child("unblock", "urn:xmpp:blocking"));

    CHECK(f.blocking("set", block_payload("unblock", {})).type() == "result");
    REQUIRE(heard.size() == 2);
    CHECK(heard[1] == std::vector<std::string>{"carol@example.net", "example.com"});
    CHECK(f.allows(phone, "carol@example.net", stanza_class::message));
    CHECK(f.blocklist().empty());
    CHECK(f.allows_after_restart("carol@example.net", stanza_class::message));
}

TEST_CASE("blocking errors: another account, an empty block, a malformed JID, an unknown payload") {
    privacy_fixture f;
    CHECK(condition(f.blocking("set", block_payload("block", {"bob@example.net"}), "mallory@example.org/x")) ==
          "forbidden");
    CHECK(condition(f.blocking("set", block_payload("block", {}))) == "bad-request");
    CHECK(condition(f.blocking("set", block_payload("block", {"bob@example.net", "@example.net"}))) ==
          "jid-malformed");
    CHECK(condition(f.blocking("get", block_payload("block", {"bob@example.net"}))) == "bad-request");
    CHECK(condition(f.blocking("set", "<blocklist xmlns='urn:xmpp:blocking'/>")) == "bad-request");
    CHECK(f.blocklist().empty());
    CHECK(f.sink.sent.empty());
}

TEST_CASE("privacy lists: stored, named, fetched one at a time, every resource told of a change") {
    privacy_fixture f;
    auto first = f.bind(phone);
    auto second = f.bind(desk);
    const std::string work = "<list name='work'><item type='jid' value='Bob@Example.NET' action='deny' order='1'/>"
                             "<item action='allow' order='2'/></list>";
    CHECK(f.lists("set", work).type() == "result");
    for (const auto& session : {first, second}) {
        REQUIRE(session->delivered.size() == 1);
        const auto& push = session->delivered[0];
        CHECK(push.type() == "set");
        CHECK(std::string(push.child("query", "jabber:iq:privacy").child("list").attribute("name").value()) ==
              "work");
    }
    CHECK(first->delivered[0].to() == phone);
    CHECK(second->delivered[0].to() == desk);
    CHECK(first->delivered[0].id() != second->delivered[0].id());

    const stanza listed = f.lists("get", "");  // kept: the nodes below point into it
    const auto names = listed.child("query", "jabber:iq:privacy");
    CHECK(std::string(names.child("list").attribute("name").value()) == "work");
    CHECK_FALSE(names.child("default"));
    CHECK_FALSE(names.child("active"));

    const stanza fetched = f.lists("get", "<list name='work'/>");
    const auto one = fetched.child("query", "jabber:iq:privacy").child("list");
    REQUIRE(one);
    const auto item = one.child("item");
    CHECK(std::string(item.attribute("value").value()) == "bob@example.net");
    CHECK(std::string(item.attribute("action").value()) == "deny");
    CHECK(std::string(item.next_sibling("item").attribute("order").value()) == "2");

    CHECK(condition(f.lists("get", "<list name='nope'/>")) == "item-not-found");
    CHECK(condition(f.lists("get", "<list name='work'/><list name='other'/>")) == "bad-request");
    CHECK(condition(f.lists("set", "<active name='work'/><default name='work'/>")) == "bad-request");
    CHECK(condition(f.lists("set", "<list name='bad'><item action='deny' order='1'/><item action='allow' "
                                   "order='1'/></list>")) == "bad-request");  // duplicate order
    CHECK(condition(f.lists("set", "<list><item action='deny' order='1'/></list>")) == "bad-request");  // no name
    CHECK(condition(f.lists("get", "", "mallory@example.org/x")) == "forbidden");
    CHECK(condition(f.lists("set", "<active name='nope'/>")) == "item-not-found");
    CHECK(condition(f.lists("set", "<default name='nope'/>")) == "item-not-found");

    privacy_service fresh(f.ctx, f.roster);
    const auto stored =
        f.run(fresh.handle_privacy(f.iq("get", "<query xmlns='jabber:iq:privacy'/>", phone), f.alice, f.out));
    const auto lists = stored.child("query", "jabber:iq:privacy");
    CHECK(std::string(lists.child("list").attribute("name").value()) == "work");
    CHECK_FALSE(lists.child("list").next_sibling("list"));
}

TEST_CASE("the default list applies to every session; an active list to its own session, until that session ends") {
    privacy_fixture f;
    f.bind(phone);
    f.bind(desk);
    REQUIRE(f.lists("set", "<list name='nobob'><item type='jid' value='bob@example.net' action='deny' order='1'/>"
                           "</list>").type() == "result");
    REQUIRE(f.lists("set", "<list name='open'><item action='allow' order='1'/></list>").type() == "result");
    CHECK(f.allows("alice@example.org", "bob@example.net/laptop", stanza_class::message));  // nothing in force yet

    REQUIRE(f.lists("set", "<default name='nobob'/>").type() == "result");
    for (const auto kind : every_kind) {  // no child elements: every kind, subscriptions and probes included
        CHECK_FALSE(f.allows("alice@example.org", "bob@example.net/laptop", kind));
        CHECK_FALSE(f.allows(desk, "bob@example.net", kind));
    }
    CHECK(f.allows("alice@example.org", "carol@example.net", stanza_class::message));
    CHECK_FALSE(f.allows_after_restart("bob@example.net", stanza_class::message));
    const stanza answer = f.lists("get", "");  // kept: `settings` points into it
    const auto settings = answer.child("query", "jabber:iq:privacy");
    CHECK(std::string(settings.child("default").attribute("name").value()) == "nobob");

    REQUIRE(f.lists("set", "<active name='open'/>", phone).type() == "result");
    CHECK(f.allows(phone, "bob@example.net", stanza_class::message));
    CHECK_FALSE(f.allows(desk, "bob@example.net", stanza_class::message));
    CHECK_FALSE(f.allows("alice@example.org", "bob@example.net", stanza_class::message));
    CHECK(std::string(f.lists("get", "", phone).child("query", "jabber:iq:privacy").child("active").attribute("name")
                          .value()) == "open");
    CHECK_FALSE(f.lists("get", "", desk).child("query", "jabber:iq:privacy").child("active"));

    f.privacy.session_ended(parse_jid(phone));  // a new session with that resource starts from the default
    CHECK_FALSE(f.allows(phone, "bob@example.net", stanza_class::message));

    REQUIRE(f.lists("set", "<active name='open'/>", phone).type() == "result");
    REQUIRE(f.lists("set", "<active/>", phone).type() == "result");  // declining the active list
    CHECK_FALSE(f.allows(phone, "bob@example.net", stanza_class::message));
    REQUIRE(f.lists("set", "<default/>").type() == "result");  // declining the default list
    CHECK(f.allows(desk, "bob@example.net", stanza_class::message));
    CHECK(f.allows_after_restart("bob@example.net", stanza_class::message));
}

TEST_CASE("list items by stanza kind, subscription and roster group (XEP-0016 §2.1, §2.2)") {
    privacy_fixture f;
    f.seed("bob@example.net", subscription::both, {"Work"});
    f.seed("carol@example.net", subscription::from);
    REQUIRE(f.lists("set", "<list name='mixed'>"
                           "<item type='subscription' value='none' action='deny' order='1'><message/></item>"
                           "<item type='group' value='Work' action='deny' order='2'><presence-out/></item>"
                           "<item type='jid' value='example.com' action='deny' order='3'><iq/><presence-in/></item>"
                           "<item type='jid' value='carol@example.net' action='allow' order='4'/>"
                           "<item action='deny' order='5'><presence-out/></item>"
                           "</list>").type() == "result");
    REQUIRE(f.lists("set", "<default name='mixed'/>").type() == "result");
    const std::string_view alice = "alice@example.org";
    // Strangers have subscription 'none'; roster contacts their own.
    CHECK_FALSE(f.allows(alice, "stranger@example.net", stanza_class::message));
    CHECK(f.allows(alice, "bob@example.net", stanza_class::message));
    CHECK(f.allows(alice, "carol@example.net", stanza_class::message));
    // The group item only denies presence-out, to the group only; carol's allow comes before the catch-all.
    CHECK_FALSE(f.allows(alice, "bob@example.net", stanza_class::presence_out));
    CHECK(f.allows(alice, "bob@example.net", stanza_class::presence_in));
    CHECK(f.allows(alice, "carol@example.net", stanza_class::presence_out));
    CHECK_FALSE(f.allows(alice, "stranger@example.net", stanza_class::presence_out));
    // A domain item with two kinds.
    CHECK_FALSE(f.allows(alice, "x@example.com/r", stanza_class::iq));
    CHECK_FALSE(f.allows(alice, "x@example.com/r", stanza_class::presence_in));
    CHECK(f.allows(alice, "x@example.net/r", stanza_class::iq));
    // Items naming kinds never apply to subscriptions and probes.
    CHECK(f.allows(alice, "stranger@example.net", stanza_class::presence_other));
    CHECK(f.allows(alice, "x@example.com", stanza_class::presence_other));
}

TEST_CASE("removing a list: refused while another session has it active; removing the default clears it") {
    privacy_fixture f;
    auto first = f.bind(phone);
    f.bind(desk);
    REQUIRE(f.lists("set", "<list name='open'><item action='allow' order='1'/></list>").type() == "result");
    REQUIRE(f.lists("set", "<list name='nobob'><item type='jid' value='bob@example.net' action='deny' order='1'/>"
                           "</list>").type() == "result");
    REQUIRE(f.lists("set", "<active name='open'/>", phone).type() == "result");
    REQUIRE(f.lists("set", "<default name='nobob'/>").type() == "result");

    CHECK(condition(f.lists("set", "<list name='open'/>", desk)) == "conflict");
    first->delivered.clear();
    CHECK(f.lists("set", "<list name='open'/>", phone).type() == "result");  // its own active list
    REQUIRE(first->delivered.size() == 1);  // the change is pushed
    CHECK(condition(f.lists("get", "<list name='open'/>")) == "item-not-found");
    CHECK_FALSE(f.allows(phone, "bob@example.net", stanza_class::message));  // back on the default

    CHECK(f.lists("set", "<list name='nobob'/>", desk).type() == "result");
    CHECK_FALSE(f.lists("get", "").child("query", "jabber:iq:privacy").child("default"));
    CHECK(f.allows(desk, "bob@example.net", stanza_class::message));
    CHECK(f.allows_after_restart("bob@example.net", stanza_class::message));
    CHECK(condition(f.lists("set", "<list name='nobob'/>")) == "item-not-found");
}
