// XEP-0198 stream management for client sessions: enabling, acks both ways, resumption (taking a session over
// from the connection the client left behind, or from the detached session that kept it), and what the end of a
// connection does to a session that may be resumed (docs/stream-management.md).
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"
#include "server/c2s/c2s_session.hpp"
#include "server/sm/detached_session.hpp"
#include "server/sm/resumption_registry.hpp"
#include "server/sm/unacknowledged.hpp"
#include "server/stream/supervised.hpp"

namespace hush {

namespace asio = boost::asio;

namespace {

std::string failed(std::string_view condition, std::optional<std::uint32_t> handled = std::nullopt) {
    std::string out = "<failed xmlns='urn:xmpp:sm:3'";
    if (handled) {
        out += " h='" + std::to_string(*handled) + "'";
    }
    return out + "><" + std::string(condition) + " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
}

}  // namespace

asio::awaitable<void> c2s_session::handle_sm(const stanza& s) {
    const std::string_view name = s.name();
    if (name == "enable") {
        handle_enable(s);
    } else if (name == "r") {
        if (sm_.enabled()) {
            send("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(sm_.handled()) + "'/>");
        }
    } else if (name == "a") {
        handle_ack(s);
    } else if (name == "resume") {
        co_await handle_resume(s);
    } else {
        begin_close(stream_error{"unsupported-stanza-type", "unexpected <" + std::string(name) + "/>"});
    }
}

void c2s_session::handle_enable(const stanza& s) {
    send(enable_sm(s.element().attribute("resume").value(), s.element().attribute("max").value()));
}

std::string c2s_session::enable_sm(std::string_view resume, std::string_view max) {
    if (phase_ != phase::bound || sm_.enabled()) {
        return failed("unexpected-request");  // XEP-0198 §3: only once, and only with a bound resource
    }
    const auto& options = ctx_.cfg.stream_management;
    const bool resumable = (resume == "true" || resume == "1") && ctx_.resumptions != nullptr;
    std::string reply = "<enabled xmlns='urn:xmpp:sm:3'";
    if (resumable) {
        // The client may ask for a shorter window, never a longer one.
        resume_timeout_ = options.resume_timeout;
        if (auto asked = sm::parse_h(max); asked && *asked > 0) {
            resume_timeout_ = std::min(resume_timeout_, std::chrono::seconds{*asked});
        }
        sm_.enable(sasl::random_hex(16));  // unguessable, and bound to this account besides
        ctx_.resumptions->add(sm_.id(), jid_.bare(), self());
        reply += " id='" + sm_.id() + "' resume='true' max='" + std::to_string(resume_timeout_.count()) + "'";
    } else {
        sm_.enable({});
    }
    spdlog::debug("{}: stream management enabled{}", log_name(), resumable ? ", resumable" : "");
    return reply + "/>";
}

void c2s_session::handle_ack(const stanza& s) {
    if (!sm_.enabled()) {
        return;
    }
    const auto h = sm::parse_h(s.element().attribute("h").value());
    if (!h) {
        begin_close(stream_error{"invalid-xml", "<a/> needs h, a number"});
        return;
    }
    if (sm_.acknowledge(*h) == sm::sm_state::ack_result::too_high) {
        stream_error e{"undefined-condition", "acknowledged more stanzas than were sent"};
        e.app_payload = "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='" + std::to_string(*h) + "' send-count='" +
                        std::to_string(sm_.sent_count()) + "'/>";
        begin_close(std::move(e));
        return;
    }
    ack_requested_since_.reset();  // it answered: alive
    rearm_watchdog();
}

asio::awaitable<void> c2s_session::handle_resume(const stanza& s) {
    if (phase_ != phase::authenticated || ctx_.resumptions == nullptr) {
        send(failed("unexpected-request"));  // after authentication, instead of binding (XEP-0198 §5)
        co_return;
    }
    const std::string failure = co_await resume_session(s.element().attribute("previd").value(),
                                                        s.element().attribute("h").value(),
                                                        [this](const std::string& resumed) { send(resumed); });
    if (!failure.empty()) {
        send(failure);
    }
}

asio::awaitable<std::string> c2s_session::resume_session(std::string previd, std::string h,
                                                         std::function<void(const std::string&)> announce) {
    const auto client_handled = sm::parse_h(h);
    if (previd.empty() || !client_handled) {
        co_return failed("bad-request");
    }
    // Unknown, someone else's and expired look alike; only the account's own ended session tells its count.
    auto holder = ctx_.resumptions->find(previd, jid_.bare());
    if (!holder) {
        co_return failed("item-not-found", ctx_.resumptions->ended_count(previd, jid_.bare()));
    }
    resuming_ = true;
    struct outcome {
        bool answered = false;
        bool resumed = false;
    };
    auto result = std::make_shared<outcome>();
    // Twice at most: the connection the client left may hand its session to a detached one just as it is asked.
    for (int attempt = 0; attempt < 2 && holder && !result->resumed; ++attempt) {
        result->answered = false;
        auto wake = std::make_shared<asio::steady_timer>(executor_, std::chrono::steady_clock::time_point::max());
        holder->take_over(
            jid_.bare(), shared_from_this(),
            [me = self(), result, wake, handled = *client_handled, announce](std::optional<sm::handover> state) mutable {
                asio::post(me->executor_, [me, result, wake, handled, announce = std::move(announce),
                                           state = std::move(state)]() mutable {
                    result->answered = true;
                    if (state) {
                        result->resumed = true;
                        me->adopt(std::move(*state), handled, announce);  // before anything delivered after it
                    }
                    wake->cancel();
                });
            });
        while (!result->answered) {
            co_await wake->async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!result->resumed) {
            auto now_held = ctx_.resumptions->find(previd, jid_.bare());
            holder = now_held != holder ? now_held : nullptr;
        }
    }
    if (!result->resumed) {
        resuming_ = false;
        co_return failed("item-not-found");
    }
    co_return std::string();
}

void c2s_session::adopt(sm::handover state, std::uint32_t client_handled,
                        const std::function<void(const std::string&)>& announce) {
    jid_ = state.full;
    sm_ = std::move(state.state);
    resume_timeout_ = state.resume_timeout;
    last_status_ = std::move(state.last_status);
    available_ = state.available;
    directed_.clear();
    for (const auto& to : state.directed) {
        directed_.try_emplace(to);
    }
    phase_ = phase::bound;
    resuming_ = false;
    ctx_.resumptions->replace(sm_.id(), self());
    spdlog::info("c2s {}: resumed {}", peer_address_, jid_.full_string());
    if (sm_.acknowledge(client_handled) == sm::sm_state::ack_result::too_high) {
        stream_error e{"undefined-condition", "acknowledged more stanzas than were sent"};
        e.app_payload = "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='" + std::to_string(client_handled) +
                        "' send-count='" + std::to_string(sm_.sent_count()) + "'/>";
        // What arrived while this took over goes where the unacknowledged stanzas will (on_disconnected).
        std::deque<sm::unacked_stanza> early;
        for (auto& [from, bytes] : early_) {
            early.push_back(sm::unacked_stanza{std::move(bytes), unix_now()});
        }
        early_.clear();
        overflowed_ = true;  // no waiting: the session ends
        sm::reroute_later(executor_, ctx_.routes, jid_, std::move(early));
        begin_close(std::move(e));
        return;
    }
    announce("<resumed xmlns='urn:xmpp:sm:3' h='" + std::to_string(sm_.handled()) + "' previd='" + sm_.id() + "'/>");
    // What the client never acknowledged, again and in order (it counts them from its h on).
    for (const auto& u : sm_.unacked()) {
        enqueue(u.bytes);
    }
    if (!sm_.unacked().empty()) {
        request_ack();
    }
    // Then what arrived for it while it was away, and while this took over. Presence (the latest per contact)
    // only as far as half the outbox allows after the stanzas sent again: a flood of it must not close the stream
    // the client has just resumed; what is left out, the client's next presence probe brings back.
    std::size_t budget = limits_.max_outbox_bytes / 2 > sm_.unacked_bytes() ? limits_.max_outbox_bytes / 2 - sm_.unacked_bytes() : 0;
    std::size_t skipped = 0;
    for (auto& [from, bytes] : state.held_presence) {
        if (bytes->size() > budget) {
            ++skipped;
            continue;
        }
        budget -= bytes->size();
        emit(std::move(bytes));
    }
    if (skipped > 0) {
        spdlog::info("{}: {} held presence update(s) left out of the resumption", log_name(), skipped);
    }
    auto early = std::move(early_);
    early_.clear();
    for (auto& [from, bytes] : early) {
        emit(std::move(bytes));
    }
}

void c2s_session::take_over(const jid& claimant, std::shared_ptr<session> successor,
                            std::function<void(std::optional<sm::handover>)> done) {
    asio::dispatch(executor_, [me = self(), claimant, successor = std::move(successor), done = std::move(done)]() mutable {
        if (me->handed_over_ || me->phase_ != phase::bound || !me->sm_.resumable() || !me->jid_.equals_bare(claimant) ||
            !me->ctx_.registry.rebind(me->jid_, me.get(), successor)) {
            done(std::nullopt);
            return;
        }
        auto state = me->make_handover();
        me->handed_over_ = true;
        me->successor_ = successor;
        spdlog::info("{}: resumed on another connection; this one is dropped", me->log_name());
        // The client left this connection: no closing handshake on it.
        me->close_socket();
        done(std::move(state));
    });
}

sm::handover c2s_session::make_handover() {
    sm::handover out;
    out.full = jid_;
    out.state = std::move(sm_);
    sm_ = sm::sm_state{};
    out.resume_timeout = resume_timeout_;
    out.last_status = last_status_;
    out.available = available_;
    for (const auto& entry : directed_) {
        out.directed.insert(entry.first);
    }
    for (auto it = held_presence_.end(); it != held_presence_.begin();) {
        --it;
        out.held_presence.emplace_back(it->first, std::move(it->second));
    }
    held_presence_.clear();
    return out;
}

void c2s_session::emit(shared_bytes bytes) {
    if (handed_over_) {
        if (auto next = successor_.lock()) {
            next->deliver(std::move(bytes));
        }
        return;
    }
    if (resuming_) {
        early_.emplace_back(std::string(), std::move(bytes));
        return;
    }
    if (!sm_.enabled()) {
        enqueue(std::move(bytes));
        return;
    }
    const auto& options = ctx_.cfg.stream_management;
    if (!sm_.sent(bytes, unix_now(), options.max_unacked, options.max_unacked_bytes)) {
        // A client that does not acknowledge would have the server keep everything: the session ends, and this
        // stanza, like the unacknowledged ones, goes to the account again.
        // Unbound first (whatever state the stream is in), so the stanza cannot come back here; and no
        // hibernating with a full queue.
        if (!overflowed_) {
            spdlog::info("{}: over {} unacknowledged stanzas, closing", log_name(), options.max_unacked);
        }
        overflowed_ = true;
        ctx_.registry.unbind(jid_, this);
        begin_close(stream_error{"resource-constraint", "too many unacknowledged stanzas"});
        std::deque<sm::unacked_stanza> one{sm::unacked_stanza{std::move(bytes), unix_now()}};
        sm::reroute_later(executor_, ctx_.routes, jid_, std::move(one));
        return;
    }
    enqueue(std::move(bytes));
    if (sm_.sent_count() - requested_at_ >= options.ack_after_stanzas) {
        request_ack();
    } else if (!unrequested_since_) {
        unrequested_since_ = std::chrono::steady_clock::now();
        rearm_watchdog();
    }
}

void c2s_session::request_ack() {
    send("<r xmlns='urn:xmpp:sm:3'/>");
    requested_at_ = sm_.sent_count();
    unrequested_since_.reset();
    if (!ack_requested_since_) {
        ack_requested_since_ = std::chrono::steady_clock::now();
    }
    rearm_watchdog();
}

std::chrono::steady_clock::time_point c2s_session::timer_deadline() const {
    auto deadline = std::chrono::steady_clock::time_point::max();
    if (!sm_.enabled() || handed_over_) {
        return deadline;
    }
    const auto& options = ctx_.cfg.stream_management;
    if (ack_requested_since_) {
        deadline = std::min(deadline, *ack_requested_since_ + options.ack_timeout);
    }
    if (unrequested_since_) {
        deadline = std::min(deadline, *unrequested_since_ + options.ack_after);
    }
    return deadline;
}

void c2s_session::on_timer() {
    const auto now = std::chrono::steady_clock::now();
    const auto& options = ctx_.cfg.stream_management;
    if (ack_requested_since_ && now >= *ack_requested_since_ + options.ack_timeout) {
        // No answer to an ack request: the connection is dead, though TCP has not noticed. Dropping it now lets
        // the session wait for its client to resume it instead of writing into the void.
        spdlog::info("{}: no ack within {} s, dropping the connection", log_name(), options.ack_timeout.count());
        ack_requested_since_.reset();
        unrequested_since_.reset();
        close_socket();
        return;
    }
    if (unrequested_since_ && now >= *unrequested_since_ + options.ack_after) {
        request_ack();
    }
}

bool c2s_session::may_hibernate() const {
    if (!sm_.resumable() || phase_ != phase::bound || handed_over_ || overflowed_ || ctx_.resumptions == nullptr ||
        peer_closed_stream()) {
        return false;  // a clean close ends the session (XEP-0198 §5)
    }
    // Closed by us: only for being idle (a phone asleep); any other error ends the session.
    return close_condition().empty() || close_condition() == "connection-timeout";
}

bool c2s_session::hibernate() {
    if (ctx_.registry.find(jid_).get() != this) {
        return false;  // replaced meanwhile
    }
    if (!ctx_.resumptions->reserve_detached(jid_)) {
        spdlog::warn("{}: no place for the session to wait to be resumed ({} wait; max_detached, "
                     "max_detached_per_account): this one ends",
                     log_name(), ctx_.resumptions->detached());
        return false;
    }
    auto detached = std::make_shared<sm::detached_session>(executor_, ctx_.cfg.stream_management, ctx_.registry,
                                                           *ctx_.resumptions, ctx_.routes, make_handover());
    const bool rebound = ctx_.registry.rebind(jid_, this, detached);
    ctx_.resumptions->replace(detached->id(), detached);
    // What the router already handed to this session (posted before the rebind) goes on to the detached one.
    handed_over_ = true;
    successor_ = detached;
    detached->start();
    if (!rebound) {
        detached->close(stream_error{"conflict", ""});  // it ends as a session ends, its stanzas rerouted
    }
    spdlog::info("{}: connection lost; the session waits {} s to be resumed", log_name(), resume_timeout_.count());
    return true;
}

}  // namespace hush
