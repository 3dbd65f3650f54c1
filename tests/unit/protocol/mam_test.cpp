// XEP-0313 on the wire: the XEP's examples parse (query forms, RSM, <fin/>, <result/>, <prefs/>) and serialize back
// to what parses the same; XEP-0359 stanza-ids are stamped and forgeries stripped; XEP-0082 date-times round-trip.
#include <doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "protocol/mam.hpp"

using namespace hush;

namespace {

std::string to_string(pugi::xml_node n) {
    std::ostringstream out;
    n.print(out, "", pugi::format_raw);
    return out.str();
}

mam::query parsed(const char* iq) {
    pugi::xml_document doc;
    REQUIRE(doc.load_string(iq));
    auto q = mam::parse_query(doc.first_child().child("query"));
    REQUIRE_MESSAGE(q.has_value(), (q.has_value() ? std::string() : q.error()));
    return *q;
}

// serialize → parse gives the same query.
void round_trips(const mam::query& q) {
    pugi::xml_document doc;
    mam::serialize_query(q, doc);
    auto again = mam::parse_query(doc.first_child());
    REQUIRE(again.has_value());
    CHECK(*again == q);
}

}  // namespace

TEST_CASE("XEP-0313 example 'Querying the archive for all messages in a certain timeframe' with RSM") {
    // XEP-0313 §4.1.2 and §4.2, verbatim.
    const auto q = parsed(R"(<iq type='set' id='juliet1'>
  <query xmlns='urn:xmpp:mam:2' queryid='f27'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='FORM_TYPE' type='hidden'>
        <value>urn:xmpp:mam:2</value>
      </field>
      <field var='start'>
        <value>2010-06-07T00:00:00Z</value>
      </field>
      <field var='end'>
        <value>2010-07-07T13:23:54Z</value>
      </field>
    </x>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
    </set>
  </query>
</iq>)");
    CHECK(q.queryid == "f27");
    CHECK(q.start == std::int64_t{1275868800} * 1000000);
    CHECK(q.end == std::int64_t{1278509034} * 1000000);
    CHECK(q.rsm.max == 10u);
    CHECK_FALSE(q.rsm.after);
    CHECK_FALSE(q.rsm.before);
    round_trips(q);
}

TEST_CASE("XEP-0313 query by with, RSM after/before and the #extended fields") {
    const auto q = parsed(R"(<iq type='set' id='juliet1'>
  <query xmlns='urn:xmpp:mam:2'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
      <field var='with'><value>juliet@capulet.lit</value></field>
      <field var='after-id'><value>28482-98726-73623</value></field>
      <field var='ids'><value>a</value><value>b</value></field>
    </x>
    <set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>09af3-cc343-b409f</after></set>
  </query>
</iq>)");
    CHECK(q.with == "juliet@capulet.lit");
    CHECK(q.after_id == "28482-98726-73623");
    CHECK(q.ids == std::vector<std::string>{"a", "b"});
    CHECK(q.rsm.after == "09af3-cc343-b409f");
    round_trips(q);

    // <before/> empty: the last page.
    const auto last = parsed(R"(<iq type='set'><query xmlns='urn:xmpp:mam:2'>
      <set xmlns='http://jabber.org/protocol/rsm'><max>20</max><before/></set></query></iq>)");
    REQUIRE(last.rsm.before);
    CHECK(last.rsm.before->empty());
    round_trips(last);
    // No form at all: the whole archive.
    CHECK(parsed("<iq type='set'><query xmlns='urn:xmpp:mam:2'/></iq>") == mam::query{});
}

TEST_CASE("XEP-0313 bad queries are refused with a reason") {
    const char* bad[] = {
        // wrong FORM_TYPE, no FORM_TYPE, an unknown field, a bad date, a bad max, an empty <after/>, <index/>
        R"(<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='with'><value>a@b</value></field></x></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='color'><value>red</value></field></x></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='start'><value>yesterday</value></field></x></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after/></set></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set></query>)",
        R"(<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field></x></query>)",
    };
    for (const char* xml : bad) {
        pugi::xml_document doc;
        REQUIRE(doc.load_string(xml));
        CHECK_MESSAGE(!mam::parse_query(doc.first_child()).has_value(), xml);
    }
}

TEST_CASE("XEP-0313 <fin/> with its <set/>, as in the XEP's example") {
    pugi::xml_document doc;
    mam::rsm_result set;
    set.first = "28482-98726-73623";
    set.first_index = 0;
    set.last = "09af3-cc343-b409f";
    mam::append_fin(doc, false, set);
    CHECK(to_string(doc.first_child()) ==
          "<fin xmlns=\"urn:xmpp:mam:2\"><set xmlns=\"http://jabber.org/protocol/rsm\"><first index=\"0\">"
          "28482-98726-73623</first><last>09af3-cc343-b409f</last></set></fin>");
    CHECK(mam::parse_rsm_result(doc.first_child().child("set")) == set);

    pugi::xml_document done;
    mam::rsm_result empty;
    empty.count = 0;
    mam::append_fin(done, true, empty);
    CHECK(to_string(done.first_child()) ==
          "<fin xmlns=\"urn:xmpp:mam:2\" complete=\"true\"><set xmlns=\"http://jabber.org/protocol/rsm\">"
          "<count>0</count></set></fin>");
}

TEST_CASE("XEP-0313 <result/>: the archived message forwarded with its delay") {
    const stanza m = mam::make_result_message(
        "juliet@capulet.lit/chamber", "juliet@capulet.lit", "f27", "28482-98726-73623",
        std::int64_t{1278803305} * 1000000,
        R"(<message from="witch@shakespeare.lit" to="macbeth@shakespeare.lit"><body>Hail to thee</body></message>)");
    REQUIRE(m.valid());
    // XEP-0313 §4.2's example, but for the message's own id and from.
    CHECK(m.serialize() ==
          "<message to=\"juliet@capulet.lit/chamber\" from=\"juliet@capulet.lit\"><result xmlns=\"urn:xmpp:mam:2\" "
          "queryid=\"f27\" id=\"28482-98726-73623\"><forwarded xmlns=\"urn:xmpp:forward:0\"><delay "
          "xmlns=\"urn:xmpp:delay\" stamp=\"2010-07-10T23:08:25Z\"/><message xmlns=\"jabber:client\" "
          "from=\"witch@shakespeare.lit\" to=\"macbeth@shakespeare.lit\"><body>Hail to thee</body></message>"
          "</forwarded></result></message>");
    CHECK_FALSE(mam::make_result_message("a@b/c", "a@b", "", "1", 0, "<broken").valid());
}

TEST_CASE("XEP-0313 <prefs/> example round-trips") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string(R"(<prefs xmlns='urn:xmpp:mam:2' default='roster'>
    <always>
      <jid>romeo@montague.lit</jid>
    </always>
    <never>
      <jid>montague@montague.lit</jid>
    </never>
  </prefs>)"));
    const auto p = mam::parse_prefs(doc.first_child());
    REQUIRE(p);
    CHECK(p->default_mode == "roster");
    CHECK(p->always == std::vector<std::string>{"romeo@montague.lit"});
    CHECK(p->never == std::vector<std::string>{"montague@montague.lit"});
    pugi::xml_document again;
    mam::serialize_prefs(*p, again);
    CHECK(mam::parse_prefs(again.first_child()) == p);
    pugi::xml_document bad;
    REQUIRE(bad.load_string("<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>"));
    CHECK_FALSE(mam::parse_prefs(bad.first_child()));
}

TEST_CASE("XEP-0359 stanza-id: stamped, and a forged one claiming our account stripped") {
    const stanza m = stanza::parse(R"(<message from='mallory@evil.example' to='juliet@capulet.lit' type='chat'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='juliet@capulet.lit'/><stanza-id xmlns='urn:xmpp:sid:0' id='theirs' by='mallory@evil.example'/><stanza-id xmlns='urn:xmpp:sid:0' id='forged2' by='juliet@capulet.lit'/></message>)");
    REQUIRE(m.valid());
    CHECK(mam::strip_stanza_ids(m, "juliet@capulet.lit") == 2);
    CHECK(mam::strip_stanza_ids(m, "juliet@capulet.lit") == 0);
    mam::add_stanza_id(m, "juliet@capulet.lit", "1700000000000001");
    CHECK(m.serialize() ==
          "<message from=\"mallory@evil.example\" to=\"juliet@capulet.lit\" type=\"chat\"><body>hi</body>"
          "<stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"theirs\" by=\"mallory@evil.example\"/>"
          "<stanza-id xmlns=\"urn:xmpp:sid:0\" by=\"juliet@capulet.lit\" id=\"1700000000000001\"/></message>");
}

TEST_CASE("XEP-0359 stanza-id: the claim is compared as a normalized bare JID; no-JID claims go unless provably another's") {
    const std::string long_resource(1100, 'x');  // over RFC 7622's 1023 bytes: the whole is no JID
    const stanza m = stanza::parse(
        "<message from='mallory@evil.example' to='juliet@capulet.lit' type='chat'><body>hi</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='case' by='Juliet@Capulet.LIT'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='resource' by='juliet@capulet.lit/balcony'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='dot' by='juliet@capulet.lit.'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='nobody' by='@@'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='missing'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='hers-no-jid' by='JULIET@capulet.lit/" + long_resource + "'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='his-no-jid' by='romeo@montague.lit/" + long_resource + "'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='server' by='capulet.lit'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='romeo' by='Romeo@Montague.LIT'/>"
        "</message>");
    REQUIRE(m.valid());
    CHECK(mam::strip_stanza_ids(m, "juliet@capulet.lit") == 6);
    std::vector<std::string> left;
    for (auto sid : m.element().children("stanza-id")) {
        left.emplace_back(sid.attribute("id").value());
    }
    CHECK(left == std::vector<std::string>{"his-no-jid", "server", "romeo"});
}

TEST_CASE("XEP-0082 dates that do not exist are refused") {
    CHECK(mam::parse_datetime("2024-02-29T00:00:00Z"));
    CHECK(mam::parse_datetime("2000-02-29T00:00:00Z"));
    CHECK_FALSE(mam::parse_datetime("2023-02-29T00:00:00Z"));
    CHECK_FALSE(mam::parse_datetime("1900-02-29T00:00:00Z"));
    CHECK_FALSE(mam::parse_datetime("2024-02-30T00:00:00Z"));
    CHECK_FALSE(mam::parse_datetime("2024-02-31T00:00:00Z"));
    CHECK_FALSE(mam::parse_datetime("2024-04-31T00:00:00Z"));
    CHECK(mam::parse_datetime("2024-12-31T23:59:59Z"));
    CHECK_FALSE(mam::parse_datetime("2024-00-10T00:00:00Z"));
}

TEST_CASE("XEP-0082 date-times to the microsecond") {
    CHECK(mam::parse_datetime("1969-07-21T02:56:15Z") == std::int64_t{-14159025} * 1000000);
    CHECK(mam::parse_datetime("1969-07-20T21:56:15-05:00") == std::int64_t{-14159025} * 1000000);
    CHECK(mam::parse_datetime("2010-07-10T23:08:25.123Z") == std::int64_t{1278803305} * 1000000 + 123000);
    CHECK(mam::parse_datetime("2010-07-10T23:08:25.1234567Z") == std::int64_t{1278803305} * 1000000 + 123456);
    CHECK_FALSE(mam::parse_datetime("2010-07-10T23:08:25"));
    CHECK_FALSE(mam::parse_datetime("2010-07-10 23:08:25Z"));
    CHECK_FALSE(mam::parse_datetime("2010-13-10T23:08:25Z"));
    CHECK_FALSE(mam::parse_datetime("2010-07-10T23:08:25.Z"));
    CHECK_FALSE(mam::parse_datetime(""));
    CHECK(mam::format_datetime(std::int64_t{1278803305} * 1000000) == "2010-07-10T23:08:25Z");
    CHECK(mam::format_datetime(std::int64_t{1278803305} * 1000000 + 42) == "2010-07-10T23:08:25.000042Z");
    CHECK(mam::format_datetime(std::int64_t{-14159025} * 1000000) == "1969-07-21T02:56:15Z");
    for (std::int64_t us : {std::int64_t{0}, std::int64_t{1764000000123456}, std::int64_t{951782400000000}}) {
        CHECK(mam::parse_datetime(mam::format_datetime(us)) == us);
    }
}
