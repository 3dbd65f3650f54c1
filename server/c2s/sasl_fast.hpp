#pragma once
// XEP-0484 FAST tokens for client logins (docs/fast.md): issuing a token in a SASL2 success. Logging in with one
// (and invalidating it) is sasl_authenticator::fast (sasl_fast.cpp).
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "server/c2s/sasl_authenticator.hpp"
#include "storage/async_store.hpp"

namespace hush {

struct fast_token_request {
    std::string domain;
    std::string username;
    std::string server_secret;
    std::string agent_id;
    std::string mechanism;
    std::int64_t lifetime = 0;  // seconds
    std::size_t max_clients = 0;
};

struct issued_fast_token {
    std::string token;
    std::int64_t expires_at = 0;  // unix seconds
};

// nullopt when storage failed (logged): the login goes on without a token.
boost::asio::awaitable<std::optional<issued_fast_token>> issue_fast_token(storage::async_store& store,
                                                                          fast_token_request request);
}  // namespace hush
