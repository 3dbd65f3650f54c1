#include <doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/privacy_list.hpp"
#include "tests/unit/protocol/xep0016_examples.hpp"

using hush::jid;
using hush::subscription;
using namespace hush::privacy;
using hush::test::xep_examples;

namespace {

// Parses an <iq/> (or a bare <list/>) and hands its <list/> to parse_list.
hush::expected<privacy_list, std::string> parse_text(std::string_view xml) {
    pugi::xml_document doc;
    REQUIRE_MESSAGE(doc.load_buffer(xml.data(), xml.size()), "not XML: ", std::string(xml));
    pugi::xml_node list = doc.first_child();
    if (std::string_view(list.name()) == "iq") {
        list = list.child("query").child("list");
    }
    return parse_list(list);
}

privacy_list parse_ok(std::string_view xml) {
    auto parsed = parse_text(xml);
    REQUIRE_MESSAGE(parsed.has_value(), "rejected: ", parsed ? std::string() : parsed.error());
    return *parsed;
}

// The error for a list that must be rejected (with a non-empty explanation).
std::string parse_error(std::string_view xml) {
    auto parsed = parse_text(xml);
    REQUIRE_MESSAGE(!parsed.has_value(), "accepted: ", std::string(xml));
    CHECK_FALSE(parsed.error().empty());
    return parsed.error();
}

// A list with one item in the wire form, for the rejection tests.
std::string one_item(std::string_view attributes, std::string_view children = {}) {
    return "<list xmlns='jabber:iq:privacy' name='l'><item " + std::string(attributes) + ">" +
           std::string(children) + "</item></list>";
}

jid address(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE_MESSAGE(j.has_value(), "bad test JID ", std::string(text));
    return *j;
}

item jid_item(std::string_view value, action act = action::deny, std::uint32_t order = 1) {
    item i;
    i.type = item_type::jid;
    i.value = address(value).full_string();
    i.act = act;
    i.order = order;
    return i;
}

item any_item(action act, std::uint32_t order) {
    item i;
    i.act = act;
    i.order = order;
    return i;
}

contact_info contact(std::string_view who, subscription sub = subscription::none,
                     std::vector<std::string> groups = {}) {
    contact_info c;
    c.address = address(who);
    c.sub = sub;
    c.groups = std::move(groups);
    return c;
}

// Whether a one-item jid list with `pattern` catches `other` (for every kind of stanza).
bool jid_rule_matches(std::string_view pattern, std::string_view other) {
    privacy_list list{"l", {jid_item(pattern)}};
    return evaluate(list, contact(other), stanza_class::message) == action::deny;
}

constexpr stanza_class all_kinds[] = {stanza_class::message, stanza_class::iq, stanza_class::presence_in,
                                      stanza_class::presence_out, stanza_class::presence_other};

}  // namespace

TEST_CASE("privacy: the XEP-0016 examples parse and survive a serialize/parse round trip") {
    for (const char* example : xep_examples) {
        INFO(std::string(example));
        const privacy_list parsed = parse_ok(example);
        CHECK_FALSE(parsed.name.empty());
        CHECK_FALSE(parsed.items.empty());

        // Standalone form: what the storage keeps and reloads with doc.first_child().
        const std::string xml = serialize_list(parsed);
        pugi::xml_document doc;
        REQUIRE(doc.load_string(xml.c_str()));
        auto again = parse_list(doc.first_child());
        REQUIRE(again.has_value());
        CHECK(*again == parsed);
        CHECK(serialize_list(*again) == xml);

        // Appended form: inside a <query/> of a result.
        pugi::xml_document reply;
        auto query = reply.append_child("query");
        query.append_attribute("xmlns").set_value("jabber:iq:privacy");
        serialize_list(parsed, query);
        auto appended = parse_list(query.child("list"));
        REQUIRE(appended.has_value());
        CHECK(*appended == parsed);
    }
}

TEST_CASE("privacy: parsed XEP-0016 examples hold what they say") {
    const auto pub = parse_ok(xep_examples[0]);
    CHECK(pub.name == "public");
    REQUIRE(pub.items.size() == 2);
    CHECK(pub.items[0].type == item_type::jid);
    CHECK(pub.items[0].value == "tybalt@example.com");
    CHECK(pub.items[0].act == action::deny);
    CHECK(pub.items[0].order == 1);
    CHECK_FALSE(pub.items[0].message);
    CHECK(pub.items[1].type == item_type::any);
    CHECK(pub.items[1].value.empty());
    CHECK(pub.items[1].act == action::allow);
    CHECK(pub.items[1].order == 2);
    CHECK(serialize_list(pub) ==
          "<list xmlns=\"jabber:iq:privacy\" name=\"public\">"
          "<item type=\"jid\" value=\"tybalt@example.com\" action=\"deny\" order=\"1\"/>"
          "<item action=\"allow\" order=\"2\"/></list>");

    const auto priv = parse_ok(xep_examples[1]);
    REQUIRE(priv.items.size() == 2);
    CHECK(priv.items[0].type == item_type::subscription);
    CHECK(priv.items[0].value == "both");

    const auto special = parse_ok(xep_examples[2]);
    REQUIRE(special.items.size() == 4);
    CHECK(special.items[3].order == 666);
    CHECK(special.items[3].act == action::deny);

    const auto group = parse_ok(xep_examples[5]);
    REQUIRE(group.items.size() == 1);
    CHECK(group.items[0].type == item_type::group);
    CHECK(group.items[0].value == "Enemies");
    CHECK(group.items[0].message);
    CHECK_FALSE(group.items[0].iq);
    CHECK(serialize_list(group) ==
          "<list xmlns=\"jabber:iq:privacy\" name=\"message-group-example\">"
          "<item type=\"group\" value=\"Enemies\" action=\"deny\" order=\"4\"><message/></item></list>");
}

TEST_CASE("privacy: parsing sorts by order, keeps every stanza kind and normalizes JIDs") {
    const auto list = parse_ok(R"(<list name='mixed'>
        <item action='allow' order='30'/>
        <item type='jid' value='Juliet@Example.COM/Balcony' action='deny' order='4294967295'><iq/></item>
        <item type='group' value='Friends' action='allow' order='0'>
          <message/><presence-in/><presence-out/><iq/>
        </item>
      </list>)");
    REQUIRE(list.items.size() == 3);
    CHECK(list.items[0].order == 0);
    CHECK(list.items[1].order == 30);
    CHECK(list.items[2].order == 4294967295u);
    CHECK(list.items[0].message);
    CHECK(list.items[0].iq);
    CHECK(list.items[0].presence_in);
    CHECK(list.items[0].presence_out);
    CHECK(list.items[2].value == "juliet@example.com/Balcony");
    CHECK(list.items[2].iq);
    CHECK_FALSE(list.items[2].message);

    const std::string xml = serialize_list(list);
    CHECK(xml.find("<item type=\"group\" value=\"Friends\" action=\"allow\" order=\"0\">"
                   "<iq/><message/><presence-in/><presence-out/></item>") != std::string::npos);

    // An empty list is well-formed: on a set it means removal (XEP-0016 §2.8), which the caller decides.
    CHECK(parse_ok("<list name='gone'/>").items.empty());
}

TEST_CASE("privacy: bad lists are rejected with a message") {
    SUBCASE("missing order") {
        CHECK(parse_error(one_item("action='deny'")).find("order") != std::string::npos);
    }
    SUBCASE("order that is not an unsigned int") {
        for (const char* order : {"", "-1", "+1", "1.5", "x", " 1", "4294967296", "99999999999"}) {
            INFO(std::string(order));
            CHECK(parse_error(one_item("action='deny' order='" + std::string(order) + "'")).find("order") !=
                  std::string::npos);
        }
    }
    SUBCASE("duplicate order") {
        const auto error = parse_error(
            "<list name='l'><item action='deny' order='3'/><item type='jid' value='a@b' action='allow' order='1'/>"
            "<item action='allow' order='3'/></list>");
        CHECK(error.find("order 3") != std::string::npos);
    }
    SUBCASE("missing or bad action") {
        CHECK(parse_error(one_item("order='1'")).find("action") != std::string::npos);
        for (const char* act : {"", "block", "Allow", "DENY"}) {
            INFO(std::string(act));
            CHECK(parse_error(one_item("action='" + std::string(act) + "' order='1'")).find("action") !=
                  std::string::npos);
        }
    }
    SUBCASE("bad type") {
        for (const char* type : {"", "JID", "role", "domain"}) {
            INFO(std::string(type));
            CHECK(parse_error(one_item("type='" + std::string(type) + "' value='x' action='deny' order='1'"))
                      .find("type") != std::string::npos);
        }
    }
    SUBCASE("bad subscription value") {
        for (const char* value : {"", "remove", "Both", "pending", "to from"}) {
            INFO(std::string(value));
            CHECK(parse_error(one_item("type='subscription' value='" + std::string(value) +
                                       "' action='deny' order='1'"))
                      .find("subscription") != std::string::npos);
        }
        CHECK(parse_error(one_item("type='subscription' action='deny' order='1'")).find("subscription") !=
              std::string::npos);
    }
    SUBCASE("jid value that is not a JID") {
        for (const char* value : {"", "@example.com", "juliet@", "juliet@example.com/", "a b@example.com",
                                  "juliet@exa mple.com"}) {
            INFO(std::string(value));
            CHECK(parse_error(one_item("type='jid' value='" + std::string(value) + "' action='deny' order='1'"))
                      .find("JID") != std::string::npos);
        }
        CHECK(parse_error(one_item("type='jid' action='deny' order='1'")).find("JID") != std::string::npos);
    }
    SUBCASE("group item without a group") {
        CHECK(parse_error(one_item("type='group' action='deny' order='1'")).find("group") != std::string::npos);
    }
    SUBCASE("unknown stanza kind or stray elements") {
        CHECK(parse_error(one_item("action='deny' order='1'", "<presence/>")).find("presence") !=
              std::string::npos);
        CHECK(parse_error("<list name='l'><rule action='deny' order='1'/></list>").find("rule") !=
              std::string::npos);
    }
    SUBCASE("not a privacy list") {
        CHECK_FALSE(parse_error("<list action='deny'><item action='deny' order='1'/></list>").empty());  // no name
        CHECK_FALSE(parse_error("<lists name='l'/>").empty());
        CHECK_FALSE(parse_error("<list xmlns='urn:xmpp:blocking' name='l'/>").empty());
        CHECK_FALSE(parse_list(pugi::xml_node()).has_value());
    }
}

TEST_CASE("privacy: JID matching rules of XEP-0016 §2.1") {
    SUBCASE("user@domain/resource matches only that full JID") {
        const char* p = "juliet@example.com/balcony";
        CHECK(jid_rule_matches(p, "juliet@example.com/balcony"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.com/chamber"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.com"));
        CHECK_FALSE(jid_rule_matches(p, "romeo@example.com/balcony"));
        CHECK_FALSE(jid_rule_matches(p, "example.com/balcony"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.org/balcony"));
    }
    SUBCASE("user@domain matches any resource") {
        const char* p = "juliet@example.com";
        CHECK(jid_rule_matches(p, "juliet@example.com"));
        CHECK(jid_rule_matches(p, "juliet@example.com/balcony"));
        CHECK(jid_rule_matches(p, "juliet@example.com/a/b@c"));
        CHECK_FALSE(jid_rule_matches(p, "romeo@example.com"));
        CHECK_FALSE(jid_rule_matches(p, "example.com"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.org"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@chat.example.com"));
    }
    SUBCASE("domain/resource matches only that JID") {
        const char* p = "example.com/bot";
        CHECK(jid_rule_matches(p, "example.com/bot"));
        CHECK_FALSE(jid_rule_matches(p, "example.com"));
        CHECK_FALSE(jid_rule_matches(p, "example.com/other"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.com/bot"));
        CHECK_FALSE(jid_rule_matches(p, "example.org/bot"));
    }
    SUBCASE("domain matches every user and resource at that domain") {
        const char* p = "example.com";
        CHECK(jid_rule_matches(p, "example.com"));
        CHECK(jid_rule_matches(p, "example.com/bot"));
        CHECK(jid_rule_matches(p, "juliet@example.com"));
        CHECK(jid_rule_matches(p, "juliet@example.com/balcony"));
        CHECK_FALSE(jid_rule_matches(p, "example.org"));
        CHECK_FALSE(jid_rule_matches(p, "juliet@example.org"));
        CHECK_FALSE(jid_rule_matches(p, "notexample.com"));
        CHECK_FALSE(jid_rule_matches(p, "example.com.evil.org"));
        CHECK_FALSE(jid_rule_matches(p, "chat.example.com"));  // subdomains are their own domains here
    }
    SUBCASE("matching compares normalized JIDs") {
        const auto list = parse_ok(one_item("type='jid' value='Juliet@EXAMPLE.com.' action='deny' order='1'"));
        CHECK(evaluate(list, contact("JULIET@example.COM/Balcony"), stanza_class::message) == action::deny);
        CHECK_FALSE(evaluate(list, contact("romeo@example.com"), stanza_class::message).has_value());
        // Resources are case-sensitive.
        const auto full = parse_ok(one_item("type='jid' value='juliet@example.com/Balcony' action='deny' order='1'"));
        CHECK_FALSE(evaluate(full, contact("juliet@example.com/balcony"), stanza_class::message).has_value());
    }
    SUBCASE("an empty address matches no jid item") {
        privacy_list list{"l", {jid_item("example.com")}};
        CHECK_FALSE(evaluate(list, contact_info{}, stanza_class::message).has_value());
    }
}

TEST_CASE("privacy: the first matching item by order decides") {
    SUBCASE("document order does not matter, 'order' does") {
        const auto list = parse_ok(R"(<list name='l'>
            <item action='allow' order='20'/>
            <item type='jid' value='tybalt@example.com' action='deny' order='10'/>
          </list>)");
        CHECK(evaluate(list, contact("tybalt@example.com/x"), stanza_class::message) == action::deny);
        CHECK(evaluate(list, contact("romeo@example.net"), stanza_class::message) == action::allow);
    }
    SUBCASE("a fall-through item before a specific one shadows it") {
        const auto list = parse_ok(R"(<list name='l'>
            <item action='allow' order='1'/>
            <item type='jid' value='tybalt@example.com' action='deny' order='2'/>
          </list>)");
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::message) == action::allow);
    }
    SUBCASE("the XEP-0016 'special' whitelist") {
        const auto list = parse_ok(xep_examples[2]);
        CHECK(evaluate(list, contact("juliet@example.com/balcony"), stanza_class::message) == action::allow);
        CHECK(evaluate(list, contact("mercutio@example.org"), stanza_class::iq) == action::allow);
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::message) == action::deny);
    }
    SUBCASE("hand-built lists out of order are still evaluated by order") {
        privacy_list list{"l", {any_item(action::allow, 9), jid_item("tybalt@example.com", action::deny, 3)}};
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::iq) == action::deny);
    }
    SUBCASE("no match: nullopt (the caller allows)") {
        const auto list = parse_ok(xep_examples[4]);  // message-jid-example
        CHECK_FALSE(evaluate(list, contact("romeo@example.net"), stanza_class::message).has_value());
        CHECK_FALSE(evaluate(privacy_list{}, contact("romeo@example.net"), stanza_class::message).has_value());
    }
}

TEST_CASE("privacy: stanza kinds") {
    SUBCASE("an item with children applies to those kinds only") {
        const auto list = parse_ok(xep_examples[4]);  // tybalt, <message/>
        const auto tybalt = contact("tybalt@example.com");
        CHECK(evaluate(list, tybalt, stanza_class::message) == action::deny);
        CHECK_FALSE(evaluate(list, tybalt, stanza_class::iq).has_value());
        CHECK_FALSE(evaluate(list, tybalt, stanza_class::presence_in).has_value());
        CHECK_FALSE(evaluate(list, tybalt, stanza_class::presence_out).has_value());
        CHECK_FALSE(evaluate(list, tybalt, stanza_class::presence_other).has_value());
    }
    SUBCASE("each child element selects its kind") {
        struct case_ {
            const char* child;
            stanza_class kind;
        };
        for (const auto& c : {case_{"<message/>", stanza_class::message}, case_{"<iq/>", stanza_class::iq},
                              case_{"<presence-in/>", stanza_class::presence_in},
                              case_{"<presence-out/>", stanza_class::presence_out}}) {
            INFO(std::string(c.child));
            const auto list = parse_ok(one_item("action='deny' order='1'", c.child));
            for (auto kind : all_kinds) {
                CHECK(evaluate(list, contact("a@b"), kind).has_value() == (kind == c.kind));
            }
        }
    }
    SUBCASE("several children add up") {
        const auto list = parse_ok(one_item("action='deny' order='1'", "<iq/><presence-in/>"));
        CHECK(evaluate(list, contact("a@b"), stanza_class::iq) == action::deny);
        CHECK(evaluate(list, contact("a@b"), stanza_class::presence_in) == action::deny);
        CHECK_FALSE(evaluate(list, contact("a@b"), stanza_class::message).has_value());
    }
    SUBCASE("no children: every kind, subscription presence included (XEP-0016 §2.13)") {
        const auto list = parse_ok(xep_examples[20]);  // all-jid-example
        for (auto kind : all_kinds) {
            CHECK(evaluate(list, contact("tybalt@example.com"), kind) == action::deny);
        }
    }
    SUBCASE("a kind-filtered item is skipped and a later one decides") {
        const auto list = parse_ok(R"(<list name='l'>
            <item type='jid' value='tybalt@example.com' action='deny' order='1'><presence-in/></item>
            <item action='allow' order='2'/>
          </list>)");
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::presence_in) == action::deny);
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::presence_other) == action::allow);
        CHECK(evaluate(list, contact("tybalt@example.com"), stanza_class::message) == action::allow);
    }
}

TEST_CASE("privacy: group and subscription items") {
    SUBCASE("group items match the contact's groups") {
        const auto list = parse_ok(xep_examples[21]);  // all-group-example: Enemies
        CHECK(evaluate(list, contact("tybalt@example.com", subscription::both, {"Friends", "Enemies"}),
                       stanza_class::message) == action::deny);
        CHECK_FALSE(evaluate(list, contact("romeo@example.net", subscription::both, {"Friends"}),
                             stanza_class::message)
                        .has_value());
        CHECK_FALSE(evaluate(list, contact("romeo@example.net", subscription::both, {"enemies"}),
                             stanza_class::message)
                        .has_value());
        CHECK_FALSE(evaluate(list, contact("stranger@example.org"), stanza_class::message).has_value());
    }
    SUBCASE("subscription items match the contact's subscription") {
        const subscription subs[] = {subscription::none, subscription::to, subscription::from, subscription::both};
        const char* names[] = {"none", "to", "from", "both"};
        for (int v = 0; v < 4; ++v) {
            const auto list =
                parse_ok(one_item("type='subscription' value='" + std::string(names[v]) + "' action='deny' order='1'"));
            for (int s = 0; s < 4; ++s) {
                INFO("item ", std::string(names[v]), ", contact ", std::string(names[s]));
                CHECK(evaluate(list, contact("c@example.org", subs[s]), stanza_class::presence_out).has_value() ==
                      (v == s));
            }
        }
    }
    SUBCASE("'none' covers entities not in the roster") {
        const auto list = parse_ok(xep_examples[24]);  // heuristic-example
        contact_info stranger;
        stranger.address = address("spammer@example.biz/x");
        CHECK(evaluate(list, stranger, stanza_class::message) == action::deny);
    }
    SUBCASE("the XEP-0016 'private' list allows only mutual subscriptions") {
        const auto list = parse_ok(xep_examples[1]);
        CHECK(evaluate(list, contact("romeo@example.net", subscription::both), stanza_class::message) ==
              action::allow);
        CHECK(evaluate(list, contact("romeo@example.net", subscription::to), stanza_class::message) ==
              action::deny);
    }
}

TEST_CASE("privacy: XEP-0191 blocklists use the same JID matching") {
    const std::vector<std::string> blocklist = {"romeo@montague.net", "iago@shakespeare.lit/evil",
                                                "example.com/bot", "spam.example"};
    CHECK(is_blocked(blocklist, address("romeo@montague.net")));
    CHECK(is_blocked(blocklist, address("romeo@montague.net/orchard")));
    CHECK_FALSE(is_blocked(blocklist, address("juliet@montague.net")));

    CHECK(is_blocked(blocklist, address("iago@shakespeare.lit/evil")));
    CHECK_FALSE(is_blocked(blocklist, address("iago@shakespeare.lit/good")));
    CHECK_FALSE(is_blocked(blocklist, address("iago@shakespeare.lit")));

    CHECK(is_blocked(blocklist, address("example.com/bot")));
    CHECK_FALSE(is_blocked(blocklist, address("user@example.com/bot")));
    CHECK_FALSE(is_blocked(blocklist, address("example.com")));

    CHECK(is_blocked(blocklist, address("spam.example")));
    CHECK(is_blocked(blocklist, address("anyone@spam.example/any")));
    CHECK_FALSE(is_blocked(blocklist, address("anyone@notspam.example")));

    CHECK_FALSE(is_blocked({}, address("romeo@montague.net")));
    CHECK_FALSE(is_blocked({""}, address("romeo@montague.net")));  // a damaged entry blocks nobody
    CHECK_FALSE(is_blocked(blocklist, jid()));
}
