#include "server/antispim_service.hpp"

#include "server/antispim_documents.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <random>
#include <sstream>

#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "protocol/subscription.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
namespace docs = antispim_documents;

namespace {

constexpr std::string_view privacy_ns = "jabber:iq:privacy";



std::uint64_t random_seed() {
    std::uint64_t seed = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
    return seed;
}

std::int64_t unix_seconds(as::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

stanza message_to(const jid& from, const jid& to, const std::string& id) {
    stanza m = stanza::make("message");
    m.set_attribute("from", from.bare_string());
    m.set_attribute("to", to.full_string());
    m.set_attribute("type", "normal");
    m.set_attribute("id", id);
    return m;
}

void append_text(pugi::xml_node parent, const char* name, const std::string& text) {
    parent.append_child(name).append_child(pugi::node_pcdata).set_value(text.c_str());
}

}  // namespace

std::string lockout_text(as::time_point until) {
    return "you are locked out after too many wrong answers; try again after " + as::format_utc(until) +
           " (any message before then starts the wait over)";
}

std::string retry_after_payload(as::time_point until) {
    return "<retry-after xmlns='" + std::string(as::ns) + "' until='" + as::format_utc(until) + "'/>";
}

antispim_service::antispim_service(const config& cfg, storage::async_store& store,
                                   std::function<bool(std::string_view)> is_local)
    : cfg_(cfg), store_(store), is_local_(std::move(is_local)), engine_(random_seed()) {
    phantom_key_ = sasl::random_hex(32);
    phantom_key_id_ = phantom_key_.substr(0, 12);  // same length as a real key id
}

std::vector<std::string> antispim_service::account_features() { return {std::string(as::ns), std::string(as::captcha_ns)}; }

// ---- storage ------------------------------------------------------------------------------------------------------

asio::awaitable<hush::expected<antispim_service::receiver_view, std::string>> antispim_service::receiver(
    const jid& r) {
    using result = hush::expected<receiver_view, std::string>;
    auto load = [d = r.domain(), u = r.node(), defaults = cfg_.antispim.challenge](storage::store& s)
        -> storage::result<receiver_view> {
        auto settings = docs::get_settings(s, d, u);
        if (!settings) {
            return hush::unexpected<storage::error>(settings.error());
        }
        auto key = docs::get_key(s, d, u);
        if (!key) {
            return hush::unexpected<storage::error>(key.error());
        }
        return receiver_view{settings->value_or(defaults), key->key, key->id};
    };
    auto loaded = co_await store_.run(std::move(load));
    if (!loaded) {
        co_return hush::unexpected<std::string>(loaded.error().message);
    }
    co_return result(std::move(*loaded));
}

asio::awaitable<hush::expected<as::sender_state, std::string>> antispim_service::sender_state_of(
    const jid& r, const std::string& sender_bare) {
    auto load = [d = r.domain(), u = r.node(), sender_bare](storage::store& s) {
        return docs::get_state(s, d, u, sender_bare);
    };
    auto found = co_await store_.run(std::move(load));
    if (!found) {
        co_return hush::unexpected<std::string>(found.error().message);
    }
    co_return std::move(*found);
}

asio::awaitable<void> antispim_service::save_state(const jid& r, const std::string& sender_bare,
                                                   const as::sender_state& state) {
    auto store_it = [d = r.domain(), u = r.node(), sender_bare, state](storage::store& s) {
        return docs::put_state(s, d, u, sender_bare, state);
    };
    if (auto stored = co_await store_.run(std::move(store_it)); !stored) {
        spdlog::error("antispim: cannot save the state of {} for {}: {}", sender_bare, r.bare_string(),
                      stored.error().message);
    }
}

std::int64_t antispim_service::held_expiry_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(cfg_.antispim.held_expiry).count();
}

asio::awaitable<bool> antispim_service::hold(const jid& r, const std::string& sender_bare, const stanza& s) {
    auto update = [d = r.domain(), u = r.node(), sender_bare, xml = s.serialize(),
                   now = unix_seconds(as::clock_type::now()), expiry = held_expiry_seconds(),
                   max_held = cfg_.antispim.max_held_per_sender](storage::store& st) {
        return docs::add_held(st, d, u, sender_bare, xml, now, expiry, max_held);
    };
    auto held = co_await store_.run(std::move(update));
    if (!held) {
        spdlog::error("antispim: cannot hold a stanza from {} for {}: {}", sender_bare, r.bare_string(),
                      held.error().message);
        co_return false;
    }
    co_return *held;
}

// ---- strangers ----------------------------------------------------------------------------------------------------

asio::awaitable<bool> antispim_service::is_stranger(const jid& r, const jid& sender) {
    if (sender.equals_bare(r)) {
        co_return false;
    }
    if (is_local_(sender.domain()) && (!sender.has_node() || cfg_.antispim.trust_local_users)) {
        co_return false;  // the user's own server, and (by default) the accounts on it
    }
    const std::string sender_bare = sender.bare_string();
    auto lookup = [d = r.domain(), u = r.node(), sender_bare](storage::store& s) -> storage::result<bool> {
        auto item = s.get_roster_item(d, u, sender_bare);
        if (!item) {
            return hush::unexpected<storage::error>(item.error());
        }
        if (*item && ((*item)->sub != storage::subscription::none || (*item)->pending_out || (*item)->approved)) {
            return false;  // subscribed either way, asked by the user, or pre-approved
        }
        auto contacted = s.get_document(d, u, docs::contact_key(sender_bare));
        if (!contacted) {
            return hush::unexpected<storage::error>(contacted.error());
        }
        return !contacted->has_value();
    };
    auto stranger = co_await store_.run(std::move(lookup));
    if (!stranger) {
        spdlog::error("antispim: cannot tell whether {} is a stranger to {}: {}", sender_bare, r.bare_string(),
                      stranger.error().message);
        co_return true;  // the chain decides what a stranger gets; failing open would let spam through
    }
    if (!*stranger) {
        co_return false;
    }
    // Approved through the challenge, under the current key?
    auto view = co_await receiver(r);
    auto state = co_await sender_state_of(r, sender_bare);
    co_return !(view && state && !state->approved_key.empty() && state->approved_key == view->key_id);
}

asio::awaitable<void> antispim_service::outbound(const stanza& s, const jid& from, const jid& to) {
    // Writing to someone first (a message with a body, asking for or granting a subscription, directed presence —
    // joining a group chat — or an iq request — registering with a transport) makes them a contact. Receipts and
    // chat states do not. Services (domain JIDs) count too; this server's own domains need no note.
    const bool first_contact =
        (s.kind() == stanza_kind::message && s.type() != "error" && s.type() != "groupchat" &&
         s.element().child("body")) ||
        (s.kind() == stanza_kind::presence &&
         (s.type() == "subscribe" || s.type() == "subscribed" || s.type().empty())) ||
        (s.kind() == stanza_kind::iq && (s.type() == "get" || s.type() == "set"));
    if (!first_contact || from.equals_bare(to) || (!to.has_node() && is_local_(to.domain()))) {
        co_return;
    }
    const std::string pair = from.bare_string() + " " + to.bare_string();
    {
        // Most outbound stanzas go to known contacts: remember recent notes instead of asking storage each time.
        std::lock_guard lock(engine_mutex_);
        if (noted_.contains(pair)) {
            co_return;
        }
    }
    auto note = [d = from.domain(), u = from.node(), k = docs::contact_key(to.bare_string())](storage::store& st)
        -> storage::result<void> {
        auto found = st.get_document(d, u, k);
        if (!found) {
            return hush::unexpected<storage::error>(found.error());
        }
        if (*found) {
            return {};
        }
        return st.put_document(d, u, k, "<contact/>");
    };
    if (auto noted = co_await store_.run(std::move(note)); !noted) {
        spdlog::error("antispim: cannot note that {} wrote to {}: {}", from.bare_string(), to.bare_string(),
                      noted.error().message);
        co_return;
    }
    std::lock_guard lock(engine_mutex_);
    if (noted_.size() >= 100000) {
        noted_.clear();  // bounded; forgetting only costs one storage read later
    }
    noted_.insert(pair);
}

asio::awaitable<bool> antispim_service::missing_account(const stanza& s, const jid& from, const jid& to,
                                                       bool chain_enforces_challenge) {
    const auto& settings = cfg_.antispim.challenge;
    if (!chain_enforces_challenge || !settings.enabled || settings.strangers != as::stranger_mode::challenge) {
        co_return false;
    }
    if (is_local_(from.domain()) && (!from.has_node() || cfg_.antispim.trust_local_users)) {
        co_return false;  // no stranger: local users may learn who exists here, as with any server
    }
    if (!as::is_first_contact(as::path_of(s))) {
        co_return false;
    }
    const jid receiver = to.bare();
    const std::string sender_bare = from.bare_string();
    const auto now = as::clock_type::now();
    std::optional<as::sender_state> challenge;
    std::optional<as::answer_outcome> answered;
    bool locked = false;
    as::time_point until{};
    {
        std::lock_guard lock(engine_mutex_);
        if (phantoms_.size() > 10000) {
            phantoms_.clear();  // bounded; a cleared entry only means a fresh challenge
        }
        auto& state = phantoms_[{receiver.bare_string(), sender_bare}];
        if (!state.approved_key.empty()) {
            co_return false;  // passed: now it may learn there is nobody here
        }
        const std::string body = s.element().child_value("body");
        if (s.kind() == stanza_kind::message && as::challenge_engine::looks_like_answer(state, body)) {
            answered = engine_.on_answer(state, settings, now, body, phantom_key_id_);
            if (answered->what == as::answer_outcome::kind::wrong || answered->what == as::answer_outcome::kind::too_fast) {
                challenge = state;
            }
        } else {
            const auto outcome = engine_.on_stanza(state, settings, now);
            if (outcome.what == as::stranger_outcome::kind::challenge) {
                challenge = state;
            }
            locked = outcome.what == as::stranger_outcome::kind::locked_out;
            until = outcome.until;
        }
    }
    receiver_view view{settings, phantom_key_, phantom_key_id_};
    if (challenge) {
        co_await send_challenge(receiver, from, view, *challenge);
    } else if (answered && answered->what == as::answer_outcome::kind::pass) {
        co_await send_approval(receiver, from, view);
    } else if (locked || (answered && answered->what == as::answer_outcome::kind::locked_out)) {
        const auto lockout_end = answered ? answered->until : until;
        stanza error = make_error_reply(s, "policy-violation", error_type::wait, lockout_text(lockout_end));
        pugi::xml_document extra;
        extra.load_string(retry_after_payload(lockout_end).c_str());
        error.element().child("error").append_copy(extra.first_child());
        co_await sink_->send_unfiltered(std::move(error));
    }
    co_return true;
}

// ---- advice for the receiver -------------------------------------------------------------------------------------

asio::awaitable<void> antispim_service::advise(const jid& r, const std::string& text) {
    stanza m = stanza::make("message");
    m.set_attribute("from", r.domain());
    m.set_attribute("to", r.bare_string());
    m.set_attribute("type", "normal");
    m.set_attribute("id", "antispim-advice-" + std::to_string(unix_seconds(as::clock_type::now())));
    append_text(m.element(), "subject", "About your anti-spam question");
    append_text(m.element(), "body", text);
    m.element().append_child("advice").append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::advise_if_passed(const jid& r, const std::string& sender_bare) {
    auto view = co_await receiver(r);
    auto state = co_await sender_state_of(r, sender_bare);
    if (view && state && !state->approved_key.empty() && state->approved_key == view->key_id) {
        spdlog::info("antispim: {} blocked {}, who had passed the challenge: advising a harder question",
                     r.bare_string(), sender_bare);
        co_await advise(r, sender_bare + " answered your anti-spam question and you have now blocked them: your "
                                         "question was probably too easy. Try a harder one, add more wrong answers or "
                                         "a longer wait; changing the question also revokes everyone it let in.");
    }
}

asio::awaitable<void> antispim_service::count_lockout(const jid& r) {
    // Lockouts per receiver and UTC day, in one small document; at the threshold the receiver hears of it once.
    const auto day = unix_seconds(as::clock_type::now()) / 86400;
    auto bump = [d = r.domain(), u = r.node(), day](storage::store& st) -> storage::result<long long> {
        auto found = st.get_document(d, u, "antispim:lockouts");
        if (!found) {
            return hush::unexpected<storage::error>(found.error());
        }
        long long count = 0;
        if (*found) {
            pugi::xml_document doc;
            doc.load_string((*found)->c_str());
            if (doc.child("lockouts").attribute("day").as_llong() == day) {
                count = doc.child("lockouts").attribute("count").as_llong();
            }
        }
        ++count;
        const std::string xml =
            "<lockouts day='" + std::to_string(day) + "' count='" + std::to_string(count) + "'/>";
        if (auto stored = st.put_document(d, u, "antispim:lockouts", xml); !stored) {
            return hush::unexpected<storage::error>(stored.error());
        }
        return count;
    };
    auto count = co_await store_.run(std::move(bump));
    if (count && *count == static_cast<long long>(advice_lockouts_per_day)) {
        co_await advise(r, std::to_string(*count) + " strangers were locked out by your anti-spam question today. "
                           "Bots, most likely — but if you expect new contacts, make sure people can answer it; "
                           "held messages are listed with the message requests command.");
    }
}

// ---- talking to the sender ----------------------------------------------------------------------------------------

asio::awaitable<void> antispim_service::send_challenge(const jid& r, const jid& sender, const receiver_view& view,
                                                       const as::sender_state& state) {
    stanza m = message_to(r, sender, state.challenge_id);
    append_text(m.element(), "body", as::challenge_text(r.bare_string(), view.settings, state));
    as::append_captcha_form(m.element(), r.bare_string(), view.settings, state);
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::release(const jid& r, const jid& sender, const receiver_view& view) {
    co_await send_approval(r, sender, view);
    co_await deliver_held(r, sender.bare_string());
}

asio::awaitable<void> antispim_service::send_approval(const jid& r, const jid& sender, const receiver_view& view) {
    const std::string secret = as::sender_secret(view.key, sender.bare_string());
    stanza m = message_to(r, sender, "approved-" + view.key_id);
    append_text(m.element(), "body",
                "Thank you: your messages now reach " + r.bare_string() +
                    ". What you sent before is delivered too. Your client may add this secret to later messages: " +
                    secret);
    auto secret_element = m.element().append_child("secret");
    secret_element.append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    secret_element.append_child(pugi::node_pcdata).set_value(secret.c_str());
    m.element().append_child("approved").append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<std::size_t> antispim_service::deliver_held(const jid& r, const std::string& sender_bare) {
    auto take = [d = r.domain(), u = r.node(), sender_bare, now = unix_seconds(as::clock_type::now()),
                 expiry = held_expiry_seconds()](storage::store& st) {
        return docs::take_held(st, d, u, sender_bare, now, expiry);
    };
    auto held = co_await store_.run(std::move(take));
    if (!held) {
        spdlog::error("antispim: cannot release the stanzas of {} for {}: {}", sender_bare, r.bare_string(),
                      held.error().message);
        co_return 0;
    }
    std::size_t count = 0;
    for (const auto& item : *held) {
        stanza original = stanza::parse(item.xml);
        if (!original.valid()) {
            continue;
        }
        if (original.kind() == stanza_kind::message) {
            // XEP-0203: when it really arrived.
            auto delay = original.element().append_child("delay");
            delay.append_attribute("xmlns").set_value(ns::delay.data());
            delay.append_attribute("from").set_value(r.domain().c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp(item.at).c_str());
            delay.append_child(pugi::node_pcdata).set_value("Held until the sender was approved");
        }
        co_await sink_->send_unfiltered(std::move(original));
        ++count;
    }
    spdlog::info("antispim: {} approved by {}; {} held stanza(s) delivered", sender_bare, r.bare_string(), count);
    co_return count;
}

asio::awaitable<as::answer_outcome> antispim_service::answer(const jid& r, const jid& sender, std::string_view text,
                                                             const stanza& reply_to) {
    const std::string sender_bare = sender.bare_string();
    auto view = co_await receiver(r);
    auto state = co_await sender_state_of(r, sender_bare);
    if (!view || !state) {
        spdlog::error("antispim: cannot judge an answer of {} to {}", sender_bare, r.bare_string());
        co_return as::answer_outcome{};
    }
    const auto now = as::clock_type::now();
    const auto outcome =
        with_engine([&](as::challenge_engine& e) { return e.on_answer(*state, view->settings, now, text, view->key_id); });
    co_await save_state(r, sender_bare, *state);
    using kind = as::answer_outcome::kind;
    spdlog::info("antispim: challenge answer from {} to {}: {}", sender_bare, r.bare_string(),
                 outcome.what == kind::pass       ? "pass"
                 : outcome.what == kind::wrong    ? "wrong"
                 : outcome.what == kind::too_fast ? "too fast"
                 : outcome.what == kind::blocked  ? "blocked"
                 : outcome.what == kind::locked_out ? "locked out"
                                                    : "no challenge");
    switch (outcome.what) {
    case kind::pass:
        co_await release(r, sender, *view);
        break;
    case kind::wrong:
    case kind::too_fast:
        co_await send_challenge(r, sender, *view, *state);
        break;
    case kind::locked_out: {
        co_await count_lockout(r);
        if (reply_to.kind() == stanza_kind::message) {
            stanza error = make_error_reply(reply_to, "policy-violation", error_type::wait, lockout_text(outcome.until));
            pugi::xml_document extra;
            extra.load_string(retry_after_payload(outcome.until).c_str());
            error.element().child("error").append_copy(extra.first_child());
            co_await sink_->send(std::move(error));
        }
        break;
    }
    case kind::blocked:
        spdlog::warn("antispim: {} is now blocked for {} after {} lockouts", sender_bare, r.bare_string(),
                     view->settings.steps);
        if (consensus_ != nullptr && cfg_.antispim.consensus.count_lockouts) {
            co_await consensus_->vote(r, sender.bare(), "lockout");
        }
        break;
    case kind::no_challenge:
        break;
    }
    co_return outcome;
}

// ---- the policy ---------------------------------------------------------------------------------------------------

namespace {

class effect_fn final : public as::verdict_effect {
public:
    using fn = std::function<asio::awaitable<void>(const stanza&)>;
    explicit effect_fn(fn f) : f_(std::move(f)) {}
    asio::awaitable<void> apply(const stanza& s) override { co_await f_(s); }

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
        auto view = co_await service_.receiver(receiver);
        if (!view) {
            co_return hush::unexpected<as::policy_failure>(as::policy_failure{view.error()});
        }
        auto settings = view->settings;
        // A sender listed by a source trusted for "challenge" only is asked whatever the user chose.
        if (service_.listed_for_challenge(ctx) && (!settings.enabled || settings.strangers == as::stranger_mode::allow)) {
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
            secret && as::secret_matches(view->key, sender_bare, secret.child_value())) {
            co_return result(as::verdict::pass());
        }
        auto state = co_await service_.sender_state_of(receiver, sender_bare);
        if (!state) {
            co_return hush::unexpected<as::policy_failure>(as::policy_failure{state.error()});
        }
        if (ctx.kind == stanza_kind::message && !state->blocked && as::challenge_engine::looks_like_answer(
                                                                        *state, s.element().child_value("body"))) {
            auto* svc = &service_;
            co_return result(make(as::verdict_kind::drop, "challenge-answer",
                                  [svc, receiver, sender](const stanza& answer) -> asio::awaitable<void> {
                                      co_await svc->answer(receiver, sender, answer.element().child_value("body"),
                                                           answer);
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
        // Decide on a copy; the effect stores what was decided (never in dry-run).
        as::sender_state next = *state;
        const auto now = as::clock_type::now();
        const auto outcome = service_.with_engine(
            [&](as::challenge_engine& e) { return e.on_stanza(next, settings, now); });
        auto* svc = &service_;
        const receiver_view_ptr shared_view = std::make_shared<antispim_service::receiver_view>(*view);
        using kind = as::stranger_outcome::kind;
        switch (outcome.what) {
        case kind::blocked: {
            as::verdict v = make(as::verdict_kind::reject, "stranger-blocked");
            v.error_condition = "service-unavailable";
            co_return result(std::move(v));
        }
        case kind::locked_out: {
            as::verdict v = make(as::verdict_kind::defer, "stranger-locked-out",
                                 [svc, receiver, sender_bare, next](const stanza&) -> asio::awaitable<void> {
                                     co_await svc->save_state(receiver, sender_bare, next);
                                 });
            v.error_condition = "policy-violation";
            v.error_text = lockout_text(outcome.until);
            v.error_payload = retry_after_payload(outcome.until);
            co_return result(std::move(v));
        }
        case kind::challenge:
        case kind::resend: {
            const bool send_new = outcome.what == kind::challenge;
            co_return result(make(
                as::verdict_kind::hold, send_new ? "stranger-challenged" : "stranger-held",
                [svc, receiver, sender, sender_bare, next, shared_view, send_new](const stanza& held) -> asio::awaitable<void> {
                    if (!co_await svc->hold(receiver, sender_bare, held)) {
                        stanza error = make_error_reply(held, "resource-constraint", error_type::wait,
                                                        "too many messages waiting for your answer to the challenge");
                        co_await svc->sink().send(std::move(error));
                        co_return;
                    }
                    co_await svc->save_state(receiver, sender_bare, next);
                    if (send_new) {
                        co_await svc->send_challenge(receiver, sender, *shared_view, next);
                    }
                }));
        }
        }
        co_return result(as::verdict::pass());
    }

private:
    using receiver_view_ptr = std::shared_ptr<antispim_service::receiver_view>;
    antispim_service& service_;
};

}  // namespace

std::unique_ptr<as::policy> antispim_service::make_challenge_policy() {
    return std::make_unique<challenge_policy>(*this);
}

// ---- settings and message requests (the privacy query, ad-hoc commands) ---------------------------------------

asio::awaitable<bool> antispim_service::set_settings(const jid& user, const as::challenge_settings& settings) {
    auto old = co_await receiver(user);
    // A new question or new answers: a new key, so old secrets and approvals stop working (the seed's advice
    // against a question that leaked).
    const bool rotate = !old || old->settings.question != settings.question ||
                        old->settings.good_answers != settings.good_answers ||
                        old->settings.wrong_answers != settings.wrong_answers;
    auto save = [d = user.domain(), u = user.node(), settings, rotate](storage::store& s) -> storage::result<void> {
        if (auto stored = docs::put_settings(s, d, u, settings); !stored) {
            return stored;
        }
        return rotate ? docs::rotate_key(s, d, u) : storage::result<void>{};
    };
    if (auto saved = co_await store_.run(std::move(save)); !saved) {
        spdlog::error("antispim: cannot save the settings of {}: {}", user.bare_string(), saved.error().message);
        co_return false;
    }
    spdlog::info("antispim: {} changed the challenge settings{}", user.bare_string(),
                 rotate ? " (new question: new key, old secrets and approvals revoked)" : "");
    co_return true;
}

asio::awaitable<hush::expected<std::vector<antispim_documents::message_request>, std::string>>
antispim_service::message_requests(const jid& user) {
    auto list = [d = user.domain(), u = user.node(), now = unix_seconds(as::clock_type::now()),
                 expiry = held_expiry_seconds()](storage::store& s) { return docs::list_requests(s, d, u, now, expiry); };
    auto found = co_await store_.run(std::move(list));
    if (!found) {
        co_return hush::unexpected<std::string>(found.error().message);
    }
    co_return std::move(*found);
}

asio::awaitable<hush::expected<std::size_t, std::string>> antispim_service::resolve_request(
    const jid& user, const std::string& sender_bare, request_action action) {
    if (action == request_action::release) {
        auto approve = [d = user.domain(), u = user.node(), sender_bare](storage::store& s) {
            return docs::approve(s, d, u, sender_bare);
        };
        if (auto approved = co_await store_.run(std::move(approve)); !approved) {
            co_return hush::unexpected<std::string>(approved.error().message);
        }
        co_return co_await deliver_held(user, sender_bare);
    }
    auto take = [d = user.domain(), u = user.node(), sender_bare, now = unix_seconds(as::clock_type::now()),
                 expiry = held_expiry_seconds(), block = action == request_action::report](storage::store& s)
        -> storage::result<std::size_t> {
        auto held = docs::take_held(s, d, u, sender_bare, now, expiry);
        if (!held) {
            return hush::unexpected<storage::error>(held.error());
        }
        if (block) {
            as::sender_state blocked;
            blocked.blocked = true;
            if (auto stored = docs::put_state(s, d, u, sender_bare, blocked); !stored) {
                return hush::unexpected<storage::error>(stored.error());
            }
        }
        return held->size();
    };
    auto taken = co_await store_.run(std::move(take));
    if (!taken) {
        co_return hush::unexpected<std::string>(taken.error().message);
    }
    spdlog::info("antispim: {} {} the message request of {} ({} held stanza(s) discarded)", user.bare_string(),
                 action == request_action::report ? "reported" : "rejected", sender_bare, *taken);
    if (action == request_action::report && consensus_ != nullptr) {
        if (auto reported = jid::parse(sender_bare)) {
            spam_report_payload report;
            report.reason = std::string(reporting_spam);
            report.texts.push_back({"en", "reported from the message requests (" + std::to_string(*taken) +
                                              " held stanza(s))"});
            co_await consensus_->report(user, *reported, report);
        }
    }
    co_return *taken;
}

// ---- iq: settings and form answers --------------------------------------------------------------------------------

asio::awaitable<std::optional<stanza>> antispim_service::handle_iq(const stanza& iq, const jid& addressed) {
    if (!addressed.has_node()) {
        co_return std::nullopt;
    }
    const auto requester = jid::parse(iq.from());
    if (!requester) {
        co_return std::nullopt;
    }
    // Blocking someone who passed the challenge: the question was probably too easy (seed: "advise the user").
    // Only observed here; the blocking command itself is the IM core's.
    // Each block is also a vote for user consensus, and an XEP-0377 report inside it is kept for the admins.
    if (auto block = iq.child("block", "urn:xmpp:blocking"); block && iq.type() == "set" &&
        requester->equals_bare(addressed)) {
        for (auto item : block.children("item")) {
            auto blocked = jid::parse(item.attribute("jid").value());
            if (!blocked || !blocked->has_node()) {
                continue;
            }
            co_await advise_if_passed(addressed, blocked->bare_string());
            if (consensus_ == nullptr) {
                continue;
            }
            if (auto report = parse_spam_report(item)) {
                co_await consensus_->report(addressed, blocked->bare(), *report);
            } else {
                co_await consensus_->vote(addressed, blocked->bare(), "block");
            }
        }
        co_return std::nullopt;
    }
    // XEP-0158 answer: <iq type='set' to='bob@example.org'><captcha xmlns='urn:xmpp:captcha'><x type='submit'/>.
    if (auto captcha = iq.child("captcha", as::captcha_ns)) {
        if (iq.type() != "set") {
            co_return make_error_reply(iq, "bad-request");
        }
        auto submitted = as::parse_captcha_answer(captcha);
        if (!submitted) {
            co_return make_error_reply(iq, "bad-request", "expected a submitted captcha form with 'challenge' and 'qa'");
        }
        auto state = co_await sender_state_of(addressed, requester->bare_string());
        if (!state || state->challenge_id != submitted->first) {
            co_return make_error_reply(iq, "item-not-found", "no such challenge (it may have been replaced)");
        }
        const auto outcome = co_await answer(addressed, *requester, submitted->second, iq);
        using kind = as::answer_outcome::kind;
        if (outcome.what == kind::pass) {
            co_return make_iq_result(iq);
        }
        if (outcome.what == kind::locked_out) {
            stanza error = make_error_reply(iq, "policy-violation", error_type::wait, lockout_text(outcome.until));
            pugi::xml_document extra;
            extra.load_string(retry_after_payload(outcome.until).c_str());
            error.element().child("error").append_copy(extra.first_child());
            co_return error;
        }
        co_return make_error_reply(iq, "not-acceptable", "wrong or too fast; a new challenge is on its way");
    }
    // The owner's settings: <query xmlns='jabber:iq:privacy'><challenge xmlns='urn:hush:antispim:0'/></query>.
    const auto query = iq.child("query", privacy_ns);
    if (!query) {
        co_return std::nullopt;
    }
    pugi::xml_node element;
    for (auto c : query.children("challenge")) {
        if (std::string_view(c.attribute("xmlns").value()) == as::ns) {
            element = c;
        }
    }
    if (!element) {
        co_return std::nullopt;
    }
    if (!requester->equals_bare(addressed)) {
        co_return make_error_reply(iq, "forbidden");
    }
    if (iq.type() == "get") {
        auto view = co_await receiver(addressed);
        if (!view) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
        }
        stanza reply = make_iq_result(iq);
        auto q = reply.element().append_child("query");
        q.append_attribute("xmlns").set_value(privacy_ns.data());
        as::append_challenge_settings(q, view->settings);
        co_return reply;
    }
    auto parsed = as::parse_challenge_settings(element);
    if (!parsed) {
        co_return make_error_reply(iq, "bad-request", parsed.error());
    }
    if (!co_await set_settings(addressed, *parsed)) {
        co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
    }
    co_return make_iq_result(iq);
}

}  // namespace hush
