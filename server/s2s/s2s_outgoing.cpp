#include "server/s2s/s2s_outgoing.hpp"
#include "server/s2s/dialback_dispatch.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "server/s2s/resolver.hpp"

namespace hush {

namespace asio = boost::asio;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// One unanswered address must not use up the whole connect_timeout when others are left to try.
constexpr std::chrono::seconds max_attempt_time{10};

std::string domain_of(std::string_view address) {
    const auto j = jid::parse(address);
    return j ? j->domain() : std::string();
}

bool offers_mechanism(const stanza& features, std::string_view mechanism) {
    const auto mechanisms = features.child("mechanisms", ns::sasl);
    for (auto m : mechanisms.children("mechanism")) {
        if (std::string_view(m.child_value()) == mechanism) {
            return true;
        }
    }
    return false;
}

}  // namespace

s2s_outgoing_stream::s2s_outgoing_stream(asio::any_io_executor executor, std::string remote_domain,
                                         std::string local_domain, s2s_context& ctx, s2s_manager& manager,
                                         std::shared_ptr<void> connection_slot)
    : xmpp_stream(tcp::socket(executor), ctx.cfg.limits, ns::server),
      remote_(std::move(remote_domain)),
      local_(std::move(local_domain)),
      ctx_(ctx),
      manager_(manager),
      connection_slot_(std::move(connection_slot)) {}

s2s_outgoing_stream::~s2s_outgoing_stream() {
    if (!failed_) {
        fail_all(failure_condition_, "the connection closed");
    }
}

void s2s_outgoing_stream::start() {
    ctx_.connections.attach(connection_slot_, weak_from_this());
    xmpp_stream::start();
}

std::string s2s_outgoing_stream::log_name() const {
    // Before the connection exists there is no peer address to show.
    return peer_address_ == "unknown" ? "s2s-out " + remote_ : "s2s-out " + remote_ + " " + peer_address_;
}

std::chrono::seconds s2s_outgoing_stream::handshake_timeout() const { return ctx_.cfg.s2s.connect_timeout; }
std::chrono::seconds s2s_outgoing_stream::idle_timeout() const { return ctx_.cfg.s2s.idle_timeout; }

std::string s2s_outgoing_stream::bind_source(const asio::ip::tcp::endpoint& peer) {
    for (const auto& text : ctx_.cfg.s2s.source_addresses) {
        boost::system::error_code ec;
        const auto local = asio::ip::make_address(text, ec);
        if (ec || local.is_v4() != peer.address().is_v4()) {
            continue;
        }
        raw_socket().open(peer.protocol(), ec);
        if (!ec) {
            raw_socket().bind(asio::ip::tcp::endpoint(local, 0), ec);
        }
        return ec ? "cannot connect from " + text + ": " + ec.message() : std::string();
    }
    return {};  // no source address of the peer's family: the kernel chooses
}

void s2s_outgoing_stream::on_idle() {
    if (queue_.empty() && verifies_sent_.empty() && verifies_unsent_.empty()) {
        spdlog::info("{}: unused for {} s, closing", log_name(), ctx_.cfg.s2s.idle_timeout.count());
        begin_close(std::nullopt);
    }
}

// ---- from other threads -------------------------------------------------------------------------------------------

void s2s_outgoing_stream::submit(stanza s, stanza_sink& bounces) {
    asio::dispatch(executor_, [weak = weak_from_this(), manager = &manager_, s = std::move(s), bounces = &bounces]() mutable {
        auto self = std::static_pointer_cast<s2s_outgoing_stream>(weak.lock());
        if (!self || self->failed_ || self->closing_ || self->socket_closed_) {
            // This stream is on its way out: the manager has forgotten it and picks (or makes) another.
            if (self) {
                manager->stream_gone(self->remote_, self.get(), false);
            }
            manager->send(std::move(s), *bounces);
            return;
        }
        const std::string from_domain = domain_of(s.from());
        if (self->authenticated_.contains(from_domain)) {
            self->write_stanza(s);
            return;
        }
        if (self->queue_.size() >= self->ctx_.cfg.s2s.max_queued_stanzas) {
            manager->bounce(s, "resource-constraint", "too many stanzas waiting for " + self->remote_, *bounces);
            return;
        }
        self->queue_.push_back({std::move(s), bounces});
        if (self->phase_ == phase::secured || self->phase_ == phase::ready) {
            self->request_dialback(from_domain);
        }
    });
}

void s2s_outgoing_stream::submit_verify(dialback_verify request, std::weak_ptr<dialback_waiter> waiter) {
    asio::dispatch(executor_, [weak = weak_from_this(), request = std::move(request),
                               waiter = std::move(waiter)]() mutable {
        auto self = std::static_pointer_cast<s2s_outgoing_stream>(weak.lock());
        if (!self || self->failed_ || self->closing_ || self->socket_closed_) {
            if (auto w = waiter.lock()) {
                dialback_error error{"remote-server-not-found", error_type::cancel, "no connection to the peer"};
                w->verification_done(answer_dialback(request, dialback_type::error, error));
            }
            return;
        }
        self->verifies_unsent_.emplace_back(std::move(request), std::move(waiter));
        if (self->phase_ != phase::connecting && self->phase_ != phase::starttls_sent) {
            self->flush_verifies();
        }
    });
}

// ---- connecting -------------------------------------------------------------------------------------------------

asio::awaitable<bool> s2s_outgoing_stream::on_connected() {
    if (!co_await connect()) {
        spdlog::info("{}: {}", log_name(), failure_text_);
        fail_all(failure_condition_, failure_text_);
        co_return false;
    }
    send_header();
    co_return true;
}

asio::awaitable<bool> s2s_outgoing_stream::connect() {
    const auto deadline = std::chrono::steady_clock::now() + ctx_.cfg.s2s.connect_timeout;
    resolver_options options;
    options.static_hosts = ctx_.cfg.s2s.hosts;
    options.servers = ctx_.cfg.s2s.dns_servers;
    options.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.cfg.s2s.connect_timeout);
    resolve_result resolved;
    try {
        resolver dns(executor_, std::move(options));
        resolved = co_await dns.resolve(remote_);
    } catch (const std::exception& e) {
        // c-ares could not be set up (out of descriptors, say): this domain cannot be reached now.
        failure_text_ = std::string("DNS resolver unavailable: ") + e.what();
        co_return false;
    }
    if (resolved.error) {
        if (resolved.error == resolve_errc::timeout) {
            failure_condition_ = "remote-server-timeout";
        }
        failure_text_ = "cannot resolve " + remote_ + ": " + resolved.error.message();
        co_return false;
    }
    bool timed_out = false;
    std::string last_error = "no address to connect to";
    for (const auto& target : resolved.targets) {
        for (const auto& endpoint : target.endpoints) {
            if (closing_ || socket_closed_) {
                co_return false;
            }
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
                timed_out = true;
                break;
            }
            boost::system::error_code ignored;
            raw_socket().close(ignored);
            asio::steady_timer attempt_timer(executor_);
            attempt_timer.expires_after(std::min<std::chrono::steady_clock::duration>(deadline - now, max_attempt_time));
            bool attempt_timed_out = false;
            attempt_timer.async_wait([weak = weak_from_this(), &attempt_timed_out](const boost::system::error_code& ec) {
                auto self = std::static_pointer_cast<s2s_outgoing_stream>(weak.lock());
                if (!ec && self) {
                    attempt_timed_out = true;
                    boost::system::error_code cancel_ec;
                    self->raw_socket().cancel(cancel_ec);
                }
            });
            if (auto bound = bind_source(endpoint); !bound.empty()) {
                attempt_timer.cancel();
                last_error = bound;
                spdlog::warn("{}: {}", log_name(), bound);
                continue;
            }
            auto [ec] = co_await raw_socket().async_connect(endpoint, tuple_awaitable);
            attempt_timer.cancel();
            if (ec) {
                timed_out = timed_out || attempt_timed_out;
                last_error = endpoint.address().to_string() + ":" + std::to_string(endpoint.port()) + ": " +
                             (attempt_timed_out ? std::string("timed out") : ec.message());
                spdlog::debug("{}: connection attempt failed: {}", log_name(), last_error);
                continue;
            }
            socket_connected();
            spdlog::info("{}: connected to {} ({}:{}{}, via {})", log_name(), target.host,
                         endpoint.address().to_string(), endpoint.port(), target.direct_tls ? ", direct TLS" : "",
                         resolved.source == resolve_source::static_table ? "[s2s.hosts]"
                         : resolved.source == resolve_source::fallback   ? "A/AAAA fallback"
                                                                         : "SRV");
            if (target.direct_tls) {
                if (!co_await start_tls_client(ctx_.tls.current(tls_role::s2s_client), remote_)) {
                    failure_text_ = "TLS handshake with " + target.host + " failed";
                    co_return false;
                }
            }
            co_return true;
        }
    }
    if (timed_out) {
        failure_condition_ = "remote-server-timeout";
    }
    failure_text_ = "cannot connect to " + remote_ + ": " + last_error;
    co_return false;
}

void s2s_outgoing_stream::send_header() {
    send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' " +
         std::string(dialback_prefix_declaration) + " from='" + xml_escape(local_) + "' to='" + xml_escape(remote_) +
         "' version='1.0'>");
    mark_header_sent();
}

// ---- the peer's side ----------------------------------------------------------------------------------------------

void s2s_outgoing_stream::handle_stream_open(const xml::stream_open& header) {
    if (header.stream_ns != ns::streams || header.local_name != "stream" || header.content_ns != ns::server) {
        failure_text_ = "the peer's stream is not a jabber:server stream";
        begin_close(stream_error{"invalid-namespace", "expected a jabber:server stream"});
        return;
    }
    if (header.version.empty() || header.version.front() < '1') {
        failure_text_ = "the peer does not speak XMPP 1.0 (no TLS)";
        begin_close(stream_error{"unsupported-version", "XMPP 1.0 and TLS are required"});
        return;
    }
    stream_id_ = header.id;
}

asio::awaitable<void> s2s_outgoing_stream::handle_element(stanza s) {
    const std::string& element_ns = s.ns();
    if (element_ns == ns::streams && s.name() == "features") {
        co_await handle_features(s);
        co_return;
    }
    if (element_ns == ns::streams && s.name() == "error") {
        std::string condition;
        for (auto c : s.element().children()) {
            if (c.type() == pugi::node_element && std::string_view(c.name()) != "text") {
                condition = c.name();
                break;
            }
        }
        failure_text_ = "the peer closed the stream: " + condition;
        spdlog::info("{}: stream error from the peer: {} {}", log_name(), condition,
                     s.element().child_value("text"));
        begin_close(std::nullopt);
        co_return;
    }
    if (element_ns == ns::tls) {
        if (s.name() != "proceed" || phase_ != phase::starttls_sent) {
            failure_text_ = "STARTTLS refused by the peer";
            begin_close(std::nullopt);
            co_return;
        }
        co_await wait_flushed();
        if (socket_closed_ || !co_await start_tls_client(ctx_.tls.current(tls_role::s2s_client), remote_)) {
            failure_text_ = "TLS handshake with " + remote_ + " failed";
            fail_all(failure_condition_, failure_text_);
            close_socket();
            co_return;
        }
        phase_ = phase::connecting;  // until the secured stream's features arrive
        restart_stream();
        co_return;
    }
    if (element_ns == ns::sasl) {
        if (phase_ != phase::sasl_sent) {
            begin_close(stream_error{"unsupported-stanza-type", "unexpected SASL element"});
            co_return;
        }
        if (s.name() == "success") {
            // Stanzas wait for the restarted stream's features (RFC 6120 §6.4.6).
            sasl_succeeded_ = true;
            restart_stream();
            co_return;
        }
        // The peer does not accept our certificate after all: dialback may still do.
        spdlog::info("{}: SASL EXTERNAL refused ({}), trying dialback", log_name(),
                     s.element().first_child().name());
        phase_ = phase::secured;
        request_dialback(local_);
        co_return;
    }
    if (dispatch_dialback(
            s, [this](const dialback_result& result) { handle_dialback_result(result); },
            [this](const dialback_verify& verify) { handle_dialback_verify(verify); },
            [this](const stream_error& error) { begin_close(error); })) {
        co_return;
    }
    // Stanzas flow the other way on this stream (no XEP-0288 bidirectionality negotiated).
    spdlog::warn("{}: ignoring <{}/> sent on our outgoing stream", log_name(), s.name());
}

asio::awaitable<void> s2s_outgoing_stream::handle_features(const stanza& features) {
    if (!tls_active()) {
        if (!features.child("starttls", ns::tls)) {
            failure_text_ = remote_ + " does not offer TLS";
            begin_close(stream_error{"policy-violation", "this server federates over TLS only"});
            co_return;
        }
        send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        phase_ = phase::starttls_sent;
        co_return;
    }
    if (phase_ == phase::connecting) {
        // First features on the secured stream: judge the peer's certificate once.
        certificate_ = manager_.judge_certificate(tls_handle(), remote_);
        spdlog::info("{}: TLS established; certificate {}", log_name(), certificate_.describe());
        if (ctx_.cfg.s2s.requires_valid_certificate(remote_) && !certificate_.valid_for_domain()) {
            failure_text_ = "the certificate of " + remote_ + " is not valid (" + certificate_.describe() +
                            ") and [s2s] requires valid certificates";
            fail_all("remote-server-not-found", failure_text_);
            begin_close(stream_error{"policy-violation", "certificate not valid for " + remote_});
            co_return;
        }
        phase_ = phase::secured;
    }
    peer_offers_dialback_ = offers_dialback_errors(features.element()) ||
                            features.child("dialback", dialback_ns::feature);
    flush_verifies();
    if (phase_ == phase::sasl_sent) {
        if (!sasl_succeeded_) {
            co_return;
        }
        authenticated(local_, "SASL EXTERNAL");
    }
    if (!authenticated_.contains(local_) && !dialback_pending_.contains(local_)) {
        if (offers_mechanism(features, "EXTERNAL")) {
            // The peer offers EXTERNAL only when it accepts our certificate for our domain (XEP-0178).
            send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" + sasl::base64_encode(local_) +
                 "</auth>");
            phase_ = phase::sasl_sent;
            co_return;
        }
        request_dialback(local_);
    }
    // Other local domains with stanzas waiting authenticate with dialback on the same stream (XEP-0220 §2.5).
    for (const auto& q : queue_) {
        request_dialback(domain_of(q.content.from()));
    }
}

void s2s_outgoing_stream::request_dialback(const std::string& local) {
    if (authenticated_.contains(local) || dialback_pending_.contains(local) || phase_ == phase::sasl_sent) {
        return;
    }
    if (stream_id_.empty()) {
        fail_domain(local, "remote-server-not-found", remote_ + " gave no stream id: dialback impossible");
        return;
    }
    dialback_result request;
    request.from = local;
    request.to = remote_;
    request.key = dialback_key(ctx_.server_secret, remote_, local, stream_id_);
    dialback_pending_.insert(local);
    spdlog::debug("{}: dialback request for {}", log_name(), local);
    send(serialize_dialback(request));
}

void s2s_outgoing_stream::handle_dialback_result(const dialback_result& answer) {
    if (answer.from != remote_ || !dialback_pending_.contains(answer.to)) {
        spdlog::warn("{}: unexpected dialback result {} -> {}", log_name(), answer.from, answer.to);
        return;
    }
    if (answer.type == dialback_type::valid) {
        authenticated(answer.to, "dialback");
        return;
    }
    const std::string why = answer.type == dialback_type::error
                                ? "dialback error " + answer.error.condition + (answer.error.text.empty() ? "" : ": " + answer.error.text)
                                : "dialback key refused";
    spdlog::warn("{}: {} refused us as {}: {}", log_name(), remote_, answer.to, why);
    fail_domain(answer.to, "remote-server-not-found", remote_ + " refused " + answer.to + " (" + why + ")");
    if (authenticated_.empty() && dialback_pending_.empty()) {
        failure_text_ = remote_ + " refused our authentication (" + why + ")";
        begin_close(std::nullopt);
    }
}

void s2s_outgoing_stream::handle_dialback_verify(const dialback_verify& answer) {
    // Our request went from a local domain to the peer; the answer comes back with from/to swapped.
    const auto it = verifies_sent_.find({answer.to, answer.from, answer.id});
    if (it == verifies_sent_.end()) {
        spdlog::warn("{}: unexpected dialback verification answer for id {}", log_name(), answer.id);
        return;
    }
    auto waiter = it->second.lock();
    verifies_sent_.erase(it);
    if (waiter) {
        waiter->verification_done(answer);
    }
}

void s2s_outgoing_stream::authenticated(const std::string& local, std::string_view how) {
    authenticated_.insert(local);
    dialback_pending_.erase(local);
    spdlog::info("{}: authenticated as {} ({}), {} stanza(s) waiting", log_name(), local, how, queue_.size());
    if (phase_ != phase::ready) {
        phase_ = phase::ready;
        manager_.stream_ready(remote_);
    }
    std::deque<queued> rest;
    for (auto& q : queue_) {
        if (domain_of(q.content.from()) == local) {
            write_stanza(q.content);
        } else {
            rest.push_back(std::move(q));
        }
    }
    queue_ = std::move(rest);
}

void s2s_outgoing_stream::write_stanza(const stanza& s) {
    touch();
    send(s.serialize());
}

void s2s_outgoing_stream::flush_verifies() {
    for (auto& [request, waiter] : verifies_unsent_) {
        send(serialize_dialback(request));
        verifies_sent_[{request.from, request.to, request.id}] = std::move(waiter);
    }
    verifies_unsent_.clear();
}

// ---- failure ----------------------------------------------------------------------------------------------------

void s2s_outgoing_stream::on_close_begun() {
    if (failed_) {
        return;
    }
    if (phase_ != phase::ready && failure_text_.empty()) {
        // The watchdog ran out of connect_timeout (or the peer went away mid-negotiation).
        failure_condition_ = "remote-server-timeout";
        failure_text_ = remote_ + " did not complete the connection in time";
    }
    fail_all(failure_condition_, failure_text_.empty() ? "the connection to " + remote_ + " closed" : failure_text_);
}

void s2s_outgoing_stream::fail_domain(const std::string& local, std::string_view condition, const std::string& text) {
    dialback_pending_.erase(local);
    std::deque<queued> rest;
    for (auto& q : queue_) {
        if (domain_of(q.content.from()) == local) {
            manager_.bounce(q.content, condition, text, *q.bounces);
        } else {
            rest.push_back(std::move(q));
        }
    }
    queue_ = std::move(rest);
}

void s2s_outgoing_stream::fail_all(std::string_view condition, const std::string& text) {
    if (failed_) {
        return;
    }
    failed_ = true;
    if (!queue_.empty()) {
        spdlog::info("s2s-out {}: bouncing {} stanza(s) with <{}/>: {}", remote_, queue_.size(), condition, text);
    }
    for (const auto& q : queue_) {
        manager_.bounce(q.content, condition, text, *q.bounces);
    }
    queue_.clear();
    const dialback_error error{std::string(condition), error_type::cancel, text};
    for (auto& [request, waiter] : verifies_unsent_) {
        if (auto w = waiter.lock()) {
            w->verification_done(answer_dialback(request, dialback_type::error, error));
        }
    }
    verifies_unsent_.clear();
    for (auto& [key, waiter] : verifies_sent_) {
        if (auto w = waiter.lock()) {
            dialback_verify request;
            std::tie(request.from, request.to, request.id) = key;
            w->verification_done(answer_dialback(request, dialback_type::error, error));
        }
    }
    verifies_sent_.clear();
    manager_.stream_gone(remote_, this, phase_ != phase::ready);
}

}  // namespace hush
