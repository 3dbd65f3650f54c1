// XEP-0115: the two worked examples of §5.2 and §5.3, verbatim, and the answers §5.4 says must not be cached.
#include <doctest.h>

#include <algorithm>

#include "protocol/caps.hpp"

using namespace hush;

namespace {

// The <query/> of a disco#info result around `query_xml`.
pugi::xml_node query_of(const stanza& iq) {
    return iq.child("query", "http://jabber.org/protocol/disco#info");
}

stanza result_with(const std::string& query_xml) {
    return stanza::parse("<iq type='result' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/chamber' "
                         "id='disco1'>" +
                         query_xml + "</iq>");
}

// XEP-0115 §5.2, Example 2.
const char* simple_example = R"(<query xmlns='http://jabber.org/protocol/disco#info'
         node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
    <identity category='client' name='Exodus 0.9.1' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
  </query>)";

// XEP-0115 §5.3, Example 3.
const char* complex_example = R"(<query xmlns='http://jabber.org/protocol/disco#info'
         node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'>
        <value>urn:xmpp:dataforms:softwareinfo</value>
      </field>
      <field var='ip_version'>
        <value>ipv4</value>
        <value>ipv6</value>
      </field>
      <field var='os'>
        <value>Mac</value>
      </field>
      <field var='os_version'>
        <value>10.5.1</value>
      </field>
      <field var='software'>
        <value>Psi</value>
      </field>
      <field var='software_version'>
        <value>0.11</value>
      </field>
    </x>
  </query>)";

}  // namespace

TEST_CASE("caps: XEP-0115 §5.2, the simple generation example") {
    const stanza iq = result_with(simple_example);
    auto info = caps::read_disco_info(query_of(iq));
    REQUIRE(info);
    CHECK(caps::verification_string(*info) ==
          "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<"
          "http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<");
    CHECK(caps::ver("sha-1", *info) == std::optional<std::string>("QgayPKawpkPSDYmwT/WM94uAlu0="));
}

TEST_CASE("caps: XEP-0115 §5.3, the complex generation example with an extended form") {
    const stanza iq = result_with(complex_example);
    auto info = caps::read_disco_info(query_of(iq));
    REQUIRE(info);
    CHECK(caps::verification_string(*info) ==
          "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<"
          "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
          "http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<os_version<"
          "10.5.1<software<Psi<software_version<0.11<");
    CHECK(caps::ver("sha-1", *info) == std::optional<std::string>("q07IKJEyjvHSyhy//CH0CxmKi8w="));
}

TEST_CASE("caps: the order of the answer does not matter; other hashes; unknown algorithms") {
    auto info = caps::read_disco_info(query_of(result_with(complex_example)));
    REQUIRE(info);
    auto shuffled = *info;
    std::reverse(shuffled.identities.begin(), shuffled.identities.end());
    std::reverse(shuffled.features.begin(), shuffled.features.end());
    std::reverse(shuffled.forms.front().fields.begin(), shuffled.forms.front().fields.end());
    std::reverse(shuffled.forms.front().fields.back().values.begin(), shuffled.forms.front().fields.back().values.end());
    CHECK(caps::ver("sha-1", shuffled) == caps::ver("sha-1", *info));
    // sha-256 of the same §5.3 string (computed with Python's hashlib).
    CHECK(caps::ver("sha-256", *info) == std::optional<std::string>("VyRoCfkwN7Q9lxZhqOI+mxfSpo/MsaCF4hBufCzfCpI="));
    CHECK(caps::known_algorithm("sha-512"));
    CHECK_FALSE(caps::known_algorithm("md5"));
    CHECK_FALSE(caps::ver("md5", *info));
    CHECK_FALSE(caps::ver("SHA1", *info));
}

TEST_CASE("caps: forms sort by FORM_TYPE; a form whose FORM_TYPE is not hidden, or that has none, is left out") {
    const stanza iq = result_with(R"(<query xmlns='http://jabber.org/protocol/disco#info'>
        <identity category='client' type='pc'/>
        <x xmlns='jabber:x:data' type='result'>
          <field var='FORM_TYPE' type='hidden'><value>urn:b</value></field>
          <field var='z'><value>1</value></field>
        </x>
        <x xmlns='jabber:x:data' type='result'>
          <field var='FORM_TYPE' type='hidden'><value>urn:a</value></field>
        </x>
        <x xmlns='jabber:x:data' type='result'>
          <field var='FORM_TYPE'><value>urn:visible</value></field>
        </x>
        <x xmlns='jabber:x:data' type='result'><field var='a'><value>2</value></field></x>
      </query>)");
    auto info = caps::read_disco_info(query_of(iq));
    REQUIRE(info);
    CHECK(caps::verification_string(*info) == "client/pc//<urn:a<urn:b<z<1<");
}

TEST_CASE("caps: §5.4 answers that must not be cached") {
    const auto refused = [](const std::string& query) {
        return !caps::read_disco_info(query_of(result_with(query)));
    };
    const std::string open = "<query xmlns='http://jabber.org/protocol/disco#info'>";
    CHECK(refused(open + "<identity category='client' type='pc' name='A'/><identity category='client' type='pc' "
                         "name='A'/></query>"));
    CHECK(refused(open + "<identity category='client' type='pc'/><feature var='urn:x'/><feature var='urn:x'/></query>"));
    CHECK(refused(open + "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:a"
                         "</value></field></x><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
                         "type='hidden'><value>urn:a</value></field></x></query>"));
    CHECK(refused(open + "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:a"
                         "</value><value>urn:b</value></field></x></query>"));
    CHECK(refused("<query xmlns='http://jabber.org/protocol/disco#items'/>"));
    // Same identity in two languages, or the same name differently typed, is fine.
    CHECK_FALSE(refused(open + "<identity category='client' type='pc' xml:lang='en' name='A'/><identity "
                               "category='client' type='pc' xml:lang='de' name='A'/></query>"));
}

TEST_CASE("caps: the <c/> of a presence") {
    auto p = stanza::parse("<presence from='a@b/c'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                           "node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>");
    auto c = caps::parse(p);
    REQUIRE(c);
    CHECK(c->hash == "sha-1");
    CHECK(c->node == "http://code.google.com/p/exodus");
    CHECK(c->ver == "QgayPKawpkPSDYmwT/WM94uAlu0=");
    auto legacy = caps::parse(stanza::parse("<presence><c xmlns='http://jabber.org/protocol/caps' node='n' "
                                            "ver='1.0'/></presence>"));
    REQUIRE(legacy);
    CHECK(legacy->hash.empty());
    CHECK_FALSE(caps::parse(stanza::parse("<presence><c xmlns='http://jabber.org/protocol/caps' node='n'/></presence>")));
    CHECK_FALSE(caps::parse(stanza::parse("<presence><c xmlns='urn:other' node='n' ver='v'/></presence>")));
    CHECK_FALSE(caps::parse(stanza::parse("<presence/>")));
}
