#pragma once
// What the IM core services share: storage, the session registry, the hosts, and a way to send stanzas back
// through the router (the services are called by the router, so they reach it through this interface).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "protocol/stanza.hpp"
#include "server/session_registry.hpp"
#include "storage/async_store.hpp"

namespace hush {

class stanza_sink {
public:
    virtual ~stanza_sink() = default;
    // Routes a stanza the server generates on a user's behalf (from/to set) through the normal path.
    virtual boost::asio::awaitable<void> send(stanza s) = 0;
    // The same, past the anti-SPIM chain: what the anti-SPIM layer itself says (challenges, approvals) and what
    // it releases. Everything else the server generates on a user's behalf is judged like the user's own.
    virtual boost::asio::awaitable<void> send_unfiltered(stanza s) { co_await send(std::move(s)); }
};

struct im_context {
    storage::async_store& store;
    session_registry& registry;
    stanza_sink& sink;
    std::size_t offline_quota = 1000;
};

// "now" in unix seconds, for storage timestamps.
std::int64_t unix_now();
// XEP-0082 date-time (UTC) for a unix time.
std::string xep0082_stamp(std::int64_t unix_seconds);

}  // namespace hush
