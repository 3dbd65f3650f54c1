#include <doctest.h>

#include <string>
#include <vector>

#include "protocol/dialback.hpp"
#include "protocol/stream_parser.hpp"

using namespace hush;

namespace {

// A server-to-server stream header declaring the db prefix, as XEP-0220 §2.4.1 shows it.
const std::string s2s_header =
    "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='capulet.example' to='montague.example' version='1.0'>";

// Feeds `xml` after the header through our stream parser (the production path) and returns the one element.
stanza on_stream(const std::string& xml, const std::string& header = s2s_header) {
    xml::stream_parser parser(xml::parser_limits{});
    std::vector<xml::stream_event> events;
    const auto error = parser.feed(header + xml, events);
    REQUIRE_FALSE(error.has_value());
    std::vector<stanza> elements;
    for (auto& e : events) {
        if (auto* t = std::get_if<xml::top_level_element>(&e)) {
            elements.push_back(t->element);
        }
    }
    REQUIRE(elements.size() == 1);
    return elements.front();
}

dialback_result result_of(const std::string& xml) {
    auto st = on_stream(xml);
    auto r = parse_dialback_result(st.element());
    if (!r) {
        FAIL(r.error().condition << ": " << r.error().text);
    }
    return *r;
}

dialback_verify verify_of(const std::string& xml) {
    auto st = on_stream(xml);
    auto r = parse_dialback_verify(st.element());
    if (!r) {
        FAIL(r.error().condition << ": " << r.error().text);
    }
    return *r;
}

// A standalone pugixml tree (for inputs our stream parser would never produce).
pugi::xml_node load(pugi::xml_document& doc, const char* xml) {
    REQUIRE(doc.load_string(xml));
    return doc.first_child();
}

}  // namespace

TEST_CASE("XEP-0185 §3 example: the dialback key") {
    CHECK(dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F") ==
          "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
}

TEST_CASE("XEP-0220 example keys (both directions)") {
    CHECK(dialback_key("s3cr3tf0rd14lb4ck", "montague.example", "capulet.example", "D60000229F") ==
          "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3");
    CHECK(dialback_key("d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25") ==
          "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d");
}

TEST_CASE("verify_dialback_key accepts exactly the generated key") {
    const std::string good = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643";
    CHECK(verify_dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", good));

    std::string flipped = good;
    flipped.back() = '4';
    CHECK_FALSE(verify_dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", flipped));
    CHECK_FALSE(verify_dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F",
                                    good.substr(0, 63)));
    CHECK_FALSE(verify_dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", ""));
    CHECK_FALSE(verify_dialback_key("wrong secret", "xmpp.example.com", "example.org", "D60000229F", good));
    CHECK_FALSE(verify_dialback_key("s3cr3tf0rd14lb4ck", "example.org", "xmpp.example.com", "D60000229F", good));
    CHECK_FALSE(verify_dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229E", good));
    // The space separators keep shifted boundaries apart (XEP-0185 §2 note 5).
    CHECK(dialback_key("s", "example.info", "rm.example.org", "1") != dialback_key("s", "example.in", "form.example.org", "1"));
}

TEST_CASE("XEP-0220 Example 1: db:result request, parsed verbatim, checked and round-tripped") {
    const auto r = result_of(R"(<db:result
          from='capulet.example'
          to='montague.example'>
        b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3
      </db:result>)");
    CHECK(r.from == "capulet.example");
    CHECK(r.to == "montague.example");
    CHECK(r.type == dialback_type::request);
    CHECK(r.key == "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3");
    // The Receiving Server montague.example sent stream ID D60000229F to capulet.example.
    CHECK(verify_dialback_key("s3cr3tf0rd14lb4ck", r.to, r.from, "D60000229F", r.key));

    const std::string wire = serialize_dialback(r);
    CHECK(wire == "<db:result from=\"capulet.example\" to=\"montague.example\">"
                  "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>");
    CHECK(result_of(wire) == r);
}

TEST_CASE("XEP-0220 Examples 2-4: db:result answers round-trip") {
    SUBCASE("valid (Example 2)") {
        const auto r = result_of(R"(<db:result
          from='montague.example'
          to='capulet.example'
          type='valid'/>)");
        CHECK(r.type == dialback_type::valid);
        CHECK(r.from == "montague.example");
        CHECK(r.to == "capulet.example");
        CHECK(r.key.empty());
        CHECK(serialize_dialback(r) == "<db:result from=\"montague.example\" to=\"capulet.example\" type=\"valid\"/>");
        CHECK(result_of(serialize_dialback(r)) == r);
    }
    SUBCASE("invalid (Example 3)") {
        const auto r = result_of(R"(<db:result
          from='montague.example'
          to='capulet.example'
          type='invalid'/>)");
        CHECK(r.type == dialback_type::invalid);
        CHECK(result_of(serialize_dialback(r)) == r);
    }
    SUBCASE("error (Example 4)") {
        const auto r = result_of(R"(<db:result
          from='montague.example'
          to='capulet.example'
          type='error'>
        <error type='cancel'>
          <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
        </error>
      </db:result>)");
        CHECK(r.type == dialback_type::error);
        CHECK(r.error.condition == "item-not-found");
        CHECK(r.error.type == error_type::cancel);
        CHECK(r.error.text.empty());
        const std::string wire = serialize_dialback(r);
        CHECK(wire == "<db:result from=\"montague.example\" to=\"capulet.example\" type=\"error\">"
                      "<error type=\"cancel\"><item-not-found xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
                      "</error></db:result>");
        CHECK(result_of(wire) == r);
    }
}

TEST_CASE("XEP-0220 Example 5: db:verify request, parsed verbatim, checked and round-tripped") {
    const auto v = verify_of(R"(<db:verify
          from='capulet.example'
          id='417GAF25'
          to='montague.example'>
       225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d
     </db:verify>)");
    CHECK(v.from == "capulet.example");
    CHECK(v.to == "montague.example");
    CHECK(v.id == "417GAF25");
    CHECK(v.type == dialback_type::request);
    // The Authoritative Server (montague.example) recomputes: receiving = from, originating = to.
    CHECK(verify_dialback_key("d14lb4ck43v3r", v.from, v.to, v.id, v.key));

    const std::string wire = serialize_dialback(v);
    CHECK(wire == "<db:verify from=\"capulet.example\" to=\"montague.example\" id=\"417GAF25\">"
                  "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d</db:verify>");
    CHECK(verify_of(wire) == v);

    const auto answer = answer_dialback(v, dialback_type::valid);
    CHECK(serialize_dialback(answer) ==
          "<db:verify from=\"montague.example\" to=\"capulet.example\" id=\"417GAF25\" type=\"valid\"/>");
}

TEST_CASE("XEP-0220 Examples 6-8: db:verify answers round-trip") {
    SUBCASE("valid (Example 6)") {
        const auto v = verify_of(R"(<db:verify
          from='montague.example'
          id='417GAF25'
          to='capulet.example'
          type='valid'/>)");
        CHECK(v.type == dialback_type::valid);
        CHECK(v.id == "417GAF25");
        CHECK(verify_of(serialize_dialback(v)) == v);
    }
    SUBCASE("invalid (Example 7)") {
        const auto v = verify_of(R"(<db:verify
          from='montague.example'
          id='417GAF25'
          to='capulet.example'
          type='invalid'/>)");
        CHECK(v.type == dialback_type::invalid);
        CHECK(verify_of(serialize_dialback(v)) == v);
    }
    SUBCASE("error (Example 8)") {
        const auto v = verify_of(R"(<db:verify
          from='montague.example'
          id='417GAF25'
          to='capulet.example'
          type='error'>
        <error type='cancel'>
          <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
        </error>
     </db:verify>)");
        CHECK(v.type == dialback_type::error);
        CHECK(v.error.condition == "item-not-found");
        CHECK(v.error.type == error_type::cancel);
        CHECK(verify_of(serialize_dialback(v)) == v);
    }
}

TEST_CASE("XEP-0185 §3 example elements") {
    const auto r = result_of(R"(<db:result
  to='xmpp.example.com'
  from='example.org'>
    37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643
</db:result>)");
    CHECK(verify_dialback_key("s3cr3tf0rd14lb4ck", r.to, r.from, "D60000229F", r.key));

    const auto v = verify_of(R"(<db:verify
  to='example.org'
  from='xmpp.example.com'
  id='D60000229F'>
    37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643
</db:verify>)");
    CHECK(verify_dialback_key("s3cr3tf0rd14lb4ck", v.from, v.to, v.id, v.key));
    const auto answer = answer_dialback(v, dialback_type::valid);
    CHECK(verify_of(serialize_dialback(answer)) == verify_of(R"(<db:verify
  to='xmpp.example.com'
  from='example.org'
  id='D60000229F'
  type='valid'/>)"));
}

TEST_CASE("dialback errors: text, other types, and answers") {
    dialback_result request{"capulet.example", "montague.example", dialback_type::request, "abc", {}};
    const auto answer = answer_dialback(request, dialback_type::error,
                                        dialback_error{"remote-server-timeout", error_type::wait, "no answer & gone"});
    CHECK(answer.from == "montague.example");
    CHECK(answer.to == "capulet.example");
    CHECK(answer.key.empty());
    const std::string wire = serialize_dialback(answer);
    CHECK(wire.find("no answer &amp; gone") != std::string::npos);
    const auto back = result_of(wire);
    CHECK(back == answer);
    CHECK(back.error.type == error_type::wait);
    CHECK(back.error.text == "no answer & gone");

    // valid/invalid answers drop any error handed in
    CHECK(answer_dialback(request, dialback_type::valid, dialback_error{"forbidden", error_type::auth, ""}).error ==
          dialback_error{});
}

TEST_CASE("namespace forms: default namespace, other prefixes, and non-dialback elements") {
    // Unprefixed with a default namespace declaration (what some servers send).
    auto r = result_of("<result xmlns='jabber:server:dialback' from='a.example' to='b.example'>k3y</result>");
    CHECK(r.key == "k3y");

    // Another prefix declared on the stream header.
    const std::string other_header =
        "<stream:stream xmlns='jabber:server' xmlns:dialback='jabber:server:dialback' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='b.example' version='1.0'>";
    auto st = on_stream("<dialback:verify from='a.example' to='b.example' id='x1'>k3y</dialback:verify>", other_header);
    CHECK(classify_dialback(st.element()) == dialback_element::verify);
    CHECK(parse_dialback_verify(st.element()).has_value());

    // Standalone trees: a prefix declared on the element itself, or not at all.
    pugi::xml_document doc;
    CHECK(classify_dialback(load(doc, "<db:result xmlns:db='jabber:server:dialback' from='a.example' "
                                      "to='b.example'>k</db:result>")) == dialback_element::result);
    CHECK(classify_dialback(load(doc, "<db:result from='a.example' to='b.example'>k</db:result>")) ==
          dialback_element::none);
    CHECK(classify_dialback(load(doc, "<result xmlns='jabber:server' from='a' to='b'>k</result>")) ==
          dialback_element::none);
    CHECK(classify_dialback(load(doc, "<x:verify xmlns:x='jabber:server:dialbackx' from='a' to='b'/>")) ==
          dialback_element::none);
    CHECK(classify_dialback(load(doc, "<message xmlns='jabber:server:dialback'/>")) == dialback_element::none);

    // A parse of the wrong kind is refused.
    auto wrong = parse_dialback_verify(on_stream("<db:result from='a.example' to='b.example'>k</db:result>").element());
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().condition == "bad-format");
}

TEST_CASE("addresses are normalized") {
    const auto r = result_of("<db:result from='Capulet.EXAMPLE.' to='MONTAGUE.example'>k</db:result>");
    CHECK(r.from == "capulet.example");
    CHECK(r.to == "montague.example");
}

TEST_CASE("malformed dialback elements get stream errors") {
    struct bad {
        const char* xml;
        const char* condition;
    };
    for (const auto& b : {
             bad{"<db:result to='montague.example'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='capulet.example'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='' to='montague.example'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='juliet@capulet.example' to='montague.example'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='capulet.example' to='montague.example/res'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='capulet..example' to='montague.example'>k</db:result>", "improper-addressing"},
             bad{"<db:result from='capulet.example' to='montague.example'/>", "bad-format"},
             bad{"<db:result from='capulet.example' to='montague.example'>  \n\t </db:result>", "bad-format"},
             bad{"<db:result from='capulet.example' to='montague.example' type='maybe'>k</db:result>", "bad-format"},
             bad{"<db:result from='capulet.example' to='montague.example' type=''>k</db:result>", "bad-format"},
         }) {
        CAPTURE(b.xml);
        auto r = parse_dialback_result(on_stream(b.xml).element());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().condition == b.condition);
        CHECK_FALSE(r.error().text.empty());
    }
    for (const auto& b : {
             bad{"<db:verify from='capulet.example' to='montague.example'>k</db:verify>", "bad-format"},
             bad{"<db:verify from='capulet.example' to='montague.example' id=''>k</db:verify>", "bad-format"},
             bad{"<db:verify from='capulet.example' to='montague.example' id='a b'>k</db:verify>", "bad-format"},
             bad{"<db:verify from='capulet.example' to='montague.example' id='x'/>", "bad-format"},
             bad{"<db:verify to='montague.example' id='x'>k</db:verify>", "improper-addressing"},
             bad{"<db:verify from='capulet.example' to='montague.example' id='x' type='VALID'/>", "bad-format"},
         }) {
        CAPTURE(b.xml);
        auto v = parse_dialback_verify(on_stream(b.xml).element());
        REQUIRE_FALSE(v.has_value());
        CHECK(v.error().condition == b.condition);
    }

    const std::string long_key(max_dialback_key_size + 1, 'a');
    auto r = parse_dialback_result(
        on_stream("<db:result from='capulet.example' to='montague.example'>" + long_key + "</db:result>").element());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().condition == "bad-format");
    const std::string max_key(max_dialback_key_size, 'a');
    CHECK(parse_dialback_result(
              on_stream("<db:result from='capulet.example' to='montague.example'>" + max_key + "</db:result>")
                  .element())
              .has_value());
}

TEST_CASE("lenient readings of sloppy answers") {
    // Text beside type='valid' is ignored.
    auto r = result_of("<db:result from='a.example' to='b.example' type='valid'>stray</db:result>");
    CHECK(r.type == dialback_type::valid);
    CHECK(r.key.empty());
    // An error without <error/>, or with an unknown type, still reads as an error.
    auto e = result_of("<db:result from='a.example' to='b.example' type='error'/>");
    CHECK(e.type == dialback_type::error);
    CHECK(e.error.condition == "undefined-condition");
    CHECK(e.error.type == error_type::cancel);
    auto f = result_of("<db:result from='a.example' to='b.example' type='error'><error type='later'>"
                       "<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>");
    CHECK(f.error.condition == "forbidden");
    CHECK(f.error.type == error_type::auth);  // RFC 6120's default for the condition
    // A condition in the wrong namespace is not a condition.
    auto g = result_of("<db:result from='a.example' to='b.example' type='error'><error type='cancel'>"
                       "<forbidden/></error></db:result>");
    CHECK(g.error.condition == "undefined-condition");
    // CDATA keys are keys.
    auto c = result_of("<db:result from='a.example' to='b.example'><![CDATA[abc]]></db:result>");
    CHECK(c.key == "abc");
}

TEST_CASE("the dialback stream feature") {
    CHECK(dialback_feature == "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>");
    const std::string features_header =
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

    // XEP-0220 §2.4.2 example, verbatim.
    auto st = on_stream(R"(<stream:features>
  <dialback xmlns='urn:xmpp:features:dialback'>
    <errors/>
  </dialback>
</stream:features>)",
                        features_header);
    CHECK(offers_dialback_errors(st.element()));
    CHECK(offers_dialback_errors(on_stream("<stream:features>" + std::string(dialback_feature) +
                                               "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
                                           features_header)
                                     .element()));

    CHECK_FALSE(offers_dialback_errors(
        on_stream("<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>", features_header)
            .element()));
    CHECK_FALSE(offers_dialback_errors(
        on_stream("<stream:features><dialback xmlns='urn:xmpp:features:other'><errors/></dialback></stream:features>",
                  features_header)
            .element()));
    CHECK_FALSE(offers_dialback_errors(
        on_stream("<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors xmlns='x'/></dialback>"
                  "</stream:features>",
                  features_header)
            .element()));

    pugi::xml_document doc;
    auto features = doc.append_child("features");
    append_dialback_feature(features);
    CHECK(offers_dialback_errors(features));
}
