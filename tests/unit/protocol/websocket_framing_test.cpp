// RFC 7395 framing: the examples of §3.4 and §3.6 both ways, and what a message must not be.
#include <doctest.h>

#include "protocol/websocket_framing.hpp"

using namespace hush::websocket_framing;

TEST_CASE("a client's <open/> becomes an RFC 6120 stream header (RFC 7395 §3.4)") {
    const auto in = from_client(
        "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"\n             to=\"example.com\"\n"
        "             version=\"1.0\" />",
        "jabber:client");
    REQUIRE(in.what == inbound::kind::open);
    CHECK(in.bytes ==
          "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "
          "version='1.0'>");
}

TEST_CASE("a client's <close/> ends the stream (RFC 7395 §3.6)") {
    const auto in = from_client("<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" />", "jabber:client");
    REQUIRE(in.what == inbound::kind::close);
    CHECK(in.bytes == "</stream:stream>");
}

TEST_CASE("one complete element passes as it is") {
    const std::string iq = "<iq type='get' id='1' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>";
    const auto in = from_client("  " + iq + "\n", "jabber:client");
    REQUIRE(in.what == inbound::kind::element);
    CHECK(in.bytes == iq);
    // '>' inside a quoted value does not end the tag.
    const auto quoted = from_client("<message to='a@b' id='x>y'><body>hi</body></message>", "jabber:client");
    CHECK(quoted.what == inbound::kind::element);
}

TEST_CASE("a message that is not exactly one complete element is bad-format") {
    for (const char* bad : {"<message to='a@b'><body>half", "<a/><b/>", "hello", "", "</message>", "<!-- c -->",
                            "<message to='a@b'/>trailing"}) {
        CAPTURE(bad);
        const auto in = from_client(bad, "jabber:client");
        CHECK(in.what == inbound::kind::error);
        CHECK(in.condition == "bad-format");
    }
}

TEST_CASE("an <open/> of another namespace is invalid-namespace (RFC 6120 §4.9.3.10)") {
    const auto in = from_client("<open xmlns='urn:example' to='example.com'/>", "jabber:client");
    CHECK(in.what == inbound::kind::error);
    CHECK(in.condition == "invalid-namespace");
}

TEST_CASE("the server's stream header becomes <open/>, its end <close/> (RFC 7395 §3.4, §3.6)") {
    outbound_splitter out("jabber:client");
    std::vector<std::string> messages;
    out.push("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' from='example.com' "
             "version='1.0' xml:lang='en'>",
             messages);
    REQUIRE(messages.size() == 1);
    CHECK(messages[0] ==
          "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' from='example.com' "
          "version='1.0' xml:lang='en'/>");
    messages.clear();
    out.push("</stream:stream>", messages);
    REQUIRE(messages.size() == 1);
    CHECK(messages[0] == "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    CHECK(out.idle());
}

TEST_CASE("every outgoing message declares its namespaces") {
    outbound_splitter out("jabber:client");
    std::vector<std::string> messages;
    out.push("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256"
             "</mechanism></mechanisms></stream:features><message to='a@b' from='c@d'><body>x &gt; y</body></message>"
             " <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
             messages);
    REQUIRE(messages.size() == 3);
    CHECK(messages[0] ==
          "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms "
          "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms>"
          "</stream:features>");
    CHECK(messages[1] == "<message xmlns='jabber:client' to='a@b' from='c@d'><body>x &gt; y</body></message>");
    CHECK(messages[2] == "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

TEST_CASE("output split anywhere is cut into the same messages") {
    const std::string all = "<message to='a@b'><body>one</body></message><presence/><iq type='result' id='7'/>";
    for (std::size_t cut = 0; cut <= all.size(); ++cut) {
        outbound_splitter out("jabber:client");
        std::vector<std::string> messages;
        out.push(std::string_view(all).substr(0, cut), messages);
        out.push(std::string_view(all).substr(cut), messages);
        CAPTURE(cut);
        REQUIRE(messages.size() == 3);
        CHECK(messages[1] == "<presence xmlns='jabber:client'/>");
        CHECK(out.idle());
    }
}

TEST_CASE("an incomplete tail is kept only up to the limit") {
    outbound_splitter out("jabber:client", 64);
    std::vector<std::string> messages;
    CHECK(out.push("<message><body>", messages));
    CHECK_FALSE(out.idle());
    CHECK_FALSE(out.push(std::string(100, 'x'), messages));
    CHECK(messages.empty());
}
