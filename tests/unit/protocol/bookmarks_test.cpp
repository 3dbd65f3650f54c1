// Bookmarks in both forms: XEP-0048's <storage/> example and XEP-0402's conference item convert into each other.
#include <doctest.h>

#include "protocol/bookmarks.hpp"
#include "protocol/pubsub.hpp"

using namespace hush;

TEST_CASE("bookmarks: XEP-0048's example storage becomes XEP-0402 items and back") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string("<storage xmlns='storage:bookmarks'><conference name='Council of Oberon' autojoin='true' "
                            "jid='council@conference.underhill.org'><nick>Puck</nick><password>titania</password>"
                            "</conference><conference jid='not a jid'/><url name='Complete Works of Shakespeare' "
                            "url='http://the-tech.mit.edu/Shakespeare/'/></storage>"));
    const auto conferences = bookmarks::parse_storage(doc.first_child());
    REQUIRE(conferences.size() == 1);  // the malformed room and the URL are not bookmarks of rooms
    const bookmarks::conference expected{"council@conference.underhill.org", "Council of Oberon", true, "Puck",
                                         "titania"};
    CHECK(conferences[0] == expected);
    const std::string item = bookmarks::serialize_conference(expected);
    CHECK(item == "<conference xmlns=\"urn:xmpp:bookmarks:1\" name=\"Council of Oberon\" autojoin=\"true\">"
                  "<nick>Puck</nick><password>titania</password></conference>");
    CHECK(bookmarks::parse_conference(expected.jid, item) == expected);
    pugi::xml_document back;
    bookmarks::append_storage(back, conferences);
    CHECK(pubsub::serialize_element(back.first_child()) ==
          "<storage xmlns=\"storage:bookmarks\"><conference jid=\"council@conference.underhill.org\" "
          "name=\"Council of Oberon\" autojoin=\"true\"><nick>Puck</nick><password>titania</password></conference>"
          "</storage>");
}

TEST_CASE("bookmarks: XEP-0402's example item") {
    const auto c = bookmarks::parse_conference(
        "theplay@conference.shakespeare.lit",
        "<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' autojoin='true'><nick>JC</nick>"
        "</conference>");
    REQUIRE(c);
    CHECK(c->name == "The Play's the Thing");
    CHECK(c->autojoin);
    CHECK(c->nick == "JC");
    CHECK(c->password.empty());
    CHECK_FALSE(bookmarks::parse_conference("theplay@conference.shakespeare.lit", "<conference xmlns='other'/>"));
    CHECK_FALSE(bookmarks::parse_conference("room@x/with-resource", "<conference xmlns='urn:xmpp:bookmarks:1'/>"));
}
