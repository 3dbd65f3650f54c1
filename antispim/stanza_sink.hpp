#pragma once
// Where the anti-SPIM layer (and the IM services) send stanzas the server makes: the router, handed in by the
// server. The layer never includes the router itself.
#include <boost/asio/awaitable.hpp>

#include "protocol/stanza.hpp"

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

}  // namespace hush
