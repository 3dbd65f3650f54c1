// XEP-0377 reports: the XEP's examples parse, and serialize back to the same element.
#include <doctest.h>

#include <sstream>

#include "protocol/spam_report.hpp"

using namespace hush;

namespace {

std::string to_string(pugi::xml_node n) {
    std::ostringstream out;
    n.print(out, "", pugi::format_raw);
    return out.str();
}

}  // namespace

TEST_CASE("XEP-0377 'Report sent with stanza IDs' round-trips") {
    // The item of the XEP's example, verbatim.
    const char* example = R"(<item jid='romeo@example.net'>
      <report xmlns="urn:xmpp:reporting:1" reason="urn:xmpp:reporting:spam">
        <stanza-id xmlns='urn:xmpp:sid:0' by='romeo@example.net' id='28482-98726-73623'/>
        <stanza-id xmlns='urn:xmpp:sid:0' by='romeo@example.net' id='38383-38018-18385'/>
        <text xml:lang="en">
          Never came trouble to my house like this.
        </text>
      </report>
    </item>)";
    pugi::xml_document doc;
    REQUIRE(doc.load_string(example));
    const auto report = parse_spam_report(doc.first_child());
    REQUIRE(report);
    CHECK(report->reason == reporting_spam);
    CHECK(report->short_reason() == "spam");
    CHECK(report->stanza_ids == std::vector<reported_stanza_id>{{"romeo@example.net", "28482-98726-73623"},
                                                              {"romeo@example.net", "38383-38018-18385"}});
    REQUIRE(report->texts.size() == 1);
    CHECK(report->texts[0].lang == "en");
    CHECK(report->texts[0].text == "\n          Never came trouble to my house like this.\n        ");

    pugi::xml_document out;
    auto item = out.append_child("item");
    serialize_spam_report(*report, item);
    // Serialized once more, it is the XEP's element without the indentation between elements.
    pugi::xml_document original;
    original.load_string(example, pugi::parse_default);  // pugixml drops whitespace-only text between elements
    CHECK(to_string(out.first_child().first_child()) == to_string(original.first_child().first_child()));
    CHECK(parse_spam_report(out.first_child()) == report);
}

TEST_CASE("XEP-0377 opt-ins, abuse, and the 0.2 form") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string(R"(<item jid='romeo@example.net'><report xmlns="urn:xmpp:reporting:1" reason="urn:xmpp:reporting:abuse"><report-origin/><third-party/></report></item>)"));
    auto report = parse_spam_report(doc.first_child());
    REQUIRE(report);
    CHECK(report->short_reason() == "abuse");
    CHECK(report->report_origin);
    CHECK(report->third_party);

    REQUIRE(doc.load_string(R"(<item jid='x@y'><report xmlns='urn:xmpp:reporting:0'><abuse/><text>rude</text></report></item>)"));
    report = parse_spam_report(doc.first_child());
    REQUIRE(report);
    CHECK(report->reason == reporting_abuse);
    CHECK(report->joined_text() == "rude");

    REQUIRE(doc.load_string(R"(<item jid='x@y'><report xmlns='urn:example:other'/></item>)"));
    CHECK_FALSE(parse_spam_report(doc.first_child()));
    REQUIRE(doc.load_string(R"(<item jid='x@y'/>)"));
    CHECK_FALSE(parse_spam_report(doc.first_child()));
}
