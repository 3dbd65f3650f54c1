#pragma once
// What becomes of the stanzas a session sent and never got acknowledged once it ends for good (a clean close, a
// resumption window that passed, a session replaced): XEP-0198 §4 treats them as undelivered. Messages worth
// keeping go to the account's bare JID again — its other resources, or offline storage — so nothing is lost;
// presence, iq and the rest are stale by then and dropped.
#include <deque>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "server/pipeline/router.hpp"
#include "server/sm/sm_state.hpp"

namespace hush::sm {

// How many of `unacked` were routed again.
boost::asio::awaitable<std::size_t> reroute_unacknowledged(router& routes, const jid& full,
                                                           std::deque<unacked_stanza> unacked);
// The same on a coroutine of its own (for a stanza that arrives when its session cannot keep it any more).
void reroute_later(const boost::asio::any_io_executor& executor, router& routes, const jid& full,
                   std::deque<unacked_stanza> unacked);

}  // namespace hush::sm
