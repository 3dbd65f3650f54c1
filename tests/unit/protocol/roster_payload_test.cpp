#include <doctest.h>

#include "protocol/roster_payload.hpp"
#include "protocol/stanza.hpp"

using namespace hush;

namespace {

hush::expected<roster_payload::item_update, roster_payload::parse_error> parse(const char* xml) {
    static pugi::xml_document doc;
    doc.reset();
    REQUIRE(doc.load_string(xml));
    return roster_payload::parse_set(doc.first_child());
}

}  // namespace

TEST_CASE("a roster set item: RFC 6121 §2.3.2 example") {
    auto u = parse("<query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse'>"
                   "<group>Servants</group></item></query>");
    REQUIRE(u);
    CHECK(u->contact == "nurse@example.com");
    CHECK(u->name == "Nurse");
    CHECK(u->groups == std::vector<std::string>{"Servants"});
    CHECK_FALSE(u->remove);
}

TEST_CASE("a roster removal and JID normalization") {
    auto u = parse("<query xmlns='jabber:iq:roster'><item jid='Nurse@Example.COM' subscription='remove'/></query>");
    REQUIRE(u);
    CHECK(u->remove);
    CHECK(u->contact == "nurse@example.com");
}

TEST_CASE("bad roster sets get the RFC 6121 §2.3.3 errors") {
    struct bad {
        const char* xml;
        const char* condition;
    };
    for (const auto& b : {
             bad{"<query xmlns='jabber:iq:roster'/>", "bad-request"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='a@b'/><item jid='c@d'/></query>", "bad-request"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='a@b/r'/></query>", "bad-request"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='@@'/></query>", "jid-malformed"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='a@b'><group/></item></query>", "not-acceptable"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='a@b'><group>x</group><group>x</group></item></query>",
                 "bad-request"},
             bad{"<query xmlns='jabber:iq:roster'><item jid='a@b' subscription='sideways'/></query>", "bad-request"},
         }) {
        CAPTURE(b.xml);
        auto u = parse(b.xml);
        REQUIRE_FALSE(u);
        CHECK(u.error().condition == b.condition);
    }
}

TEST_CASE("roster items serialize with subscription, ask and groups; tombstones as remove") {
    stanza s = stanza::make("query", "jabber:iq:roster");
    hush::roster_item item;
    item.contact = "juliet@example.com";
    item.name = "Juliet";
    item.sub = hush::subscription::to;
    item.pending_out = false;
    item.groups = {"Friends", "Lovers"};
    roster_payload::append_item(s.element(), item);
    hush::roster_item pending;
    pending.contact = "nurse@example.com";
    pending.pending_out = true;
    roster_payload::append_item(s.element(), pending);
    hush::roster_item gone;
    gone.contact = "tybalt@example.com";
    gone.removed = true;
    gone.groups = {"ignored"};
    roster_payload::append_item(s.element(), gone);
    CHECK(s.serialize() ==
          "<query xmlns=\"jabber:iq:roster\"><item jid=\"juliet@example.com\" name=\"Juliet\" subscription=\"to\">"
          "<group>Friends</group><group>Lovers</group></item>"
          "<item jid=\"nurse@example.com\" subscription=\"none\" ask=\"subscribe\"/>"
          "<item jid=\"tybalt@example.com\" subscription=\"remove\"/></query>");
}
