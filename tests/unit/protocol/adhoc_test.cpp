// XEP-0050's shared pieces: a command node's disco#info answer (XEP-0050 §2.3's example shape), form values, notes.
#include <doctest.h>

#include "protocol/adhoc.hpp"
#include "protocol/namespaces.hpp"

using namespace hush;

TEST_CASE("a command node's disco#info: identity automation/command-node with its name, commands and data forms") {
    const stanza get = stanza::parse("<iq type='get' from='requester@domain' to='responder@domain' id='info1'>"
                                     "<query xmlns='http://jabber.org/protocol/disco#info' node='config'/></iq>");
    const auto reply = adhoc::node_info(get, "config", "Configure Service");
    REQUIRE(reply);
    CHECK(reply->type() == "result");
    CHECK(reply->id() == "info1");
    const auto q = reply->child("query", ns::disco_info);
    CHECK(std::string_view(q.attribute("node").value()) == "config");
    const auto identity = q.child("identity");
    CHECK(std::string_view(identity.attribute("category").value()) == "automation");
    CHECK(std::string_view(identity.attribute("type").value()) == "command-node");
    CHECK(std::string_view(identity.attribute("name").value()) == "Configure Service");
    CHECK(std::string_view(q.find_child_by_attribute("feature", "var", "http://jabber.org/protocol/commands").name()) ==
          "feature");
    CHECK(std::string_view(q.find_child_by_attribute("feature", "var", "jabber:x:data").name()) == "feature");
    // Another node, or no disco#info get: not ours to answer.
    CHECK_FALSE(adhoc::node_info(get, "other", "x"));
    CHECK_FALSE(adhoc::node_info(stanza::parse("<iq type='set' id='s'><query xmlns='http://jabber.org/protocol/disco#info' "
                                               "node='config'/></iq>"),
                                 "config", "x"));
}

TEST_CASE("form values: every <value/> of one field, in order; notes carry their type") {
    pugi::xml_document doc;
    doc.load_string("<x xmlns='jabber:x:data' type='submit'><field var='a'><value>1</value><value>2</value></field>"
                    "<field var='b'><value>3</value></field></x>");
    CHECK(adhoc::form_values(doc.first_child(), "a") == std::vector<std::string>{"1", "2"});
    CHECK(adhoc::form_values(doc.first_child(), "c").empty());
    pugi::xml_document command;
    auto c = command.append_child("command");
    adhoc::add_note(c, "warn", "careful");
    CHECK(std::string_view(c.child("note").attribute("type").value()) == "warn");
    CHECK(std::string_view(c.child_value("note")) == "careful");
}
