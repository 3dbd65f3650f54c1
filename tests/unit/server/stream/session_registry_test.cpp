#include <doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/stream/session_registry.hpp"

#include "tests/unit/server/null_session.hpp"

using namespace hush;

namespace {

using test::null_session;

jid make_jid(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE(j);
    return *j;
}

// Resource names of `list`, sorted, for order-independent comparison.
std::vector<std::string> names(const std::vector<bound_resource>& list) {
    std::vector<std::string> out;
    for (const auto& r : list) {
        out.push_back(r.full.resource());
    }
    std::sort(out.begin(), out.end());
    return out;
}

using strings = std::vector<std::string>;

}  // namespace

TEST_CASE("bind, find and unbind") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    auto s = std::make_shared<null_session>();

    CHECK(reg.bind(desk, s) == nullptr);
    CHECK(reg.size() == 1);
    CHECK(reg.find(desk) == s);
    CHECK(reg.find(make_jid("bob@example.org/laptop")) == nullptr);
    CHECK(reg.find(make_jid("alice@example.org/desk")) == nullptr);

    reg.unbind(desk, s.get());
    CHECK(reg.size() == 0);
    CHECK(reg.find(desk) == nullptr);
    CHECK(reg.resources(desk.bare()).empty());
    CHECK(reg.all().empty());
}

TEST_CASE("lookups use normalized JIDs: node and domain fold case, the resource does not") {
    session_registry reg;
    auto s = std::make_shared<null_session>();
    reg.bind(make_jid("bob@example.org/Desk"), s);
    CHECK(reg.find(make_jid("BOB@Example.ORG/Desk")) == s);
    CHECK(reg.find(make_jid("bob@example.org/desk")) == nullptr);
    CHECK(reg.resources(make_jid("Bob@EXAMPLE.org")).size() == 1);
}

TEST_CASE("binding a taken full JID replaces the session and returns the previous one") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    auto first = std::make_shared<null_session>();
    auto second = std::make_shared<null_session>();

    reg.bind(desk, first);
    reg.set_presence(desk, true, 7);
    CHECK(reg.bind(desk, second) == first);
    CHECK(reg.size() == 1);
    CHECK(reg.find(desk) == second);

    // The successor starts without presence: the predecessor's is not inherited.
    const auto list = reg.resources(desk.bare());
    REQUIRE(list.size() == 1);
    CHECK(list.front().target == second);
    CHECK_FALSE(list.front().available);
    CHECK(list.front().priority == 0);

    SUBCASE("the replaced session unbinding itself leaves its successor in place") {
        reg.unbind(desk, first.get());
        CHECK(reg.find(desk) == second);
        CHECK(reg.size() == 1);
    }
    SUBCASE("the successor unbinding removes the binding") {
        reg.unbind(desk, second.get());
        CHECK(reg.find(desk) == nullptr);
        CHECK(reg.size() == 0);
    }
}

TEST_CASE("replacing a binding whose session is gone returns nothing to close") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    auto first = std::make_shared<null_session>();
    reg.bind(desk, first);
    first.reset();
    auto second = std::make_shared<null_session>();
    CHECK(reg.bind(desk, second) == nullptr);
    CHECK(reg.find(desk) == second);
    CHECK(reg.size() == 1);
}

TEST_CASE("unbind of an unknown JID or another resource changes nothing") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    auto s = std::make_shared<null_session>();
    reg.bind(desk, s);
    reg.unbind(make_jid("bob@example.org/laptop"), s.get());
    reg.unbind(make_jid("carol@example.org/desk"), s.get());
    CHECK(reg.size() == 1);
    CHECK(reg.find(desk) == s);
}

TEST_CASE("resources lists every live binding with its presence") {
    session_registry reg;
    auto desk = std::make_shared<null_session>();
    auto laptop = std::make_shared<null_session>();
    auto other = std::make_shared<null_session>();
    reg.bind(make_jid("bob@example.org/desk"), desk);
    reg.bind(make_jid("bob@example.org/laptop"), laptop);
    reg.bind(make_jid("carol@example.org/desk"), other);
    reg.set_presence(make_jid("bob@example.org/desk"), true, -3);

    const auto list = reg.resources(make_jid("bob@example.org"));
    CHECK(names(list) == strings{"desk", "laptop"});
    for (const auto& r : list) {
        if (r.full.resource() == "desk") {
            CHECK(r.full.full_string() == "bob@example.org/desk");
            CHECK(r.target == desk);
            CHECK(r.available);
            CHECK(r.priority == -3);
        } else {
            CHECK(r.target == laptop);
            CHECK_FALSE(r.available);
        }
    }
    CHECK(reg.size() == 3);
    CHECK(reg.all().size() == 3);
}

TEST_CASE("best_available: the available resources with the highest non-negative priority") {
    session_registry reg;
    std::vector<std::shared_ptr<session>> keep;  // the registry holds weak pointers only
    auto add = [&](std::string_view resource, bool available, int priority) {
        const auto full = make_jid("bob@example.org/" + std::string(resource));
        keep.push_back(std::make_shared<null_session>());
        reg.bind(full, keep.back());
        reg.set_presence(full, available, priority);
    };
    const auto bob = make_jid("bob@example.org");

    SUBCASE("the single highest") {
        add("a", true, 1);
        add("b", true, 5);
        add("c", true, 0);
        CHECK(names(reg.best_available(bob)) == strings{"b"});
    }
    SUBCASE("all of a tie") {
        add("a", true, 5);
        add("b", true, 5);
        add("c", true, 2);
        CHECK(names(reg.best_available(bob)) == strings{"a", "b"});
    }
    SUBCASE("unavailable resources are not candidates, whatever their priority") {
        add("a", false, 100);
        add("b", true, 1);
        CHECK(names(reg.best_available(bob)) == strings{"b"});
    }
    SUBCASE("priority zero counts") {
        add("a", true, 0);
        add("b", true, -1);
        CHECK(names(reg.best_available(bob)) == strings{"a"});
    }
    SUBCASE("only negative priorities: nobody") {
        add("a", true, -1);
        add("b", true, -128);
        CHECK(reg.best_available(bob).empty());
    }
    SUBCASE("nothing available: nobody") {
        add("a", false, 0);
        CHECK(reg.best_available(bob).empty());
    }
    SUBCASE("an unknown account: nobody") {
        CHECK(reg.best_available(make_jid("nobody@example.org")).empty());
    }
    SUBCASE("presence going unavailable removes a resource") {
        add("a", true, 5);
        add("b", true, 1);
        reg.set_presence(make_jid("bob@example.org/a"), false, 5);
        CHECK(names(reg.best_available(bob)) == strings{"b"});
    }
}

TEST_CASE("expired sessions are skipped") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    const auto laptop = make_jid("bob@example.org/laptop");
    auto live = std::make_shared<null_session>();
    auto dying = std::make_shared<null_session>();
    reg.bind(desk, live);
    reg.bind(laptop, dying);
    reg.set_presence(desk, true, 1);
    reg.set_presence(laptop, true, 9);  // would win if it were still there
    const session* dead = dying.get();
    dying.reset();

    CHECK(reg.find(laptop) == nullptr);
    CHECK(names(reg.resources(desk.bare())) == strings{"desk"});
    CHECK(names(reg.best_available(desk.bare())) == strings{"desk"});
    REQUIRE(reg.all().size() == 1);
    CHECK(reg.all().front() == live);

    // A destroyed session unbinding itself (from its destructor path) clears its entry.
    reg.unbind(laptop, dead);
    CHECK(reg.size() == 1);
}

TEST_CASE("any_available: online means one available resource, whatever its priority") {
    session_registry reg;
    std::vector<std::shared_ptr<session>> keep;  // the registry holds weak pointers only
    const auto bob = make_jid("bob@example.org");
    CHECK_FALSE(reg.any_available(bob));
    const auto a = make_jid("bob@example.org/a");
    keep.push_back(std::make_shared<null_session>());
    reg.bind(a, keep.back());
    CHECK_FALSE(reg.any_available(bob));  // bound, no initial presence yet
    reg.set_presence(a, true, -5);
    CHECK(reg.any_available(bob));
    reg.set_presence(a, false, 0);
    CHECK_FALSE(reg.any_available(bob));
}

TEST_CASE("online and any_carbons: from a bare or a full JID, live sessions only") {
    session_registry reg;
    const auto desk = make_jid("bob@example.org/desk");
    const auto laptop = make_jid("bob@example.org/laptop");
    CHECK_FALSE(reg.online(desk.bare()));
    auto s = std::make_shared<null_session>();
    auto t = std::make_shared<null_session>();
    reg.bind(desk, s);
    reg.bind(laptop, t);
    CHECK(reg.online(desk.bare()));
    CHECK(reg.online(make_jid("bob@example.org/elsewhere")));  // the account counts, not the resource
    CHECK_FALSE(reg.online(make_jid("carol@example.org")));
    CHECK_FALSE(reg.any_carbons(desk));
    reg.set_carbons(laptop, true);
    CHECK(reg.any_carbons(desk.bare()));
    t.reset();  // the session with carbons is gone, its binding not yet
    CHECK_FALSE(reg.any_carbons(desk.bare()));
    CHECK(reg.online(desk.bare()));
    s.reset();
    CHECK_FALSE(reg.online(desk.bare()));
}
