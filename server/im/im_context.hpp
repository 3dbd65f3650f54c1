#pragma once
// What the IM core services share: storage, the session registry, the hosts, and a way to send stanzas back
// through the router (the services are called by the router, so they reach it through this interface).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "antispim/stanza_sink.hpp"
#include "protocol/stanza.hpp"
#include "protocol/xep0082.hpp"
#include "server/stream/session_registry.hpp"
#include "storage/async_store.hpp"

namespace hush {

struct im_context {
    storage::async_store& store;
    session_registry& registry;
    stanza_sink& sink;
    std::size_t offline_quota = 1000;
};

}  // namespace hush
