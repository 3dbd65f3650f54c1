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

class caps_cache;

struct im_context {
    storage::async_store& store;
    session_registry& registry;
    std::size_t offline_quota = 1000;
    // XEP-0115 caps of the available JIDs the server hears presence from (server/pubsub/); null: not kept.
    caps_cache* caps = nullptr;
};

}  // namespace hush
