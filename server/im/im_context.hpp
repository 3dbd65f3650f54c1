#pragma once
// What the IM core services share: storage, the session registry and the offline quota. They never send
// anything themselves: what they want sent goes into the `outgoing` their caller (the router) carries out.
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "protocol/xep0082.hpp"
#include "server/stream/session_registry.hpp"
#include "storage/async_store.hpp"

namespace hush {

struct im_context {
    storage::async_store& store;
    session_registry& registry;
    std::size_t offline_quota = 1000;
};

}  // namespace hush
