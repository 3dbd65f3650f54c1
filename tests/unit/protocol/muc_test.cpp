// XEP-0045 payloads: the room configuration form (XEP-0045 §10.2's submission), its stored form both ways, the
// history a joining occupant asks for (§7.2.15's examples) and muc#admin items (§8, §9).
#include <doctest.h>

#include "protocol/muc.hpp"
#include "protocol/pubsub.hpp"

using namespace hush;

TEST_CASE("muc: XEP-0045 example 165's configuration submission applies; the stored form reads back the same") {
    pugi::xml_document doc;
    // Example 165 (the fields this server implements, values verbatim).
    REQUIRE(doc.load_string(
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        "<field var='muc#roomconfig_roomname'><value>A Dark Cave</value></field>"
        "<field var='muc#roomconfig_roomdesc'><value>The place for all good witches!</value></field>"
        "<field var='muc#roomconfig_enablelogging'><value>0</value></field>"
        "<field var='muc#roomconfig_changesubject'><value>1</value></field>"
        "<field var='muc#roomconfig_allowinvites'><value>0</value></field>"
        "<field var='muc#roomconfig_allowpm'><value>anyone</value></field>"
        "<field var='muc#roomconfig_maxusers'><value>10</value></field>"
        "<field var='muc#roomconfig_publicroom'><value>0</value></field>"
        "<field var='muc#roomconfig_persistentroom'><value>0</value></field>"
        "<field var='muc#roomconfig_moderatedroom'><value>0</value></field>"
        "<field var='muc#roomconfig_membersonly'><value>0</value></field>"
        "<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>"
        "<field var='muc#roomconfig_roomsecret'><value>cauldronburn</value></field>"
        "<field var='muc#roomconfig_whois'><value>moderators</value></field>"
        "<field var='muc#maxhistoryfetch'><value>50</value></field>"
        "<field var='muc#roomconfig_roomadmins'><value>wiccarocks@shakespeare.lit</value></field>"
        "</x>"));
    muc::room_config c;
    const auto outcome = muc::apply_config_form(doc.first_child(), c, 1000);
    REQUIRE(outcome.ok);
    CHECK(c.name == "A Dark Cave");
    CHECK(c.description == "The place for all good witches!");
    CHECK(c.change_subject);
    CHECK_FALSE(c.public_room);
    CHECK(c.max_users == 10);
    CHECK(c.password_protected);
    CHECK(c.password == "cauldronburn");
    CHECK(c.whois == muc::whois_policy::moderators);
    const std::string stored = muc::serialize_config(c);
    const auto back = muc::parse_config(stored, 1000);
    REQUIRE(back);
    CHECK(*back == c);
    CHECK(muc::serialize_config(*back) == stored);
}

TEST_CASE("muc: configuration values that mean nothing are refused, naming the field") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string("<x xmlns='jabber:x:data' type='submit'>"
                            "<field var='muc#roomconfig_whois'><value>everybody</value></field></x>"));
    muc::room_config c;
    auto outcome = muc::apply_config_form(doc.first_child(), c, 1000);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.field == "muc#roomconfig_whois");
    CHECK(c == muc::room_config{});  // nothing applied
    pugi::xml_document no_secret;
    REQUIRE(no_secret.load_string("<x xmlns='jabber:x:data' type='submit'>"
                                  "<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field></x>"));
    outcome = muc::apply_config_form(no_secret.first_child(), c, 1000);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.field == "muc#roomconfig_roomsecret");
    pugi::xml_document big;
    REQUIRE(big.load_string("<x xmlns='jabber:x:data' type='submit'>"
                            "<field var='muc#roomconfig_maxusers'><value>5000</value></field></x>"));
    REQUIRE(muc::apply_config_form(big.first_child(), c, 300).ok);
    CHECK(c.max_users == 300);  // capped at the service's limit
}

TEST_CASE("muc: the owner's form offers every field with its current value") {
    muc::room_config c;
    c.name = "Council";
    c.members_only = true;
    pugi::xml_document doc;
    muc::append_config_form(doc, c, "form", 500);
    const std::string xml = pubsub::serialize_element(doc.first_child());
    CHECK(xml.find("<field var=\"muc#roomconfig_roomname\" type=\"text-single\" label=\"Title\"><value>Council</value>") !=
          std::string::npos);
    CHECK(xml.find("<field var=\"muc#roomconfig_membersonly\" type=\"boolean\" label=\"Only allow members to join\">"
                   "<value>1</value>") != std::string::npos);
    CHECK(xml.find("<value>1000</value>") == std::string::npos);  // no choice above the limit
}

TEST_CASE("muc: XEP-0045 §7.2.15's history requests") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string("<x xmlns='http://jabber.org/protocol/muc'><history maxchars='65000'/>"
                            "<history maxstanzas='20'/><history seconds='180'/>"
                            "<history since='1970-01-01T00:00:00Z'/><history maxstanzas='x'/></x>"));
    auto h = doc.first_child().children("history").begin();
    CHECK(muc::parse_history(*h).max_chars == 65000u);
    CHECK(muc::parse_history(*++h).max_stanzas == 20u);
    CHECK(muc::parse_history(*++h).seconds == 180);
    CHECK(muc::parse_history(*++h).since == 0);
    CHECK_FALSE(muc::parse_history(*++h).max_stanzas);  // not a number: no limit asked
    CHECK_FALSE(muc::parse_history(pugi::xml_node()).max_stanzas);
}

TEST_CASE("muc: admin items (XEP-0045 examples 81 and 111)") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string("<query xmlns='http://jabber.org/protocol/muc#admin'>"
                            "<item nick='pistol' role='none'><reason>Avaunt, you cullion!</reason></item>"
                            "<item affiliation='outcast' jid='earlofcambridge@shakespeare.lit'>"
                            "<reason>Treason</reason></item><item role='king'/></query>"));
    auto it = doc.first_child().children("item").begin();
    auto kick = muc::parse_admin_item(*it);
    CHECK(kick.nick == "pistol");
    CHECK(kick.role_value == muc::role::none);
    CHECK(kick.reason == "Avaunt, you cullion!");
    auto ban = muc::parse_admin_item(*++it);
    CHECK(ban.affiliation_value == muc::affiliation::outcast);
    CHECK(ban.jid == "earlofcambridge@shakespeare.lit");
    CHECK(muc::parse_admin_item(*++it).bad);
    CHECK(muc::affiliation::owner > muc::affiliation::admin);
    CHECK(muc::parse_role("moderator") == muc::role::moderator);
    CHECK(muc::affiliation_name(muc::affiliation::member) == "member");
}
