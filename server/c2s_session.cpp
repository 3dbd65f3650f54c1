#include "server/c2s_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "protocol/namespaces.hpp"

namespace hush {

namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

constexpr std::size_t read_buffer_size = 8192;
constexpr std::chrono::seconds close_grace{5};

std::string random_id() {
    auto raw = sasl::random_bytes(12);
    std::string out;
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

std::string escape_attr(std::string_view in) {
    std::string out;
    for (char c : in) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '\'': out += "&apos;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string sasl_element(std::string_view name, std::string_view raw_payload) {
    std::string out = "<";
    out += name;
    out += " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'";
    if (raw_payload.empty()) {
        return out + "/>";
    }
    out += ">" + sasl::base64_encode(raw_payload) + "</" + std::string(name) + ">";
    return out;
}

std::string sasl_failure_element(std::string_view condition) {
    return "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><" + std::string(condition) + "/></failure>";
}

pugi::xml_node only_child_element(const stanza& s, std::size_t& count) {
    pugi::xml_node found;
    count = 0;
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            if (count++ == 0) {
                found = c;
            }
        }
    }
    return found;
}

}  // namespace

c2s_session::c2s_session(tcp::socket socket, bool direct_tls, server_context& ctx,
                         std::shared_ptr<void> connection_slot)
    : executor_(socket.get_executor()),
      ctx_(ctx),
      socket_(std::move(socket)),
      connection_slot_(std::move(connection_slot)),
      direct_tls_(direct_tls),
      parser_(xml::parser_limits{ctx.cfg.limits.max_stanza_bytes, ctx.cfg.limits.max_depth}),
      writer_wake_(executor_, std::chrono::steady_clock::time_point::max()),
      flushed_(executor_, std::chrono::steady_clock::time_point::max()),
      watchdog_timer_(executor_) {
    boost::system::error_code ec;
    const auto endpoint = socket_.remote_endpoint(ec);
    peer_address_ = ec ? "unknown" : endpoint.address().to_string();
    connected_at_ = last_activity_ = std::chrono::steady_clock::now();
}

c2s_session::~c2s_session() {
    if (!jid_.empty()) {
        ctx_.registry.unbind(jid_, this);
    }
}

void c2s_session::start() {
    ctx_.connections.attach(connection_slot_, weak_from_this());
    auto self = shared_from_this();
    asio::co_spawn(executor_, [self]() { return self->reader(); }, asio::detached);
    asio::co_spawn(executor_, [self]() { return self->writer(); }, asio::detached);
    asio::co_spawn(executor_, [self]() { return self->watchdog(); }, asio::detached);
}

c2s_session::tcp::socket& c2s_session::raw_socket() { return tls_ ? tls_->next_layer() : socket_; }

void c2s_session::close_socket() {
    if (socket_closed_) {
        return;
    }
    socket_closed_ = true;
    boost::system::error_code ec;
    raw_socket().shutdown(tcp::socket::shutdown_both, ec);
    raw_socket().close(ec);
    writer_wake_.cancel();
    flushed_.cancel();
    watchdog_timer_.cancel();
}

// ---- output ---------------------------------------------------------------------------------------------------

void c2s_session::deliver(shared_bytes serialized) {
    asio::dispatch(executor_, [weak = weak_from_this(), bytes = std::move(serialized)]() mutable {
        if (auto self = weak.lock()) {
            self->enqueue(std::move(bytes));
        }
    });
}

void c2s_session::close(stream_error error) {
    asio::dispatch(executor_, [weak = weak_from_this(), error = std::move(error)]() mutable {
        if (auto self = weak.lock()) {
            self->begin_close(std::move(error));
        }
    });
}

void c2s_session::send(std::string bytes) { enqueue(share(std::move(bytes))); }

void c2s_session::enqueue(shared_bytes bytes) {
    if (closing_ || socket_closed_) {
        return;
    }
    outbox_bytes_ += bytes->size();
    outbox_.push_back(std::move(bytes));
    if (outbox_bytes_ > ctx_.cfg.limits.max_outbox_bytes) {
        // A reader this slow would make us buffer without bound: drop what is queued and close.
        spdlog::warn("c2s {} {}: outbox over {} bytes, closing", peer_address_, jid_.full_string(),
                     ctx_.cfg.limits.max_outbox_bytes);
        outbox_.clear();
        outbox_bytes_ = 0;
        begin_close(stream_error{"resource-constraint", "too much data queued for a slow reader"});
        return;
    }
    writer_wake_.cancel();
}

asio::awaitable<void> c2s_session::writer() {
    auto self = shared_from_this();
    std::vector<asio::const_buffer> batch;
    while (!socket_closed_) {
        if (outbox_.empty()) {
            flushed_.cancel();
            if (closing_) {
                break;
            }
            co_await writer_wake_.async_wait(tuple_awaitable);
            continue;
        }
        // Take everything queued so far (bounded) and write it in one gathered call.
        const std::size_t n = std::min<std::size_t>(outbox_.size(), 64);
        batch.clear();
        std::vector<shared_bytes> in_flight(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(n));
        for (const auto& b : in_flight) {
            batch.emplace_back(asio::buffer(*b));
        }
        writing_ = true;
        boost::system::error_code ec;
        if (tls_) {
            std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, batch, tuple_awaitable);
        } else {
            std::tie(ec, std::ignore) = co_await asio::async_write(socket_, batch, tuple_awaitable);
        }
        writing_ = false;
        for (std::size_t i = 0; i < n && !outbox_.empty(); ++i) {
            outbox_bytes_ -= outbox_.front()->size();
            outbox_.pop_front();
        }
        if (ec) {
            closing_ = true;
            outbox_.clear();
            outbox_bytes_ = 0;
            break;
        }
    }
    close_socket();
}

asio::awaitable<void> c2s_session::wait_flushed() {
    while ((!outbox_.empty() || writing_) && !socket_closed_) {
        flushed_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await flushed_.async_wait(tuple_awaitable);
    }
}

void c2s_session::begin_close(std::optional<stream_error> error) {
    if (closing_ || socket_closed_) {
        return;
    }
    if (error) {
        if (!header_sent_) {
            // RFC 6120 §4.9.1.1: an error before our header still needs a header to be well-formed.
            send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
            header_sent_ = true;
        }
        spdlog::info("c2s {} {}: stream error {}{}{}", peer_address_, jid_.full_string(), error->condition,
                     error->text.empty() ? "" : ": ", error->text);
        send(serialize_stream_error(*error));
    }
    if (header_sent_) {
        send("</stream:stream>");
    }
    closing_ = true;
    close_deadline_ = std::chrono::steady_clock::now() + close_grace;
    watchdog_timer_.cancel();
    writer_wake_.cancel();
    if (!jid_.empty()) {
        ctx_.registry.unbind(jid_, this);
    }
}

// ---- watchdog ---------------------------------------------------------------------------------------------------

asio::awaitable<void> c2s_session::watchdog() {
    auto self = shared_from_this();
    const auto& limits = ctx_.cfg.limits;
    while (!socket_closed_) {
        const auto now = std::chrono::steady_clock::now();
        std::chrono::steady_clock::time_point deadline;
        if (closing_) {
            if (now >= close_deadline_) {
                close_socket();  // the peer does not read: give up on a clean close
                break;
            }
            deadline = close_deadline_;
        } else {
            const auto idle_deadline = last_activity_ + limits.idle_timeout;
            const auto handshake_deadline = connected_at_ + limits.handshake_timeout;
            if (phase_ != phase::bound && now >= handshake_deadline) {
                begin_close(stream_error{"connection-timeout", "negotiation took too long"});
                continue;
            }
            if (now >= idle_deadline) {
                begin_close(stream_error{"connection-timeout", "idle for too long"});
                continue;
            }
            deadline = phase_ != phase::bound ? std::min(idle_deadline, handshake_deadline) : idle_deadline;
        }
        watchdog_timer_.expires_at(deadline);
        co_await watchdog_timer_.async_wait(tuple_awaitable);
    }
}

// ---- input ------------------------------------------------------------------------------------------------------

asio::awaitable<bool> c2s_session::start_tls() {
    tls_context_ = ctx_.tls.current();
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), *tls_context_);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
    if (ec) {
        spdlog::info("c2s {}: TLS handshake failed: {}", peer_address_, ec.message());
        co_return false;
    }
    phase_ = phase::tls_done;
    co_return true;
}

asio::awaitable<void> c2s_session::reader() {
    auto self = shared_from_this();
    spdlog::debug("c2s {}: connected{}", peer_address_, direct_tls_ ? " (direct TLS)" : "");
    if (direct_tls_ && !co_await start_tls()) {
        close_socket();
        co_return;
    }
    std::vector<char> buffer(read_buffer_size);
    std::vector<xml::stream_event> events;
    while (!socket_closed_) {
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(buffer), tuple_awaitable);
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(buffer), tuple_awaitable);
        }
        if (ec) {
            break;
        }
        last_activity_ = std::chrono::steady_clock::now();
        if (closing_) {
            continue;  // draining until the peer closes or the grace period ends
        }
        events.clear();
        auto error = parser_.feed(std::string_view(buffer.data(), n), events);
        for (auto& event : events) {
            co_await handle_event(event);
            if (closing_ || restart_stream_) {
                break;
            }
        }
        if (restart_stream_) {
            // Anything the client sent after the restart point belongs to a stream it must not have started yet.
            restart_stream_ = false;
            header_sent_ = false;
            parser_.reset();
            continue;
        }
        if (error && !closing_) {
            begin_close(std::move(*error));
        }
    }
    spdlog::debug("c2s {} {}: disconnected", peer_address_, jid_.full_string());
    if (!closing_) {
        begin_close(std::nullopt);
    }
    if (!jid_.empty()) {
        ctx_.registry.unbind(jid_, this);
    }
    // The writer flushes what is left and closes the socket; the watchdog enforces the grace period.
    writer_wake_.cancel();
}

asio::awaitable<void> c2s_session::handle_event(xml::stream_event& event) {
    if (auto* open = std::get_if<xml::stream_open>(&event)) {
        handle_stream_open(*open);
        co_return;
    }
    if (std::holds_alternative<xml::stream_close>(event)) {
        begin_close(std::nullopt);
        co_return;
    }
    co_await handle_element(std::move(std::get<xml::top_level_element>(event).element));
}

void c2s_session::handle_stream_open(const xml::stream_open& header) {
    if (header.stream_ns != ns::streams || header.local_name != "stream") {
        begin_close(stream_error{"invalid-namespace", "the root element must be stream:stream"});
        return;
    }
    if (header.content_ns != ns::client) {
        begin_close(stream_error{"invalid-namespace", "this port serves jabber:client"});
        return;
    }
    auto host = nameprep(header.to);
    if (!host || !ctx_.routes.is_local_domain(*host)) {
        begin_close(stream_error{"host-unknown", "this server does not serve '" + header.to + "'"});
        return;
    }
    if (!domain_.empty() && *host != domain_) {
        begin_close(stream_error{"host-unknown", "the stream restarted for another host"});
        return;
    }
    domain_ = *host;
    if (header.version.empty() || header.version.front() < '1') {
        begin_close(stream_error{"unsupported-version", "XMPP 1.0 is required"});
        return;
    }
    stream_id_ = random_id();
    std::string out = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='" + stream_id_ + "' from='" +
                      escape_attr(domain_) + "' version='1.0' xml:lang='en'>";
    send(std::move(out));
    header_sent_ = true;
    send_features();
}

void c2s_session::send_features() {
    std::string f = "<stream:features>";
    switch (phase_) {
    case phase::connected:
        f += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>";
        break;
    case phase::tls_done:
        f += "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
        for (const auto& m : sasl_authenticator::mechanisms(ctx_.cfg.sasl.allow_plain)) {
            f += "<mechanism>" + m + "</mechanism>";
        }
        f += "</mechanisms>";
        break;
    case phase::authenticated:
    case phase::bound:
        f += "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
             "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>";
        break;
    }
    f += "</stream:features>";
    send(std::move(f));
}

asio::awaitable<void> c2s_session::handle_element(stanza s) {
    const std::string& element_ns = s.ns();
    if (element_ns == ns::tls && s.name() == "starttls") {
        if (phase_ != phase::connected) {
            begin_close(stream_error{"policy-violation", "TLS is already negotiated"});
            co_return;
        }
        send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        co_await wait_flushed();
        if (socket_closed_ || !co_await start_tls()) {
            close_socket();
            co_return;
        }
        restart_stream_ = true;
        co_return;
    }
    if (element_ns == ns::sasl) {
        co_await handle_sasl(s);
        co_return;
    }
    if (!element_ns.empty() || s.kind() == stanza_kind::other) {
        begin_close(stream_error{"unsupported-stanza-type", "unexpected <" + std::string(s.name()) + "/>"});
        co_return;
    }
    if (phase_ == phase::connected) {
        begin_close(stream_error{"policy-violation", "STARTTLS is required"});
        co_return;
    }
    if (phase_ == phase::tls_done) {
        begin_close(stream_error{"not-authorized", "authenticate first"});
        co_return;
    }
    if (phase_ == phase::authenticated) {
        if (s.kind() == stanza_kind::iq && s.type() == "set" && s.child("bind", ns::bind)) {
            handle_bind(s);
        } else if (s.kind() == stanza_kind::iq && !s.is_error() && s.type() != "result") {
            send(make_error_reply(s, "not-authorized", "bind a resource first").serialize());
        }
        co_return;
    }
    co_await handle_stanza(std::move(s));
}

asio::awaitable<void> c2s_session::handle_sasl(const stanza& s) {
    const std::string_view name = s.name();
    if (phase_ == phase::connected) {
        // No authentication in the clear, whatever the mechanism (RFC 6120 §5.3.1, §6.4.5).
        send(sasl_failure_element("encryption-required"));
        co_return;
    }
    if (phase_ != phase::tls_done) {
        begin_close(stream_error{"policy-violation", "already authenticated"});
        co_return;
    }
    if (!sasl_) {
        sasl_ = std::make_unique<sasl_authenticator>(ctx_.store, domain_, ctx_.server_secret,
                                                     ctx_.cfg.sasl.scram_iterations);
    }
    const std::string text = s.element().text().get();
    if (name == "abort") {
        sasl_->reset();
        send(sasl_failure_element("aborted"));
        co_return;
    }
    std::optional<std::string> payload;
    if (!text.empty()) {
        if (text == "=") {
            payload = std::string();  // an empty initial response
        } else {
            auto decoded = sasl::base64_decode(text);
            if (!decoded) {
                sasl_->reset();
                sasl_step bad_encoding{sasl_step::kind::failure, {}, "incorrect-encoding", {}};
                co_await finish_sasl(std::move(bad_encoding));
                co_return;
            }
            payload = std::move(*decoded);
        }
    }
    if (name == "auth") {
        const std::string mechanism = s.element().attribute("mechanism").value();
        auto step = co_await sasl_->start(mechanism, ctx_.cfg.sasl.allow_plain, std::move(payload));
        co_await finish_sasl(std::move(step));
        co_return;
    }
    if (name == "response") {
        if (!sasl_->in_progress()) {
            send(sasl_failure_element("malformed-request"));
            co_return;
        }
        auto step = co_await sasl_->respond(payload.value_or(std::string()));
        co_await finish_sasl(std::move(step));
        co_return;
    }
    begin_close(stream_error{"unsupported-stanza-type", "unexpected SASL element"});
}

asio::awaitable<void> c2s_session::finish_sasl(sasl_step step) {
    switch (step.type) {
    case sasl_step::kind::challenge:
        send(sasl_element("challenge", step.payload));
        co_return;
    case sasl_step::kind::success: {
        ctx_.throttle.record_success(peer_address_);
        auto who = jid::from_parts(step.username, domain_);
        if (!who) {
            send(sasl_failure_element("not-authorized"));
            co_return;
        }
        jid_ = *who;  // bare until bound
        spdlog::info("c2s {}: authenticated as {}", peer_address_, jid_.bare_string());
        send(sasl_element("success", step.payload));
        phase_ = phase::authenticated;
        restart_stream_ = true;
        // jid_ is bare here; the registry only sees it once a resource is bound.
        co_return;
    }
    case sasl_step::kind::failure:
        break;
    }
    ++auth_failures_;
    const auto delay = ctx_.throttle.record_failure(peer_address_);
    spdlog::info("c2s {}: authentication failed ({}), failure {} on this connection", peer_address_, step.condition,
                 auth_failures_);
    if (delay.count() > 0) {
        asio::steady_timer pause(executor_, delay);
        co_await pause.async_wait(tuple_awaitable);
    }
    send(sasl_failure_element(step.condition));
    if (auth_failures_ >= ctx_.cfg.limits.auth_failures_per_connection) {
        begin_close(stream_error{"policy-violation", "too many failed authentication attempts"});
    }
}

void c2s_session::handle_bind(const stanza& iq) {
    auto bind = iq.child("bind", ns::bind);
    std::string requested = bind.child("resource").text().get();
    std::string resource;
    if (requested.empty()) {
        resource = "hush-" + random_id().substr(0, 12);
    } else {
        auto prepped = resourceprep(requested);
        if (!prepped || prepped->empty()) {
            send(make_error_reply(iq, "bad-request", "invalid resource").serialize());
            return;
        }
        resource = std::move(*prepped);
    }
    jid_ = jid_.bare().with_resource(resource);
    if (auto previous = ctx_.registry.bind(jid_, shared_from_this())) {
        previous->close(stream_error{"conflict", "replaced by a new session"});
    }
    phase_ = phase::bound;
    spdlog::info("c2s {}: bound {}", peer_address_, jid_.full_string());
    stanza result = make_iq_result(iq);
    result.remove_attribute("to");
    result.remove_attribute("from");
    auto b = result.element().append_child("bind");
    b.append_attribute("xmlns").set_value(ns::bind.data());
    b.append_child("jid").append_child(pugi::node_pcdata).set_value(jid_.full_string().c_str());
    send(result.serialize());
}

asio::awaitable<void> c2s_session::handle_stanza(stanza s) {
    const stanza_kind kind = s.kind();
    // `from`: the client may give its full or bare JID; anything else is spoofing (RFC 6120 §8.1.2.1).
    if (!s.from().empty()) {
        auto claimed = jid::parse(s.from());
        if (!claimed || !claimed->equals_bare(jid_) || (!claimed->is_bare() && !claimed->equals_full(jid_))) {
            begin_close(stream_error{"invalid-from", "'from' does not match the authenticated JID"});
            co_return;
        }
    }
    s.set_attribute("from", jid_.full_string());

    if (kind == stanza_kind::iq) {
        const auto type = s.type();
        std::size_t children = 0;
        only_child_element(s, children);
        const bool request = type == "get" || type == "set";
        if (s.id().empty() || !(request || type == "result" || type == "error") || (request && children != 1)) {
            if (type != "error" && type != "result") {
                send(make_error_reply(s, "bad-request", "an iq needs an id, a type and one payload").serialize());
            }
            co_return;
        }
        if (s.to().empty() && type == "set" && s.child("session", ns::session)) {
            send(make_iq_result(s).serialize());  // RFC 3921 session establishment: a no-op kept for old clients
            co_return;
        }
    }

    if (s.to().empty()) {
        if (kind == stanza_kind::presence) {
            handle_own_presence(s);
            co_return;
        }
        // A message or iq without 'to' is addressed to the account itself (RFC 6120 §10.3).
        s.set_attribute("to", jid_.bare_string());
    } else {
        auto to = jid::parse(s.to());
        if (!to) {
            if (!s.is_error()) {
                stanza reply = make_error_reply(s, "jid-malformed");
                reply.set_attribute("from", jid_.domain());
                send(reply.serialize());
            }
            co_return;
        }
        s.set_attribute("to", to->full_string());
    }
    if (spdlog::should_log(spdlog::level::debug) && kind != stanza_kind::message) {
        spdlog::debug("c2s {}: {} {} to {}", jid_.full_string(), s.name(), s.type(), s.to());
    }
    route_origin origin{antispim::origin_kind::local_session, domain_, peer_address_};
    co_await ctx_.routes.route(std::move(s), std::move(origin));
}

void c2s_session::handle_own_presence(const stanza& p) {
    const auto type = p.type();
    if (type.empty()) {
        int priority = 0;
        if (auto pr = p.element().child("priority")) {
            priority = std::clamp(pr.text().as_int(0), -128, 127);
        }
        ctx_.registry.set_presence(jid_, true, priority);
    } else if (type == "unavailable") {
        ctx_.registry.set_presence(jid_, false, 0);
    }
    // Broadcasting to contacts needs rosters (the IM core issue); until then presence only marks availability.
}

}  // namespace hush
