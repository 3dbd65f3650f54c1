#pragma once
// Federation's switchboard: one outgoing stream per remote domain (shared by all local hosts), created on demand,
// found again by later stanzas, forgotten when it closes; a retry back-off per domain after failures; bounces for
// whatever cannot be delivered; and the relay between an incoming stream waiting for a dialback verification
// and the outgoing stream that asks the peer's authoritative server.
//
// Thread-safe: the router calls it from every event-loop thread. Streams live on their own threads; the manager
// holds only weak references to them.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "antispim/bounded_map.hpp"
#include "protocol/dialback.hpp"
#include "protocol/stanza.hpp"
#include "server/stream/certificate_names.hpp"
#include "antispim/state_metrics.hpp"
#include "server/config/config.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/stream/tls_context.hpp"
#include "server/pipeline/router.hpp"

namespace hush {

class s2s_outgoing_stream;

// What federation needs of the server. Built before the router, which hands it every remote stanza together with
// where a bounce goes (itself): federation holds no reference to the pipeline.
struct s2s_context {
    const config& cfg;
    tls_context_provider& tls;
    connection_tracker& connections;
    std::string server_secret;                         // dialback keys
    antispim::state_metrics* state_metrics = nullptr;  // evictions from the back-off map; may be null
};

// What an incoming stream waiting for a dialback verification is told.
class dialback_waiter {
public:
    virtual ~dialback_waiter() = default;
    // From any thread. `outcome` is valid, invalid or error.
    virtual void verification_done(const dialback_verify& answer) = 0;
};

// How a peer's certificate fared, judged after the TLS handshake.
struct peer_certificate_status {
    bool presented = false;
    bool chain_trusted = false;      // verifies up to the system CAs or [s2s] ca_file
    std::string chain_error;         // why not
    certificate_match match = certificate_match::none;  // against the domain in question

    bool valid_for_domain() const { return presented && chain_trusted && match != certificate_match::none; }
    std::string describe() const;  // for logs: "trusted, matches dns_id" / "self-signed ...: not trusted"
};

class s2s_manager final : public remote_router {
public:
    using executor_picker = std::function<boost::asio::any_io_executor()>;

    // Throws std::runtime_error at start-up when [s2s] ca_file cannot be loaded.
    s2s_manager(s2s_context ctx, executor_picker pick);
    ~s2s_manager() override;

    // A stanza for a remote domain (its `to`), from a local account or from the server. Never lost: it is
    // written to the peer's stream, or bounced to its sender through `bounces` with a stanza error.
    void send(stanza s, stanza_sink& bounces) override;

    // Asks `request.to`'s authoritative server (over our outgoing stream to it) whether `request.key` is right;
    // the answer (or an error when the domain cannot be reached) goes to `waiter`.
    void verify(dialback_verify request, std::weak_ptr<dialback_waiter> waiter);

    // The peer's certificate on `ssl`, judged for `domain` (chain, then names).
    peer_certificate_status judge_certificate(SSL* ssl, const std::string& domain) const;

    // Whether stanzas may leave from `domain`: a host, the pubsub service's domain or a MUC service's.
    bool serves(std::string_view domain) const;

    // Closes every outgoing stream (shutdown).
    void close_all();
    // Outgoing streams currently known (for metrics).
    std::size_t stream_count();

    // --- for s2s_outgoing_stream ---
    // Its stream is authenticated: the back-off for the domain starts over.
    void stream_ready(const std::string& remote_domain);
    // It failed before it was ready (or closed): forget it, and back off from the domain if it failed.
    void stream_gone(const std::string& remote_domain, const s2s_outgoing_stream* stream, bool failed);
    // Bounces `s` to its sender (a local account) with `condition`, unless it is an error or a result.
    void bounce(const stanza& s, std::string_view condition, std::string_view text, stanza_sink& bounces);

private:
    // The live stream for the domain, or a new one (with `local_domain` in its header); null while backing off,
    // with `retry_in` set.
    std::shared_ptr<s2s_outgoing_stream> stream_for(const std::string& remote_domain,
                                                    const std::string& local_domain,
                                                    std::chrono::seconds& retry_in);

    struct backoff {
        std::chrono::seconds delay{0};
        std::chrono::steady_clock::time_point retry_at;
    };
    // Failing domains remembered at once (local users can name any number of them): when full, the one that
    // failed longest ago is forgotten and may be tried again sooner — a far cry from growing without bound.
    static constexpr std::size_t max_backoff_domains = 10000;

    s2s_context ctx_;
    executor_picker pick_;
    trust_store trust_;
    std::mutex mutex_;
    std::map<std::string, std::weak_ptr<s2s_outgoing_stream>> streams_;
    antispim::bounded_map<std::string, backoff> backoff_;
    bool closing_ = false;
};

}  // namespace hush
