#pragma once
// What answers iq get/set addressed to the server or, on an account's behalf, to its bare JID (server_handlers).
#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"

namespace hush {

class iq_handler {
public:
    virtual ~iq_handler() = default;
    // `addressed` is the server domain or the account's bare JID. Returns the result or error reply (invalid when
    // the answer is in `out`); anything else the request causes (pushes, presence) goes into `out`.
    virtual boost::asio::awaitable<stanza> handle(const stanza& iq, const jid& addressed, outgoing& out) = 0;
};

}  // namespace hush
