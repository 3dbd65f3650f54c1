// XEP-0388 SASL2 for client sessions, with XEP-0386 Bind2 and XEP-0198 inline: from TLS to a bound session with
// carbons and stream management on — or to a resumed one — in the mechanism's own round trips, no stream restart,
// no bind and enable round trips (docs/stream-management.md "SASL2").
#include <spdlog/spdlog.h>

#include "protocol/fast.hpp"
#include "protocol/scram.hpp"
#include "protocol/text.hpp"
#include "protocol/xep0082.hpp"
#include "server/c2s/c2s_session.hpp"
#include "server/c2s/sasl_fast.hpp"

namespace hush {

namespace asio = boost::asio;

namespace {

constexpr std::string_view bind2_ns = "urn:xmpp:bind:0";
constexpr std::string_view carbons_ns = "urn:xmpp:carbons:2";
constexpr std::size_t max_tag_bytes = 32;
constexpr std::size_t max_agent_id_bytes = 128;  // a UUID is 36

// The XEP-0388 user-agent id, when usable as the name of a client's tokens: printable, bounded.
std::string agent_id_from(std::string_view id) {
    if (id.empty() || id.size() > max_agent_id_bytes) {
        return {};
    }
    for (char c : id) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return {};
        }
    }
    return std::string(id);
}

std::string sasl2_failure(std::string_view condition, std::string_view text = {}) {
    std::string out = "<failure xmlns='urn:xmpp:sasl:2'><" + std::string(condition) +
                      " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
    if (!text.empty()) {
        out += "<text>" + xml_escape(text) + "</text>";
    }
    return out + "</failure>";
}

// The tag is the client's name for itself ("Conversations.Xq7a"): kept printable and short in the resource.
std::string resource_from(std::string_view tag) {
    std::string clean;
    for (char c : tag.substr(0, max_tag_bytes)) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
            clean += c;
        }
    }
    return (clean.empty() ? std::string("hush") : clean) + "." + sasl::random_hex(4);
}

}  // namespace

std::string c2s_session::sasl2_feature() {
    std::string f = "<authentication xmlns='urn:xmpp:sasl:2'>";
    for (const auto& m : sasl_authenticator::mechanisms(ctx_.cfg.sasl.allow_plain, !channel_bindings_.empty())) {
        f += "<mechanism>" + m + "</mechanism>";
    }
    const bool sm = ctx_.cfg.stream_management.enabled;
    f += "<inline><bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:carbons:2'/>";
    if (sm) {
        f += "<feature var='urn:xmpp:sm:3'/>";
    }
    f += "</inline></bind>";
    if (sm) {
        f += "<sm xmlns='urn:xmpp:sm:3'/>";
    }
    if (ctx_.cfg.sasl.fast) {
        f += "<fast xmlns='urn:xmpp:fast:0'>";
        for (const auto& m : fast::mechanisms()) {
            if (binding_data(m.channel_binding)) {
                f += "<mechanism>" + std::string(m.name) + "</mechanism>";
            }
        }
        f += "</fast>";
    }
    return f + "</inline></authentication>";
}

asio::awaitable<void> c2s_session::handle_sasl2(const stanza& s) {
    const std::string_view name = s.name();
    if (phase_ == phase::connected) {
        send(sasl2_failure("encryption-required"));  // never in the clear
        co_return;
    }
    if (phase_ != phase::tls_done) {
        begin_close(stream_error{"policy-violation", "already authenticated"});
        co_return;
    }
    if (!sasl_) {
        sasl_ = std::make_unique<sasl_authenticator>(ctx_.store, domain_, ctx_.server_secret,
                                                     ctx_.cfg.sasl.scram_iterations, channel_bindings_,
                                                     ctx_.cfg.sasl.strict_channel_binding);
    }
    if (name == "abort") {
        sasl_->reset();
        sasl2_.reset();
        send(sasl2_failure("aborted"));
        co_return;
    }
    // The payload: base64 text; an empty element is an empty response; none at all, no initial response.
    auto payload_of = [](pugi::xml_node node) -> std::optional<std::optional<std::string>> {
        if (!node) {
            return std::optional<std::string>();
        }
        const std::string text = node.text().get();
        if (text.empty() || text == "=") {
            return std::optional<std::string>(std::string());
        }
        auto decoded = sasl::base64_decode(text);
        if (!decoded) {
            return std::nullopt;
        }
        return std::optional<std::string>(std::move(*decoded));
    };
    if (name == "authenticate") {
        sasl2_request request;
        const pugi::xml_node element = s.element();
        if (auto bind = element.child("bind"); bind && bind.attribute("xmlns").value() == bind2_ns) {
            request.bind = true;
            request.tag = bind.child_value("tag");
            for (auto enable : bind.children("enable")) {
                const std::string_view ns = enable.attribute("xmlns").value();
                if (ns == carbons_ns) {
                    request.carbons = true;
                } else if (ns == sm::sm_ns && ctx_.cfg.stream_management.enabled) {
                    request.sm_enable = true;
                    request.sm_resume = enable.attribute("resume").value();
                    request.sm_max = enable.attribute("max").value();
                }
            }
        }
        if (auto resume = element.child("resume");
            resume && resume.attribute("xmlns").value() == sm::sm_ns && ctx_.resumptions != nullptr) {
            request.resume = true;
            request.previd = resume.attribute("previd").value();
            request.h = resume.attribute("h").value();
        }
        request.mechanism = element.attribute("mechanism").value();
        request.agent_id = agent_id_from(element.child("user-agent").attribute("id").value());
        fast_login login{request.agent_id, -1, {}, false};
        bool bad_count = false;
        if (auto asked = element.child("request-token"); asked && asked.attribute("xmlns").value() == fast::ns) {
            // Only a mechanism offered on this connection (a -EXPR token where there is no exporter is useless).
            if (auto m = fast::find_mechanism(asked.attribute("mechanism").value()); m && binding_data(m->channel_binding)) {
                request.token_request = m->name;
            }
        }
        if (auto used = element.child("fast"); used && used.attribute("xmlns").value() == fast::ns) {
            const std::string_view invalidate = used.attribute("invalidate").value();
            login.invalidate = invalidate == "true" || invalidate == "1";
            request.invalidate = login.invalidate;
            // XEP-0484: a positive integer when given; anything else is no count at all, not a missing one.
            if (const auto text = std::string_view(used.attribute("count").value()); !text.empty()) {
                const auto count = parse_decimal<std::int64_t>(text);
                bad_count = !count || *count < 1;
                login.count = bad_count ? -1 : *count;
            }
        }
        auto initial = payload_of(element.child("initial-response"));
        if (!initial) {
            co_await sasl_failed("incorrect-encoding", sasl2_failure("incorrect-encoding"));
            co_return;
        }
        const std::string mechanism = request.mechanism;
        sasl2_ = std::move(request);
        if (auto ht = fast::find_mechanism(mechanism)) {
            // XEP-0484: a token, checked with the binding data of the mechanism's type (none for -NONE).
            const auto cb = binding_data(ht->channel_binding);
            if (!ctx_.cfg.sasl.fast || !cb) {
                co_await finish_sasl2(sasl_step{sasl_step::kind::failure, {}, "invalid-mechanism", {}, {}});
                co_return;
            }
            if (!*initial || bad_count) {
                co_await finish_sasl2(sasl_step{sasl_step::kind::failure, {}, "malformed-request", {}, {}});
                co_return;
            }
            login.cb_data = *cb;
            auto step = co_await sasl_->fast(mechanism, std::move(**initial), std::move(login));
            co_await finish_sasl2(std::move(step));
            co_return;
        }
        auto step = co_await sasl_->start(mechanism, ctx_.cfg.sasl.allow_plain, std::move(*initial));
        co_await finish_sasl2(std::move(step));
        co_return;
    }
    if (name == "response") {
        if (!sasl2_ || !sasl_->in_progress()) {
            send(sasl2_failure("malformed-request"));
            co_return;
        }
        auto response = payload_of(s.element());
        if (!response || !*response) {
            sasl_->reset();
            co_await sasl_failed("incorrect-encoding", sasl2_failure("incorrect-encoding"));
            co_return;
        }
        auto step = co_await sasl_->respond(std::move(**response));
        co_await finish_sasl2(std::move(step));
        co_return;
    }
    begin_close(stream_error{"unsupported-stanza-type", "unexpected SASL2 element"});
}

asio::awaitable<void> c2s_session::finish_sasl2(sasl_step step) {
    if (step.type == sasl_step::kind::challenge) {
        send("<challenge xmlns='urn:xmpp:sasl:2'>" + sasl::base64_encode(step.payload) + "</challenge>");
        co_return;
    }
    auto who = step.type == sasl_step::kind::success ? jid::from_parts(step.username, domain_) : std::nullopt;
    if (!who) {
        const std::string condition = step.type == sasl_step::kind::success ? "not-authorized" : step.condition;
        sasl2_.reset();
        co_await sasl_failed(condition, sasl2_failure(condition));
        co_return;
    }
    ctx_.throttle.record_success(peer_address_);
    const sasl2_request request = std::move(*sasl2_);
    sasl2_.reset();
    sasl_.reset();
    jid_ = *who;
    phase_ = phase::authenticated;
    spdlog::info("c2s {}: authenticated as {} (SASL2)", peer_address_, jid_.bare_string());
    const std::string additional =
        step.payload.empty() ? std::string()
                             : "<additional-data>" + sasl::base64_encode(step.payload) + "</additional-data>";
    const std::string token = co_await fast_token_for(request, step);
    auto success = [&](const std::string& identifier, const std::string& inner) {
        return "<success xmlns='urn:xmpp:sasl:2'>" + additional + "<authorization-identifier>" +
               xml_escape(identifier) + "</authorization-identifier>" + token + inner + "</success>";
    };
    std::string resume_failure;
    if (request.resume) {
        // Inline resumption: <resumed/> inside the success, then what the client had not acknowledged.
        resume_failure = co_await resume_session(request.previd, request.h, [&](const std::string& resumed) {
            send(success(jid_.full_string(), resumed));
        });
        if (resume_failure.empty()) {
            co_return;
        }
    }
    if (!request.bind) {
        // Authenticated only: no restart; the client binds as after RFC 6120 SASL (a failed resumption says why).
        send(success(jid_.bare_string(), resume_failure));
        send_features();
        co_return;
    }
    bind_resource(resource_from(request.tag));
    std::string bound = "<bound xmlns='urn:xmpp:bind:0'>";
    if (request.carbons) {
        ctx_.registry.set_carbons(jid_, true);
    }
    if (request.sm_enable) {
        bound += enable_sm(request.sm_resume, request.sm_max);
    }
    bound += "</bound>";
    send(success(jid_.full_string(), resume_failure + bound));
}

asio::awaitable<std::string> c2s_session::fast_token_for(const sasl2_request& request, const sasl_step& step) {
    if (!ctx_.cfg.sasl.fast || request.agent_id.empty()) {
        co_return std::string();
    }
    // A token past half its own life is replaced while the client still has a working one — unless the login
    // ended the client's tokens (invalidate, done in the login's own storage job), which only a request renews.
    const bool aging = step.fast_token_aging.value_or(false) && !request.invalidate;
    if (request.token_request.empty() && !aging) {
        co_return std::string();
    }
    const std::int64_t lifetime = ctx_.cfg.sasl.fast_token_lifetime;
    const std::string mechanism = request.token_request.empty() ? request.mechanism : request.token_request;
    auto issued = co_await issue_fast_token(
        ctx_.store, fast_token_request{domain_, jid_.node(), ctx_.server_secret, request.agent_id, mechanism, lifetime,
                                       ctx_.cfg.sasl.fast_max_clients});
    if (!issued) {
        co_return std::string();
    }
    spdlog::info("c2s {}: FAST token issued to {} for client {}", peer_address_, jid_.bare_string(), request.agent_id);
    co_return "<token xmlns='urn:xmpp:fast:0' expiry='" + xep0082_stamp(issued->expires_at) + "' token='" +
        xml_escape(issued->token) + "'/>";
}

}  // namespace hush
