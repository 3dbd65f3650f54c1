// XEP-0060 payloads: requests parsed from the XEP's examples, the event serializer giving the XEP's notification
// verbatim, node configuration forms (the stored form round-trips; publish-options compare as preconditions).
#include <doctest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "protocol/pubsub.hpp"

using namespace hush;

namespace {

struct parsed {
    pugi::xml_document doc;
    std::optional<pubsub::request> request;
    pubsub::request_error error;
};

std::unique_ptr<parsed> parse(const std::string& xml, bool set) {
    auto p = std::make_unique<parsed>();
    REQUIRE(p->doc.load_string(xml.c_str()));
    p->request = pubsub::parse_request(p->doc.first_child(), set, p->error);
    return p;
}

// XEP-0060 Example 99 (publish an item with an ItemID), the <pubsub/> payload.
const std::string example_publish =
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='princely_musings'>"
    "<item id='bnd81g37d61f49fgn581'><entry xmlns='http://www.w3.org/2005/Atom'><title>Soliloquy</title>"
    "<summary>To be, or not to be: that is the question</summary>"
    "<link rel='alternate' type='text/html' href='http://denmark.lit/2003/12/13/atom03'/>"
    "<id>tag:denmark.lit,2003:entry-32397</id><published>2003-12-13T18:30:02Z</published>"
    "<updated>2003-12-13T18:30:02Z</updated></entry></item></publish></pubsub>";

std::string entry_of(const std::string& publish) {
    const auto start = publish.find("<entry");
    const auto end = publish.find("</entry>") + 8;
    return publish.substr(start, end - start);
}

}  // namespace

TEST_CASE("pubsub: a publish request keeps the node, the item id and the payload verbatim") {
    auto p = parse(example_publish, true);
    REQUIRE(p->request);
    CHECK(p->request->kind == pubsub::request_kind::publish);
    CHECK(p->request->node == "princely_musings");
    CHECK(p->request->item_id == "bnd81g37d61f49fgn581");
    std::string expected = entry_of(example_publish);
    for (auto& c : expected) {
        c = c == '\'' ? '"' : c;  // pugixml writes attributes in double quotes
    }
    CHECK(p->request->payload == expected);
}

TEST_CASE("pubsub: malformed requests get XEP-0060's errors") {
    SUBCASE("two payloads in one item") {
        auto p = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><a xmlns='x'/>"
                       "<b xmlns='x'/></item></publish></pubsub>",
                       true);
        CHECK_FALSE(p->request);
        CHECK(p->error.condition == "bad-request");
        CHECK(p->error.pubsub_condition == "invalid-payload");
    }
    SUBCASE("a publish without a node") {
        auto p = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item/></publish></pubsub>", true);
        CHECK_FALSE(p->request);
        CHECK(p->error.pubsub_condition == "nodeid-required");
    }
    SUBCASE("an items request as a set") {
        auto p = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'/></pubsub>", true);
        CHECK_FALSE(p->request);
        CHECK(p->error.condition == "feature-not-implemented");
    }
    SUBCASE("a retract without an item") {
        auto p = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='n'/></pubsub>", true);
        CHECK_FALSE(p->request);
        CHECK(p->error.pubsub_condition == "item-required");
    }
}

TEST_CASE("pubsub: items, retract, subscribe and owner requests") {
    auto items = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='princely_musings' max_items='2'/>"
                       "</pubsub>",
                       false);
    REQUIRE(items->request);
    CHECK(items->request->kind == pubsub::request_kind::items);
    CHECK(items->request->max_items == 2U);
    auto retract = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='princely_musings' notify='true'>"
                         "<item id='ae890ac52d0df67ed7cfdf51b644e901'/></retract></pubsub>",
                         true);
    REQUIRE(retract->request);
    CHECK(retract->request->notify);
    CHECK(retract->request->item_ids == std::vector<std::string>{"ae890ac52d0df67ed7cfdf51b644e901"});
    auto subscribe = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='princely_musings' "
                           "jid='francisco@denmark.lit'/></pubsub>",
                           true);
    REQUIRE(subscribe->request);
    CHECK(subscribe->request->kind == pubsub::request_kind::subscribe);
    CHECK(subscribe->request->jid == "francisco@denmark.lit");
    auto affiliations = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations "
                              "node='princely_musings'><affiliation jid='hamlet@denmark.lit' affiliation='none'/>"
                              "</affiliations></pubsub>",
                              true);
    REQUIRE(affiliations->request);
    CHECK(affiliations->request->kind == pubsub::request_kind::owner_affiliations_set);
    REQUIRE(affiliations->request->changes.size() == 1);
    CHECK(affiliations->request->changes[0].value == "none");
    auto configure = parse("<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure/></pubsub>", false);
    CHECK_FALSE(configure->request);
    CHECK(configure->error.pubsub_condition == "nodeid-required");
}

TEST_CASE("pubsub: the event serializer writes XEP-0060 Example 101's notification") {
    stanza m = pubsub::event_message("pubsub.shakespeare.lit", "francisco@denmark.lit", "headline");
    const std::string payload = "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>Soliloquy</title></entry>";
    pubsub::append_items_event(m, "princely_musings", {{"ae890ac52d0df67ed7cfdf51b644e901", "", payload}}, true);
    CHECK(pubsub::serialize_element(m.element().child("event")) ==
          "<event xmlns=\"http://jabber.org/protocol/pubsub#event\"><items node=\"princely_musings\">"
          "<item id=\"ae890ac52d0df67ed7cfdf51b644e901\">" + payload + "</item></items></event>");
    stanza retract = pubsub::event_message("pubsub.shakespeare.lit", "bernardo@denmark.lit", "headline");
    pubsub::append_retract_event(retract, "princely_musings", {"ae890ac52d0df67ed7cfdf51b644e901"});
    // Example 118.
    CHECK(pubsub::serialize_element(retract.element().child("event")) ==
          "<event xmlns=\"http://jabber.org/protocol/pubsub#event\"><items node=\"princely_musings\">"
          "<retract id=\"ae890ac52d0df67ed7cfdf51b644e901\"/></items></event>");
    CHECK(retract.type() == "headline");
}

TEST_CASE("pubsub: a configuration survives storage, and publish-options are preconditions") {
    pubsub::node_config c = pubsub::pep_defaults(256);
    CHECK(c.access == pubsub::access_model::presence);
    CHECK(c.max_items == 1);
    c.title = "Nice tunes";
    c.access = pubsub::access_model::roster;
    c.roster_groups_allowed = {"Friends", "Family"};
    const auto back = pubsub::parse_config(pubsub::serialize_config(c), 256);
    REQUIRE(back);
    CHECK(pubsub::serialize_config(*back) == pubsub::serialize_config(c));
    CHECK(back->roster_groups_allowed == c.roster_groups_allowed);

    pugi::xml_document doc;
    REQUIRE(doc.load_string("<x xmlns='jabber:x:data' type='submit'>"
                            "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                            "<field var='pubsub#persist_items'><value>true</value></field>"
                            "<field var='pubsub#max_items'><value>max</value></field>"
                            "<field var='pubsub#access_model'><value>whitelist</value></field></x>"));
    pubsub::node_config bookmarks = pubsub::pep_defaults(256);
    CHECK(pubsub::unmet_precondition(doc.first_child(), bookmarks, 256) == "pubsub#max_items");
    CHECK(pubsub::apply_form(doc.first_child(), bookmarks, 256, false).error == pubsub::form_error::none);
    CHECK(bookmarks.max_items == 256);
    pubsub::node_config numeric = pubsub::pep_defaults(256);
    numeric.max_items = 256;  // set as a number, asked for as "max": the same
    numeric.access = pubsub::access_model::whitelist;
    CHECK(pubsub::unmet_precondition(doc.first_child(), numeric, 256).empty());
    CHECK(bookmarks.access == pubsub::access_model::whitelist);
    // "true" and "1", "max" and the limit: met however they are written.
    CHECK(pubsub::unmet_precondition(doc.first_child(), bookmarks, 256).empty());
    CHECK(pubsub::apply_form(doc.first_child(), bookmarks, 256, false).error == pubsub::form_error::none);

    pugi::xml_document bad;
    REQUIRE(bad.load_string("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>0</value>"
                            "</field></x>"));
    CHECK(pubsub::apply_form(bad.first_child(), bookmarks, 256, false).error == pubsub::form_error::bad_value);
    pugi::xml_document unknown;
    REQUIRE(unknown.load_string("<x xmlns='jabber:x:data' type='submit'><field var='pubsub#unheard_of'>"
                                "<value>1</value></field></x>"));
    CHECK(pubsub::apply_form(unknown.first_child(), bookmarks, 256, true).error == pubsub::form_error::unknown_field);
    CHECK(pubsub::apply_form(unknown.first_child(), bookmarks, 256, false).error == pubsub::form_error::none);
}

TEST_CASE("pubsub: the owner's form lists each field once, values as XEP-0004 wants") {
    pugi::xml_document doc;
    pubsub::append_config_form(doc, pubsub::service_defaults(256), "form", 256);
    const auto form = doc.first_child();
    std::vector<std::string> vars;
    for (auto f : form.children("field")) {
        vars.emplace_back(f.attribute("var").value());
    }
    CHECK(vars.front() == "FORM_TYPE");
    CHECK(std::find(vars.begin(), vars.end(), "pubsub#access_model") != vars.end());
    CHECK(std::set<std::string>(vars.begin(), vars.end()).size() == vars.size());
    const auto title = form.find_child_by_attribute("field", "var", "pubsub#title");
    CHECK_FALSE(title.child("value"));  // unset: no empty value
    CHECK(std::string(form.find_child_by_attribute("field", "var", "pubsub#persist_items").child_value("value")) == "1");
    CHECK(std::string(form.find_child_by_attribute("field", "var", "pubsub#max_items").child_value("value")) == "20");
}
