#pragma once
// A session whose connection dropped while it could be resumed (XEP-0198): it keeps the resource bound, so the
// router still delivers to it, and keeps what it is given — stanzas in the unacknowledged queue, presence updates
// the latest per sender — until a new connection resumes it (resumable::take_over) or its time is up. Then it ends
// as a session ends: contacts see it go unavailable, and unacknowledged messages are routed to the account again
// (unacknowledged.hpp). Owned by its one timer coroutine; the registries hold weak references.
#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "antispim/bounded_map.hpp"
#include "server/config/config.hpp"
#include "server/pipeline/router.hpp"
#include "server/sm/handover.hpp"
#include "server/sm/resumption_registry.hpp"
#include "server/stream/session_registry.hpp"

namespace hush::sm {

class detached_session final : public session, public resumable,
                               public std::enable_shared_from_this<detached_session> {
public:
    // Presence held while detached: as a session's (c2s_session::max_held_presence).
    static constexpr std::size_t max_held_presence = 2000;

    // The caller has reserved its place (resumption_registry::reserve_detached); it is released with this.
    detached_session(boost::asio::any_io_executor executor, const stream_management_config& options,
                     session_registry& sessions, resumption_registry& resumptions, router& routes, handover state);
    ~detached_session() override { resumptions_.release_detached(state_.full); }

    // Starts waiting (its timer coroutine owns it from here).
    void start();
    const std::string& id() const { return state_.state.id(); }

    // session
    void deliver(shared_bytes serialized) override;
    void deliver_presence(shared_bytes serialized, const std::string& from) override;
    void close(stream_error error) override;  // replaced (conflict) or removed: ends now
    // resumable
    void take_over(const jid& claimant, std::shared_ptr<session> successor,
                   std::function<void(std::optional<handover>)> done) override;

private:
    boost::asio::awaitable<void> wait();
    boost::asio::awaitable<void> end();
    void end_now();

    boost::asio::any_io_executor executor_;
    const stream_management_config& options_;
    session_registry& sessions_;
    resumption_registry& resumptions_;
    router& routes_;
    handover state_;
    antispim::bounded_map<std::string, shared_bytes> held_presence_;
    boost::asio::steady_timer timer_;
    bool ending_ = false;                   // its time is up (or it was closed): ends, resumes nothing
    std::weak_ptr<session> successor_;      // resumed: what still arrives goes there
    bool handed_over_ = false;
};

}  // namespace hush::sm
