// XEP-0077 in-band registration against a real SQLite async_store in a temp directory: the pre-authentication
// flow (form, account creation, its errors and the per-IP limit), the authenticated flow (password change,
// account removal) and the limiter on its own with explicit time points.
#include <doctest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "server/im/accounts.hpp"
#include "server/registration/registration.hpp"
#include "server/registration/registration_limits.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view domain = "example.org";
constexpr std::string_view ip = "192.0.2.7";

using test::temp_dir;

using test::sqlite_options;

using test::run_sync;

stanza make_stanza(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    REQUIRE(doc->load_buffer(xml.data(), xml.size()));
    return stanza(std::move(doc), "");
}

// enabled: open without the CAPTCHA (what `enabled = true` was); the CAPTCHA, invitations and approval have their
// own tests (registration_controls_test.cpp).
config make_config(bool enabled, std::size_t max_per_ip = 5, std::size_t min_password_length = 8) {
    config c;
    c.registration.mode = enabled ? registration_mode::open : registration_mode::closed;
    c.registration.captcha = false;
    c.registration.max_per_ip = max_per_ip;
    c.registration.min_password_length = min_password_length;
    return c;
}

using test::error_info;
using test::error_of;

void check_error(const stanza& reply, std::string_view condition, std::string_view type) {
    REQUIRE(reply.valid());
    CHECK(reply.type() == "error");
    CHECK(reply.id() == "r1");
    const error_info e = error_of(reply);
    CHECK(e.condition == condition);
    CHECK(e.type == type);
    // Never the request (and its password) back.
    CHECK_FALSE(reply.element().child("query"));
}

void check_result(const stanza& reply) {
    REQUIRE(reply.valid());
    CHECK(reply.type() == "result");
    CHECK(reply.id() == "r1");
}

std::string register_iq(std::string_view type, std::string_view payload, std::string_view attrs = {}) {
    return "<iq type='" + std::string(type) + "' id='r1'" + std::string(attrs) +
           "><query xmlns='jabber:iq:register'>" + std::string(payload) + "</query></iq>";
}

std::string credentials(std::string_view user, std::string_view password) {
    return "<username>" + std::string(user) + "</username><password>" + std::string(password) + "</password>";
}

class fixture {
public:
    explicit fixture(config c) : cfg(std::move(c)), store(sqlite_options(dir.path())), service(cfg, store) {}

    stanza unauthenticated(std::string_view xml, std::string_view from_ip = ip) {
        const stanza iq = make_stanza(xml);
        const std::string d(domain);
        const std::string peer(from_ip);
        return run_sync(service.handle_unauthenticated(iq, d, peer, session));
    }

    registration_outcome authenticated(std::string_view xml, std::string_view account) {
        const stanza iq = make_stanza(xml);
        const auto who = jid::parse(account);
        REQUIRE(who);
        return run_sync(service.handle_authenticated(iq, *who));
    }

    bool exists(const std::string& node) {
        auto query = [node](storage::store& s) { return s.account_exists("example.org", node); };
        auto found = run_sync(store.run(std::move(query)));
        REQUIRE(found);
        return *found;
    }

    // Does `password` open `node`'s account (both SCRAM hashes)?
    bool password_is(const std::string& node, std::string_view password) {
        auto query = [node](storage::store& s) { return s.get_credentials("example.org", node); };
        auto found = run_sync(store.run(std::move(query)));
        REQUIRE(found);
        REQUIRE(*found);
        const auto& creds = **found;
        return sasl::verify_password(sasl::scram_hash::sha256, password, creds.sha256) &&
               sasl::verify_password(sasl::scram_hash::sha1, password, creds.sha1);
    }

    void create(const std::string& node, std::string_view password) {
        auto creds = accounts::make_credentials(password, 4096);
        REQUIRE(creds);
        auto make = [node, creds = *creds](storage::store& s) { return s.create_account("example.org", node, creds); };
        auto created = run_sync(store.run(std::move(make)));
        REQUIRE(created);
        REQUIRE(*created);
    }

    config cfg;
    temp_dir dir;
    storage::async_store store;
    registration_service service;
    registration_session session;
};

// Would one more registration from `address` pass the limits now? (Takes the slot when it would.)
registration_limits::refusal limit_for(registration_service& service, std::string_view address) {
    registration_limits::reservation r;
    return service.limits().try_reserve(std::string(address), registration_limits::clock::now(), r);
}

}  // namespace

TEST_CASE("registration_limiter: N per window per address, sliding, with releases") {
    using clock = registration_limiter::clock;
    const clock::time_point t0{std::chrono::hours(24 * 365)};
    registration_limiter limiter(2, 60min);

    CHECK(limiter.try_reserve("192.0.2.1", t0));
    CHECK(limiter.try_reserve("192.0.2.1", t0 + 10min));
    CHECK_FALSE(limiter.try_reserve("192.0.2.1", t0 + 20min));
    CHECK(limiter.used("192.0.2.1", t0 + 20min) == 2);
    CHECK(limiter.try_reserve("2001:db8::1", t0 + 20min));  // addresses are counted separately

    // The first slot expires an hour after it was taken, the second ten minutes later.
    CHECK_FALSE(limiter.try_reserve("192.0.2.1", t0 + 59min));
    CHECK(limiter.try_reserve("192.0.2.1", t0 + 60min));
    CHECK_FALSE(limiter.try_reserve("192.0.2.1", t0 + 65min));
    CHECK(limiter.used("192.0.2.1", t0 + 70min) == 1);

    // A released slot (the registration failed) is free again at once; releasing twice changes nothing.
    limiter.release("192.0.2.1", t0 + 60min);
    CHECK(limiter.used("192.0.2.1", t0 + 70min) == 0);
    limiter.release("192.0.2.1", t0 + 60min);
    limiter.release("198.51.100.1", t0);
    CHECK(limiter.try_reserve("192.0.2.1", t0 + 71min));
    CHECK(limiter.try_reserve("192.0.2.1", t0 + 72min));
    CHECK_FALSE(limiter.try_reserve("192.0.2.1", t0 + 73min));

    // Long after, everything has expired (and been swept).
    CHECK(limiter.used("192.0.2.1", t0 + 24h) == 0);
    CHECK(limiter.try_reserve("192.0.2.1", t0 + 24h));
    CHECK(limiter.used("2001:db8::1", t0 + 24h) == 0);
}

TEST_CASE("stream feature only when registration is not closed") {
    CHECK_FALSE(registration_service::stream_feature_enabled(make_config(false)));
    CHECK(registration_service::stream_feature_enabled(make_config(true)));
    CHECK_FALSE(registration_service::stream_feature_enabled(config{}));  // the default
}

TEST_CASE("disabled: <service-unavailable/> before authentication") {
    fixture f(make_config(false));
    check_error(f.unauthenticated(register_iq("get", "")), "service-unavailable", "cancel");
    check_error(f.unauthenticated(register_iq("set", credentials("juliet", "balcony-scene"))), "service-unavailable",
                "cancel");
    CHECK_FALSE(f.exists("juliet"));
}

TEST_CASE("the registration form") {
    fixture f(make_config(true));
    const stanza reply = f.unauthenticated(register_iq("get", "", " to='example.org'"));
    check_result(reply);
    CHECK(reply.from() == "example.org");
    CHECK(reply.to().empty());
    const auto q = reply.element().child("query");
    CHECK(std::string_view(q.attribute("xmlns").value()) == "jabber:iq:register");
    CHECK_FALSE(std::string_view(q.child("instructions").text().get()).empty());
    CHECK(q.child("username"));
    CHECK(q.child("password"));
    CHECK_FALSE(q.child("registered"));
}

TEST_CASE("registering an account; the new password works; the name is then taken") {
    fixture f(make_config(true));
    // A 'from' claimed before authentication is never answered to.
    stanza reply = f.unauthenticated(
        register_iq("set", credentials("Juliet", "balcony-scene"), " to='example.org' from='romeo@example.org'"));
    check_result(reply);
    CHECK(reply.to().empty());
    CHECK_FALSE(reply.element().first_child());
    CHECK(f.exists("juliet"));  // nodeprepped
    CHECK(f.password_is("juliet", "balcony-scene"));
    CHECK_FALSE(f.password_is("juliet", "balcony-scene!"));

    check_error(f.unauthenticated(register_iq("set", credentials("juliet", "another-password"))), "conflict",
                "cancel");
    check_error(f.unauthenticated(register_iq("set", credentials("JULIET", "another-password"))), "conflict",
                "cancel");
    CHECK(f.password_is("juliet", "balcony-scene"));
}

TEST_CASE("registration errors") {
    fixture f(make_config(true, 5, 8));
    // XEP-0077 §3.1: anything required missing or empty, an empty password included.
    for (const std::string_view payload :
         {"", "<username>juliet</username>", "<password>balcony-scene</password>",
          "<username/><password>balcony-scene</password>", "<username>juliet</username><password/>",
          "<username>juliet</username><password xmlns='other:ns'>balcony-scene</password>"}) {
        CAPTURE(payload);
        check_error(f.unauthenticated(register_iq("set", payload)), "not-acceptable", "modify");
    }
    for (const std::string_view user : {"ju@liet", "ju/liet", "ju liet", "ju:liet", "ju&amp;liet"}) {
        CAPTURE(user);
        check_error(f.unauthenticated(register_iq("set", credentials(user, "balcony-scene"))), "jid-malformed",
                    "modify");
    }
    check_error(f.unauthenticated(register_iq("set", credentials(std::string(1024, 'j'), "balcony-scene"))),
                "jid-malformed", "modify");

    // Shorter than 8 characters; counted in characters, not bytes (7 umlauts are 14 bytes).
    const std::string seven = "\u00e4\u00f6\u00fc\u00df\u00e4\u00f6\u00fc";
    const std::string eight = seven + "\u00df";
    check_error(f.unauthenticated(register_iq("set", credentials("juliet", "1234567"))), "not-acceptable", "modify");
    check_error(f.unauthenticated(register_iq("set", credentials("juliet", seven))), "not-acceptable", "modify");
    CHECK_FALSE(f.exists("juliet"));
    check_result(f.unauthenticated(register_iq("set", credentials("juliet", eight))));
    CHECK(f.password_is("juliet", eight));

    // SASLprep prohibits control characters.
    check_error(f.unauthenticated(register_iq("set", credentials("romeo", "balcony\u0007scene"))), "not-acceptable",
                "modify");

    // There is nothing to remove before logging in.
    check_error(f.unauthenticated(register_iq("set", "<remove/>")), "unexpected-request", "cancel");
    // Not a register query at all.
    check_error(f.unauthenticated("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"), "bad-request",
                "modify");
    // Results and errors are not answered.
    CHECK_FALSE(f.unauthenticated(register_iq("result", "")).valid());
    CHECK_FALSE(f.unauthenticated("<iq type='error' id='r1'/>").valid());
}

TEST_CASE("at most max_per_ip successful registrations per address; failures do not count") {
    fixture f(make_config(true, 2));
    check_result(f.unauthenticated(register_iq("set", credentials("user1", "password-1"))));
    // A conflict and a bad request do not use up a slot.
    check_error(f.unauthenticated(register_iq("set", credentials("user1", "password-1"))), "conflict", "cancel");
    check_error(f.unauthenticated(register_iq("set", credentials("user2", "short"))), "not-acceptable", "modify");
    check_result(f.unauthenticated(register_iq("set", credentials("user2", "password-2"))));

    const stanza refused = f.unauthenticated(register_iq("set", credentials("user3", "password-3")));
    check_error(refused, "resource-constraint", "wait");
    CHECK_FALSE(f.exists("user3"));
    // Another address still may.
    check_result(f.unauthenticated(register_iq("set", credentials("user3", "password-3")), "2001:db8::7"));
    CHECK(f.exists("user3"));
    CHECK(limit_for(f.service, ip) == registration_limits::refusal::address);
}

TEST_CASE("authenticated get shows the registration") {
    fixture f(make_config(false));
    f.create("juliet", "balcony-scene");
    const auto out = f.authenticated(register_iq("get", "", " from='juliet@example.org/balcony' to='example.org'"),
                                     "juliet@example.org/balcony");
    check_result(out.reply);
    CHECK_FALSE(out.removed);
    CHECK(out.reply.to() == "juliet@example.org/balcony");
    const auto q = out.reply.element().child("query");
    CHECK(q.child("registered"));
    CHECK(std::string_view(q.child("username").text().get()) == "juliet");
    CHECK(std::string_view(q.child("password").text().get()).empty());
}

TEST_CASE("password change works with registration disabled, only for one's own account") {
    fixture f(make_config(false, 5, 8));
    f.create("juliet", "balcony-scene");
    f.create("romeo", "montague-house");
    const std::string_view me = "juliet@example.org/balcony";
    const std::string attrs = " from='juliet@example.org/balcony' to='juliet@example.org'";

    auto out = f.authenticated(register_iq("set", credentials("juliet", "new-password"), attrs), me);
    check_result(out.reply);
    CHECK_FALSE(out.removed);
    CHECK(f.password_is("juliet", "new-password"));

    // The bare JID as username (data-forms clients) works too.
    out = f.authenticated(register_iq("set", credentials("juliet@example.org", "newer-password"), attrs), me);
    check_result(out.reply);
    CHECK(f.password_is("juliet", "newer-password"));

    check_error(f.authenticated(register_iq("set", credentials("romeo", "hijacked-password"), attrs), me).reply,
                "forbidden", "auth");
    check_error(f.authenticated(register_iq("set", credentials("romeo@example.org", "hijacked-password"), attrs), me)
                    .reply,
                "forbidden", "auth");
    check_error(f.authenticated(register_iq("set", credentials("juliet@example.com", "hijacked-password"), attrs), me)
                    .reply,
                "forbidden", "auth");
    CHECK(f.password_is("romeo", "montague-house"));

    check_error(f.authenticated(register_iq("set", "<password>new-password</password>", attrs), me).reply,
                "bad-request", "modify");
    check_error(f.authenticated(register_iq("set", "<username>juliet</username>", attrs), me).reply, "bad-request",
                "modify");
    // An empty or short password never replaces the current one.
    check_error(f.authenticated(register_iq("set", credentials("juliet", ""), attrs), me).reply, "not-acceptable",
                "modify");
    check_error(f.authenticated(register_iq("set", credentials("juliet", "short"), attrs), me).reply,
                "not-acceptable", "modify");
    CHECK(f.password_is("juliet", "newer-password"));

    CHECK_FALSE(f.authenticated(register_iq("result", "", attrs), me).reply.valid());
}

TEST_CASE("removing one's account") {
    fixture f(make_config(false));
    f.create("juliet", "balcony-scene");
    f.create("romeo", "montague-house");
    const std::string_view me = "juliet@example.org/balcony";
    const std::string attrs = " from='juliet@example.org/balcony'";
    // The archive's hooks: before the account goes (it still exists) and after (it is gone), with its bare JID.
    std::vector<std::string> hooks;
    f.service.on_removal({[&](const jid& account) -> boost::asio::awaitable<void> {
                              hooks.push_back("before " + account.bare_string() +
                                              (f.exists("juliet") ? " (exists)" : " (gone)"));
                              co_return;
                          },
                          [&](const jid& account) {
                              hooks.push_back("after " + account.bare_string() +
                                              (f.exists("juliet") ? " (exists)" : " (gone)"));
                          }});

    auto out = f.authenticated(register_iq("set", "<remove/><username>juliet</username>", attrs), me);
    check_error(out.reply, "bad-request", "modify");
    CHECK_FALSE(out.removed);
    CHECK(f.exists("juliet"));

    out = f.authenticated(register_iq("set", "<remove/>", attrs), me);
    check_result(out.reply);
    CHECK(out.reply.to() == me);
    CHECK(out.removed);
    CHECK_FALSE(f.exists("juliet"));
    CHECK(f.exists("romeo"));
    CHECK(hooks == std::vector<std::string>{"before juliet@example.org (exists)", "after juliet@example.org (gone)"});

    // A second remove (another session of the same account raced it) finds nothing.
    out = f.authenticated(register_iq("set", "<remove/>", attrs), me);
    check_error(out.reply, "registration-required", "auth");
    CHECK_FALSE(out.removed);
}

TEST_CASE("storage failures are internal-server-error and free the registration slot") {
    fixture f(make_config(true, 1));
    f.store.shutdown();
    check_error(f.unauthenticated(register_iq("set", credentials("juliet", "balcony-scene"))),
                "internal-server-error", "wait");
    CHECK(limit_for(f.service, ip) == registration_limits::refusal::none);
    const auto out = f.authenticated(register_iq("set", "<remove/>"), "juliet@example.org/balcony");
    check_error(out.reply, "internal-server-error", "wait");
    CHECK_FALSE(out.removed);
}
