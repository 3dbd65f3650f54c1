#include "server/sm/detached_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/xep0082.hpp"
#include "server/sm/unacknowledged.hpp"
#include "server/stream/supervised.hpp"

namespace hush::sm {

namespace asio = boost::asio;

detached_session::detached_session(asio::any_io_executor executor, const stream_management_config& options,
                                   session_registry& sessions, resumption_registry& resumptions, router& routes,
                                   handover state)
    : executor_(std::move(executor)),
      options_(options),
      sessions_(sessions),
      resumptions_(resumptions),
      routes_(routes),
      state_(std::move(state)),
      held_presence_(max_held_presence),
      timer_(executor_) {
    for (auto& [from, bytes] : state_.held_presence) {
        held_presence_.insert_or_assign(from, std::move(bytes));
    }
    state_.held_presence.clear();
}

void detached_session::start() {
    auto self = shared_from_this();
    spawn_supervised(
        executor_, [self] { return "sm " + self->state_.full.full_string() + " (detached)"; },
        [self] { return self->wait(); },
        [self] {
            // Its wait failed: end it at once rather than keep the resource bound for ever.
            self->sessions_.unbind(self->state_.full, self.get());
        });
}

asio::awaitable<void> detached_session::wait() {
    auto self = shared_from_this();
    timer_.expires_after(state_.resume_timeout);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (handed_over_) {
        co_return;  // resumed: the successor has it all
    }
    co_await end();
}

asio::awaitable<void> detached_session::end() {
    // Replaced by a new session binding the same resource (a client that lost its state): that one is live, so
    // nobody is told this resource left.
    const auto current = sessions_.find(state_.full);
    const bool replaced = current != nullptr && current.get() != this;
    ending_ = true;
    if (replaced) {
        spdlog::info("sm {}: replaced by a new session: the waiting one ends", state_.full.full_string());
    } else {
        spdlog::info("sm {}: not resumed within {} s: the session ends", state_.full.full_string(),
                     state_.resume_timeout.count());
    }
    sessions_.unbind(state_.full, this);
    resumptions_.ended(state_.state.id(), state_.state.handled());
    if (!replaced) {
        co_await routes_.session_ended(state_.full, state_.available, state_.directed, state_.last_status);
    }
    co_await reroute_unacknowledged(routes_, state_.full, state_.state.take_unacked());
}

void detached_session::end_now() {
    timer_.cancel();  // wait() wakes and, not handed over, ends the session
}

void detached_session::deliver(shared_bytes serialized) {
    // The shared pointer, not a weak one: what the router hands over must not vanish with a session that is just
    // being resumed; it is passed on.
    asio::dispatch(executor_, [self = shared_from_this(), bytes = std::move(serialized)]() mutable {
        if (self->handed_over_) {
            if (auto next = self->successor_.lock()) {
                next->deliver(std::move(bytes));
            }
            return;
        }
        if (self->ending_) {
            // Unbound already: the router delivered before it saw that. Routed as the unacknowledged are.
            std::deque<unacked_stanza> one{unacked_stanza{std::move(bytes), unix_now()}};
            reroute_later(self->executor_, self->routes_, self->state_.full, std::move(one));
            return;
        }
        // A message wakes the account's phones (XEP-0357) as one stored offline would: its client is asleep.
        const bool maybe_message = bytes->starts_with("<message") && bytes->find("<body") != std::string::npos;
        shared_bytes kept = bytes;
        if (!self->state_.state.sent(std::move(bytes), unix_now(), self->options_.max_unacked,
                                     self->options_.max_unacked_bytes)) {
            spdlog::info("sm {}: over {} unacknowledged stanzas while detached: the session ends",
                         self->state_.full.full_string(), self->options_.max_unacked);
            // Unbound now, so nothing more comes here; this stanza goes where the unacknowledged ones will.
            self->ending_ = true;
            self->sessions_.unbind(self->state_.full, self.get());
            reroute_later(self->executor_, self->routes_, self->state_.full,
                          std::deque<unacked_stanza>{unacked_stanza{std::move(kept), unix_now()}});
            self->end_now();
            return;
        }
        if (maybe_message) {
            spawn_supervised(self->executor_, "sm: waking the phones of " + self->state_.full.bare_string(),
                             [self, kept]() -> asio::awaitable<void> {
                                 const stanza s = stanza::parse(*kept);
                                 if (s.valid()) {
                                     co_await self->routes_.waiting_session_message(s, self->state_.full);
                                 }
                             });
        }
    });
}

void detached_session::deliver_presence(shared_bytes serialized, const std::string& from) {
    asio::dispatch(executor_, [self = shared_from_this(), bytes = std::move(serialized), from]() mutable {
        if (self->handed_over_) {
            if (auto next = self->successor_.lock()) {
                next->deliver_presence(std::move(bytes), from);
            }
            return;
        }
        if (!self->ending_) {
            self->held_presence_.insert_or_assign(from, std::move(bytes));  // only the latest per contact matters
        }
    });
}

void detached_session::close(stream_error /*error*/) {
    asio::dispatch(executor_, [self = shared_from_this()] { self->end_now(); });
}

void detached_session::take_over(const jid& claimant, std::shared_ptr<session> successor,
                                 std::function<void(std::optional<handover>)> done) {
    asio::dispatch(executor_, [self = shared_from_this(), claimant, successor = std::move(successor),
                               done = std::move(done)]() mutable {
        if (self->handed_over_ || self->ending_ || !self->state_.full.equals_bare(claimant)) {
            done(std::nullopt);
            return;
        }
        // The binding first: should it not be ours any more (replaced meanwhile), there is nothing to take over.
        if (!self->sessions_.rebind(self->state_.full, self.get(), successor)) {
            done(std::nullopt);
            return;
        }
        handover out;
        out.full = self->state_.full;
        out.state = std::move(self->state_.state);
        out.available = self->state_.available;
        out.directed = std::move(self->state_.directed);
        out.resume_timeout = self->state_.resume_timeout;
        out.last_status = self->state_.last_status;
        // Oldest first, as they came.
        for (auto it = self->held_presence_.end(); it != self->held_presence_.begin();) {
            --it;
            out.held_presence.emplace_back(it->first, std::move(it->second));
        }
        self->held_presence_.clear();
        self->handed_over_ = true;
        self->successor_ = successor;
        self->timer_.cancel();
        done(std::move(out));
    });
}

}  // namespace hush::sm
