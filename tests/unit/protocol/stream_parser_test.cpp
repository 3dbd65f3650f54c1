#include <doctest.h>

#include "protocol/stream_parser.hpp"

#include <random>

using namespace hush;
using namespace hush::xml;

namespace {

const std::string header =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.org' version='1.0' xml:lang='en'>";

struct feed_result {
    std::vector<stream_event> events;
    std::optional<stream_error> error;
};

feed_result feed_all(const std::string& bytes, std::size_t chunk, parser_limits limits = {}) {
    stream_parser parser(limits);
    feed_result r;
    for (std::size_t i = 0; i < bytes.size() && !r.error; i += chunk) {
        r.error = parser.feed(std::string_view(bytes).substr(i, chunk), r.events);
    }
    return r;
}

std::vector<std::string> serialized_stanzas(const feed_result& r) {
    std::vector<std::string> out;
    for (const auto& e : r.events) {
        if (auto* t = std::get_if<top_level_element>(&e)) {
            out.push_back(t->element.serialize());
        }
    }
    return out;
}

}  // namespace

TEST_CASE("stream header, stanzas and close parse the same whatever the chunking") {
    const std::string stream = header +
                               "<message to='bob@example.org' type='chat' id='1'><body>Hi &amp; &lt;bye&gt; ü</body>"
                               "<x:active xmlns:x='http://jabber.org/protocol/chatstates'/></message> \n "
                               "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
                               "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>";
    std::vector<std::string> reference;
    for (std::size_t chunk : {stream.size(), std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}}) {
        CAPTURE(chunk);
        auto r = feed_all(stream, chunk);
        REQUIRE_FALSE(r.error);
        REQUIRE(r.events.size() == 5);
        auto* open = std::get_if<stream_open>(&r.events[0]);
        REQUIRE(open != nullptr);
        CHECK(open->stream_ns == "http://etherx.jabber.org/streams");
        CHECK(open->local_name == "stream");
        CHECK(open->content_ns == "jabber:client");
        CHECK(open->to == "example.org");
        CHECK(open->version == "1.0");
        CHECK(open->lang == "en");
        CHECK(std::holds_alternative<stream_close>(r.events[4]));
        auto stanzas = serialized_stanzas(r);
        REQUIRE(stanzas.size() == 3);
        if (reference.empty()) {
            reference = stanzas;
        }
        CHECK(stanzas == reference);
    }
    CHECK(reference[0] ==
          "<message to=\"bob@example.org\" type=\"chat\" id=\"1\"><body>Hi &amp; &lt;bye&gt; ü</body>"
          "<active xmlns=\"http://jabber.org/protocol/chatstates\"/></message>");
    CHECK(reference[1] == "<iq type=\"get\" id=\"p\"><ping xmlns=\"urn:xmpp:ping\"/></iq>");
    CHECK(reference[2] == "<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>");
}

TEST_CASE("mixed content keeps its text runs whatever the chunking") {
    const std::string stanza = "<message>\n <body>a&amp;b<b>x&lt;y</b>&gt;c<i/><i/>d</body> tail&amp;</message>";
    for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, header.size() + stanza.size()}) {
        CAPTURE(chunk);
        auto r = feed_all(header + stanza, chunk);
        REQUIRE_FALSE(r.error);
        const auto stanzas = serialized_stanzas(r);
        REQUIRE(stanzas.size() == 1);
        CHECK(stanzas[0] == "<message>\n <body>a&amp;b<b>x&lt;y</b>&gt;c<i/><i/>d</body> tail&amp;</message>");
    }
}

TEST_CASE("entity-heavy text is accumulated in linear work however it is split") {
    // Expat hands each entity reference over as its own chunk; re-copying the text gathered so far on every
    // chunk made a 256 KiB body of them quadratic. Bound the bytes copied, not the time taken.
    std::string raw_body;
    std::string expected;
    while (raw_body.size() < 256 * 1024) {
        raw_body += "&amp;&lt;x";
        expected += "&<x";
    }
    const std::string stream = header + "<message to='bob@example.org'><body>" + raw_body + "</body></message>";
    parser_limits limits;
    limits.max_stanza_bytes = 1024 * 1024;

    auto check = [&](const std::vector<std::size_t>& splits) {
        stream_parser parser(limits);
        std::vector<stream_event> events;
        std::size_t at = 0;
        for (std::size_t n : splits) {
            REQUIRE_FALSE(parser.feed(std::string_view(stream).substr(at, n), events));
            at += n;
        }
        REQUIRE(at == stream.size());
        REQUIRE(events.size() == 2);
        const auto& m = std::get<top_level_element>(events[1]).element;
        const auto body = m.element().child("body");
        // One text node holding exactly the decoded text.
        REQUIRE(body.first_child());
        CHECK(body.first_child().type() == pugi::node_pcdata);
        CHECK(body.first_child() == body.last_child());
        CHECK(std::string(body.child_value()) == expected);
        const std::size_t copied = parser.text_bytes_copied();
        CAPTURE(copied);
        CHECK(copied >= expected.size());
        CHECK(copied <= 4 * stream.size());
    };

    SUBCASE("in one piece") {
        check({stream.size()});
    }
    SUBCASE("in small random pieces") {
        std::mt19937 rng(12);
        std::uniform_int_distribution<std::size_t> piece(1, 97);
        std::vector<std::size_t> splits;
        for (std::size_t left = stream.size(); left > 0;) {
            const std::size_t n = std::min(left, piece(rng));
            splits.push_back(n);
            left -= n;
        }
        check(splits);
    }
}

TEST_CASE("stanza kinds and namespaces") {
    auto r = feed_all(header + "<message/><presence/><iq/><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", 3);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.events.size() == 5);
    CHECK(std::get<top_level_element>(r.events[1]).element.kind() == stanza_kind::message);
    CHECK(std::get<top_level_element>(r.events[2]).element.kind() == stanza_kind::presence);
    CHECK(std::get<top_level_element>(r.events[3]).element.kind() == stanza_kind::iq);
    const auto& tls = std::get<top_level_element>(r.events[4]).element;
    CHECK(tls.kind() == stanza_kind::other);
    CHECK(tls.ns() == "urn:ietf:params:xml:ns:xmpp-tls");
}

TEST_CASE("an explicit jabber:client on a stanza is the content namespace") {
    auto r = feed_all(header + "<message xmlns='jabber:client'><body>x</body></message>", 5);
    REQUIRE_FALSE(r.error);
    const auto& m = std::get<top_level_element>(r.events[1]).element;
    CHECK(m.kind() == stanza_kind::message);
    CHECK(m.serialize() == "<message><body>x</body></message>");
}

TEST_CASE("restricted XML is refused") {
    for (const std::string& bad : {
             std::string("<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x 'y'>]><stream:stream/>"),
             header + "<!-- hello -->",
             header + "<?evil thing?>",
             header + "<message><!-- c --></message>",
         }) {
        CAPTURE(bad);
        for (std::size_t chunk : {bad.size(), std::size_t{1}}) {
            auto r = feed_all(bad, chunk);
            REQUIRE(r.error);
            CHECK(r.error->condition == "restricted-xml");
        }
    }
}

TEST_CASE("bad XML and invalid UTF-8 are not-well-formed") {
    for (const std::string& bad : {
             header + "<message><body></message>",
             header + "<message a='1' a='2'/>",
             header + "<message><body>\xff\xfe</body></message>",
             header + "<message><body>\xc3\x28</body></message>",
             header + "<message><undeclared:x/></message>",
         }) {
        CAPTURE(bad);
        auto r = feed_all(bad, 1);
        REQUIRE(r.error);
        CHECK(r.error->condition == "not-well-formed");
    }
}

TEST_CASE("text between stanzas other than whitespace is bad-format") {
    auto r = feed_all(header + "  \n\t <presence/> hello", 1);
    REQUIRE(r.error);
    CHECK(r.error->condition == "bad-format");
    CHECK(serialized_stanzas(r).size() == 1);
}

TEST_CASE("stanza size limit") {
    parser_limits limits;
    limits.max_stanza_bytes = 1024;
    const std::string small = "<message><body>" + std::string(500, 'a') + "</body></message>";
    const std::string big = "<message><body>" + std::string(2000, 'a') + "</body></message>";
    SUBCASE("many small stanzas add up without tripping the limit") {
        std::string s = header;
        for (int i = 0; i < 10; ++i) {
            s += small;
        }
        auto r = feed_all(s, 100, limits);
        CHECK_FALSE(r.error);
        CHECK(serialized_stanzas(r).size() == 10);
    }
    SUBCASE("one big stanza trips it, even fed in one piece") {
        for (std::size_t chunk : {std::size_t{1}, std::size_t{100}, big.size() + header.size()}) {
            auto r = feed_all(header + small + big, chunk, limits);
            REQUIRE(r.error);
            CHECK(r.error->condition == "policy-violation");
            CHECK(serialized_stanzas(r).size() == 1);
        }
    }
    SUBCASE("a huge start tag that never ends trips it too") {
        auto r = feed_all(header + "<message a='" + std::string(5000, 'x'), 512, limits);
        REQUIRE(r.error);
        CHECK(r.error->condition == "policy-violation");
    }
}

TEST_CASE("nesting depth limit") {
    parser_limits limits;
    limits.max_depth = 5;
    auto nested = [](int n) {
        std::string s = "<message>";
        for (int i = 0; i < n; ++i) {
            s += "<a>";
        }
        for (int i = 0; i < n; ++i) {
            s += "</a>";
        }
        return s + "</message>";
    };
    CHECK_FALSE(feed_all(header + nested(5), 1, limits).error);
    auto r = feed_all(header + nested(6), 1, limits);
    REQUIRE(r.error);
    CHECK(r.error->condition == "policy-violation");
}

TEST_CASE("reset starts a new stream") {
    stream_parser parser({});
    std::vector<stream_event> events;
    REQUIRE_FALSE(parser.feed(header + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", events));
    CHECK(events.size() == 2);
    parser.reset();
    events.clear();
    REQUIRE_FALSE(parser.feed(header + "<presence/>", events));
    REQUIRE(events.size() == 2);
    CHECK(std::holds_alternative<stream_open>(events[0]));
}

TEST_CASE("a second root element is refused") {
    auto r = feed_all(header + "</stream:stream><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", 1);
    REQUIRE(r.error);
    CHECK(r.error->condition == "not-well-formed");
}

TEST_CASE("error replies swap addresses and carry the condition") {
    auto r = feed_all(header + "<message from='a@x/r' to='b@y' id='7' type='chat'><body>hi</body></message>", 1000);
    const auto& m = std::get<top_level_element>(r.events[1]).element;
    auto e = make_error_reply(m, "service-unavailable");
    CHECK(e.serialize() ==
          "<message id=\"7\" type=\"error\" to=\"a@x/r\" from=\"b@y\"><body>hi</body><error type=\"cancel\">"
          "<service-unavailable xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></message>");
    CHECK(serialize_stream_error({"policy-violation", "too <big>"}) ==
          "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too &lt;big&gt;</text></stream:error>");
}

TEST_CASE("between elements a stream holds no expat parser, and streams sharing the thread's pool stay apart") {
    const std::string client_header = header;
    const std::string server_header =
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
        "xmlns:db='jabber:server:dialback' to='example.org' from='remote.example' version='1.0'>";
    const std::string odd_prefix_header =
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.org' version='1.0'>";
    struct stream_case {
        stream_case(std::string b, std::string c) : bytes(std::move(b)), close(std::move(c)) {}
        std::string bytes;
        std::string close;
        stream_parser parser{parser_limits{}};
        std::vector<stream_event> events;
    };
    stream_case client{client_header + "<message to='a@example.org'><body>one</body></message> ", "</stream:stream>"};
    stream_case server{server_header + "<db:result from='remote.example' to='example.org'>key</db:result>"
                                       "<message from='x@remote.example' to='a@example.org'><body>two</body></message>",
                       "</stream:stream>"};
    stream_case odd{odd_prefix_header + "<presence/>", "</s:stream>"};
    std::vector<stream_case*> all{&client, &server, &odd};

    // Each stream's header and first element, fed in small chunks, turn about: parsers go back to the pool and
    // come out again for another stream between chunks.
    for (std::size_t offset = 0; offset < 400; offset += 5) {
        for (auto* c : all) {
            if (offset < c->bytes.size()) {
                REQUIRE_FALSE(c->parser.feed(std::string_view(c->bytes).substr(offset, 5), c->events));
            }
        }
    }
    for (auto* c : all) {
        CHECK_FALSE(c->parser.holds_expat_parser());  // all three are between elements
    }

    // More elements after the break, then each stream's own closing tag.
    REQUIRE_FALSE(client.parser.feed("<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", client.events));
    REQUIRE_FALSE(server.parser.feed("<db:verify from='remote.example' to='example.org' id='i'>k</db:verify>",
                                     server.events));
    REQUIRE_FALSE(odd.parser.feed("<message><body>three</body></message>", odd.events));
    for (auto* c : all) {
        REQUIRE_FALSE(c->parser.feed(c->close, c->events));
    }

    REQUIRE(client.events.size() == 4);
    CHECK(std::get<top_level_element>(client.events[1]).element.ns().empty());  // the content namespace
    CHECK(std::get<top_level_element>(client.events[2]).element.serialize() ==
          "<iq type=\"get\" id=\"1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>");
    CHECK(std::holds_alternative<stream_close>(client.events[3]));

    REQUIRE(server.events.size() == 5);
    CHECK(std::get<stream_open>(server.events[0]).content_ns == "jabber:server");
    CHECK(std::get<top_level_element>(server.events[1]).element.ns() == "jabber:server:dialback");
    CHECK(std::get<top_level_element>(server.events[2]).element.ns().empty());
    CHECK(std::get<top_level_element>(server.events[2]).element.kind() == stanza_kind::message);
    CHECK(std::get<top_level_element>(server.events[3]).element.ns() == "jabber:server:dialback");
    CHECK(std::holds_alternative<stream_close>(server.events[4]));

    REQUIRE(odd.events.size() == 4);
    CHECK(std::get<stream_open>(odd.events[0]).stream_ns == "http://etherx.jabber.org/streams");
    CHECK(std::get<top_level_element>(odd.events[2]).element.serialize() ==
          "<message><body>three</body></message>");
    CHECK(std::holds_alternative<stream_close>(odd.events[3]));
}

TEST_CASE("a stream that lent its parser out still refuses a closing tag that is not its root's") {
    stream_parser parser{parser_limits{}};
    std::vector<stream_event> events;
    REQUIRE_FALSE(parser.feed(header + "<presence/>", events));
    CHECK_FALSE(parser.holds_expat_parser());
    const auto error = parser.feed("</stream:other>", events);
    REQUIRE(error);
    CHECK(error->condition == "not-well-formed");
}

TEST_CASE("a stream keeps its parser while an element is incomplete") {
    stream_parser parser{parser_limits{}};
    std::vector<stream_event> events;
    REQUIRE_FALSE(parser.feed(header + "<message><bo", events));
    CHECK(parser.holds_expat_parser());
    REQUIRE_FALSE(parser.feed("dy>x</body></message>", events));
    CHECK_FALSE(parser.holds_expat_parser());
    REQUIRE(events.size() == 2);
    CHECK(std::get<top_level_element>(events[1]).element.serialize() == "<message><body>x</body></message>");
}

TEST_CASE("long elements in a row, in read-sized chunks") {
    std::string stream = header;
    for (int i = 0; i < 20; ++i) {
        stream += "<message to='bob@localhost/slow' type='chat'><body>" + std::string(60000, 'x') + "</body></message>";
        if (i % 5 == 0) {
            stream += "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>";
        }
    }
    for (std::size_t chunk : {std::size_t{8192}, std::size_t{16384}, std::size_t{1000}}) {
        CAPTURE(chunk);
        auto r = feed_all(stream, chunk);
        REQUIRE_FALSE(r.error);
        CHECK(r.events.size() == 25);
    }
    std::mt19937 random(7);
    for (int round = 0; round < 20; ++round) {
        stream_parser parser{parser_limits{}};
        std::vector<stream_event> events;
        for (std::size_t i = 0; i < stream.size();) {
            const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 9000)(random);
            const auto error = parser.feed(std::string_view(stream).substr(i, n), events);
            REQUIRE_FALSE(error);
            i += n;
        }
        CHECK(events.size() == 25);
    }
}

TEST_CASE("after a long element the stream goes on with a new parser fed its root again") {
    stream_parser parser{parser_limits{}};
    std::vector<stream_event> events;
    const std::string long_message = "<message><body>" + std::string(40000, 'x') + "</body></message>";
    REQUIRE_FALSE(parser.feed(header, events));
    REQUIRE_FALSE(parser.feed(long_message, events));
    CHECK_FALSE(parser.holds_expat_parser());  // a parser that buffered 40 kB is freed, not pooled
    // The next bytes need a parser in the same place: a new one, past a copy of the root's start tag.
    REQUIRE_FALSE(parser.feed("<message><body>after</body></message><presence/>", events));
    REQUIRE_FALSE(parser.feed(long_message, events));
    REQUIRE_FALSE(parser.feed("<iq type='get' id='2'/></stream:stream>", events));
    REQUIRE(events.size() == 7);
    CHECK(std::get<top_level_element>(events[2]).element.serialize() == "<message><body>after</body></message>");
    CHECK(std::get<top_level_element>(events[3]).element.serialize() == "<presence/>");
    CHECK(std::get<top_level_element>(events[5]).element.serialize() == "<iq type=\"get\" id=\"2\"/>");
    CHECK(std::holds_alternative<stream_close>(events[6]));
}
