#pragma once
// The anti-SPIM layer's server side: who is a stranger to whom (one definition, used everywhere), the Bot
// Challenge policy for the chain, each user's challenge settings (inside jabber:iq:privacy), answers by message
// or XEP-0158 form, held stanzas (stored, bounded, expiring) and their release with delay stamps.
//
// Everything is kept per account in storage documents (antispim/documents.hpp), so it survives restarts and
// works on both backends.
#include <atomic>
#include <map>
#include <unordered_set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "antispim/bounded_map.hpp"
#include "antispim/challenge.hpp"
#include "antispim/challenge_evidence.hpp"
#include "antispim/challenge_wording.hpp"
#include "antispim/policy.hpp"
#include "antispim/documents.hpp"
#include "antispim/consensus.hpp"
#include "antispim/config.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/spam_report.hpp"
#include "protocol/xep0082.hpp"
#include "antispim/layer.hpp"
#include "storage/async_store.hpp"

namespace hush {

namespace stranger_detail {
struct relation_plan;
struct relation_loaded;
}  // namespace stranger_detail

class antispim_service final : public stranger_oracle {
public:
    // `consensus`: where users' blocks, reports and lockouts are counted (may be null). `challenge_listing`:
    // senders to challenge even when the receiver lets strangers through (imports trusted for "challenge").
    // Nothing here sends: what it wants sent (challenges, approvals, released stanzas, notices) goes into the
    // `outgoing` of the call, which the router carries out.
    // `evidence`, when set, records how remote senders' challenges end (the DoS detector reads it).
    // `learner`, when set, is told what users judged (the content policy's Bayes learns from it): the texts of
    // rejected and reported message requests (spam), of released ones and of established users' first messages to
    // someone new (ham). It must not block: it queues the lesson.
    using content_learner = std::function<void(bool spam, std::string text)>;
    antispim_service(const antispim_config& cfg, storage::async_store& store, std::function<bool(std::string_view)> is_local,
                     consensus* consensus, std::function<bool(const antispim::spim_context&)> challenge_listing,
                     antispim::challenge_evidence* evidence = nullptr, content_learner learner = {});
    bool listed_for_challenge(const antispim::spim_context& ctx) const {
        return challenge_listing_ && challenge_listing_(ctx);
    }

    // stranger_oracle
    boost::asio::awaitable<bool> stranger_to_user(const jid& user, const jid& to, const companion_read& also,
                                                  relation_ahead* ahead) override;
    boost::asio::awaitable<hush::expected<relation_facts, std::string>> relation(const jid& receiver,
                                                                                const jid& sender,
                                                                                bool check_exists) override;
    boost::asio::awaitable<void> outbound(const stanza& s, const jid& from, const jid& to,
                                          antispim::contact_note* defer) override;
    void session_ended(const jid& full, const std::set<std::string>& directed) override;
    boost::asio::awaitable<void> store_note(antispim::contact_note& note) override;
    // Ham for the content filter, one message in ham_sample_every, once per pair (bounded): what an established local
    // account writes to someone new, and what someone the receiver has a relationship with writes (a contact's
    // reply). Never what an approval through the challenge let in.
    void learn_ham(const stanza& s, const jid& from, const jid& to) override;
    static constexpr std::uint64_t ham_sample_every = 16;
    void remember_for_reports(const stanza& s, const jid& from, const jid& to) override {
        if (s.kind() == stanza_kind::message) {
            remember_delivered(to.bare(), from.bare_string(), s.element().child_value("body"));
        }
    }

    // The receiver's challenge data and this sender's state in one storage operation; for a missing account the
    // same shapes from memory (server default settings, a per-process key), so answers cannot tell them apart.
    boost::asio::awaitable<hush::expected<antispim::receiver_record, std::string>> load_record(
        const jid& receiver_bare, const std::string& sender_bare);

    // The "challenge" policy for the chain.
    std::unique_ptr<antispim::policy> make_challenge_policy();
    // The content policy's hold band: the stanza is kept as a message request (in the effect, one atomic storage
    // operation) and no challenge is sent, so only the receiver can release it.
    boost::asio::awaitable<hush::expected<antispim::verdict, antispim::policy_failure>> hold_quietly(
        const antispim::spim_context& ctx);

    // server_handlers extension: <challenge/> inside jabber:iq:privacy (the owner's settings) and XEP-0158
    // answers (an iq set with <captcha/> to a user's bare JID).
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

    static std::vector<std::string> account_features();

    // The user's own settings replace whatever applied (a new question or answers revoke approvals); false when
    // they could not be stored.
    boost::asio::awaitable<bool> set_settings(const jid& user, const antispim::challenge_settings& settings);
    // Message requests: strangers with held stanzas.
    boost::asio::awaitable<hush::expected<std::vector<antispim_documents::message_request>, std::string>>
    message_requests(const jid& user);
    enum class request_action { release, reject, report };
    // release: approve the sender and deliver what it sent (now); reject: discard; report: discard and block.
    // Returns how many stanzas were delivered or discarded.
    boost::asio::awaitable<hush::expected<std::size_t, std::string>> resolve_request(const jid& user,
                                                                                  const std::string& sender_bare,
                                                                                  request_action action,
                                                                                  outgoing& out);

    // --- for the policy ---
    struct receiver_view {
        antispim::challenge_settings settings;
        std::string key;     // raw key bytes (hex text)
        std::string key_id;  // short id of the key, recorded with approvals
    };
    boost::asio::awaitable<hush::expected<receiver_view, std::string>> receiver(const jid& receiver_bare);

    // A stranger's stanza that is no answer, decided and recorded in ONE atomic storage operation (read the
    // sender's state, run the engine, keep the stanza, write the state back), so parallel stanzas cannot lose
    // updates. `to_hold` null: only the state changes (a lockout restarting). For a missing account the same
    // happens in memory. Nothing is written when `enforced` is false. `receiver_online` false: a notice that
    // requests wait goes to the receiver's offline messages inside the same operation (notice_offline).
    struct stranger_step {
        antispim::stranger_outcome outcome;
        antispim::sender_state state;
        bool held = false;       // the stanza was kept
        bool sender_full = false;  // not kept: this sender already has the most a receiver keeps per sender
        std::size_t notify_requests = 0;  // > 0: tell the receiver this many requests wait (at most once a day)
        bool notice_offline = false;      // that notice is already with the (offline) receiver's offline messages
        std::vector<storage::evicted_request> evicted;  // older requests dropped to make room: tell their senders
        storage::result<void> sender_noted;  // the carried note of a local sender, if any, was stored
    };
    storage::held_limits held_limits() const;
    void send_eviction_notice(const storage::evicted_request& evicted, outgoing& out);
    // One pass of the sweeper: expired held stanzas, challenge states and contact notes (storage, in bounded
    // batches) and the in-memory state of addresses without an account. The server runs it on a timer.
    boost::asio::awaitable<void> sweep();
    // How often a receiver is told that message requests wait.
    static constexpr std::chrono::hours request_notice_interval{24};
    // The receiver's notice: "N message requests wait", from its server, stored offline if need be.
    stanza request_notice(const jid& receiver_bare, std::size_t requests) const;
    void send_request_notice(const jid& receiver_bare, std::size_t requests, outgoing& out);
    // `note`: a local sender's deferred note that it wrote to the receiver first, stored in the same operation
    // (then no longer pending).
    boost::asio::awaitable<hush::expected<stranger_step, std::string>> record_stranger_stanza(
        const jid& receiver_bare, const std::string& sender_bare, const antispim::challenge_settings& settings,
        bool account_exists, const stanza* to_hold, bool receiver_online = true,
        antispim::contact_note* note = nullptr);

    // The sender passed: a secret message to it, then every held stanza to the receiver, delay-stamped.
    boost::asio::awaitable<void> release(const jid& receiver_bare, const jid& sender,
                                         const antispim::receiver_record& record, std::string_view lang,
                                         outgoing& out);
    // Advice for the receiver (the seed's "your question was probably too easy"), from its server.
    void advise(const jid& receiver_bare, const std::string& text, outgoing& out);
    boost::asio::awaitable<void> advise_if_passed(const jid& receiver_bare, const std::string& sender_bare,
                                                  outgoing& out);
    boost::asio::awaitable<void> count_lockout(const jid& receiver_bare, outgoing& out);
    static constexpr unsigned advice_lockouts_per_day = 3;
    // The message telling a sender it passed, in plain words, with its secret in <secret/> for its client.
    void send_approval(const jid& receiver_bare, const jid& sender,
                                               const antispim::receiver_record& record, std::string_view lang,
                                               outgoing& out);
    // Every held stanza of the sender to the receiver, delay-stamped; returns how many.
    // A passed challenge delivered `text` from the sender (or the sender, approved by it, wrote it since): its first
    // texts are remembered (bounded) for a report to teach the content filter; a report (XEP-0377 inside a block)
    // takes them as spam.
    void remember_delivered(const jid& receiver_bare, const std::string& sender_bare, std::string_view text);
    static constexpr std::size_t max_remembered_texts = 3;
    static constexpr std::size_t max_remembered_bytes = 1024;
    // An XEP-0377 spam report of `sender_bare` by `user`: what its passed challenge delivered is spam.
    // A spam report (XEP-0377 inside a block) of `sender_bare`: what `user` read of it teaches the classifier — the
    // first texts a passed challenge let in, and the reported messages themselves when the report names them by the
    // stanza-ids of `user`'s archive (XEP-0313), whoever the sender was to the user.
    boost::asio::awaitable<void> learn_reported(const jid& user, const std::string& sender_bare,
                                                const std::vector<reported_stanza_id>& stanza_ids);
    static constexpr std::size_t max_reported_ids = 20;  // archive items read for one report
    // `texts`, when set, gets the bodies of the messages delivered. Stanzas the content policy held (marked
    // <quarantined/>) go only when the receiver releases them (`by_receiver`); a sender passing the challenge
    // leaves them held, as message requests.
    boost::asio::awaitable<std::size_t> deliver_held(const jid& receiver_bare, const std::string& sender_bare,
                                                     outgoing& out, std::vector<std::string>* texts = nullptr,
                                                     bool by_receiver = false);
    std::int64_t held_expiry_seconds() const;
    // The question as a chat message every client shows (after the feedback on the last answer, if any), then the
    // XEP-0158 form in a body-less message of its own (some clients drop any message carrying a captcha form).
    void send_challenge(const jid& receiver_bare, const jid& sender,
                                                const antispim::challenge_settings& settings,
                                                const antispim::sender_state& state,
                                                antispim::challenge_feedback feedback, std::string_view lang,
                                                outgoing& out);
    // The lockout error (policy-violation, wait, with <retry-after/>) answering `s`, addressed to `receiver_bare`.
    stanza lockout_error(const stanza& s, const jid& receiver_bare, antispim::time_point until) const;
    void send_lockout(const stanza& s, antispim::time_point until, outgoing& out);
    // The lockout told as a chat message (the answer to an answer that used the last try).
    void send_lockout_notice(const jid& receiver_bare, const jid& sender,
                                                     antispim::time_point until, std::string_view lang,
                                                     outgoing& out);
    // The texts for a stanza's xml:lang, and who speaks for whom.
    antispim::chosen_texts texts(std::string_view lang) const { return antispim::texts_for(cfg_.wording, lang); }
    static antispim::speaker speaker_for(const jid& receiver_bare);
    // The lockout's error text, in the sender's language.
    std::string lockout_text(const jid& receiver_bare, antispim::time_point until, std::string_view lang) const;
    // An answer by message or form, decided and recorded in one atomic storage operation; `reply_to` is the
    // stanza that carried it (errors go back to it). A remote sender's outcome is also evidence about its service
    // and, with `peer_address` (the server it came through), its network.
    boost::asio::awaitable<antispim::answer_outcome> answer(const jid& receiver_bare, const jid& sender,
                                                            std::string_view text, const stanza& reply_to,
                                                            outgoing& out, std::string_view peer_address = {});
    // What the challenges hold against a sender's service or network: the tries its answers get ([antispim.dos]
    // suspect_tries; 0 when nothing, or in the dos policy's dry run), and the evidence that says so.
    struct suspect {
        unsigned tries = 0;
        std::string key;  // "domain:…" or "ip:…"
        antispim::challenge_evidence::tally tally;
    };
    suspect suspect_of(const jid& sender, std::string_view peer_address);
    // Whether challenges hold evidence against the sender's service or network, whatever is done about it (the
    // content policy's "reputation" part).
    bool evidence_against(const jid& sender, std::string_view peer_address);
    // A remote sender its receiver judged spam (reported from the message requests, or blocked after it passed the
    // challenge): evidence against its service, as a lockout is.
    void judged_spam(const std::string& sender_bare);
    // Runs the engine under its lock (the engine's random source is shared).
    template <class F>
    auto with_engine(F&& f) {
        std::lock_guard lock(engine_mutex_);
        return f(engine_);
    }
    const antispim_config& options() const { return cfg_; }

private:
    const antispim_config& cfg_;
    storage::async_store& store_;
    std::function<bool(std::string_view)> is_local_;
    consensus* const consensus_;
    antispim::challenge_evidence* const evidence_;
    std::function<bool(const antispim::spim_context&)> challenge_listing_;
    content_learner learner_;
    std::mutex engine_mutex_;
    antispim::challenge_engine engine_;
    // Challenge state for addresses without an account (kept in memory, bounded): the same answers as for an
    // account, so a stranger cannot tell the difference. Guarded by engine_mutex_. Keyed "receiver sender".
    struct phantom {
        antispim::sender_state state;
        std::size_t held = 0;  // what an account would hold (nothing is kept: nobody will read it)
    };
    antispim::bounded_map<std::string, phantom> phantoms_{20000};
    // "user contact" pairs already noted in storage (guarded by engine_mutex_).
    antispim::bounded_map<std::string, bool> noted_{100000};
    // What local users addressed lately ("user target", target a bare JID or a domain) and which rooms they are
    // in: errors and iq results from there answer them, groupchat from there is theirs (guarded by engine_mutex_).
    antispim::bounded_map<std::string, antispim::time_point> addressed_{100000};
    antispim::bounded_map<std::string, bool> joined_{100000};
    // Pairs whose first message taught the content filter ham (once each).
    antispim::bounded_map<std::string, bool> taught_{100000};
    std::atomic<std::uint64_t> ham_sampled_{0};
    // What a sender's passed challenge delivered ("receiver sender" -> its first texts), so that an XEP-0377 spam
    // report of it can teach the content filter (there is no archive to find the text in). At most 5000 pairs of 3
    // texts of 1 KiB: 15 MiB.
    antispim::bounded_map<std::string, std::vector<std::string>> delivered_texts_{5000};
    // Roster and written-first contacts ("receiver sender"), as read under a storage relations generation; only the
    // positive answer is kept, and only while the generation is unchanged (guarded by engine_mutex_).
    struct cached_contact {
        std::uint64_t generation = 0;
        antispim::time_point at;
    };
    static constexpr std::chrono::seconds contact_cache_ttl{30};
    antispim::bounded_map<std::string, cached_contact> contacts_{100000};
    // Local senders found established (trust_local_users); only the positive answer is kept.
    antispim::bounded_map<std::string, bool> established_{20000};
    std::string phantom_key_;
    std::string phantom_key_id_;
    bool is_established_cached(const std::string& sender_bare);
    // relation() in steps (see stranger_detail::relation_plan).
    stranger_detail::relation_plan plan_relation(const jid& receiver, const jid& sender, bool check_exists);
    hush::expected<relation_facts, std::string> finish_relation(stranger_detail::relation_plan& plan,
                                                               storage::result<stranger_detail::relation_loaded> got);
    // After a note was stored (or failed to be): remembered, or logged.
    void noted(const antispim::contact_note& note, const storage::result<void>& stored);
    antispim::receiver_record phantom_record(const jid& receiver_bare, const std::string& sender_bare);
};

// The xml:lang a stanza carries (the C2S stream's default is stamped on client stanzas that have none).
std::string_view stanza_lang(const stanza& s);

}  // namespace hush
