#include <doctest.h>

#include <string_view>

#include "protocol/stanza.hpp"

using namespace hush;

namespace {

bool automatic(std::string_view xml) {
    const stanza s = stanza::parse(xml);
    REQUIRE(s.valid());
    return is_automatic_message(s);
}

}  // namespace

TEST_CASE("automatic messages: what clients send on their own") {
    CHECK(automatic("<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>"));
    CHECK(automatic("<message type='chat'><inactive xmlns='http://jabber.org/protocol/chatstates'/>"
                    "<thread>t1</thread><no-store xmlns='urn:xmpp:hints'/></message>"));
    CHECK(automatic("<message><received xmlns='urn:xmpp:receipts' id='m1'/></message>"));
    CHECK(automatic("<message><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>"
                    "<origin-id xmlns='urn:xmpp:sid:0' id='x'/></message>"));
    CHECK(automatic("<message type='chat'><body>  </body></message>"));
    CHECK(automatic("<message type='chat'/>"));
}

TEST_CASE("automatic messages: anything typed or meant is not") {
    CHECK_FALSE(automatic("<message type='chat'><body>hi</body>"
                          "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"));
    CHECK_FALSE(automatic("<message><x xmlns='jabber:x:conference' jid='room@muc.example'/></message>"));
    CHECK_FALSE(automatic("<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>"));
    CHECK_FALSE(automatic("<message><subject>hello</subject></message>"));
    CHECK_FALSE(automatic("<message><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>"));
    CHECK_FALSE(automatic("<presence/>"));
}
