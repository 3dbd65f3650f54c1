#include "antispim/stranger_service.hpp"

#include "antispim/documents.hpp"

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

std::string retry_after_payload(as::time_point until) {
    return "<retry-after xmlns='" + std::string(as::ns) + "' until='" + as::format_utc(until) + "'/>";
}

antispim_service::antispim_service(const antispim_config& cfg, storage::async_store& store,
                                   std::function<bool(std::string_view)> is_local)
    : cfg_(cfg), store_(store), is_local_(std::move(is_local)), engine_(random_seed()) {
    phantom_key_ = sasl::random_hex(32);
    phantom_key_id_ = phantom_key_.substr(0, 12);  // same length as a real key id
}

std::vector<std::string> antispim_service::account_features() { return {std::string(as::ns), std::string(as::captcha_ns)}; }

namespace {

// A real relationship of the receiver with the sender, read inside a storage operation: subscribed either way,
// asked by the user, pre-approved, or written to first by the user.
storage::result<bool> related(storage::store& s, const std::string& d, const std::string& u,
                              const std::string& sender_bare) {
    auto item = s.get_roster_item(d, u, sender_bare);
    if (!item) {
        return hush::unexpected<storage::error>(item.error());
    }
    if (*item && ((*item)->sub != storage::subscription::none || (*item)->pending_out || (*item)->approved)) {
        return true;
    }
    auto contacted = s.get_document(d, u, docs::contact_key(sender_bare));
    if (!contacted) {
        return hush::unexpected<storage::error>(contacted.error());
    }
    return contacted->has_value();
}

// The receiver's challenge data and, unless `sender_bare` is empty, the sender's state (an existing account).
storage::result<as::receiver_record> read_record(storage::store& s, const std::string& d, const std::string& u,
                                                 const std::string& sender_bare,
                                                 const as::challenge_settings& defaults) {
    auto settings = docs::get_settings(s, d, u);
    if (!settings) {
        return hush::unexpected<storage::error>(settings.error());
    }
    auto key = docs::get_key(s, d, u);
    if (!key) {
        return hush::unexpected<storage::error>(key.error());
    }
    as::receiver_record record;
    record.settings = settings->value_or(defaults);
    record.key = std::move(key->key);
    record.key_id = std::move(key->id);
    if (!sender_bare.empty()) {
        auto state = docs::get_state(s, d, u, sender_bare);
        if (!state) {
            return hush::unexpected<storage::error>(state.error());
        }
        record.state = std::move(*state);
    }
    return record;
}

bool approved_now(const as::receiver_record& r) {
    return !r.state.approved_key.empty() && r.state.approved_key == r.key_id;
}

// When the receiver was last told that message requests wait: <notice at='unix seconds'/>.
constexpr std::string_view notice_key = "antispim:notice";

// How long an address a user wrote to may answer with an error or an iq result.
constexpr auto answer_window = std::chrono::minutes{10};

}  // namespace

// ---- storage ------------------------------------------------------------------------------------------------------

asio::awaitable<hush::expected<antispim_service::receiver_view, std::string>> antispim_service::receiver(
    const jid& r) {
    using result = hush::expected<receiver_view, std::string>;
    auto load = [d = r.domain(), u = r.node(), defaults = cfg_.challenge](storage::store& s)
        -> storage::result<receiver_view> {
        auto record = read_record(s, d, u, {}, defaults);
        if (!record) {
            return hush::unexpected<storage::error>(record.error());
        }
        return receiver_view{std::move(record->settings), std::move(record->key), std::move(record->key_id)};
    };
    auto loaded = co_await store_.run(std::move(load));
    if (!loaded) {
        co_return hush::unexpected<std::string>(loaded.error().message);
    }
    co_return result(std::move(*loaded));
}

std::int64_t antispim_service::held_expiry_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(cfg_.held_expiry).count();
}

// ---- strangers ----------------------------------------------------------------------------------------------------


asio::awaitable<bool> antispim_service::is_stranger(const jid& r, const jid& sender) {
    if (sender.equals_bare(r) || (!sender.has_node() && is_local_(sender.domain()))) {
        co_return false;
    }
    auto found = co_await relation(r, sender, false);
    // The chain decides what a stranger gets; failing open would let spam through.
    co_return !found || !found->contact;
}

bool antispim_service::is_established_cached(const std::string& sender_bare) {
    if (!cfg_.trust_local_users) {
        return false;
    }
    if (cfg_.trusted_after.count() == 0 && cfg_.trusted_min_contacts == 0) {
        return true;
    }
    std::lock_guard lock(engine_mutex_);
    return established_.find(sender_bare) != nullptr;
}

asio::awaitable<hush::expected<relation_facts, std::string>> antispim_service::relation(const jid& r,
                                                                                       const jid& sender,
                                                                                       bool check_exists) {
    using result = hush::expected<relation_facts, std::string>;
    relation_facts facts;
    const std::string receiver_bare = r.bare_string();
    const std::string sender_bare = sender.bare_string();
    const bool local_sender = sender.has_node() && is_local_(sender.domain());
    const bool established_known = local_sender && is_established_cached(sender_bare);
    {
        std::lock_guard lock(engine_mutex_);
        const auto now = as::clock_type::now();
        // Errors come from the address the stanza went to (RFC 6120 §8.3.1): the same bare JID, or domain.
        if (const auto* at = addressed_.peek(receiver_bare + " " + sender_bare); at != nullptr && now - *at < answer_window) {
            facts.answers_receiver = true;
        }
        facts.joined_room = joined_.peek(receiver_bare + " " + sender_bare) != nullptr;
    }
    struct loaded {
        bool exists = true;
        bool contact = false;
        bool established = false;
        std::optional<as::receiver_record> record;
    };
    const bool check_trust = local_sender && cfg_.trust_local_users && !established_known;
    auto load = [d = r.domain(), u = r.node(), sender_bare, sd = sender.domain(), su = sender.node(), check_exists,
                 check_trust, defaults = cfg_.challenge,
                 min_age = std::chrono::duration_cast<std::chrono::seconds>(cfg_.trusted_after).count(),
                 min_contacts = cfg_.trusted_min_contacts,
                 now = unix_seconds(as::clock_type::now())](storage::store& s) -> storage::result<loaded> {
        loaded out;
        if (check_exists) {
            auto exists = s.account_exists(d, u);
            if (!exists) {
                return hush::unexpected<storage::error>(exists.error());
            }
            out.exists = *exists;
            if (!out.exists) {
                return out;  // nothing else to read: the answer comes from memory, shaped as for an account
            }
        }
        auto rel = related(s, d, u, sender_bare);
        if (!rel) {
            return hush::unexpected<storage::error>(rel.error());
        }
        out.contact = *rel;
        if (out.contact) {
            return out;
        }
        if (check_trust) {
            auto created = s.account_created_at(sd, su);
            if (!created) {
                return hush::unexpected<storage::error>(created.error());
            }
            if (*created && now - **created >= min_age) {
                std::size_t mutual = 0;
                if (min_contacts > 0) {
                    auto roster = s.get_roster(sd, su);
                    if (!roster) {
                        return hush::unexpected<storage::error>(roster.error());
                    }
                    for (const auto& item : *roster) {
                        mutual += item.sub == storage::subscription::both ? 1 : 0;
                    }
                }
                out.established = mutual >= min_contacts;
            }
        }
        auto record = read_record(s, d, u, sender_bare, defaults);
        if (!record) {
            return hush::unexpected<storage::error>(record.error());
        }
        out.record = std::move(*record);
        return out;
    };
    auto got = co_await store_.run(std::move(load));
    if (!got) {
        co_return hush::unexpected<std::string>(got.error().message);
    }
    facts.account_exists = got->exists;
    facts.contact = got->contact;
    if (got->established) {
        std::lock_guard lock(engine_mutex_);
        established_.insert_or_assign(sender_bare, true);
    }
    facts.trusted_local = !facts.contact && (established_known || got->established);
    if (!got->exists) {
        auto record = phantom_record(r, sender_bare);  // from memory: no more storage
        facts.contact = approved_now(record);
        facts.record = std::make_shared<const as::receiver_record>(std::move(record));
        co_return result(std::move(facts));
    }
    if (got->record) {
        facts.contact = approved_now(*got->record);  // approved through the challenge, under the current key
        if (!facts.contact) {
            facts.record = std::make_shared<const as::receiver_record>(std::move(*got->record));
        }
    }
    if (facts.contact) {
        facts.trusted_local = false;
    }
    co_return result(std::move(facts));
}

asio::awaitable<hush::expected<as::receiver_record, std::string>> antispim_service::load_record(
    const jid& r, const std::string& sender_bare) {
    using result = hush::expected<as::receiver_record, std::string>;
    struct loaded {
        bool exists = true;
        as::receiver_record record;
    };
    auto load = [d = r.domain(), u = r.node(), sender_bare,
                 defaults = cfg_.challenge](storage::store& s) -> storage::result<loaded> {
        auto exists = s.account_exists(d, u);
        if (!exists) {
            return hush::unexpected<storage::error>(exists.error());
        }
        if (!*exists) {
            return loaded{false, {}};
        }
        auto record = read_record(s, d, u, sender_bare, defaults);
        if (!record) {
            return hush::unexpected<storage::error>(record.error());
        }
        return loaded{true, std::move(*record)};
    };
    auto got = co_await store_.run(std::move(load));
    if (!got) {
        co_return hush::unexpected<std::string>(got.error().message);
    }
    if (got->exists) {
        co_return result(std::move(got->record));
    }
    co_return result(phantom_record(r, sender_bare));
}

as::receiver_record antispim_service::phantom_record(const jid& r, const std::string& sender_bare) {
    as::receiver_record record;
    record.account_exists = false;
    record.settings = cfg_.challenge;
    record.key = phantom_key_;
    record.key_id = phantom_key_id_;
    std::lock_guard lock(engine_mutex_);
    if (const auto* p = phantoms_.peek(r.bare_string() + " " + sender_bare)) {
        record.state = p->state;
    }
    return record;
}

asio::awaitable<void> antispim_service::outbound(const stanza& s, const jid& from, const jid& to) {
    const std::string user = from.bare_string();
    const std::string target = to.bare_string();
    {
        // What this user may get answers from (errors, iq results) and which rooms it is in (groupchat).
        std::lock_guard lock(engine_mutex_);
        const auto now = as::clock_type::now();
        addressed_.insert_or_assign(user + " " + target, now);
        if (s.kind() == stanza_kind::presence && !to.is_bare()) {
            if (s.type().empty()) {
                joined_.insert_or_assign(user + " " + target, true);
            } else if (s.type() == "unavailable") {
                joined_.erase(user + " " + target);
            }
        }
    }
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
    const std::string pair = user + " " + target;
    {
        // Most outbound stanzas go to known contacts: remember recent notes instead of asking storage each time.
        std::lock_guard lock(engine_mutex_);
        if (noted_.find(pair) != nullptr) {
            co_return;
        }
    }
    // Written (again) once per sweep interval at most: a note's age is how long it has not been used.
    auto note = [d = from.domain(), u = from.node(), target](storage::store& st) {
        return docs::note_contact(st, d, u, target);
    };
    if (auto noted = co_await store_.run(std::move(note)); !noted) {
        spdlog::error("antispim: cannot note that {} wrote to {}: {}", user, target, noted.error().message);
        co_return;
    }
    std::lock_guard lock(engine_mutex_);
    noted_.insert_or_assign(pair, true);  // bounded; forgetting only costs one storage read later
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

storage::held_limits antispim_service::held_limits() const {
    storage::held_limits limits;
    limits.max_per_sender = cfg_.max_held_per_sender;
    limits.max_per_receiver = cfg_.max_held_per_receiver;
    limits.max_bytes_per_receiver = cfg_.max_held_bytes_per_receiver;
    limits.max_total = cfg_.max_held_total;
    return limits;
}

asio::awaitable<void> antispim_service::send_eviction_notice(const storage::evicted_request& evicted) {
    // The oldest request made room for a newer one: its sender hears that what it sent was not kept (nothing is
    // lost silently), from the receiver's address as the challenge was.
    auto receiver = jid::parse(evicted.username + "@" + evicted.domain);
    auto sender = jid::parse(evicted.sender);
    if (!receiver || !sender) {
        co_return;
    }
    // Its language is not known any more (held stanzas keep only their XML): the default one.
    const auto chosen = texts({});
    stanza m = chat_to(*receiver, *sender,
                       "antispim-expired-" + std::to_string(unix_seconds(as::clock_type::now())), chosen.language);
    append_text(m.element(), "body", as::dropped_body(chosen.texts, speaker_for(*receiver), evicted.stanzas));
    append_ns(m.element(), "dropped");
    spdlog::info("antispim: {} held stanza(s) of {} for {} dropped to make room", evicted.stanzas, evicted.sender,
                 receiver->bare_string());
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::sweep() {
    auto run = [now = unix_seconds(as::clock_type::now()), held = held_expiry_seconds(),
                states = std::chrono::duration_cast<std::chrono::seconds>(cfg_.state_expiry).count(),
                contacts = std::chrono::duration_cast<std::chrono::seconds>(cfg_.contact_expiry).count()](
                   storage::store& st) { return docs::sweep(st, now, held, states, contacts); };
    for (;;) {
        auto swept = co_await store_.run(run);
        if (!swept) {
            spdlog::error("antispim: sweeping expired anti-SPIM state failed: {}", swept.error().message);
            co_return;
        }
        if (swept->held + swept->states + swept->contacts + swept->legacy_held > 0) {
            spdlog::info("antispim: swept {} expired held stanza(s), {} challenge state(s), {} contact note(s)",
                         swept->held + swept->legacy_held, swept->states, swept->contacts);
        }
        if (!swept->more) {
            break;
        }
    }
    // The memory of addresses without an account, and of notes already written, is swept alike.
    std::lock_guard lock(engine_mutex_);
    const auto stale = as::clock_type::now() - cfg_.held_expiry;
    phantoms_.erase_oldest_while([&](const std::string&, const phantom& p) {
        return p.state.challenged_at < stale && p.state.locked_until < as::clock_type::now();
    });
    noted_.clear();  // a note in use is written again (refreshing its age) the next time the user writes
}

asio::awaitable<void> antispim_service::send_request_notice(const jid& r, std::size_t requests) {
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
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::advise_if_passed(const jid& r, const std::string& sender_bare) {
    auto record = co_await load_record(r, sender_bare);
    if (record && record->account_exists && approved_now(*record)) {
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

asio::awaitable<void> antispim_service::send_challenge(const jid& r, const jid& sender,
                                                       const as::challenge_settings& settings,
                                                       const as::sender_state& state, as::challenge_feedback feedback,
                                                       std::string_view lang) {
    const auto chosen = texts(lang);
    stanza text = chat_to(r, sender, state.challenge_id + "-text", chosen.language);
    append_text(text.element(), "body", as::challenge_body(chosen.texts, speaker_for(r), settings, state, feedback));
    append_ns(text.element(), "question").append_attribute("challenge").set_value(state.challenge_id.c_str());
    co_await sink_->send_unfiltered(std::move(text));
    // XEP-0158: the form in a message of its own, without a body, so a client that cannot show it shows nothing
    // rather than dropping the text above with it. Its id is the challenge's, as the form's 'challenge' field.
    stanza form = message_to(r, sender, state.challenge_id);
    form.set_attribute("xml:lang", chosen.language);
    as::append_captcha_form(form.element(), r.bare_string(), settings, state);
    co_await sink_->send_unfiltered(std::move(form));
}

stanza antispim_service::lockout_error(const stanza& s, const jid& r, as::time_point until) const {
    stanza error = make_error_reply(s, "policy-violation", error_type::wait, lockout_text(r, until, stanza_lang(s)));
    pugi::xml_document extra;
    extra.load_string(retry_after_payload(until).c_str());
    error.element().child("error").append_copy(extra.first_child());
    return error;
}

asio::awaitable<void> antispim_service::send_lockout(const stanza& s, as::time_point until) {
    const jid receiver = jid::parse(s.to()).value_or(jid{}).bare();
    co_await sink_->send_unfiltered(lockout_error(s, receiver, until));
}

asio::awaitable<void> antispim_service::send_lockout_notice(const jid& r, const jid& sender, as::time_point until,
                                                            std::string_view lang) {
    const auto chosen = texts(lang);
    stanza m = chat_to(r, sender, "lockout-" + std::to_string(unix_seconds(until)), chosen.language);
    append_text(m.element(), "body",
                as::lockout_body(chosen.texts, speaker_for(r), as::clock_type::now(), until));
    pugi::xml_document extra;
    extra.load_string(retry_after_payload(until).c_str());
    m.element().append_copy(extra.first_child());
    co_await sink_->send_unfiltered(std::move(m));
}

asio::awaitable<void> antispim_service::release(const jid& r, const jid& sender, const as::receiver_record& record,
                                                std::string_view lang) {
    co_await send_approval(r, sender, record, lang);
    if (record.account_exists) {
        co_await deliver_held(r, sender.bare_string());
    }
}

asio::awaitable<void> antispim_service::send_approval(const jid& r, const jid& sender,
                                                      const as::receiver_record& record, std::string_view lang) {
    const std::string secret = as::sender_secret(record.key, sender.bare_string());
    const auto chosen = texts(lang);
    stanza m = chat_to(r, sender, "approved-" + record.key_id, chosen.language);
    append_text(m.element(), "body", as::approval_body(chosen.texts, speaker_for(r)));
    // For the sender's client, not its person: a stanza carrying it passes even after the approval is forgotten.
    append_ns(m.element(), "secret").append_child(pugi::node_pcdata).set_value(secret.c_str());
    append_ns(m.element(), "approved");
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


asio::awaitable<hush::expected<antispim_service::stranger_step, std::string>> antispim_service::record_stranger_stanza(
    const jid& r, const std::string& sender_bare, const as::challenge_settings& settings, bool account_exists,
    const stanza* to_hold) {
    using result = hush::expected<stranger_step, std::string>;
    const auto now = as::clock_type::now();
    if (!account_exists) {
        // The same steps as for an account, in memory; what would be held is only counted. One storage round trip
        // all the same (it finds nothing), so the answer takes as long as for an account: no timing class either.
        co_await store_.run([d = r.domain(), u = r.node(), sender_bare](storage::store& st) {
            return docs::get_state(st, d, u, sender_bare);
        });
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
    auto decide = [this, d = r.domain(), u = r.node(), sender_bare, settings, now,
                   xml = to_hold != nullptr ? to_hold->serialize() : std::string(), hold = to_hold != nullptr,
                   expiry = held_expiry_seconds(), limits = held_limits(),
                   notice_seconds = std::chrono::duration_cast<std::chrono::seconds>(request_notice_interval).count()](
                      storage::store& st) -> storage::result<stranger_step> {
        // Read, decide and write under the account's lock: a parallel stanza of the same sender waits for this
        // one and then sees what it wrote.
        return storage::atomically(st, d, u, [&]() -> storage::result<stranger_step> {
            auto state = docs::get_state(st, d, u, sender_bare);
            if (!state) {
                return hush::unexpected<storage::error>(state.error());
            }
            stranger_step step;
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
        co_return hush::unexpected<std::string>(step.error().message);
    }
    co_return result(std::move(*step));
}

asio::awaitable<as::answer_outcome> antispim_service::answer(const jid& r, const jid& sender, std::string_view text,
                                                             const stanza& reply_to) {
    const std::string sender_bare = sender.bare_string();
    const auto now = as::clock_type::now();
    struct judged {
        as::answer_outcome outcome;
        as::receiver_record record;  // with the state after the answer
    };
    std::optional<judged> done;
    // One atomic storage operation for read-decide-write: parallel answers are judged one after the other, so
    // each costs a try and none gets around the lockout.
    auto decide = [this, d = r.domain(), u = r.node(), sender_bare, now, answer_text = std::string(text),
                   defaults = cfg_.challenge](storage::store& st) -> storage::result<std::optional<judged>> {
        return storage::atomically(st, d, u, [&]() -> storage::result<std::optional<judged>> {
            auto exists = st.account_exists(d, u);
            if (!exists) {
                return hush::unexpected<storage::error>(exists.error());
            }
            if (!*exists) {
                return std::optional<judged>();  // judged in memory below
            }
            auto record = read_record(st, d, u, sender_bare, defaults);
            if (!record) {
                return hush::unexpected<storage::error>(record.error());
            }
            judged j;
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
    switch (outcome.what) {
    case kind::pass:
        co_await release(r, sender, record, stanza_lang(reply_to));
        break;
    case kind::wrong:
    case kind::too_fast:
        co_await send_challenge(r, sender, record.settings, record.state,
                                outcome.what == kind::wrong ? as::challenge_feedback::wrong
                                                            : as::challenge_feedback::too_fast,
                                stanza_lang(reply_to));
        break;
    case kind::locked_out: {
        if (record.account_exists) {
            co_await count_lockout(r);
        }
        if (reply_to.kind() == stanza_kind::message) {
            co_await send_lockout_notice(r, sender, outcome.until, stanza_lang(reply_to));
        }
        break;
    }
    case kind::blocked:
        spdlog::warn("antispim: {} is now blocked for {} after {} lockouts", sender_bare, r.bare_string(),
                     record.settings.steps);
        if (record.account_exists && consensus_ != nullptr && cfg_.consensus.count_lockouts) {
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
            secret && as::secret_matches(record->key, sender_bare, secret.child_value())) {
            co_return result(as::verdict::pass());
        }
        const auto& state = record->state;
        auto* svc = &service_;
        if (ctx.kind == stanza_kind::message && !state.blocked &&
            as::challenge_engine::looks_like_answer(state, s.element().child_value("body"))) {
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
        // A preview on a copy names the verdict; the effect decides again on the stored state and records it in one
        // atomic storage operation (never in dry-run, where effects do not run).
        as::sender_state preview = state;
        const auto outcome =
            service_.with_engine([&](as::challenge_engine& e) { return e.on_stanza(preview, settings, as::clock_type::now()); });
        const bool exists = record->account_exists;
        using kind = as::stranger_outcome::kind;
        switch (outcome.what) {
        case kind::blocked: {
            as::verdict v = make(as::verdict_kind::reject, "stranger-blocked");
            v.error_condition = "service-unavailable";
            co_return result(std::move(v));
        }
        case kind::locked_out: {
            as::verdict v = make(as::verdict_kind::defer, "stranger-locked-out",
                                 [svc, receiver, sender_bare, settings, exists](const stanza&) -> asio::awaitable<void> {
                                     // The lockout starts over (seed step k); the router sends the error.
                                     auto step = co_await svc->record_stranger_stanza(receiver, sender_bare, settings,
                                                                                      exists, nullptr);
                                     if (!step) {
                                         spdlog::error("antispim: cannot record a lockout of {} for {}: {}",
                                                       sender_bare, receiver.bare_string(), step.error());
                                     }
                                 });
            v.error_condition = "policy-violation";
            v.error_text = service_.lockout_text(receiver, outcome.until, stanza_lang(s));
            v.error_payload = retry_after_payload(outcome.until);
            co_return result(std::move(v));
        }
        case kind::challenge:
        case kind::resend:
            co_return result(make(
                as::verdict_kind::hold, outcome.what == kind::challenge ? "stranger-challenged" : "stranger-held",
                [svc, receiver, sender, sender_bare, settings, exists](const stanza& held) -> asio::awaitable<void> {
                    auto step = co_await svc->record_stranger_stanza(receiver, sender_bare, settings, exists, &held);
                    if (!step) {
                        spdlog::error("antispim: cannot hold a stanza from {} for {}: {}", sender_bare,
                                      receiver.bare_string(), step.error());
                        co_await svc->sink().send(make_error_reply(held, "internal-server-error", error_type::wait,
                                                                   "try again later"));
                        co_return;
                    }
                    if (step->sender_full) {
                        co_await svc->sink().send(make_error_reply(
                            held, "resource-constraint", error_type::wait,
                            as::waiting_sentence(svc->texts(stanza_lang(held)).texts, svc->speaker_for(receiver))));
                        co_return;
                    }
                    for (const auto& evicted : step->evicted) {
                        co_await svc->send_eviction_notice(evicted);
                    }
                    if (step->notify_requests > 0) {
                        co_await svc->send_request_notice(receiver, step->notify_requests);
                    }
                    switch (step->outcome.what) {
                    case kind::challenge:
                        co_await svc->send_challenge(receiver, sender, settings, step->state,
                                                     as::challenge_feedback::none, stanza_lang(held));
                        break;
                    case kind::locked_out:  // a parallel stanza used the last try first
                        co_await svc->send_lockout(held, step->outcome.until);
                        break;
                    case kind::blocked:
                        co_await svc->sink().send(make_error_reply(held, "service-unavailable"));
                        break;
                    case kind::resend:
                        break;
                    }
                }));
        }
        co_return result(as::verdict::pass());
    }

private:
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
        // The same answers for a missing account as for an existing one (its challenges live in memory).
        auto record = co_await load_record(addressed, requester->bare_string());
        if (!record) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "try again later");
        }
        if (record->state.challenge_id != submitted->first) {
            co_return make_error_reply(iq, "item-not-found", "no such challenge (it may have been replaced)");
        }
        const auto outcome = co_await answer(addressed, *requester, submitted->second, iq);
        using kind = as::answer_outcome::kind;
        if (outcome.what == kind::pass) {
            co_return make_iq_result(iq);
        }
        if (outcome.what == kind::locked_out) {
            co_return lockout_error(iq, addressed, outcome.until);
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
