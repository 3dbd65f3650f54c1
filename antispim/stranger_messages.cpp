// antispim_service talking to the sender and the receiver: the challenge, the approval and the release of held
// stanzas, the lockout (error and notice), the notices of requests and evictions, advice for the receiver.
#include "antispim/stranger_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "antispim/documents.hpp"
#include "antispim/stranger_service_internal.hpp"
#include "protocol/namespaces.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
namespace docs = antispim_documents;
using stranger_detail::approved_now;

namespace {

stanza message_to(const jid& from, const jid& to, const std::string& id) {
    stanza m = stanza::make("message");
    m.set_attribute("from", from.bare_string());
    m.set_attribute("to", to.full_string());
    m.set_attribute("type", "normal");
    m.set_attribute("id", id);
    return m;
}

// What the sender reads: type chat, which every client shows as a line of the conversation with the receiver
// (some show type normal in a separate window or not at all), in the language of its texts.
stanza chat_to(const jid& from, const jid& to, const std::string& id, const std::string& lang) {
    stanza m = message_to(from, to, id);
    m.set_attribute("type", "chat");
    m.set_attribute("xml:lang", lang);
    return m;
}

pugi::xml_node append_ns(pugi::xml_node parent, const char* name) {
    auto e = parent.append_child(name);
    e.append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    return e;
}

void append_text(pugi::xml_node parent, const char* name, const std::string& text) {
    parent.append_child(name).append_child(pugi::node_pcdata).set_value(text.c_str());
}

}  // namespace

std::string_view stanza_lang(const stanza& s) { return s.element().attribute("xml:lang").value(); }

as::speaker antispim_service::speaker_for(const jid& r) { return {r.domain(), r.bare_string()}; }

std::string antispim_service::lockout_text(const jid& r, as::time_point until, std::string_view lang) const {
    return as::lockout_sentence(texts(lang).texts, speaker_for(r), as::clock_type::now(), until);
}

// ---- advice for the receiver -------------------------------------------------------------------------------------

void antispim_service::advise(const jid& r, const std::string& text, outgoing& out) {
    stanza m = stanza::make("message");
    m.set_attribute("from", r.domain());
    m.set_attribute("to", r.bare_string());
    m.set_attribute("type", "normal");
    m.set_attribute("id", "antispim-advice-" + std::to_string(unix_seconds(as::clock_type::now())));
    append_text(m.element(), "subject", "About your anti-spam question");
    append_text(m.element(), "body", text);
    m.element().append_child("advice").append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    out.unfiltered(std::move(m));
}

void antispim_service::send_eviction_notice(const storage::evicted_request& evicted, outgoing& out) {
    // The oldest request made room for a newer one: its sender hears that what it sent was not kept (nothing is
    // lost silently), from the receiver's address as the challenge was.
    auto receiver = jid::parse(evicted.username + "@" + evicted.domain);
    auto sender = jid::parse(evicted.sender);
    if (!receiver || !sender) {
        return;
    }
    // Its language is not known any more (held stanzas keep only their XML): the default one.
    const auto chosen = texts({});
    stanza m = chat_to(*receiver, *sender,
                       "antispim-expired-" + std::to_string(unix_seconds(as::clock_type::now())), chosen.language);
    append_text(m.element(), "body", as::dropped_body(chosen.texts, speaker_for(*receiver), evicted.stanzas));
    append_ns(m.element(), "dropped");
    spdlog::info("antispim: {} held stanza(s) of {} for {} dropped to make room", evicted.stanzas, evicted.sender,
                 receiver->bare_string());
    out.unfiltered(std::move(m));
}

void antispim_service::send_request_notice(const jid& r, std::size_t requests, outgoing& out) {
    out.unfiltered(request_notice(r, requests));
}

stanza antispim_service::request_notice(const jid& r, std::size_t requests) const {
    // A normal message (not a headline), so an offline user finds it at the next login instead of the requests
    // expiring unseen.
    stanza m = stanza::make("message");
    m.set_attribute("from", r.domain());
    m.set_attribute("to", r.bare_string());
    m.set_attribute("type", "normal");
    m.set_attribute("id", "antispim-requests-" + std::to_string(unix_seconds(as::clock_type::now())));
    append_text(m.element(), "subject", "Message requests");
    append_text(m.element(), "body",
                std::to_string(requests) + " message request" + (requests == 1 ? "" : "s") +
                    " from people you have not talked to yet " + (requests == 1 ? "waits" : "wait") +
                    " for them to answer your anti-spam question. See and release or reject them with the "
                    "\"Message requests\" command of your server (ad-hoc commands); unanswered ones expire after " +
                    std::to_string(cfg_.held_expiry.count() / 24) + " days. You are told this at most "
                    "once a day.");
    auto element = m.element().append_child("requests");
    element.append_attribute("xmlns").set_value(std::string(as::ns).c_str());
    element.append_attribute("count").set_value(std::to_string(requests).c_str());
    return m;
}

asio::awaitable<void> antispim_service::advise_if_passed(const jid& r, const std::string& sender_bare, outgoing& out) {
    auto record = co_await load_record(r, sender_bare);
    if (record && record->account_exists && approved_now(*record)) {
        spdlog::info("antispim: {} blocked {}, who had passed the challenge: advising a harder question",
                     r.bare_string(), sender_bare);
        judged_spam(sender_bare);  // a pass its receiver then blocked: its service's bots may read the challenge
        advise(r, sender_bare + " answered your anti-spam question and you have now blocked them: your "
                                         "question was probably too easy. Try a harder one, add more wrong answers or "
                                         "a longer wait; changing the question also revokes everyone it let in.",
                        out);
    }
}

void antispim_service::judged_spam(const std::string& sender_bare) {
    const auto sender = jid::parse(sender_bare);
    if (evidence_ == nullptr || !sender || is_local_(sender->domain())) {
        return;
    }
    // About its service only: the network it came through is not known here.
    evidence_->record("domain:" + sender->domain(), sender_bare, true, std::chrono::steady_clock::now());
}

asio::awaitable<void> antispim_service::count_lockout(const jid& r, outgoing& out) {
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
        advise(r, std::to_string(*count) + " strangers were locked out by your anti-spam question today. "
                           "Bots, most likely — but if you expect new contacts, make sure people can answer it; "
                           "held messages are listed with the message requests command.",
                        out);
    }
}

// ---- talking to the sender ----------------------------------------------------------------------------------------

void antispim_service::send_challenge(const jid& r, const jid& sender,
                                                       const as::challenge_settings& settings,
                                                       const as::sender_state& state, as::challenge_feedback feedback,
                                                       std::string_view lang, outgoing& out) {
    const auto chosen = texts(lang);
    stanza text = chat_to(r, sender, state.challenge_id + "-text", chosen.language);
    append_text(text.element(), "body", as::challenge_body(chosen.texts, speaker_for(r), settings, state, feedback));
    append_ns(text.element(), "question").append_attribute("challenge").set_value(state.challenge_id.c_str());
    out.unfiltered(std::move(text));
    // XEP-0158: the form in a message of its own, without a body, so a client that cannot show it shows nothing
    // rather than dropping the text above with it. Its id is the challenge's, as the form's 'challenge' field.
    stanza form = message_to(r, sender, state.challenge_id);
    form.set_attribute("xml:lang", chosen.language);
    as::append_captcha_form(form.element(), r.bare_string(), state,
                            as::challenge_question(chosen.texts, speaker_for(r), settings, state));
    out.unfiltered(std::move(form));
}

stanza antispim_service::lockout_error(const stanza& s, const jid& r, as::time_point until) const {
    stanza error = make_error_reply(s, "policy-violation", error_type::wait, lockout_text(r, until, stanza_lang(s)));
    pugi::xml_document extra;
    extra.load_string(as::retry_after_payload(until).c_str());
    error.element().child("error").append_copy(extra.first_child());
    return error;
}

void antispim_service::send_lockout(const stanza& s, as::time_point until, outgoing& out) {
    const jid receiver = jid::parse(s.to()).value_or(jid{}).bare();
    out.unfiltered(lockout_error(s, receiver, until));
}

void antispim_service::send_lockout_notice(const jid& r, const jid& sender, as::time_point until,
                                                            std::string_view lang, outgoing& out) {
    const auto chosen = texts(lang);
    stanza m = chat_to(r, sender, "lockout-" + std::to_string(unix_seconds(until)), chosen.language);
    append_text(m.element(), "body",
                as::lockout_body(chosen.texts, speaker_for(r), as::clock_type::now(), until));
    pugi::xml_document extra;
    extra.load_string(as::retry_after_payload(until).c_str());
    m.element().append_copy(extra.first_child());
    out.unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::release(const jid& r, const jid& sender, const as::receiver_record& record,
                                                std::string_view lang, outgoing& out) {
    send_approval(r, sender, record, lang, out);
    if (record.account_exists) {
        co_await deliver_held(r, sender.bare_string(), out);
    }
}

void antispim_service::send_approval(const jid& r, const jid& sender,
                                                      const as::receiver_record& record, std::string_view lang,
                                                      outgoing& out) {
    const std::string secret = as::sender_secret(record.key, sender.bare_string());
    const auto chosen = texts(lang);
    stanza m = chat_to(r, sender, "approved-" + record.key_id, chosen.language);
    append_text(m.element(), "body", as::approval_body(chosen.texts, speaker_for(r)));
    // For the sender's client, not its person: a stanza carrying it passes even after the approval is forgotten.
    append_ns(m.element(), "secret").append_child(pugi::node_pcdata).set_value(secret.c_str());
    append_ns(m.element(), "approved");
    out.unfiltered(std::move(m));
}

void antispim_service::remember_delivered(const jid& receiver_bare, const std::string& sender_bare,
                                          std::string_view text) {
    if (!learner_ || text.empty()) {
        return;
    }
    std::lock_guard lock(engine_mutex_);
    auto& texts = delivered_texts_[receiver_bare.bare_string() + " " + sender_bare];
    if (texts.size() < max_remembered_texts) {
        texts.emplace_back(text.substr(0, max_remembered_bytes));
    }
}

asio::awaitable<std::size_t> antispim_service::deliver_held(const jid& r, const std::string& sender_bare, outgoing& out,
                                                           std::vector<std::string>* texts, bool by_receiver) {
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
    // Once the content policy held one of them, the sender's whole request is the receiver's to release: passing
    // the challenge (a paid person can) releases nothing, not even the invitation that carried no text.
    std::vector<docs::held_stanza> kept;
    const bool quarantined = !by_receiver && std::any_of(held->begin(), held->end(), [](const docs::held_stanza& item) {
        const stanza s = stanza::parse(item.xml);
        return s.valid() && !s.child("quarantined", as::ns).empty();
    });
    if (quarantined) {
        kept = std::move(*held);
        held->clear();
    }
    for (const auto& item : *held) {
        stanza original = stanza::parse(item.xml);
        if (!original.valid()) {
            continue;
        }
        if (auto mark = original.child("quarantined", as::ns)) {
            original.element().remove_child(mark);
        }
        if (original.kind() == stanza_kind::message) {
            if (texts != nullptr) {
                texts->emplace_back(original.element().child_value("body"));
            }
            if (!by_receiver) {
                remember_delivered(r, sender_bare, original.element().child_value("body"));
            }
            // XEP-0203: when it really arrived.
            auto delay = original.element().append_child("delay");
            delay.append_attribute("xmlns").set_value(ns::delay.data());
            delay.append_attribute("from").set_value(r.domain().c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp(item.at).c_str());
            delay.append_child(pugi::node_pcdata).set_value("Held until the sender was approved");
        }
        out.unfiltered(std::move(original));
        ++count;
    }
    if (!kept.empty()) {
        auto keep = [d = r.domain(), u = r.node(), sender_bare, kept, expiry = held_expiry_seconds(),
                     limits = held_limits()](storage::store& st) -> storage::result<void> {
            for (const auto& item : kept) {
                if (auto stored = docs::add_held(st, d, u, sender_bare, item.xml, item.at, expiry, limits); !stored) {
                    return hush::unexpected<storage::error>(stored.error());
                }
            }
            return {};
        };
        if (auto stored = co_await store_.run(std::move(keep)); !stored) {
            spdlog::error("antispim: cannot keep {} quarantined stanza(s) of {} for {}: {}", kept.size(), sender_bare,
                          r.bare_string(), stored.error().message);
        }
        spdlog::info("antispim: {} passed {}'s challenge; the content policy held part of its request, so its {} held "
                     "stanza(s) stay for {} to release",
                     sender_bare, r.bare_string(), kept.size(), r.bare_string());
    }
    spdlog::info("antispim: {} approved by {}; {} held stanza(s) delivered", sender_bare, r.bare_string(), count);
    co_return count;
}

}  // namespace hush
