// XEP-0198 state apart from any connection: counting, acknowledging, the bounded queue,
// h parsing, and the resumption registry's rules (only the account that enabled it, and the same answer for an
// unknown id as for another account's); the registry's rebind keeps a resource's presence.
#include <doctest.h>

#include "server/sm/resumption_registry.hpp"
#include "server/sm/sm_state.hpp"
#include "server/stream/session_registry.hpp"

using namespace hush;
using namespace hush::sm;

namespace {

shared_bytes bytes(const std::string& s) { return share(s); }

class holder final : public resumable {
public:
    void take_over(const jid&, std::shared_ptr<session>, std::function<void(std::optional<handover>)> done) override {
        done(std::nullopt);
    }
};

class null_session final : public session {
public:
    void deliver(shared_bytes) override {}
    void close(stream_error) override {}
};

}  // namespace

TEST_CASE("sm_state: sent stanzas are kept until acknowledged, in order; a count too high is refused") {
    sm_state st;
    st.enable("id1");
    CHECK(st.resumable());
    for (int i = 0; i < 4; ++i) {
        REQUIRE(st.sent(bytes("<message id='" + std::to_string(i) + "'/>"), 100 + i, 10, 1 << 20));
    }
    CHECK(st.sent_count() == 4);
    CHECK(st.acknowledge(1) == sm_state::ack_result::ok);
    REQUIRE(st.unacked().size() == 3);
    CHECK(*st.unacked().front().bytes == "<message id='1'/>");
    CHECK(st.acknowledge(1) == sm_state::ack_result::ok);  // the same h again: nothing more
    CHECK(st.unacked().size() == 3);
    CHECK(st.acknowledge(5) == sm_state::ack_result::too_high);
    CHECK(st.unacked().size() == 3);  // unchanged
    CHECK(st.acknowledge(4) == sm_state::ack_result::ok);
    CHECK(st.unacked().empty());
    CHECK(st.unacked_bytes() == 0);
    st.count_handled();
    CHECK(st.handled() == 1);
}

TEST_CASE("sm_state: the queue is bounded; h is an unsigned 32-bit decimal") {
    sm_state st;
    st.enable({});
    CHECK_FALSE(st.resumable());
    for (int i = 0; i < 3; ++i) {
        REQUIRE(st.sent(bytes("x"), 0, 3, 1 << 20));
    }
    CHECK_FALSE(st.sent(bytes("y"), 0, 3, 1 << 20));
    CHECK(st.sent_count() == 3);
    auto taken = st.take_unacked();
    CHECK(taken.size() == 3);
    CHECK(st.unacked().empty());
    CHECK(st.acknowledged() == 3);
    // ... and in bytes.
    REQUIRE(st.sent(bytes(std::string(60, 'a')), 0, 10, 100));
    CHECK_FALSE(st.sent(bytes(std::string(41, 'b')), 0, 10, 100));
    CHECK(st.sent(bytes(std::string(40, 'c')), 0, 10, 100));

    CHECK(parse_h("4294967295") == 4294967295u);
    CHECK_FALSE(parse_h("4294967296"));
    CHECK_FALSE(parse_h("-1"));
    CHECK_FALSE(parse_h(""));
    CHECK_FALSE(parse_h("12a"));
}

TEST_CASE("resumption_registry: only its account resumes an id; unknown and foreign look alike; ended keeps h") {
    resumption_registry ids(2);
    auto alice_session = std::make_shared<holder>();
    const jid alice = *jid::parse("alice@example.org");
    const jid bob = *jid::parse("bob@example.org");
    ids.add("a1", alice, alice_session);
    CHECK(ids.find("a1", alice) == alice_session);
    CHECK(ids.find("a1", bob) == nullptr);
    CHECK(ids.find("nope", alice) == nullptr);
    CHECK_FALSE(ids.ended_count("a1", alice));
    ids.ended("a1", 7);
    CHECK(ids.find("a1", alice) == nullptr);
    CHECK(ids.ended_count("a1", alice) == 7u);
    CHECK_FALSE(ids.ended_count("a1", bob));  // bob learns nothing of alice's id
    // Bounded: a third id pushes out the oldest.
    ids.add("b1", bob, alice_session);
    ids.add("b2", bob, alice_session);
    CHECK(ids.size() == 2);
    CHECK_FALSE(ids.ended_count("a1", alice));
    // At most as many sessions wait to be resumed as ids are kept.
    CHECK(ids.reserve_detached(alice));
    CHECK(ids.reserve_detached(bob));
    CHECK_FALSE(ids.reserve_detached(alice));
    ids.release_detached(alice);
    CHECK(ids.detached() == 1);
    CHECK(ids.reserve_detached(alice));
}

TEST_CASE("session_registry::rebind moves a binding with its presence, only from its holder") {
    session_registry registry;
    auto first = std::make_shared<null_session>();
    auto second = std::make_shared<null_session>();
    auto third = std::make_shared<null_session>();
    const jid phone = *jid::parse("alice@example.org/phone");
    registry.bind(phone, first);
    registry.set_presence(phone, true, 5);
    registry.set_carbons(phone, true);
    CHECK_FALSE(registry.rebind(phone, third.get(), second));  // not third's
    CHECK(registry.rebind(phone, first.get(), second));
    CHECK(registry.find(phone) == second);
    auto resources = registry.resources(phone.bare());
    REQUIRE(resources.size() == 1);
    CHECK(resources[0].available);
    CHECK(resources[0].priority == 5);
    CHECK(resources[0].carbons);
    registry.unbind(phone, first.get());  // the old holder leaving does not unbind its successor
    CHECK(registry.find(phone) == second);
}
