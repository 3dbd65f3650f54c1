// Who may register ([registration] mode) against a real SQLite async_store: XEP-0445 tokens (<preauth/>, then
// XEP-0077 with the token's use taken), invite-only mode, the XEP-0158 CAPTCHA in the form, reserved names, the
// limits per network, and accounts left pending approval.
#include <doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/namespaces.hpp"
#include "protocol/xep0082.hpp"
#include "server/registration/invites.hpp"
#include "server/registration/registration.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"

using namespace hush;

namespace {

constexpr std::string_view domain = "example.org";

stanza make_stanza(std::string_view xml) {
    auto doc = std::make_shared<pugi::xml_document>();
    REQUIRE(doc->load_buffer(xml.data(), xml.size()));
    return stanza(std::move(doc), "");
}

config make_config(registration_mode mode, bool captcha = false, bool approval = false) {
    config c;
    c.registration.mode = mode;
    c.registration.captcha = captcha;
    c.registration.approval = approval;
    c.registration.reserved_names = {"admin", "postmaster"};
    return c;
}

std::string register_set(std::string_view user, std::string_view password) {
    return "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>" + std::string(user) +
           "</username><password>" + std::string(password) + "</password></query></iq>";
}

std::string preauth(std::string_view token) {
    return "<iq type='set' id='p1'><preauth xmlns='urn:xmpp:pars:0' token='" + std::string(token) + "'/></iq>";
}

// A submitted CAPTCHA form (XEP-0158 §5).
std::string form_set(std::string_view user, std::string_view password, std::string_view challenge,
                     std::string_view answer) {
    auto field = [](std::string_view var, std::string_view value) {
        return "<field var='" + std::string(var) + "'><value>" + std::string(value) + "</value></field>";
    };
    return "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>" +
           field("FORM_TYPE", "urn:xmpp:captcha") + field("challenge", challenge) + field("username", user) +
           field("password", password) + field("qa", answer) + "</x></query></iq>";
}

struct outcome {
    std::string type;
    std::string condition;
    std::string text;
};

outcome result_of(const stanza& reply) {
    REQUIRE(reply.valid());
    const auto e = test::error_of(reply);
    return {std::string(reply.type()), e.condition, reply.element().child("error").child("text").text().get()};
}

class fixture {
public:
    explicit fixture(config c)
        : cfg(std::move(c)),
          store(test::sqlite_options(dir.path())),
          admins("example.org", {"boss@example.org"}),
          service(cfg, store, &admins) {}

    outcome send(std::string_view xml, registration_session& session, std::string_view from_ip = "192.0.2.7") {
        return result_of(raw(xml, session, from_ip));
    }

    stanza raw(std::string_view xml, registration_session& session, std::string_view from_ip = "192.0.2.7") {
        const stanza iq = make_stanza(xml);
        return test::run_sync(
            service.handle_unauthenticated(iq, std::string(domain), std::string(from_ip), session, &notices));
    }

    // The bodies of the admins' notices so far, taken.
    std::vector<std::string> take_notices() {
        std::vector<std::string> bodies;
        for (auto& o : notices.take()) {
            CHECK(o.content.to() == "boss@example.org");
            bodies.emplace_back(o.content.element().child("body").text().get());
        }
        return bodies;
    }

    // Stores an invite and returns its token.
    std::string invite(std::int64_t uses, std::int64_t expires_in = 3600, std::string username = {}) {
        auto made = invites::make({std::string(domain), std::move(username), "", uses, expires_in}, unix_now());
        if (expires_in < 0) {
            made.record.expires_at = unix_now() + expires_in;  // already expired
        }
        auto put = [r = made.record](storage::store& s) { return s.put_invite(r); };
        REQUIRE(test::run_sync(store.run(std::move(put))));
        return made.token;
    }

    template <class Fn>
    auto query(Fn fn) {
        auto r = test::run_sync(store.run(std::move(fn)));
        REQUIRE(r);
        return *r;
    }

    bool exists(const std::string& node) {
        return query([node](storage::store& s) { return s.account_exists("example.org", node); });
    }
    bool pending(const std::string& node) {
        return query([node](storage::store& s) { return s.is_pending("example.org", node); });
    }

    config cfg;
    test::temp_dir dir;
    storage::async_store store;
    admin_notifier admins;
    registration_service service;
    outgoing notices;
};

// The question of a form reply and its challenge id.
std::pair<std::string, std::string> captcha_of(const stanza& form) {
    std::string challenge;
    std::string question;
    for (auto f : form.element().child("query").child("x").children("field")) {
        const std::string_view var = f.attribute("var").value();
        if (var == "challenge") {
            challenge = f.child("value").text().get();
        } else if (var == "qa") {
            question = f.attribute("label").value();
        }
    }
    return {challenge, question};
}

std::string solve(const std::string& question) {
    for (unsigned v = 0; v < 128; ++v) {
        const auto [q, a] = captcha_book::question_for(v);
        if (q == question) {
            return a;
        }
    }
    FAIL("unknown question " << question);
    return {};
}

}  // namespace

TEST_CASE("invite mode: no token, no account; a token registers once per use") {
    fixture f(make_config(registration_mode::invite));
    registration_session none;
    const auto refused = f.send(register_set("juliet", "balcony-scene"), none);
    CHECK(refused.type == "error");
    CHECK(refused.condition == "forbidden");
    CHECK_FALSE(f.exists("juliet"));

    const std::string token = f.invite(1);
    registration_session s;
    CHECK(f.send(preauth(token), s).type == "result");
    CHECK(f.send(register_set("juliet", "balcony-scene"), s).type == "result");
    CHECK(f.exists("juliet"));
    CHECK_FALSE(f.pending("juliet"));

    // Used up: the next stream's <preauth/> is refused with XEP-0445's error.
    registration_session again;
    const auto used = f.send(preauth(token), again);
    CHECK(used.type == "error");
    CHECK(used.condition == "item-not-found");
    CHECK(used.text == "The provided token is invalid or expired");
    CHECK(f.send(register_set("romeo", "montague-house"), again).condition == "forbidden");
}

TEST_CASE("a token accepted on two streams: only one of them gets its last use") {
    fixture f(make_config(registration_mode::invite));
    const std::string token = f.invite(1);
    registration_session a;
    registration_session b;
    CHECK(f.send(preauth(token), a).type == "result");
    CHECK(f.send(preauth(token), b).type == "result");  // not used until a registration succeeds (XEP-0445)
    CHECK(f.send(register_set("juliet", "balcony-scene"), a).type == "result");
    const auto late = f.send(register_set("romeo", "montague-house"), b);
    CHECK(late.condition == "item-not-found");
    CHECK_FALSE(f.exists("romeo"));
}

TEST_CASE("expired, unknown and malformed tokens; too many refused tokens on one stream") {
    fixture f(make_config(registration_mode::invite));
    const std::string expired = f.invite(1, -10);
    registration_session s;
    CHECK(f.send(preauth(expired), s).condition == "item-not-found");
    CHECK(f.send(preauth("no-such-token"), s).condition == "item-not-found");
    CHECK(f.send("<iq type='set' id='p1'><preauth xmlns='urn:xmpp:pars:0'/></iq>", s).condition == "bad-request");
    CHECK(f.send("<iq type='get' id='p1'><preauth xmlns='urn:xmpp:pars:0' token='x'/></iq>", s).condition ==
          "bad-request");
    CHECK(s.invite_sha256.empty());
    for (int i = 0; i < 3; ++i) {
        CHECK(f.send(preauth("guess" + std::to_string(i)), s).condition == "item-not-found");
    }
    // Five refused: even a good token is no longer looked at on this stream.
    const std::string good = f.invite(1);
    CHECK(f.send(preauth(good), s).condition == "resource-constraint");
    registration_session fresh;
    CHECK(f.send(preauth(good), fresh).type == "result");
}

TEST_CASE("an invite bound to a name registers that name only, reserved or not") {
    fixture f(make_config(registration_mode::open));
    const std::string token = f.invite(1, 3600, "postmaster");
    registration_session s;
    CHECK(f.send(preauth(token), s).type == "result");
    CHECK(f.send(register_set("mallory", "balcony-scene"), s).condition == "forbidden");
    // Without the token, the name is taken (reserved by the invite, and by the config).
    registration_session other;
    CHECK(f.send(register_set("postmaster", "balcony-scene"), other).condition == "conflict");
    CHECK(f.send(register_set("postmaster", "balcony-scene"), s).type == "result");
    CHECK(f.exists("postmaster"));
}

TEST_CASE("closed mode: tokens are not even looked at") {
    fixture f(make_config(registration_mode::closed));
    const std::string token = f.invite(1);
    registration_session s;
    CHECK(f.send(preauth(token), s).condition == "service-unavailable");
    CHECK_FALSE(registration_service::stream_feature_enabled(f.cfg));
    CHECK(registration_service::stream_feature_enabled(make_config(registration_mode::invite)));
}

TEST_CASE("open mode with the CAPTCHA: the form carries the question; wrong, missing and replayed answers fail") {
    fixture f(make_config(registration_mode::open, true));
    registration_session s;
    const stanza form = f.raw("<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>", s);
    REQUIRE(form.type() == "result");
    const auto x = form.element().child("query").child("x");
    CHECK(std::string_view(x.attribute("xmlns").value()) == "jabber:x:data");
    CHECK(std::string_view(x.find_child_by_attribute("field", "var", "FORM_TYPE").child("value").text().get()) ==
          "urn:xmpp:captcha");
    CHECK(x.find_child_by_attribute("field", "var", "username").child("required"));
    CHECK(x.find_child_by_attribute("field", "var", "password"));
    const auto [challenge, question] = captcha_of(form);
    REQUIRE_FALSE(challenge.empty());
    const std::string answer = solve(question);

    // Legacy fields alone carry no answer.
    CHECK(f.send(register_set("juliet", "balcony-scene"), s).condition == "not-acceptable");
    const auto wrong = f.send(form_set("juliet", "balcony-scene", challenge, answer + "1"), s);
    CHECK(wrong.condition == "not-acceptable");
    CHECK_FALSE(f.exists("juliet"));
    // The wrong answer used the challenge up: the right one is now too late.
    CHECK(f.send(form_set("juliet", "balcony-scene", challenge, answer), s).condition == "not-acceptable");
    CHECK_FALSE(f.exists("juliet"));

    const auto [challenge2, question2] = captcha_of(f.raw("<iq type='get' id='g2'><query xmlns='jabber:iq:register'/></iq>", s));
    CHECK(f.send(form_set("juliet", "balcony-scene", challenge2, solve(question2)), s).type == "result");
    CHECK(f.exists("juliet"));
    // A replayed answer does not register another account.
    CHECK(f.send(form_set("romeo", "montague-house", challenge2, solve(question2)), s).condition == "not-acceptable");
    CHECK_FALSE(f.exists("romeo"));
    // Counted for /metrics: four answers refused (no form, wrong, too late, replayed), one account.
    using counted = registration_counters::outcome;
    CHECK(f.service.counters().get(counted::refused_captcha) == 4);
    CHECK(f.service.counters().get(counted::created) == 1);
    CHECK(f.service.counters().get(counted::created_pending) == 0);
}

TEST_CASE("open mode: reserved names are taken; limits per network") {
    auto c = make_config(registration_mode::open);
    c.registration.max_per_ip = 5;
    c.registration.max_per_network = 2;
    fixture f(c);
    registration_session s;
    CHECK(f.send(register_set("Admin", "balcony-scene"), s).condition == "conflict");
    CHECK_FALSE(f.exists("admin"));
    CHECK(f.send(register_set("user1", "password-1"), s, "192.0.2.1").type == "result");
    CHECK(f.send(register_set("user2", "password-2"), s, "192.0.2.2").type == "result");
    CHECK(f.take_notices().empty());
    const auto third = f.send(register_set("user3", "password-3"), s, "192.0.2.3");
    CHECK(third.condition == "resource-constraint");
    CHECK_FALSE(f.exists("user3"));
    // The admins hear of the burst once: the next refusal in the same window says nothing new.
    const auto told = f.take_notices();
    REQUIRE(told.size() == 1);
    CHECK(told[0].starts_with("Registrations from 192.0.2.0/24 reached max_per_network (2 per 60 minutes)"));
    CHECK(f.send(register_set("user3", "password-3"), s, "192.0.2.9").condition == "resource-constraint");
    CHECK(f.take_notices().empty());
    CHECK(f.send(register_set("user3", "password-3"), s, "198.51.100.3").type == "result");
    // An invitation is not counted against the limits.
    const std::string token = f.invite(1);
    registration_session invited;
    CHECK(f.send(preauth(token), invited, "192.0.2.4").type == "result");
    CHECK(f.send(register_set("user4", "password-4"), invited, "192.0.2.4").type == "result");
}

TEST_CASE("approval: accounts registered without a token wait; invited ones do not") {
    fixture f(make_config(registration_mode::open, false, true));
    registration_session s;
    CHECK(f.send(register_set("juliet", "balcony-scene"), s).type == "result");
    CHECK(f.exists("juliet"));
    CHECK(f.pending("juliet"));
    const auto told = f.take_notices();
    REQUIRE(told.size() == 1);
    CHECK(told[0].starts_with("juliet@example.org registered from 192.0.2.7 and waits for approval"));
    const std::string token = f.invite(1);
    registration_session invited;
    CHECK(f.send(preauth(token), invited).type == "result");
    CHECK(f.send(register_set("romeo", "montague-house"), invited).type == "result");
    CHECK_FALSE(f.pending("romeo"));
    CHECK(f.take_notices().empty());
}
