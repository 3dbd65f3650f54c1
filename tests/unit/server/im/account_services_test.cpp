// account_services (XEP-0054 vcard-temp, XEP-0049 private XML storage, XEP-0012 last activity) against a real
// SQLite async_store in a temp directory. Requests are built as the session hands them over: validated, with a
// stamped full 'from' and a 'to' rewritten to the addressed bare JID or domain.
#include <doctest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "protocol/namespaces.hpp"
#include "server/im/account_services.hpp"
#include "server/im/accounts.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"

using namespace hush;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view alice_full = "alice@example.org/phone";
constexpr std::string_view bob_full = "bob@example.org/laptop";

using test::temp_dir;

using test::sqlite_options;

using test::run_sync;

stanza make_stanza(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    REQUIRE(doc->load_buffer(xml.data(), xml.size()));
    return stanza(std::move(doc), "");
}

using test::parse_jid;

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string serialize(pugi::xml_node node) {
    std::ostringstream out;
    node.print(out, "", pugi::format_raw | pugi::format_no_declaration);
    return out.str();
}

using test::error_info;
using test::error_of;

class fixture {
public:
    fixture()
        : store(sqlite_options(dir.path())),
          services(
              store, [this](const jid& bare) { return online.contains(bare.bare_string()); },
              [this](const jid& account, const jid& requester) -> boost::asio::awaitable<bool> {
                  co_return requester.equals_bare(account) || subscribers.contains(requester.bare_string());
              },
              std::chrono::steady_clock::now() - std::chrono::seconds(42)) {
        create_account("alice");
        create_account("bob");
    }

    void create_account(const std::string& node) {
        auto creds = accounts::make_credentials("secret-password", 4096);
        REQUIRE(creds);
        auto create = [node, creds = *creds](storage::store& s) {
            return s.create_account("example.org", node, creds);
        };
        auto created = run_sync(store.run(std::move(create)));
        REQUIRE(created);
        REQUIRE(*created);
    }

    void set_last(const std::string& node, std::int64_t logout_at, std::string status) {
        storage::last_activity activity;
        activity.logout_at = logout_at;
        activity.status = std::move(status);
        auto put = [node, activity](storage::store& s) { return s.set_last_activity("example.org", node, activity); };
        auto done = run_sync(store.run(std::move(put)));
        REQUIRE(done);
    }

    // Sends `xml` addressed to `to` (bare JID or domain) and returns the reply; nullopt if not ours.
    std::optional<stanza> ask(std::string_view xml, std::string_view to) {
        const stanza iq = make_stanza(xml);
        const jid addressed = parse_jid(to);
        return run_sync(services.handle(iq, addressed));
    }

    // As ask(), for requests that must be answered.
    stanza answer(std::string_view xml, std::string_view to) {
        auto reply = ask(xml, to);
        REQUIRE(reply);
        REQUIRE(reply->valid());
        return std::move(*reply);
    }

    temp_dir dir;
    storage::async_store store;
    std::set<std::string> online;
    std::set<std::string> subscribers{"alice@example.org"};  // may see the accounts' presence
    account_services services;
};

std::string iq(std::string_view type, std::string_view from, std::string_view to, std::string_view payload) {
    return "<iq type='" + std::string(type) + "' id='q1' from='" + std::string(from) + "' to='" + std::string(to) +
           "'>" + std::string(payload) + "</iq>";
}

void check_result(const stanza& reply, std::string_view to, std::string_view from) {
    CHECK(reply.name() == "iq");
    CHECK(reply.type() == "result");
    CHECK(reply.id() == "q1");
    CHECK(reply.to() == to);
    CHECK(reply.from() == from);
}

void check_error(const stanza& reply, std::string_view condition, std::string_view type) {
    CHECK(reply.type() == "error");
    CHECK(reply.id() == "q1");
    const error_info e = error_of(reply);
    CHECK(e.condition == condition);
    CHECK(e.type == type);
}

constexpr std::string_view juliet_vcard =
    "<vCard xmlns='vcard-temp'><FN>  Juliet  Capulet </FN><N><FAMILY>Capulet</FAMILY><GIVEN>Juliet</GIVEN></N>"
    "<NOTE>a &lt;b&gt; &amp; &apos;c&apos;</NOTE><PHOTO><TYPE>image/png</TYPE><BINVAL>AAAA</BINVAL></PHOTO>"
    "<URL xml:lang='en'>https://example.org/?a=1&amp;b=2</URL></vCard>";

}  // namespace

TEST_CASE("features lists the three namespaces") {
    const auto& f = account_services::features();
    CHECK(std::set<std::string>(f.begin(), f.end()) ==
          std::set<std::string>{"jabber:iq:last", "jabber:iq:private", "vcard-temp"});
}

TEST_CASE("payloads of other namespaces, and iq results and errors, are not ours") {
    fixture f;
    CHECK_FALSE(f.ask(iq("get", alice_full, "example.org", "<ping xmlns='urn:xmpp:ping'/>"), "example.org"));
    CHECK_FALSE(f.ask(iq("get", alice_full, "alice@example.org", "<query xmlns='jabber:iq:roster'/>"),
                      "alice@example.org"));
    CHECK_FALSE(f.ask(iq("get", alice_full, "alice@example.org", "<vcard xmlns='vcard-temp'/>"), "alice@example.org"));
    CHECK_FALSE(f.ask(iq("get", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp-x'/>"),
                      "alice@example.org"));
    CHECK_FALSE(f.ask(iq("result", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>"),
                      "alice@example.org"));
    CHECK_FALSE(f.ask(iq("error", alice_full, "example.org", "<query xmlns='jabber:iq:last'/>"), "example.org"));
}

TEST_CASE("vcard-temp: empty until set, then returned to the owner and to other local users") {
    fixture f;
    const std::string get = iq("get", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>");

    stanza reply = f.answer(get, "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) == "<vCard xmlns=\"vcard-temp\"/>");

    reply = f.answer(iq("set", alice_full, "alice@example.org", juliet_vcard), "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK_FALSE(reply.element().first_child());

    // Read back exactly as it was set: text with spaces, escapes, nested elements, xml:lang.
    const std::string expected = serialize(make_stanza(iq("set", "a@b", "c", juliet_vcard)).element().first_child());
    reply = f.answer(get, "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) == expected);
    CHECK(std::string_view(reply.element().child("vCard").child("FN").text().get()) == "  Juliet  Capulet ");

    reply = f.answer(iq("get", bob_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>"), "alice@example.org");
    check_result(reply, bob_full, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) == expected);

    // Bob's own vCard is still empty; a new set replaces the old one.
    reply = f.answer(iq("get", bob_full, "bob@example.org", "<vCard xmlns='vcard-temp'/>"), "bob@example.org");
    CHECK_FALSE(reply.element().child("vCard").first_child());
    f.answer(iq("set", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'><FN>J</FN></vCard>"),
             "alice@example.org");
    reply = f.answer(get, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) == "<vCard xmlns=\"vcard-temp\"><FN>J</FN></vCard>");
}

TEST_CASE("vcard-temp: only the owner sets it; 64 KiB at most; the server has none") {
    fixture f;
    stanza reply = f.answer(iq("set", bob_full, "alice@example.org", juliet_vcard), "alice@example.org");
    check_error(reply, "forbidden", "auth");
    reply = f.answer(iq("get", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>"), "alice@example.org");
    CHECK_FALSE(reply.element().child("vCard").first_child());

    // The limit is on the serialized element: exactly 64 KiB passes, one byte more does not.
    const std::string head = "<vCard xmlns=\"vcard-temp\"><NOTE>";
    const std::string tail = "</NOTE></vCard>";
    const std::string fits = head + std::string(account_services::max_vcard_bytes - head.size() - tail.size(), 'x') +
                             tail;
    REQUIRE(fits.size() == 64 * 1024);
    reply = f.answer(iq("set", alice_full, "alice@example.org", fits), "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");

    const std::string too_big = head + std::string(fits.size() - head.size() - tail.size() + 1, 'y') + tail;
    reply = f.answer(iq("set", alice_full, "alice@example.org", too_big), "alice@example.org");
    check_error(reply, "not-acceptable", "modify");
    CHECK_FALSE(reply.element().child("vCard"));  // not echoed back
    reply = f.answer(iq("get", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>"), "alice@example.org");
    CHECK(serialize(reply.element().first_child()) == fits);

    check_error(f.answer(iq("get", alice_full, "example.org", "<vCard xmlns='vcard-temp'/>"), "example.org"),
                "service-unavailable", "cancel");
}

TEST_CASE("private XML storage: set, get, replace; one key per element name and namespace") {
    fixture f;
    const std::string prefs = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>";
    stanza reply = f.answer(iq("set", alice_full, "alice@example.org",
                               "<query xmlns='jabber:iq:private'>" + prefs + "</query>"),
                            "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK_FALSE(reply.element().first_child());

    const std::string get_prefs = iq("get", alice_full, "alice@example.org",
                                     "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>");
    reply = f.answer(get_prefs, "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) ==
          "<query xmlns=\"jabber:iq:private\"><exodus xmlns=\"exodus:prefs\"><defaultnick>Hamlet</defaultnick>"
          "</exodus></query>");

    // Unknown: the requested element comes back empty. Same namespace, other name: another key.
    reply = f.answer(iq("get", alice_full, "alice@example.org",
                        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>"),
                     "alice@example.org");
    check_result(reply, alice_full, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) ==
          "<query xmlns=\"jabber:iq:private\"><storage xmlns=\"storage:bookmarks\"/></query>");
    reply = f.answer(iq("get", alice_full, "alice@example.org",
                        "<query xmlns='jabber:iq:private'><other xmlns='exodus:prefs'/></query>"),
                     "alice@example.org");
    CHECK(serialize(reply.element().first_child()) ==
          "<query xmlns=\"jabber:iq:private\"><other xmlns=\"exodus:prefs\"/></query>");

    // Replace.
    f.answer(iq("set", alice_full, "alice@example.org",
                "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><x>2</x></exodus></query>"),
             "alice@example.org");
    reply = f.answer(get_prefs, "alice@example.org");
    CHECK(serialize(reply.element().first_child()) ==
          "<query xmlns=\"jabber:iq:private\"><exodus xmlns=\"exodus:prefs\"><x>2</x></exodus></query>");

    // Bob's storage is his own.
    reply = f.answer(iq("get", bob_full, "bob@example.org",
                        "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>"),
                     "bob@example.org");
    CHECK(serialize(reply.element().first_child()) ==
          "<query xmlns=\"jabber:iq:private\"><exodus xmlns=\"exodus:prefs\"/></query>");
}

TEST_CASE("private XML storage: only the owner; reserved namespaces and malformed queries refused") {
    fixture f;
    const std::string item = "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>";
    check_error(f.answer(iq("get", bob_full, "alice@example.org", item), "alice@example.org"), "forbidden", "auth");
    check_error(f.answer(iq("set", bob_full, "alice@example.org", item), "alice@example.org"), "forbidden", "auth");
    check_error(f.answer(iq("get", alice_full, "example.org", item), "example.org"), "forbidden", "auth");

    for (const std::string_view reserved :
         {"<message xmlns='jabber:client'/>", "<bookmarks/>" /* inherits jabber:iq:private */,
          "<query xmlns='jabber:iq:roster'/>", "<x xmlns='http://jabber.org/protocol/muc'/>",
          "<vCard xmlns='vcard-temp'/>", "<nothing xmlns=''/>"}) {
        CAPTURE(reserved);
        const std::string payload = "<query xmlns='jabber:iq:private'>" + std::string(reserved) + "</query>";
        check_error(f.answer(iq("set", alice_full, "alice@example.org", payload), "alice@example.org"),
                    "not-acceptable", "modify");
        check_error(f.answer(iq("get", alice_full, "alice@example.org", payload), "alice@example.org"),
                    "not-acceptable", "modify");
    }
    check_error(f.answer(iq("get", alice_full, "alice@example.org", "<query xmlns='jabber:iq:private'/>"),
                         "alice@example.org"),
                "not-acceptable", "modify");
    check_error(f.answer(iq("set", alice_full, "alice@example.org",
                            "<query xmlns='jabber:iq:private'><a xmlns='x:a'/><b xmlns='x:b'/></query>"),
                         "alice@example.org"),
                "bad-request", "modify");
}

TEST_CASE("last activity: server uptime, 0 when online, time since logout with status, or item-not-found") {
    fixture f;
    const std::string_view query = "<query xmlns='jabber:iq:last'/>";

    stanza reply = f.answer(iq("get", alice_full, "example.org", query), "example.org");
    check_result(reply, alice_full, "example.org");
    auto q = reply.element().child("query");
    CHECK(std::string_view(q.attribute("xmlns").value()) == "jabber:iq:last");
    CHECK(q.attribute("seconds").as_llong(-1) >= 42);
    CHECK(q.attribute("seconds").as_llong(-1) < 42 + 30);
    CHECK(std::string_view(q.text().get()).empty());

    // Bob never logged out.
    check_error(f.answer(iq("get", alice_full, "bob@example.org", query), "bob@example.org"), "item-not-found",
                "cancel");

    f.set_last("bob", now_unix() - 903, "Heading Home");
    reply = f.answer(iq("get", alice_full, "bob@example.org", query), "bob@example.org");
    check_result(reply, alice_full, "bob@example.org");
    q = reply.element().child("query");
    CHECK(q.attribute("seconds").as_llong(-1) >= 903);
    CHECK(q.attribute("seconds").as_llong(-1) < 903 + 30);
    CHECK(std::string_view(q.text().get()) == "Heading Home");

    // A logout stamped in the future (clock step) never gives negative seconds; no status, no text.
    f.set_last("bob", now_unix() + 3600, "");
    reply = f.answer(iq("get", alice_full, "bob@example.org", query), "bob@example.org");
    CHECK(std::string_view(reply.element().child("query").attribute("seconds").value()) == "0");
    CHECK_FALSE(reply.element().child("query").first_child());

    // Online wins over any stored logout.
    f.online.insert("bob@example.org");
    reply = f.answer(iq("get", alice_full, "bob@example.org", query), "bob@example.org");
    check_result(reply, alice_full, "bob@example.org");
    CHECK(serialize(reply.element().first_child()) == "<query xmlns=\"jabber:iq:last\" seconds=\"0\"/>");

    check_error(f.answer(iq("set", alice_full, "example.org", query), "example.org"), "service-unavailable",
                "cancel");
}

TEST_CASE("a storage failure is an internal-server-error, never a wrong answer") {
    fixture f;
    f.store.shutdown();
    check_error(f.answer(iq("get", alice_full, "alice@example.org", "<vCard xmlns='vcard-temp'/>"),
                         "alice@example.org"),
                "internal-server-error", "wait");
    check_error(f.answer(iq("set", alice_full, "alice@example.org", juliet_vcard), "alice@example.org"),
                "internal-server-error", "wait");
    check_error(f.answer(iq("get", alice_full, "alice@example.org",
                            "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>"),
                         "alice@example.org"),
                "internal-server-error", "wait");
    check_error(f.answer(iq("get", alice_full, "bob@example.org", "<query xmlns='jabber:iq:last'/>"),
                         "bob@example.org"),
                "internal-server-error", "wait");
    // The uptime needs no storage.
    CHECK(f.answer(iq("get", alice_full, "example.org", "<query xmlns='jabber:iq:last'/>"), "example.org").type() ==
          "result");
}

TEST_CASE("last activity of an account only for those who may see its presence (XEP-0012 §3)") {
    fixture f;
    const std::string_view query = "<query xmlns='jabber:iq:last'/>";
    f.set_last("bob", now_unix() - 60, "");
    const std::string carol = "carol@example.org/x";
    check_error(f.answer(iq("get", carol, "bob@example.org", query), "bob@example.org"), "forbidden", "auth");
    // The account itself, and a subscriber, may.
    check_result(f.answer(iq("get", "bob@example.org/laptop", "bob@example.org", query), "bob@example.org"),
                 "bob@example.org/laptop", "bob@example.org");
    check_result(f.answer(iq("get", alice_full, "bob@example.org", query), "bob@example.org"), alice_full,
                 "bob@example.org");
    // The server's uptime is anyone's to ask.
    check_result(f.answer(iq("get", carol, "example.org", query), "example.org"), carol, "example.org");
}
