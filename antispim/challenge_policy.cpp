// The "challenge" policy for the chain: names the verdict for a stranger's stanza from the state read with the
// relation, and returns the effect that decides again, holds the stanza and answers the sender.
#include "antispim/stranger_service.hpp"

#include <spdlog/spdlog.h>

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

// ---- the policy ---------------------------------------------------------------------------------------------------

namespace {

class effect_fn final : public as::verdict_effect {
public:
    using fn = std::function<asio::awaitable<void>(const stanza&, outgoing&)>;
    explicit effect_fn(fn f) : f_(std::move(f)) {}
    asio::awaitable<void> apply(const stanza& s, outgoing& out) override { co_await f_(s, out); }

private:
    fn f_;
};

as::verdict make(as::verdict_kind kind, std::string reason, effect_fn::fn effect = {}) {
    as::verdict v;
    v.kind = kind;
    v.reason = std::move(reason);
    if (effect) {
        v.effect = std::make_shared<effect_fn>(std::move(effect));
    }
    return v;
}

// Keeps a stranger's stanza (one atomic storage operation) and answers its sender: the challenge when
// `offer_challenge`, else nothing (the content policy's hold band: only the receiver can release it).
effect_fn::fn hold_effect(antispim_service* svc, jid receiver, jid sender, as::challenge_settings settings,
                          bool exists, bool online, as::contact_note* note, bool offer_challenge) {
    return [svc, receiver, sender, sender_bare = sender.bare_string(), settings, exists, online, note,
            offer_challenge](const stanza& held, outgoing& out) -> asio::awaitable<void> {
        using kind = as::stranger_outcome::kind;
        // What the content policy holds is marked, so that passing a challenge does not release it (nor anything else
        // the sender has held here).
        stanza quarantined;
        if (!offer_challenge) {
            quarantined = stanza::parse(held.serialize());
            quarantined.element().append_child("quarantined").append_attribute("xmlns").set_value(
                std::string(as::ns).c_str());
        }
        auto step = co_await svc->record_stranger_stanza(receiver, sender_bare, settings, exists,
                                                         offer_challenge ? &held : &quarantined, online, note);
        if (!step) {
            spdlog::error("antispim: cannot hold a stanza from {} for {}: {}", sender_bare,
                          receiver.bare_string(), step.error());
            out.route(make_error_reply(held, "internal-server-error", error_type::wait,
                                                       "try again later"));
            co_return;
        }
        if (step->sender_full) {
            out.route(make_error_reply(
                held, "resource-constraint", error_type::wait,
                as::waiting_sentence(svc->texts(stanza_lang(held)).texts, svc->speaker_for(receiver))));
            co_return;
        }
        for (const auto& evicted : step->evicted) {
            svc->send_eviction_notice(evicted, out);
        }
        if (step->notify_requests > 0 && !step->notice_offline) {
            svc->send_request_notice(receiver, step->notify_requests, out);
        }
        switch (step->outcome.what) {
        case kind::challenge:
            if (offer_challenge) {
                svc->send_challenge(receiver, sender, settings, step->state, as::challenge_feedback::none,
                                    stanza_lang(held), out);
            }
            break;
        case kind::locked_out:  // a parallel stanza used the last try first
            svc->send_lockout(held, step->outcome.until, out);
            break;
        case kind::blocked:
            out.route(make_error_reply(held, "service-unavailable"));
            break;
        case kind::resend:
            break;
        }
    };
}

class challenge_policy final : public as::policy {
public:
    explicit challenge_policy(antispim_service& service) : service_(service) {}
    std::string_view name() const override { return "challenge"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        if (!ctx.stranger) {
            co_return result(as::verdict::pass());
        }
        const stanza& s = ctx.stanza;
        const std::string_view type = s.type();
        // What a stranger can reach a user by: messages, invites, directed presence, iq requests.
        if (as::path_of(s) == as::stranger_path::none) {
            co_return result(as::verdict::pass());
        }
        const jid receiver = ctx.receiver.bare();
        const jid sender = ctx.sender;
        const std::string sender_bare = sender.bare_string();
        // The router read this with the stranger status, in the same storage operation.
        std::shared_ptr<const as::receiver_record> record = ctx.record;
        if (!record) {
            auto loaded = co_await service_.load_record(receiver, sender_bare);
            if (!loaded) {
                co_return hush::unexpected<as::policy_failure>(as::policy_failure{loaded.error()});
            }
            record = std::make_shared<const as::receiver_record>(std::move(*loaded));
        }
        auto settings = record->settings;
        // A sender listed by a source trusted for "challenge" only, or whose combined score asks for it, is asked
        // whatever the user chose.
        if ((ctx.must_challenge || service_.listed_for_challenge(ctx)) && (!settings.enabled || settings.strangers == as::stranger_mode::allow)) {
            settings.enabled = true;
            settings.strangers = as::stranger_mode::challenge;
        }
        if (!settings.enabled || settings.strangers == as::stranger_mode::allow) {
            co_return result(as::verdict::pass());
        }
        if (settings.strangers == as::stranger_mode::drop) {
            co_return result(make(as::verdict_kind::drop, "stranger-dropped"));
        }
        // Step s: a stanza carrying the receiver's secret for this sender passes.
        if (auto secret = s.child("secret", as::ns);
            secret && as::secret_matches(record->key, sender_bare, secret.child_value())) {
            co_return result(as::verdict::pass());
        }
        const auto& state = record->state;
        auto* svc = &service_;
        if (ctx.kind == stanza_kind::message && !state.blocked &&
            as::challenge_engine::looks_like_answer(state, s.element().child_value("body"))) {
            co_return result(make(as::verdict_kind::drop, "challenge-answer",
                                  [svc, receiver, sender, peer = ctx.peer_address](const stanza& answer,
                                                                                   outgoing& out) -> asio::awaitable<void> {
                                      co_await svc->answer(receiver, sender, answer.element().child_value("body"),
                                                           answer, out, peer);
                                  }));
        }
        if (ctx.kind == stanza_kind::iq || (ctx.kind == stanza_kind::presence && type.empty())) {
            // Nothing to hold that could wait for a human: an iq from a stranger gets what a missing resource
            // would, directed presence is dropped. The stranger's message or invite is what gets challenged.
            if (ctx.kind == stanza_kind::iq) {
                as::verdict v = make(as::verdict_kind::reject, "stranger-iq");
                v.error_condition = "service-unavailable";
                co_return result(std::move(v));
            }
            co_return result(make(as::verdict_kind::drop, "stranger-presence"));
        }
        // A preview on a copy names the verdict; the effect decides again on the stored state and records it in one
        // atomic storage operation (never in dry-run, where effects do not run).
        as::sender_state preview = state;
        const auto outcome =
            service_.with_engine([&](as::challenge_engine& e) { return e.on_stanza(preview, settings, as::clock_type::now()); });
        const bool exists = record->account_exists;
        const bool online = ctx.receiver_online;
        // The effect runs within the routing of the stanza, while the note lives (see spim_context::sender_note).
        as::contact_note* const note = ctx.sender_note;
        using kind = as::stranger_outcome::kind;
        switch (outcome.what) {
        case kind::blocked: {
            as::verdict v = make(as::verdict_kind::reject, "stranger-blocked");
            v.error_condition = "service-unavailable";
            co_return result(std::move(v));
        }
        case kind::locked_out: {
            as::verdict v = make(as::verdict_kind::defer, "stranger-locked-out",
                                 [svc, receiver, sender_bare, settings, exists, note](const stanza&, outgoing&) -> asio::awaitable<void> {
                                     // The lockout starts over (seed step k); the router sends the error.
                                     auto step = co_await svc->record_stranger_stanza(receiver, sender_bare, settings,
                                                                                      exists, nullptr, true, note);
                                     if (!step) {
                                         spdlog::error("antispim: cannot record a lockout of {} for {}: {}",
                                                       sender_bare, receiver.bare_string(), step.error());
                                     }
                                 });
            v.error_condition = "policy-violation";
            v.error_text = service_.lockout_text(receiver, outcome.until, stanza_lang(s));
            v.error_payload = as::retry_after_payload(outcome.until);
            co_return result(std::move(v));
        }
        case kind::challenge:
        case kind::resend:
            co_return result(make(as::verdict_kind::hold,
                                  outcome.what == kind::challenge ? "stranger-challenged" : "stranger-held",
                                  hold_effect(svc, receiver, sender, settings, exists, online, note, true)));
        }
        co_return result(as::verdict::pass());
    }

private:
    antispim_service& service_;
};

}  // namespace

asio::awaitable<hush::expected<as::verdict, as::policy_failure>> antispim_service::hold_quietly(
    const as::spim_context& ctx) {
    using result = hush::expected<as::verdict, as::policy_failure>;
    const jid receiver = ctx.receiver.bare();
    std::shared_ptr<const as::receiver_record> record = ctx.record;
    if (!record) {
        auto loaded = co_await load_record(receiver, ctx.sender.bare_string());
        if (!loaded) {
            co_return hush::unexpected<as::policy_failure>(as::policy_failure{loaded.error()});
        }
        record = std::make_shared<const as::receiver_record>(std::move(*loaded));
    }
    // Held like a challenged stranger's stanza (the same caps, expiry and message requests), whatever the receiver
    // lets through; a missing account's the same way, in memory.
    auto settings = record->settings;
    settings.enabled = true;
    settings.strangers = as::stranger_mode::challenge;
    co_return result(make(as::verdict_kind::hold, "content-hold",
                          hold_effect(this, receiver, ctx.sender, settings, record->account_exists,
                                      ctx.receiver_online, ctx.sender_note, false)));
}

std::unique_ptr<as::policy> antispim_service::make_challenge_policy() {
    return std::make_unique<challenge_policy>(*this);
}

}  // namespace hush
