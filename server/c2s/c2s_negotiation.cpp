// Stream negotiation and stanza intake for client sessions: stream headers and features, STARTTLS, SASL,
// resource binding, then validation and stamping of every stanza before it goes to the router.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/namespaces.hpp"
#include "protocol/text.hpp"
#include "server/c2s/c2s_session.hpp"
#include "server/registration/registration.hpp"
#include "server/im/server_handlers.hpp"
#include "server/stream/channel_binding.hpp"
#include "server/stream/test_hooks.hpp"

namespace hush {

namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

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

void c2s_session::handle_stream_open(const xml::stream_open& header) {
    auto host = accept_stream_header(
        header, [this](std::string_view d) { return ctx_.routes.serves_accounts(d); }, domain_);
    if (!host) {
        return;
    }
    domain_ = *host;
    // The client's language is the default of its stanzas (RFC 6120 §4.7.4): stamped on those without one, so
    // whoever answers them (the Bot Challenge, for one) can answer in it. Only a plausible tag is kept.
    const bool plausible = !header.lang.empty() && header.lang.size() <= 35 &&
                           std::all_of(header.lang.begin(), header.lang.end(), [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                           });
    stream_lang_ = plausible ? header.lang : std::string();
    stream_id_ = new_stream_id();
    std::string out = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='" + stream_id_ + "' from='" +
                      xml_escape(domain_) + "' version='1.0' xml:lang='en'>";
    send(std::move(out));
    mark_header_sent();
    if (framed() && phase_ == phase::connected) {
        // TLS before authentication, and a WebSocket has no STARTTLS: plain ws:// serves only behind a trusted
        // TLS-terminating proxy ([http] trusted_proxies).
        begin_close(stream_error{"policy-violation",
                                 "XMPP over WebSocket needs TLS: use wss://, or a proxy listed in [http] trusted_proxies"});
        return;
    }
    send_features();
}

void c2s_session::send_features() {
    std::string f = "<stream:features>";
    switch (phase_) {
    case phase::connected:
        f += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>";
        break;
    case phase::tls_done:
        if (channel_bindings_.empty()) {
            channel_bindings_ = channel_bindings(tls_handle());  // once per connection, after the handshake
        }
        f += "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
        for (const auto& m : sasl_authenticator::mechanisms(ctx_.cfg.sasl.allow_plain, !channel_bindings_.empty())) {
            f += "<mechanism>" + m + "</mechanism>";
        }
        f += "</mechanisms>";
        f += sasl2_feature();  // XEP-0388, with Bind2 and stream management inline
        if (!channel_bindings_.empty()) {
            f += "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>";  // XEP-0440
            for (const auto& [type, data] : channel_bindings_) {
                f += "<channel-binding type='" + type + "'/>";
            }
            f += "</sasl-channel-binding>";
        }
        if (registration_service::stream_feature_enabled(ctx_.cfg)) {
            f += "<register xmlns='urn:xmpp:ibr-token:0'/>";                     // XEP-0445 §4
            f += "<register xmlns='http://jabber.org/features/iq-register'/>";  // XEP-0077 §3
        }
        break;
    case phase::authenticated:
    case phase::bound:
        f += "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
             "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>";
        if (ctx_.routes.serves_im()) {
            f += "<ver xmlns='urn:xmpp:features:rosterver'/><csi xmlns='urn:xmpp:csi:0'/>";
        }
        if (ctx_.cfg.stream_management.enabled) {
            f += "<sm xmlns='urn:xmpp:sm:3'/>";  // XEP-0198: enable after binding, or resume instead of it
        }
        if (!ctx_.caps_ver.empty()) {
            f += "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='" + std::string(server_handlers::caps_node_prefix) + "' ver='" +
                 ctx_.caps_ver + "'/>";
        }
        break;
    }
    f += "</stream:features>";
    send(std::move(f));
}

asio::awaitable<void> c2s_session::handle_element(stanza s) {
    if (handed_over_) {
        co_return;  // resumed on another connection: what this one still reads is the client's to send again there
    }
    const std::string& element_ns = s.ns();
    if (element_ns == ns::tls && s.name() == "starttls") {
        if (phase_ != phase::connected) {
            begin_close(stream_error{"policy-violation", "TLS is already negotiated"});
            co_return;
        }
        if (co_await accept_starttls(ctx_.tls.current())) {
            phase_ = phase::tls_done;
        }
        co_return;
    }
    if (element_ns == ns::sasl) {
        co_await handle_sasl(s);
        co_return;
    }
    if (element_ns == "urn:xmpp:sasl:2") {
        co_await handle_sasl2(s);
        co_return;
    }
    if (element_ns == "urn:xmpp:csi:0" && phase_ == phase::bound && (s.name() == "active" || s.name() == "inactive")) {
        set_client_active(s.name() == "active");  // XEP-0352 nonzas get no answer
        co_return;
    }
    if (element_ns == sm::sm_ns && ctx_.cfg.stream_management.enabled &&
        (phase_ == phase::authenticated || phase_ == phase::bound)) {
        co_await handle_sm(s);
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
        // XEP-0077 (and XEP-0445's token): in-band registration is the one thing allowed between TLS and SASL.
        if (ctx_.registration != nullptr && s.kind() == stanza_kind::iq &&
            registration_service::handles_unauthenticated(s)) {
            std::size_t children = 0;
            only_child_element(s, children);
            if (s.id().empty() || !(s.type() == "get" || s.type() == "set") || children != 1) {
                send(make_error_reply(s, "bad-request").serialize());
                co_return;
            }
            outgoing notices;  // for the admins: accounts waiting for approval, limits reached
            stanza reply =
                co_await ctx_.registration->handle_unauthenticated(s, domain_, peer_address_, registration_, &notices);
            if (reply.valid()) {
                send(reply.serialize());
            }
            if (!notices.empty()) {
                co_await ctx_.routes.carry_out(std::move(notices));
            }
            co_return;
        }
        begin_close(stream_error{"not-authorized", "authenticate first"});
        co_return;
    }
    if (phase_ == phase::authenticated) {
        if (s.kind() == stanza_kind::iq && s.type() == "set" && s.child("bind", ns::bind)) {
            handle_bind(s);
        } else {
            // RFC 6120 §7.1: nothing but binding before a resource is bound.
            begin_close(stream_error{"not-authorized", "bind a resource first"});
        }
        co_return;
    }
    if (sm_.enabled()) {
        // XEP-0198: every stanza the client sent counts, whatever becomes of it; counted as it is taken, so a
        // resumption that takes the session over while this one is on its way includes it.
        sm_.count_handled();
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
        if (channel_bindings_.empty()) {
            channel_bindings_ = channel_bindings(tls_handle());
        }
        sasl_ = std::make_unique<sasl_authenticator>(ctx_.store, domain_, ctx_.server_secret,
                                                     ctx_.cfg.sasl.scram_iterations, channel_bindings_,
                                                     ctx_.cfg.sasl.strict_channel_binding);
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
                sasl_step bad_encoding{sasl_step::kind::failure, {}, "incorrect-encoding", {}, {}};
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
        sasl_.reset();  // authenticated once for the life of the stream: nothing to keep
        restart_stream();
        // jid_ is bare here; the registry only sees it once a resource is bound.
        co_return;
    }
    case sasl_step::kind::failure:
        break;
    }
    co_await sasl_failed(step.condition, sasl_failure_element(step.condition));
}

asio::awaitable<void> c2s_session::sasl_failed(const std::string& condition, std::string element) {
    ++auth_failures_;
    const auto delay = ctx_.throttle.record_failure(peer_address_);
    spdlog::info("c2s {}: authentication failed ({}), failure {} on this connection", peer_address_, condition,
                 auth_failures_);
    if (delay.count() > 0) {
        asio::steady_timer pause(executor_, delay);
        co_await pause.async_wait(tuple_awaitable);
    }
    send(std::move(element));
    if (auth_failures_ >= ctx_.cfg.limits.auth_failures_per_connection) {
        begin_close(stream_error{"policy-violation", "too many failed authentication attempts"});
    }
}

void c2s_session::handle_bind(const stanza& iq) {
    auto bind = iq.child("bind", ns::bind);
    std::string requested = bind.child("resource").text().get();
    std::string resource;
    if (requested.empty()) {
        resource = "hush-" + new_stream_id().substr(0, 12);
    } else {
        auto prepped = resourceprep(requested);
        if (!prepped || prepped->empty()) {
            send(make_error_reply(iq, "bad-request", "invalid resource").serialize());
            return;
        }
        resource = std::move(*prepped);
    }
    bind_resource(resource);
    stanza result = make_iq_result(iq);
    result.remove_attribute("to");
    result.remove_attribute("from");
    auto b = result.element().append_child("bind");
    b.append_attribute("xmlns").set_value(ns::bind.data());
    b.append_child("jid").append_child(pugi::node_pcdata).set_value(jid_.full_string().c_str());
    send(result.serialize());
}

void c2s_session::bind_resource(const std::string& resource) {
    jid_ = jid_.bare().with_resource(resource);
    if (auto previous = ctx_.registry.bind(jid_, shared_from_this())) {
        previous->close(stream_error{"conflict", "replaced by a new session"});
    }
    phase_ = phase::bound;
    spdlog::info("c2s {}: bound {}", peer_address_, jid_.full_string());
}

asio::awaitable<void> c2s_session::handle_stanza(stanza s) {
    test_hooks::fail_if_marked(s.id());  // inert outside the integration tests (see test_hooks.hpp)
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
    if (!stream_lang_.empty() && !s.element().attribute("xml:lang")) {
        s.set_attribute("xml:lang", stream_lang_);
    }

    if (kind == stanza_kind::iq) {
        const auto type = s.type();
        std::size_t children = 0;
        only_child_element(s, children);
        const bool request = type == "get" || type == "set";
        if (s.id().empty() || !(request || type == "result" || type == "error") || (request && children != 1)) {
            if (type != "error" && type != "result") {
                send_stanza(make_error_reply(s, "bad-request", "an iq needs an id, a type and one payload").serialize());
            }
            co_return;
        }
        if (s.to().empty() && type == "set" && s.child("session", ns::session)) {
            send_stanza(make_iq_result(s).serialize());  // RFC 3921 session establishment: a no-op kept for old clients
            co_return;
        }
    }

    if (s.to().empty()) {
        if (kind == stanza_kind::presence) {
            co_await handle_own_presence(s);
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
                send_stanza(reply.serialize());
            }
            co_return;
        }
        s.set_attribute("to", to->full_string());
        if (kind == stanza_kind::presence) {
            track_directed_presence(s);
        }
    }
    if (kind == stanza_kind::iq && ctx_.registration != nullptr && s.child("query", registration_service::register_ns) &&
        (s.to() == jid_.bare_string() || s.to() == domain_)) {
        // Password change and account removal (XEP-0077 §3.2, §3.3) answer before this stream may close.
        // Through the pipeline, which tells every contact of a removed account (XEP-0077 §3.3).
        auto outcome = co_await ctx_.routes.account_request(s, jid_);
        if (outcome.reply.valid()) {
            send_stanza(outcome.reply.serialize());
        }
        if (outcome.removed) {
            spdlog::info("c2s {}: account {} removed itself", peer_address_, jid_.bare_string());
            for (const auto& r : ctx_.registry.resources(jid_.bare())) {
                if (r.target.get() != this) {
                    r.target->close(stream_error{"not-authorized", "account removed"});
                }
            }
            begin_close(stream_error{"not-authorized", "account removed"});
        }
        co_return;
    }
    if (spdlog::should_log(spdlog::level::debug) && kind != stanza_kind::message) {
        spdlog::debug("c2s {}: {} {} to {}", jid_.full_string(), s.name(), s.type(), s.to());
    }
    route_origin origin{antispim::origin_kind::local_session, domain_, peer_address_, false, false, {}};
    co_await ctx_.routes.route(std::move(s), std::move(origin));
}

void c2s_session::track_directed_presence(const stanza& p) {
    if (p.type().empty()) {
        directed_.try_emplace(std::string(p.to()));
    } else if (p.type() == "unavailable") {
        directed_.erase(std::string(p.to()));
    }
}

asio::awaitable<void> c2s_session::handle_own_presence(const stanza& p) {
    if (p.type().empty()) {
        available_ = true;
    } else if (p.type() == "unavailable") {
        available_ = false;
        // XEP-0012 §3: "Last Activity" answers with it once the account is offline. Kept short.
        last_status_ = truncate_utf8(p.element().child_value("status"), max_status_bytes);
    }
    co_await ctx_.routes.session_presence(jid_, p);
    if (p.type() == "unavailable" && !directed_.empty()) {
        // RFC 6121 §4.6.3: unavailable presence also goes to everyone the session sent directed presence to (rooms
        // it is in included), and ends it.
        std::vector<std::string> directed;
        for (const auto& entry : directed_) {
            directed.push_back(entry.first);
        }
        directed_.clear();
        for (const auto& to : directed) {
            stanza copy = p.clone();
            copy.set_attribute("to", to);
            route_origin origin{antispim::origin_kind::local_session, domain_, peer_address_, false, false, {}};
            co_await ctx_.routes.route(std::move(copy), std::move(origin));
        }
    }
}

}  // namespace hush
