#include "server/s2s/s2s_incoming.hpp"
#include "server/s2s/dialback_dispatch.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"

namespace hush {

namespace asio = boost::asio;

namespace {

// Each pending dialback request makes us contact another server: a stream may not queue up many at once.
constexpr std::size_t max_pending_dialback = 16;

std::string sasl_failure(std::string_view condition) {
    return "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><" + std::string(condition) + "/></failure>";
}

std::size_t element_children(const stanza& s) {
    std::size_t n = 0;
    for (auto c : s.element().children()) {
        n += c.type() == pugi::node_element ? 1 : 0;
    }
    return n;
}

}  // namespace

s2s_incoming_stream::s2s_incoming_stream(tcp::socket socket, bool direct_tls, server_context& ctx,
                                         s2s_manager& manager, std::shared_ptr<void> connection_slot)
    : xmpp_stream(std::move(socket), ctx.cfg.limits, ns::server),
      ctx_(ctx),
      manager_(manager),
      connection_slot_(std::move(connection_slot)),
      direct_tls_(direct_tls) {}

void s2s_incoming_stream::start() {
    ctx_.connections.attach(connection_slot_, weak_from_this());
    xmpp_stream::start();
}

std::string s2s_incoming_stream::log_name() const {
    return header_from_.empty() ? "s2s-in " + peer_address_ : "s2s-in " + peer_address_ + " " + header_from_;
}

asio::awaitable<bool> s2s_incoming_stream::on_connected() {
    if (!direct_tls_) {
        co_return true;
    }
    if (!co_await start_tls_server(ctx_.tls.current(tls_role::s2s_server))) {
        co_return false;
    }
    phase_ = phase::secured;
    co_return true;
}

void s2s_incoming_stream::handle_stream_open(const xml::stream_open& header) {
    auto host = accept_stream_header(
        header, [this](std::string_view d) { return ctx_.routes.is_local_domain(d); }, local_);
    if (!host) {
        return;
    }
    local_ = *host;
    if (!header.from.empty()) {
        auto from = nameprep(header.from);
        if (!from || ctx_.routes.is_local_domain(*from)) {
            begin_close(stream_error{"invalid-from", "'" + header.from + "' is not a remote domain"});
            return;
        }
        header_from_ = *from;
    }
    stream_id_ = new_stream_id();
    std::string out = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                      "xmlns:stream='http://etherx.jabber.org/streams' " +
                      std::string(dialback_prefix_declaration) + " id='" + stream_id_ + "' from='" +
                      xml_escape(local_) + "'";
    if (!header_from_.empty()) {
        out += " to='" + xml_escape(header_from_) + "'";
    }
    out += " version='1.0'>";
    send(std::move(out));
    mark_header_sent();
    send_features();
}

void s2s_incoming_stream::send_features() {
    std::string f = "<stream:features>";
    if (phase_ == phase::connected) {
        f += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>";
    } else {
        // XEP-0178: EXTERNAL only when the certificate is valid for the domain the peer says it is.
        if (!header_from_.empty() && !external_.contains(header_from_) &&
            manager_.judge_certificate(tls_handle(), header_from_).valid_for_domain()) {
            f += "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>";
        }
        f += dialback_feature;
    }
    f += "</stream:features>";
    send(std::move(f));
}

asio::awaitable<void> s2s_incoming_stream::handle_element(stanza s) {
    const std::string& element_ns = s.ns();
    if (element_ns == ns::tls && s.name() == "starttls") {
        if (phase_ != phase::connected) {
            begin_close(stream_error{"policy-violation", "TLS is already negotiated"});
            co_return;
        }
        if (co_await accept_starttls(ctx_.tls.current(tls_role::s2s_server))) {
            phase_ = phase::secured;
        }
        co_return;
    }
    if (phase_ == phase::connected) {
        begin_close(stream_error{"policy-violation", "STARTTLS is required"});
        co_return;
    }
    if (element_ns == ns::sasl) {
        handle_sasl(s);
        co_return;
    }
    if (dispatch_dialback(
            s, [this](const dialback_result& result) { handle_dialback_result(result); },
            [this](const dialback_verify& verify) { handle_dialback_verify(verify); },
            [this](const stream_error& error) { begin_close(error); })) {
        co_return;
    }
    co_await handle_stanza(std::move(s));
}

// ---- SASL EXTERNAL ------------------------------------------------------------------------------------------------

void s2s_incoming_stream::handle_sasl(const stanza& s) {
    if (s.name() == "abort") {
        send(sasl_failure("aborted"));
        return;
    }
    if (s.name() != "auth") {
        begin_close(stream_error{"unsupported-stanza-type", "unexpected SASL element"});
        return;
    }
    if (s.element().attribute("mechanism").value() != std::string_view("EXTERNAL")) {
        send(sasl_failure("invalid-mechanism"));
        return;
    }
    if (header_from_.empty() || external_.contains(header_from_)) {
        send(sasl_failure("not-authorized"));
        return;
    }
    const std::string_view payload = s.element().child_value();
    std::string authzid;
    if (!payload.empty() && payload != "=") {
        auto decoded = sasl::base64_decode(payload);
        if (!decoded) {
            send(sasl_failure("incorrect-encoding"));
            return;
        }
        auto normalized = nameprep(*decoded);
        if (!normalized || *normalized != header_from_) {
            // RFC 6120 §6.4.6: the authorization identity must be the domain the stream is from.
            send(sasl_failure("invalid-authzid"));
            return;
        }
    }
    const auto certificate = manager_.judge_certificate(tls_handle(), header_from_);
    if (!certificate.valid_for_domain()) {
        spdlog::info("{}: SASL EXTERNAL refused, certificate {}", log_name(), certificate.describe());
        send(sasl_failure("not-authorized"));
        return;
    }
    send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    external_.insert(header_from_);
    phase_ = phase::authenticated;
    spdlog::info("{}: {} authenticated (SASL EXTERNAL, certificate {})", log_name(), header_from_,
                 certificate.describe());
    restart_stream();
}

// ---- dialback -----------------------------------------------------------------------------------------------------

void s2s_incoming_stream::handle_dialback_result(const dialback_result& request) {
    if (request.type != dialback_type::request) {
        begin_close(stream_error{"unsupported-stanza-type", "a dialback answer on an incoming stream"});
        return;
    }
    auto fail = [&](std::string condition, std::string text) {
        spdlog::info("{}: dialback for {} -> {} refused: {}", log_name(), request.from, request.to, text);
        send(serialize_dialback(answer_dialback(
            request, dialback_type::error, dialback_error{std::move(condition), error_type::cancel, std::move(text)})));
    };
    if (!ctx_.routes.is_local_domain(request.to)) {
        fail("item-not-found", "this server does not serve " + request.to);
        return;
    }
    if (ctx_.routes.is_local_domain(request.from)) {
        send(serialize_dialback(answer_dialback(request, dialback_type::invalid)));
        spdlog::warn("{}: dialback claiming our own domain {} refused", log_name(), request.from);
        return;
    }
    const std::pair<std::string, std::string> pair{request.to, request.from};
    if (authorized(request.to, request.from)) {
        send(serialize_dialback(answer_dialback(request, dialback_type::valid)));
        return;
    }
    if (dialback_pending_.contains(pair)) {
        return;  // the first request's answer will do for both
    }
    const auto certificate = manager_.judge_certificate(tls_handle(), request.from);
    if (ctx_.cfg.s2s.requires_valid_certificate(request.from) && !certificate.valid_for_domain()) {
        fail("not-authorized", "a valid certificate for " + request.from + " is required (" + certificate.describe() + ")");
        return;
    }
    if (certificate.valid_for_domain()) {
        // XEP-0344: the certificate already proves the domain; no need to dial back.
        accept_domain(request.to, request.from, "dialback, certificate " + certificate.describe());
        send(serialize_dialback(answer_dialback(request, dialback_type::valid)));
        return;
    }
    if (dialback_pending_.size() >= max_pending_dialback) {
        fail("resource-constraint", "too many dialback requests waiting on this stream");
        return;
    }
    dialback_pending_.insert(pair);
    dialback_verify question;
    question.from = request.to;
    question.to = request.from;
    question.id = stream_id_;
    question.key = request.key;
    spdlog::debug("{}: asking {}'s authoritative server to verify its dialback key", log_name(), request.from);
    auto self = std::static_pointer_cast<s2s_incoming_stream>(shared_from_this());
    manager_.verify(std::move(question), std::weak_ptr<dialback_waiter>(self));
}

void s2s_incoming_stream::verification_done(const dialback_verify& answer) {
    asio::dispatch(executor_, [weak = weak_from_this(), answer]() {
        auto self = std::static_pointer_cast<s2s_incoming_stream>(weak.lock());
        if (!self || self->closing_ || self->socket_closed_) {
            return;
        }
        // The answer comes from the authoritative server: from = the remote domain, to = ours.
        const std::pair<std::string, std::string> pair{answer.to, answer.from};
        if (!self->dialback_pending_.erase(pair)) {
            return;
        }
        dialback_result result;
        result.from = answer.to;
        result.to = answer.from;
        result.type = answer.type;
        result.error = answer.error;
        if (answer.type == dialback_type::valid) {
            self->accept_domain(answer.to, answer.from, "dialback");
        } else if (answer.type == dialback_type::invalid) {
            spdlog::warn("{}: {}'s authoritative server says the dialback key is wrong: refusing (spoofing?)",
                         self->log_name(), answer.from);
        } else {
            spdlog::info("{}: dialback for {} could not be verified: {} {}", self->log_name(), answer.from,
                         answer.error.condition, answer.error.text);
        }
        self->send(serialize_dialback(result));
    });
}

void s2s_incoming_stream::handle_dialback_verify(const dialback_verify& request) {
    if (request.type != dialback_type::request) {
        begin_close(stream_error{"unsupported-stanza-type", "a dialback verification answer on an incoming stream"});
        return;
    }
    if (!ctx_.routes.is_local_domain(request.to)) {
        send(serialize_dialback(answer_dialback(
            request, dialback_type::error,
            dialback_error{"item-not-found", error_type::cancel, "this server does not serve " + request.to})));
        return;
    }
    // We are the authoritative server for request.to: did we make this key for that stream?
    const bool valid = verify_dialback_key(ctx_.server_secret, request.from, request.to, request.id, request.key);
    spdlog::info("{}: dialback key of {} for {} (stream {}) is {}", log_name(), request.to, request.from, request.id,
                 valid ? "valid" : "NOT valid");
    answered_verify_ = true;
    send(serialize_dialback(answer_dialback(request, valid ? dialback_type::valid : dialback_type::invalid)));
}

void s2s_incoming_stream::accept_domain(const std::string& local, const std::string& remote, std::string_view how) {
    dialback_.emplace(local, remote);
    phase_ = phase::authenticated;
    spdlog::info("{}: {} authenticated for {} ({})", log_name(), remote, local, how);
}

bool s2s_incoming_stream::authorized(const std::string& local, const std::string& remote) const {
    return external_.contains(remote) || dialback_.contains({local, remote});
}

// ---- stanzas ------------------------------------------------------------------------------------------------------

asio::awaitable<void> s2s_incoming_stream::handle_stanza(stanza s) {
    if (!s.ns().empty() || s.kind() == stanza_kind::other) {
        begin_close(stream_error{"unsupported-stanza-type", "unexpected <" + std::string(s.name()) + "/>"});
        co_return;
    }
    if (phase_ != phase::authenticated) {
        begin_close(stream_error{"not-authorized", "authenticate (SASL EXTERNAL or dialback) before sending stanzas"});
        co_return;
    }
    if (s.from().empty() || s.to().empty()) {
        // RFC 6120 §8.1.1.1 and §8.1.2.1: both are required between servers.
        begin_close(stream_error{"improper-addressing", "stanzas between servers need 'from' and 'to'"});
        co_return;
    }
    const auto from = jid::parse(s.from());
    if (!from) {
        begin_close(stream_error{"invalid-from", "malformed 'from'"});
        co_return;
    }
    bool known = !ctx_.routes.is_local_domain(from->domain()) && external_.contains(from->domain());
    for (const auto& [local, remote] : dialback_) {
        known = known || remote == from->domain();
    }
    if (!known) {
        begin_close(stream_error{"invalid-from", "'" + from->domain() + "' is not authenticated on this stream"});
        co_return;
    }
    const auto to = jid::parse(s.to());
    if (!to) {
        stanza reply = make_error_reply(s, "jid-malformed");
        reply.set_attribute("from", local_);
        co_await ctx_.routes.send(std::move(reply));
        co_return;
    }
    if (!ctx_.routes.is_local_domain(to->domain())) {
        begin_close(stream_error{"host-unknown", "this server does not serve '" + to->domain() + "'"});
        co_return;
    }
    if (!authorized(to->domain(), from->domain())) {
        begin_close(stream_error{"invalid-from", "'" + from->domain() + "' is not authenticated for '" +
                                                     to->domain() + "' on this stream"});
        co_return;
    }
    if (s.kind() == stanza_kind::iq) {
        const auto type = s.type();
        const bool request = type == "get" || type == "set";
        if (s.id().empty() || (!request && type != "result" && type != "error") ||
            (request && element_children(s) != 1)) {
            stanza reply = make_error_reply(s, "bad-request", "an iq needs an id, a type and one payload");
            co_await ctx_.routes.send(std::move(reply));
            co_return;
        }
    }
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = from->domain();
    origin.peer_address = peer_address_;
    co_await ctx_.routes.route(std::move(s), std::move(origin));
}

}  // namespace hush
