// XEP-0363 HTTP File Upload payloads: the XEP's own examples (version 1.1.0, §5 examples 4 to 6) parsed, written
// again and parsed back to the same values; the header rules of §4; the error extension.
#include <doctest.h>

#include <string>

#include <pugixml.hpp>

#include "protocol/http_upload.hpp"

using namespace hush;

namespace {

// The XEP's examples, verbatim.
const char* const example_request = R"(<iq from='romeo@montague.tld/garden'
    id='step_03'
    to='upload.montague.tld'
    type='get'>
  <request xmlns='urn:xmpp:http:upload:0'
    filename='très cool.jpg'
    size='23456'
    content-type='image/jpeg' />
</iq>)";

const char* const example_slot = R"(<iq from='upload.montague.tld'
    id='step_03'
    to='romeo@montague.tld/garden'
    type='result'>
  <slot xmlns='urn:xmpp:http:upload:0'>
    <put url='https://upload.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg'>
      <header name='Authorization'>Basic Base64String==</header>
      <header name='Cookie'>foo=bar; user=romeo</header>
    </put>
    <get url='https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg' />
  </slot>
</iq>)";

const char* const example_too_large = R"(<iq from='upload.montague.tld'
    id='step_03'
    to='romeo@montague.tld/garden'
    type='error'>
  <request xmlns='urn:xmpp:http:upload:0'
    filename='très cool.jpg'
    size='23456'
    content-type='image/jpeg' />
  <error type='modify'>
    <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' />
    <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>File too large. The maximum file size is 20000 bytes</text>
    <file-too-large xmlns='urn:xmpp:http:upload:0'>
      <max-file-size>20000</max-file-size>
    </file-too-large>
  </error>
</iq>)";

pugi::xml_node load(pugi::xml_document& doc, const char* xml) {
    REQUIRE(doc.load_string(xml));
    return doc.first_child();
}

std::string written(const pugi::xml_document& doc) {
    struct sink : pugi::xml_writer {
        std::string out;
        void write(const void* data, size_t size) override { out.append(static_cast<const char*>(data), size); }
    } s;
    doc.first_child().print(s, "", pugi::format_raw);
    return s.out;
}

}  // namespace

TEST_CASE("http upload: the XEP's slot request round-trips") {
    pugi::xml_document doc;
    const auto iq = load(doc, example_request);
    const auto r = http_upload::parse_request(iq.child("request"));
    REQUIRE(r);
    CHECK(r->filename == "tr\xc3\xa8s cool.jpg");
    CHECK(r->size == 23456);
    CHECK(r->content_type == "image/jpeg");

    pugi::xml_document out;
    http_upload::write_request(out, *r);
    CHECK(written(out) == "<request xmlns=\"urn:xmpp:http:upload:0\" filename=\"tr\xc3\xa8s cool.jpg\" size=\"23456\" "
                          "content-type=\"image/jpeg\"/>");
    CHECK(http_upload::parse_request(out.first_child()) == r);
}

TEST_CASE("http upload: a request without content type, and malformed ones") {
    pugi::xml_document doc;
    load(doc, "<r><request xmlns='urn:xmpp:http:upload:0' filename='a.bin' size='0'/>"
              "<request xmlns='urn:xmpp:http:upload:0' size='5'/>"
              "<request xmlns='urn:xmpp:http:upload:0' filename='a' size='-1'/>"
              "<request xmlns='urn:xmpp:http:upload:0' filename='a' size='12x'/>"
              "<request xmlns='urn:xmpp:http:upload' filename='a' size='1'/>"
              "<request xmlns='urn:xmpp:http:upload:0' filename='a' size='99999999999999999999999'/></r>");
    auto it = doc.first_child().children("request").begin();
    const auto ok = http_upload::parse_request(*it++);
    REQUIRE(ok);
    CHECK(ok->content_type.empty());
    CHECK(ok->size == 0);
    CHECK_FALSE(http_upload::parse_request(*it++));  // no filename
    CHECK_FALSE(http_upload::parse_request(*it++));  // negative
    CHECK_FALSE(http_upload::parse_request(*it++));  // trailing junk
    CHECK_FALSE(http_upload::parse_request(*it++));  // legacy namespace
    CHECK_FALSE(http_upload::parse_request(*it++));  // out of range
}

TEST_CASE("http upload: the XEP's slot round-trips") {
    pugi::xml_document doc;
    const auto iq = load(doc, example_slot);
    const auto s = http_upload::parse_slot(iq.child("slot"));
    REQUIRE(s);
    CHECK(s->put_url == "https://upload.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg");
    CHECK(s->get_url == "https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg");
    REQUIRE(s->put_headers.size() == 2);
    CHECK(s->put_headers[0] == http_upload::header{"Authorization", "Basic Base64String=="});
    CHECK(s->put_headers[1] == http_upload::header{"Cookie", "foo=bar; user=romeo"});

    pugi::xml_document out;
    http_upload::write_slot(out, *s);
    CHECK(written(out) ==
          "<slot xmlns=\"urn:xmpp:http:upload:0\"><put "
          "url=\"https://upload.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg\">"
          "<header name=\"Authorization\">Basic Base64String==</header>"
          "<header name=\"Cookie\">foo=bar; user=romeo</header></put>"
          "<get url=\"https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg\"/>"
          "</slot>");
    CHECK(http_upload::parse_slot(out.first_child()) == s);
}

TEST_CASE("http upload: only the three allowed headers, and no line breaks in them") {
    pugi::xml_document doc;
    load(doc, "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://a/p'>"
              "<header name='authorization'>Bearer x</header><header name='Host'>evil</header>"
              "<header name='Expires'>Thu, 01 Jan 2037 00:00:00 GMT</header>"
              "<header name='Cookie'>a=b&#13;&#10;X-Evil: 1</header></put><get url='https://a/g'/></slot>");
    const auto s = http_upload::parse_slot(doc.first_child());
    REQUIRE(s);
    REQUIRE(s->put_headers.size() == 2);
    CHECK(s->put_headers[0].name == "authorization");
    CHECK(s->put_headers[1].name == "Expires");
    CHECK(http_upload::allowed_header("AUTHORIZATION"));
    CHECK_FALSE(http_upload::allowed_header("Content-Type"));

    pugi::xml_document missing;
    load(missing, "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://a/p'/></slot>");
    CHECK_FALSE(http_upload::parse_slot(missing.first_child()));
}

TEST_CASE("http upload: the XEP's file-too-large error round-trips") {
    pugi::xml_document doc;
    const auto iq = load(doc, example_too_large);
    CHECK(http_upload::parse_file_too_large(iq.child("error")) == 20000);
    CHECK(http_upload::parse_request(iq.child("request")));

    pugi::xml_document out;
    auto error = out.append_child("error");
    http_upload::write_file_too_large(error, 20000);
    CHECK(written(out) == "<error><file-too-large xmlns=\"urn:xmpp:http:upload:0\"><max-file-size>20000</max-file-size>"
                          "</file-too-large></error>");
    CHECK(http_upload::parse_file_too_large(error) == 20000);
    CHECK_FALSE(http_upload::parse_file_too_large(iq.child("request")));
}
