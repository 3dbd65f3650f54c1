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

class im_core;
class registration_service;
class s2s_manager;
class http_api;

struct server_context {
    const config& cfg;
    session_registry& registry;
    router& routes;
    storage::async_store& store;
    tls_context_provider& tls;
    auth_throttle& throttle;
    connection_tracker& connections;
    std::string server_secret;
    im_core* im = nullptr;  // rosters, presence, privacy, offline; null in bare routing tests
    std::string caps_ver;   // XEP-0115 hash of the server's disco#info, for stream features
    registration_service* registration = nullptr;  // XEP-0077; null in bare routing tests
    s2s_manager* s2s = nullptr;                    // federation; null in bare routing tests
    http_api* http = nullptr;                      // the HTTP endpoint (http listeners)
    antispim::state_metrics* state_metrics = nullptr;  // evictions from bounded state, for /metrics; may be null
};

}  // namespace hush
