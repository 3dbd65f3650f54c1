#include "server/c2s/c2s_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>

#include <set>

#include "protocol/namespaces.hpp"
#include "server/sm/resumption_registry.hpp"
#include "server/sm/unacknowledged.hpp"

namespace hush {

namespace asio = boost::asio;

namespace {

std::atomic<std::uint64_t>* session_evictions(server_context& ctx) {
    return ctx.state_metrics != nullptr ? ctx.state_metrics->counter(antispim::state_metrics::map::session_presence)
                                        : nullptr;
}

}  // namespace

c2s_session::c2s_session(tcp::socket socket, bool direct_tls, server_context& ctx,
                         std::shared_ptr<void> connection_slot)
    : xmpp_stream(std::move(socket), ctx.cfg.limits, ns::client),
      ctx_(ctx),
      connection_slot_(std::move(connection_slot)),
      direct_tls_(direct_tls),
      directed_(max_directed, session_evictions(ctx)),
      held_presence_(max_held_presence, session_evictions(ctx)) {}

c2s_session::c2s_session(std::unique_ptr<message_transport> transport, server_context& ctx,
                         std::shared_ptr<void> connection_slot)
    : xmpp_stream(std::move(transport), ctx.cfg.limits, ns::client),
      ctx_(ctx),
      connection_slot_(std::move(connection_slot)),
      direct_tls_(false),
      directed_(max_directed, session_evictions(ctx)),
      held_presence_(max_held_presence, session_evictions(ctx)) {
    if (tls_active()) {
        phase_ = phase::tls_done;  // no STARTTLS in a WebSocket: wss:// (or the proxy's TLS) came first
    }
}

c2s_session::~c2s_session() {
    if (!jid_.empty()) {
        ctx_.registry.unbind(jid_, this);
    }
}

void c2s_session::start() {
    ctx_.connections.attach(connection_slot_, weak_from_this());
    xmpp_stream::start();
}

std::string c2s_session::log_name() const {
    const char* kind = framed() ? "c2s-ws " : "c2s ";
    return jid_.empty() ? kind + peer_address_ : kind + peer_address_ + " " + jid_.full_string();
}

asio::awaitable<bool> c2s_session::on_connected() {
    if (!direct_tls_) {
        co_return true;
    }
    if (!co_await start_tls_server(ctx_.tls.current())) {
        co_return false;
    }
    phase_ = phase::tls_done;
    co_return true;
}

void c2s_session::on_close_begun() {
    // A session that may be resumed stays bound: on_disconnected() hands the binding to a detached session.
    if (!jid_.empty() && !may_hibernate() && !handed_over_) {
        ctx_.registry.unbind(jid_, this);
    }
}

asio::awaitable<void> c2s_session::on_disconnected() {
    if (phase_ != phase::bound || handed_over_) {
        co_return;  // resumed elsewhere: the successor is the session now
    }
    if (may_hibernate() && hibernate()) {
        co_return;
    }
    const bool resource_gone = ctx_.registry.unbind(jid_, this);
    if (sm_.resumable() && ctx_.resumptions != nullptr) {
        ctx_.resumptions->ended(sm_.id(), sm_.handled());
    }
    if (resource_gone) {
        // Contacts and directed-presence recipients learn we are gone, clean close or not (RFC 6121 §4.5.3.2).
        std::set<std::string> directed;
        for (const auto& entry : directed_) {
            directed.insert(entry.first);
        }
        co_await ctx_.routes.session_ended(jid_, available_, directed, last_status_);
    } else {
        // Replaced by a new bind of the resource (<conflict/>): the resource lives on in the new session, whose
        // presence is the one that counts — an unavailable now could arrive after it.
        spdlog::debug("c2s {}: replaced; {} stays online in its new session", peer_address_, jid_.full_string());
    }
    // What the client never acknowledged is not lost (XEP-0198 §4): messages go to the account again.
    co_await sm::reroute_unacknowledged(ctx_.routes, jid_, sm_.take_unacked());
}

void c2s_session::deliver(shared_bytes serialized) {
    asio::dispatch(executor_, [weak = weak_from_this(), bytes = std::move(serialized)]() mutable {
        if (auto self = std::static_pointer_cast<c2s_session>(weak.lock())) {
            self->emit(std::move(bytes));
        }
    });
}

void c2s_session::deliver_presence(shared_bytes serialized, const std::string& from) {
    asio::dispatch(executor_, [weak = weak_from_this(), bytes = std::move(serialized), from]() mutable {
        auto self = std::static_pointer_cast<c2s_session>(weak.lock());
        if (!self) {
            return;
        }
        if (self->handed_over_) {
            if (auto next = self->successor_.lock()) {
                next->deliver_presence(std::move(bytes), from);
            }
            return;
        }
        if (self->resuming_) {
            self->early_.emplace_back(from, std::move(bytes));
            return;
        }
        if (self->client_inactive_) {
            self->held_presence_.insert_or_assign(from, std::move(bytes));  // only the latest per contact matters
            return;
        }
        self->emit(std::move(bytes));
    });
}

void c2s_session::set_client_active(bool active) {
    client_inactive_ = !active;
    if (active) {
        // Oldest first, as they came.
        for (auto it = held_presence_.end(); it != held_presence_.begin();) {
            --it;
            emit(std::move(it->second));
        }
        held_presence_.clear();
    }
}

}  // namespace hush
