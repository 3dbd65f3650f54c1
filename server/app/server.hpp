#pragma once
// The whole server: one io_context per event-loop thread (sessions are spread round-robin and never migrate,
// so a session needs no strand), listeners, the router and its services, signals, and orderly shutdown.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "antispim/chain.hpp"
#include "antispim/content_service.hpp"
#include "antispim/content_signals.hpp"
#include "antispim/state_metrics.hpp"
#include "server/im/accounts.hpp"
#include "server/im/antispim_commands.hpp"
#include "antispim/blocklist_service.hpp"
#include "antispim/dos_detector.hpp"
#include "antispim/admin_notifier.hpp"
#include "antispim/consensus.hpp"
#include "antispim/greylist.hpp"
#include "antispim/outbound_guard.hpp"
#include "antispim/rtbl_service.hpp"
#include "antispim/rate_limiter.hpp"
#include "server/http/http_api.hpp"
#include "antispim/stranger_service.hpp"
#include "server/stream/auth_throttle.hpp"
#include "server/config/config.hpp"
#include "server/im/account_services.hpp"
#include "server/im/im_core.hpp"
#include "server/mam/archiver.hpp"
#include "server/mam/mam_queries.hpp"
#include "server/muc/muc_service.hpp"
#include "server/upload/upload_service.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "server/pubsub/rtbl_publisher.hpp"
#include "antispim/recent_verdicts.hpp"
#include "server/registration/approval_command.hpp"
#include "server/registration/invite_command.hpp"
#include "server/registration/registration.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/app/listener.hpp"
#include "server/pipeline/router.hpp"
#include "server/s2s/s2s_manager.hpp"
#include "server/pipeline/server_context.hpp"
#include "server/im/server_handlers.hpp"
#include "server/stream/session_registry.hpp"
#include "server/stream/tls_context.hpp"
#include "storage/async_store.hpp"

namespace hush {

namespace sm {
class resumption_registry;
}
class push_service;
class caps_cache;

class server {
public:
    // Sets everything up; throws std::runtime_error with a clear message when something cannot start.
    explicit server(config cfg);
    ~server();

    // Runs until SIGTERM/SIGINT; returns the process exit status.
    int run();

private:
    void shutdown();
    boost::asio::any_io_executor next_executor();

    config cfg_;
    // vCard, private storage and last activity (account_services), and a stored vCard's photo as the PEP avatar.
    boost::asio::awaitable<std::optional<stanza>> account_request(const stanza& iq, const jid& addressed,
                                                                  outgoing& out);
    // The pubsub engine's iq (PEP at accounts, the service at its domain), and the service in the server's items.
    // XEP-0377 inside a XEP-0191 block of a local room's occupant: passed to the room's moderators.
    void report_to_room(const stanza& iq, const jid& addressed, outgoing& out);
    // The base of the upload slots' URLs: [upload] public_url, or the one derived from a listener with the port it
    // bound (port 0 in tests).
    std::string upload_base_url() const;
    // The server's disco#items (its services), then the pubsub engine's requests.
    boost::asio::awaitable<std::optional<stanza>> service_request(const stanza& iq, const jid& addressed, outgoing& out);

    std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
    std::vector<std::thread> threads_;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
    std::atomic<std::size_t> next_loop_{0};
    antispim::state_metrics state_metrics_;  // before everything that counts into it

    // In construction order: each part is built with the parts it uses (see server.cpp).
    std::unique_ptr<storage::async_store> store_;
    std::unique_ptr<tls_context_provider> tls_;
    std::string server_secret_;
    session_registry registry_;
    connection_tracker connections_;
    auth_throttle throttle_;
    recent_verdicts verdicts_;
    std::unique_ptr<greylist> greylist_;
    std::unique_ptr<blocklist_service> blocklist_;
    std::unique_ptr<admin_notifier> admins_;
    std::unique_ptr<antispim::challenge_evidence> evidence_;  // before its readers (dos_) and writers (antispim_)
    std::unique_ptr<dos_detector> dos_;
    std::unique_ptr<consensus> consensus_;
    std::unique_ptr<antispim_service> antispim_;
    std::unique_ptr<antispim::content_service> content_;
    std::unique_ptr<rtbl_service> rtbl_;
    std::unique_ptr<outbound_guard> outbound_;
    std::unique_ptr<rate_limiter> rate_;
    std::unique_ptr<antispim::chain> chain_;
    std::unique_ptr<antispim_commands> antispim_commands_;
    std::unique_ptr<registration_service> registration_;
    std::unique_ptr<sm::resumption_registry> resumptions_;  // XEP-0198; null when stream management is off
    std::unique_ptr<push_service> push_;                    // XEP-0357
    std::unique_ptr<caps_cache> caps_;                      // XEP-0115, for PEP's +notify (XEP-0163 §4)
    std::unique_ptr<invite_command> invite_command_;
    std::unique_ptr<approval_command> approval_command_;
    std::unique_ptr<im_context> im_ctx_;
    std::unique_ptr<pubsub_engine> pubsub_;  // XEP-0060/0163
    std::unique_ptr<muc_service> muc_;       // XEP-0045; null when [muc] has no service
    std::unique_ptr<upload_service> upload_;  // XEP-0363; null when [upload] is off
    std::unique_ptr<im_core> im_;
    std::unique_ptr<account_services> account_services_;
    std::unique_ptr<archiver> archiver_;
    std::unique_ptr<mam_queries> mam_queries_;
    std::unique_ptr<server_handlers> handlers_;
    std::unique_ptr<storage_account_directory> accounts_;
    std::unique_ptr<s2s_manager> s2s_;
    std::unique_ptr<router> router_;
    std::unique_ptr<rtbl_publisher> rtbl_publisher_;  // the blocklist on the pubsub service; null when not published
    std::unique_ptr<server_context> ctx_;
    std::unique_ptr<http_api> http_;
    std::vector<std::unique_ptr<listener>> listeners_;
    std::unique_ptr<boost::asio::signal_set> signals_;
    std::atomic<bool> stopping_{false};
};

}  // namespace hush
