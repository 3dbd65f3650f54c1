// XEP-0484 tokens and the HT-SHA-256 mechanisms: the values are computed independently (Python's hmac module), so
// a client written to the draft gets the same bytes.
#include <doctest.h>

#include "protocol/fast.hpp"
#include "protocol/scram.hpp"

using namespace hush;

TEST_CASE("fast: a token is derived from the secret, the account, the client and the token id") {
    const std::string token = fast::derive_token("secret", "example.org", "alice", "agent-1", "t1");
    CHECK(token == "WuaFbbH2PUcFbijLmsK5CYcQx5qa52s+aeb0YhoV1xg=");
    CHECK(fast::derive_token("secret", "example.org", "alice", "agent-2", "t1") != token);
    CHECK(fast::derive_token("secret", "example.org", "bob", "agent-1", "t1") != token);
    CHECK(fast::derive_token("other", "example.org", "alice", "agent-1", "t1") != token);
    // The parts cannot run into each other.
    CHECK(fast::derive_token("secret", "example.org", "alic", "eagent-1", "t1") != token);
}

TEST_CASE("fast: initiator and responder hashes follow the HT draft") {
    const std::string token = "WuaFbbH2PUcFbijLmsK5CYcQx5qa52s+aeb0YhoV1xg=";
    CHECK(sasl::hex_encode(fast::initiator_hash(token, "")) ==
          "0399f07dc9a893a1976349b6168658b74baeb6b11542d3dcb244080b222d73da");
    CHECK(sasl::hex_encode(fast::responder_hash(token, std::string("\x01\x02", 2))) ==
          "a7c68ef4ce1043957382885eb79430413cb71c2208b58d84aed21eded1a1b4c1");
    CHECK(fast::initiator_hash(token, "x") != fast::initiator_hash(token, ""));
}

TEST_CASE("fast: the initial response is authcid NUL a 32-byte hash") {
    const std::string hash(32, 'h');
    auto ok = fast::parse_initial_response(std::string("alice") + '\0' + hash);
    REQUIRE(ok);
    CHECK(ok->authcid == "alice");
    CHECK(ok->hashed_token == hash);
    CHECK_FALSE(fast::parse_initial_response("alice"));
    CHECK_FALSE(fast::parse_initial_response(std::string("\0", 1) + hash));
    CHECK_FALSE(fast::parse_initial_response(std::string("alice") + '\0' + "short"));
    CHECK_FALSE(fast::parse_initial_response(std::string(2000, 'a') + '\0' + hash));
}

TEST_CASE("fast: a token is replaced past half its own life") {
    const std::int64_t created_us = 1000LL * 1000000;  // issued at second 1000, for 100 s
    CHECK_FALSE(fast::past_half_life(created_us, 1100, 1000));
    CHECK_FALSE(fast::past_half_life(created_us, 1100, 1049));
    CHECK(fast::past_half_life(created_us, 1100, 1050));
    CHECK(fast::past_half_life(created_us, 1100, 2000));
    // Its own life, not today's setting: a 30-day token is not replaced on day 2 because the lifetime became a day.
    CHECK_FALSE(fast::past_half_life(0, 30 * 86400, 2 * 86400));
}

TEST_CASE("fast: mechanisms, best first, with their channel-binding types") {
    REQUIRE(fast::mechanisms().size() == 3);
    CHECK(fast::mechanisms().front().name == "HT-SHA-256-EXPR");
    auto endp = fast::find_mechanism("HT-SHA-256-ENDP");
    REQUIRE(endp);
    CHECK(endp->channel_binding == "tls-server-end-point");
    CHECK(fast::find_mechanism("HT-SHA-256-NONE")->channel_binding.empty());
    CHECK_FALSE(fast::find_mechanism("HT-SHA-1-NONE"));
    CHECK_FALSE(fast::find_mechanism("SCRAM-SHA-256"));
}
