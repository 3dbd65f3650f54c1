#pragma once
// The long-lived services a session needs, built once at start-up and shared by every event-loop thread.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "antispim/state_metrics.hpp"
#include "server/stream/auth_throttle.hpp"
#include "server/config/config.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/pipeline/router.hpp"
#include "server/stream/session_registry.hpp"
#include "server/stream/tls_context.hpp"
#include "storage/async_store.hpp"

namespace hush {

class registration_service;
namespace sm {
class resumption_registry;
}

struct server_context {
    const config& cfg;
    session_registry& registry;
    router& routes;  // the pipeline: sessions hand every stanza to it
    storage::async_store& store;
    tls_context_provider& tls;
    auth_throttle& throttle;
    connection_tracker& connections;
    std::string server_secret;
    std::string caps_ver;  // XEP-0115 hash of the server's disco#info, for stream features
    registration_service* registration = nullptr;      // XEP-0077 before authentication; null in bare routing tests
    antispim::state_metrics* state_metrics = nullptr;  // evictions from bounded state, for /metrics; may be null
    sm::resumption_registry* resumptions = nullptr;     // XEP-0198 resumption; null when stream management is off
};

}  // namespace hush
