// antispim_service deciding: a stranger's stanza and an answer run through the challenge engine, read, decided and
// written in one atomic storage operation (in memory for a missing account), then what an answer's outcome sends.
#include "antispim/stranger_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "antispim/blocklist.hpp"
#include "antispim/documents.hpp"
#include "antispim/stranger_service_internal.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
namespace docs = antispim_documents;
using stranger_detail::read_record;

namespace {

// When the receiver was last told that message requests wait: <notice at='unix seconds'/>.
constexpr std::string_view notice_key = "antispim:notice";

}  // namespace

asio::awaitable<hush::expected<antispim_service::stranger_step, std::string>> antispim_service::record_stranger_stanza(
    const jid& r, const std::string& sender_bare, const as::challenge_settings& settings, bool account_exists,
    const stanza* to_hold, bool receiver_online, as::contact_note* note) {
    using result = hush::expected<stranger_step, std::string>;
    const auto now = as::clock_type::now();
    // A local sender's note that it wrote first, carried in: stored in this operation, not in a round trip of its own.
    std::optional<as::contact_note> carried;
    if (note != nullptr && note->pending) {
        carried = *note;
    }
    if (!account_exists) {
        // The same steps as for an account, in memory; what would be held is only counted. One storage round trip
        // all the same (it finds nothing), so the answer takes as long as for an account: no timing class either.
        // The sender's note is stored in it as for an account.
        struct same_cost {
            storage::result<void> noted;
        };
        auto cost = co_await store_.run([d = r.domain(), u = r.node(), sender_bare,
                                         carried](storage::store& st) -> storage::result<same_cost> {
            same_cost out{{}};
            if (carried) {
                out.noted = docs::note_contact(st, carried->domain, carried->user, carried->target);
            }
            (void)docs::get_state(st, d, u, sender_bare);  // only the round trip matters: it finds nothing
            return out;
        });
        if (carried && cost) {
            note->pending = false;
            noted(*carried, cost->noted);
        }
        std::lock_guard lock(engine_mutex_);
        auto& p = phantoms_[r.bare_string() + " " + sender_bare];
        stranger_step step;
        as::sender_state next = p.state;
        step.outcome = engine_.on_stanza(next, settings, now);
        const bool holds = to_hold != nullptr && (step.outcome.what == as::stranger_outcome::kind::challenge ||
                                                  step.outcome.what == as::stranger_outcome::kind::resend);
        if (holds && p.held >= cfg_.max_held_per_sender) {
            step.sender_full = true;
        } else {
            p.state = next;
            p.held += holds ? 1 : 0;
            step.held = holds;
        }
        step.state = p.state;
        co_return result(std::move(step));
    }
    auto decide = [this, r, d = r.domain(), u = r.node(), sender_bare, settings, now, receiver_online, carried,
                   quota = cfg_.offline_quota,
                   xml = to_hold != nullptr ? to_hold->serialize() : std::string(), hold = to_hold != nullptr,
                   expiry = held_expiry_seconds(), limits = held_limits(),
                   notice_seconds = std::chrono::duration_cast<std::chrono::seconds>(request_notice_interval).count()](
                      storage::store& st) -> storage::result<stranger_step> {
        // Read, decide and write under the account's lock: a parallel stanza of the same sender waits for this
        // one and then sees what it wrote.
        return storage::atomically(st, d, u, [&]() -> storage::result<stranger_step> {
            stranger_step step;
            if (carried) {
                // The sender's account, not the one locked: a step of its own (a savepoint), so that its failure
                // (say, the sender's account deleted meanwhile) fails only the note, as a write of its own would.
                step.sender_noted = st.tentatively(
                    [&] { return docs::note_contact(st, carried->domain, carried->user, carried->target); });
            }
            auto state = docs::get_state(st, d, u, sender_bare);
            if (!state) {
                return hush::unexpected<storage::error>(state.error());
            }
            as::sender_state next = *state;
            step.outcome = with_engine([&](as::challenge_engine& e) { return e.on_stanza(next, settings, now); });
            const bool holds = hold && (step.outcome.what == as::stranger_outcome::kind::challenge ||
                                        step.outcome.what == as::stranger_outcome::kind::resend);
            if (holds) {
                auto kept = docs::add_held(st, d, u, sender_bare, xml, unix_seconds(now), expiry, limits);
                if (!kept) {
                    return hush::unexpected<storage::error>(kept.error());
                }
                if (!kept->kept()) {
                    step.sender_full = true;  // nothing changes: the sender is told to wait for its answer
                    step.state = *state;
                    return step;
                }
                step.held = true;
                step.evicted = std::move(kept->evicted);
                // Requests started waiting: the receiver hears of it once a day at most (in this same operation).
                auto notice = st.get_document(d, u, std::string(notice_key));
                if (!notice) {
                    return hush::unexpected<storage::error>(notice.error());
                }
                const std::int64_t last = *notice ? std::atoll((*notice)->c_str() + (*notice)->find('\'') + 1) : 0;
                if (!*notice || unix_seconds(now) - last >= notice_seconds) {
                    auto senders = st.held_senders(d, u);
                    if (!senders) {
                        return hush::unexpected<storage::error>(senders.error());
                    }
                    step.notify_requests = std::max<std::size_t>(senders->size(), 1);
                    if (auto stored = st.put_document(d, u, std::string(notice_key),
                                                      "<notice at='" + std::to_string(unix_seconds(now)) + "'/>");
                        !stored) {
                        return hush::unexpected<storage::error>(stored.error());
                    }
                    if (!receiver_online) {
                        // Where routing would put it, in this same operation (routing it would cost an account
                        // lookup and an offline write more). Over the quota it is not kept, as routed it would not be.
                        auto kept_offline = st.store_offline_message(
                            d, u, request_notice(r, step.notify_requests).serialize(), unix_seconds(now), quota);
                        if (!kept_offline) {
                            return hush::unexpected<storage::error>(kept_offline.error());
                        }
                        step.notice_offline = true;
                    }
                }
            }
            if (auto stored = docs::put_state(st, d, u, sender_bare, next); !stored) {
                return hush::unexpected<storage::error>(stored.error());
            }
            step.state = std::move(next);
            return step;
        });
    };
    auto step = co_await store_.run(std::move(decide));
    if (!step) {
        co_return hush::unexpected<std::string>(step.error().message);  // the note, rolled back, is still pending
    }
    if (carried) {
        note->pending = false;
        noted(*carried, step->sender_noted);
    }
    co_return result(std::move(*step));
}

asio::awaitable<as::answer_outcome> antispim_service::answer(const jid& r, const jid& sender, std::string_view text,
                                                             const stanza& reply_to, outgoing& out,
                                                             std::string_view peer_address) {
    const std::string sender_bare = sender.bare_string();
    const auto now = as::clock_type::now();
    const auto suspect = suspect_of(sender, peer_address);
    // Fewer tries for a suspect service's sender, for an existing receiver and a missing one alike; true when that
    // lowered the receiver's.
    auto budget = [tries = suspect.tries](as::challenge_settings& settings) {
        if (tries > 0 && settings.max_tries > tries) {
            settings.max_tries = tries;
            return true;
        }
        return false;
    };
    struct judged {
        as::answer_outcome outcome;
        as::receiver_record record;  // with the state after the answer
        bool budget_lowered = false;
    };
    std::optional<judged> done;
    // One atomic storage operation for read-decide-write: parallel answers are judged one after the other, so
    // each costs a try and none gets around the lockout.
    auto decide = [this, d = r.domain(), u = r.node(), sender_bare, now, answer_text = std::string(text),
                   defaults = cfg_.challenge, budget](storage::store& st) -> storage::result<std::optional<judged>> {
        return storage::atomically(st, d, u, [&]() -> storage::result<std::optional<judged>> {
            auto exists = st.account_exists(d, u);
            if (!exists) {
                return hush::unexpected<storage::error>(exists.error());
            }
            if (!*exists) {
                return std::optional<judged>();  // judged in memory below
            }
            auto record = read_record(st, d, u, sender_bare, defaults, true);
            if (!record) {
                return hush::unexpected<storage::error>(record.error());
            }
            judged j;
            j.budget_lowered = budget(record->settings);
            j.outcome = with_engine([&](as::challenge_engine& e) {
                return e.on_answer(record->state, record->settings, now, answer_text, record->key_id);
            });
            if (auto stored = docs::put_state(st, d, u, sender_bare, record->state); !stored) {
                return hush::unexpected<storage::error>(stored.error());
            }
            j.record = std::move(*record);
            return std::optional<judged>(std::move(j));
        });
    };
    auto stored = co_await store_.run(std::move(decide));
    if (!stored) {
        spdlog::error("antispim: cannot judge an answer of {} to {}: {}", sender_bare, r.bare_string(),
                      stored.error().message);
        co_return as::answer_outcome{};
    }
    if (*stored) {
        done = std::move(**stored);
    } else {
        judged j;
        j.record = phantom_record(r, sender_bare);
        j.budget_lowered = budget(j.record.settings);
        std::lock_guard lock(engine_mutex_);
        auto& p = phantoms_[r.bare_string() + " " + sender_bare];
        j.outcome = engine_.on_answer(p.state, j.record.settings, now, text, j.record.key_id);
        j.record.state = p.state;
        done = std::move(j);
    }
    const auto& outcome = done->outcome;
    const auto& record = done->record;
    using kind = as::answer_outcome::kind;
    spdlog::info("antispim: challenge answer from {} to {}: {}", sender_bare, r.bare_string(),
                 outcome.what == kind::pass         ? "pass"
                 : outcome.what == kind::wrong      ? "wrong"
                 : outcome.what == kind::too_fast   ? "too fast"
                 : outcome.what == kind::blocked    ? "blocked"
                 : outcome.what == kind::locked_out ? "locked out"
                                                    : "no challenge");
    if (done->budget_lowered && outcome.what != kind::no_challenge) {
        evidence_->count_stricter();
        spdlog::info("antispim: {} answers with {} tr{}: {} has evidence against it ({} of its senders locked out by "
                     "challenges, {} passed)",
                     sender_bare, suspect.tries, suspect.tries == 1 ? "y" : "ies", suspect.key, suspect.tally.failed,
                     suspect.tally.passed);
    }
    // Evidence about the sender's service and network: a pass, or a lockout (max_tries wrong or too fast answers).
    // A single wrong answer is no evidence: people mistype, and pass at the next try — so a lockout after the
    // lowered tries of a suspect service is none either (else one typo of its people would keep it suspect); its
    // sender's final block after all its lockouts is.
    const bool lockout_evidence = outcome.what == kind::locked_out && !done->budget_lowered;
    const bool evidence = outcome.what == kind::pass || lockout_evidence || outcome.what == kind::blocked;
    if (evidence_ != nullptr && evidence && !is_local_(sender.domain())) {
        const bool failed = outcome.what != kind::pass;
        const auto now_steady = std::chrono::steady_clock::now();
        evidence_->record("domain:" + sender.domain(), sender_bare, failed, now_steady);
        if (const auto network = as::network_of(peer_address, 24, 48); !network.empty()) {
            evidence_->record("ip:" + network, sender_bare, failed, now_steady);
        }
    }
    switch (outcome.what) {
    case kind::pass:
        co_await release(r, sender, record, stanza_lang(reply_to), out);
        break;
    case kind::wrong:
    case kind::too_fast:
        send_challenge(r, sender, record.settings, record.state,
                                outcome.what == kind::wrong ? as::challenge_feedback::wrong
                                                            : as::challenge_feedback::too_fast,
                                stanza_lang(reply_to), out);
        break;
    case kind::locked_out: {
        if (record.account_exists) {
            co_await count_lockout(r, out);
        }
        if (reply_to.kind() == stanza_kind::message) {
            send_lockout_notice(r, sender, outcome.until, stanza_lang(reply_to), out);
        }
        break;
    }
    case kind::blocked:
        spdlog::warn("antispim: {} is now blocked for {} after {} lockouts", sender_bare, r.bare_string(),
                     record.settings.steps);
        if (record.account_exists && consensus_ != nullptr && cfg_.consensus.count_lockouts) {
            co_await consensus_->vote(r, sender.bare(), "lockout", out);
        }
        break;
    case kind::no_challenge:
        break;
    }
    co_return outcome;
}

bool antispim_service::evidence_against(const jid& sender, std::string_view peer_address) {
    if (evidence_ == nullptr || is_local_(sender.domain())) {
        return false;
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> keys{"domain:" + sender.domain()};
    if (const auto network = as::network_of(peer_address, 24, 48); !network.empty()) {
        keys.push_back("ip:" + network);
    }
    return std::any_of(keys.begin(), keys.end(), [&](const std::string& key) {
        return as::challenge_evidence::abusive(evidence_->of(key, now), cfg_.dos.evidence_senders);
    });
}

antispim_service::suspect antispim_service::suspect_of(const jid& sender, std::string_view peer_address) {
    if (evidence_ == nullptr || cfg_.dos.suspect_tries == 0 || is_local_(sender.domain())) {
        return {};
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> keys{"domain:" + sender.domain()};
    if (const auto network = as::network_of(peer_address, 24, 48); !network.empty()) {
        keys.push_back("ip:" + network);
    }
    for (auto& key : keys) {
        const auto tally = evidence_->of(key, now);
        if (!as::challenge_evidence::abusive(tally, cfg_.dos.evidence_senders)) {
            continue;
        }
        // Evidence acts as the "dos" policy does: in its dry run, only said.
        if (std::find(cfg_.dry_run.begin(), cfg_.dry_run.end(), "dos") != cfg_.dry_run.end()) {
            spdlog::info("antispim: (dry run) {} would answer with {} tr{}: {} has evidence against it ({} of its "
                         "senders locked out by challenges, {} passed)",
                         sender.bare_string(), cfg_.dos.suspect_tries, cfg_.dos.suspect_tries == 1 ? "y" : "ies",
                         key, tally.failed, tally.passed);
            return {};
        }
        return {cfg_.dos.suspect_tries, std::move(key), tally};
    }
    return {};
}

}  // namespace hush
