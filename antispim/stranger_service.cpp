// antispim_service: who is a stranger to whom (relation, records, trusted local users, contact notes), the
// receiver's challenge record (or a phantom one for a missing account) and the sweeper of expired state.
#include "antispim/stranger_service.hpp"

#include "antispim/documents.hpp"
#include "antispim/stranger_service_internal.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "protocol/scram.hpp"
#include "protocol/subscription.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
namespace docs = antispim_documents;
using stranger_detail::approved_now;
using stranger_detail::load_relation;
using stranger_detail::read_record;
using stranger_detail::relation_loaded;
using stranger_detail::relation_plan;

namespace {

std::uint64_t random_seed() {
    std::uint64_t seed = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
    return seed;
}

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

// How long an address a user wrote to may answer with an error or an iq result.
constexpr auto answer_window = std::chrono::minutes{10};

}  // namespace

antispim_service::antispim_service(const antispim_config& cfg, storage::async_store& store,
                                   std::function<bool(std::string_view)> is_local, consensus* consensus,
                                   std::function<bool(const antispim::spim_context&)> challenge_listing,
                                   as::challenge_evidence* evidence, content_learner learner)
    : cfg_(cfg),
      store_(store),
      is_local_(std::move(is_local)),
      consensus_(consensus),
      evidence_(evidence),
      challenge_listing_(std::move(challenge_listing)),
      learner_(std::move(learner)),
      engine_(random_seed()) {
    phantom_key_ = sasl::random_hex(32);
    phantom_key_id_ = phantom_key_.substr(0, 12);  // same length as a real key id
}

std::vector<std::string> antispim_service::account_features() { return {std::string(as::ns), std::string(as::captcha_ns)}; }

namespace stranger_detail {

storage::result<as::receiver_record> read_record(storage::store& s, const std::string& d, const std::string& u,
                                                 const std::string& sender_bare,
                                                 const as::challenge_settings& defaults, bool make_key) {
    auto settings = docs::get_settings(s, d, u);
    if (!settings) {
        return hush::unexpected<storage::error>(settings.error());
    }
    auto key = make_key ? docs::get_key(s, d, u) : docs::peek_key(s, d, u);
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

}  // namespace stranger_detail

// ---- storage ------------------------------------------------------------------------------------------------------

asio::awaitable<hush::expected<antispim_service::receiver_view, std::string>> antispim_service::receiver(
    const jid& r) {
    using result = hush::expected<receiver_view, std::string>;
    auto load = [d = r.domain(), u = r.node(), defaults = cfg_.challenge](storage::store& s)
        -> storage::result<receiver_view> {
        auto record = read_record(s, d, u, {}, defaults, false);
        if (!record) {
            return hush::unexpected<storage::error>(record.error());
        }
        return receiver_view{std::move(record->settings), std::move(record->key), std::move(record->key_id)};
    };
    auto loaded = co_await store_.read(std::move(load));
    if (!loaded) {
        co_return hush::unexpected<std::string>(loaded.error().message);
    }
    co_return result(std::move(*loaded));
}

std::int64_t antispim_service::held_expiry_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(cfg_.held_expiry).count();
}

// ---- strangers ----------------------------------------------------------------------------------------------------


asio::awaitable<bool> antispim_service::stranger_to_user(const jid& user, const jid& to, const companion_read& also,
                                                         relation_ahead* ahead) {
    if (to.equals_bare(user) || (!to.has_node() && is_local_(to.domain()))) {
        co_return false;
    }
    auto mine = plan_relation(user.bare(), to, false);
    if (mine.answered) {
        co_return !mine.facts.contact;  // a contact, from memory: nothing to read, for the guard or ahead
    }
    std::optional<relation_plan> theirs;
    if (ahead != nullptr) {
        theirs = plan_relation(to.bare(), user, ahead->check_exists);
    }
    // One job: the user's side, the companion's reads when `to` is a stranger to it, `to`'s side. Only the
    // user's side failing fails the job; the others' failures are theirs (re-read later, as alone).
    struct both {
        relation_loaded mine;
        std::optional<storage::result<relation_loaded>> theirs;
    };
    auto load = [mine, theirs, also](storage::store& s) -> storage::result<both> {
        auto first = load_relation(s, mine);
        if (!first) {
            return hush::unexpected<storage::error>(first.error());
        }
        both out{std::move(*first), std::nullopt};
        if (also && !stranger_detail::loaded_contact(out.mine)) {
            (void)also(s);  // it records what it read; unread, its owner reads it again
        }
        if (theirs && !theirs->answered) {
            out.theirs = load_relation(s, *theirs);
        }
        return out;
    };
    auto got = co_await store_.read(std::move(load));
    if (!got) {
        co_return true;  // the chain decides what a stranger gets; failing open would let spam through
    }
    if (theirs) {
        if (theirs->answered) {
            ahead->facts = std::move(theirs->facts);
        } else if (got->theirs) {
            if (auto facts = finish_relation(*theirs, std::move(*got->theirs)); facts) {
                ahead->facts = std::move(*facts);
            }
        }
    }
    auto facts = finish_relation(mine, std::move(got->mine));
    co_return !facts || !facts->contact;
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
    auto plan = plan_relation(r, sender, check_exists);
    if (plan.answered) {
        co_return result(std::move(plan.facts));
    }
    // Only reads (the key, too, is only looked at): on a reader connection, never queued behind writes.
    auto got = co_await store_.read([plan](storage::store& s) { return load_relation(s, plan); });
    co_return finish_relation(plan, std::move(got));
}

relation_plan antispim_service::plan_relation(const jid& receiver, const jid& sender, bool check_exists) {
    relation_plan plan;
    const jid r = receiver.bare();  // a full JID only tells which of the account's resources joined a room
    plan.receiver = r;
    plan.receiver_bare = r.bare_string();
    plan.sender_bare = sender.bare_string();
    plan.pair_key = plan.receiver_bare + " " + plan.sender_bare;
    plan.d = r.domain();
    plan.u = r.node();
    plan.sd = sender.domain();
    plan.su = sender.node();
    plan.check_exists = check_exists;
    const bool local_sender = sender.has_node() && is_local_(sender.domain());
    plan.established_known = local_sender && is_established_cached(plan.sender_bare);
    plan.check_trust = local_sender && cfg_.trust_local_users && !plan.established_known;
    plan.defaults = cfg_.challenge;
    plan.min_age = std::chrono::duration_cast<std::chrono::seconds>(cfg_.trusted_after).count();
    plan.min_contacts = cfg_.trusted_min_contacts;
    plan.now = unix_seconds(as::clock_type::now());
    {
        std::lock_guard lock(engine_mutex_);
        const auto now = as::clock_type::now();
        // Errors come from the address the stanza went to (RFC 6120 §8.3.1): the same bare JID, or domain.
        if (const auto* at = addressed_.peek(plan.pair_key); at != nullptr && now - *at < answer_window) {
            plan.facts.answers_receiver = true;
        }
        // Per resource: one device leaving a room does not end another's membership.
        plan.facts.joined_room = joined_.peek(receiver.full_string() + " " + plan.sender_bare) != nullptr;
    }
    // A contact of an online receiver is answered from memory while nothing that could end a relationship has
    // been written since it was read (and for at most contact_cache_ttl, for what another process writes).
    plan.generation = store_.relations_generation();  // before the read that may fill the cache
    if (!check_exists) {
        std::lock_guard lock(engine_mutex_);
        if (const auto* cached = contacts_.peek(plan.pair_key); cached != nullptr &&
                                                                 cached->generation == plan.generation &&
                                                                 as::clock_type::now() - cached->at < contact_cache_ttl) {
            plan.facts.contact = true;
            plan.facts.related = true;  // the cache holds only relationships, never approvals
            plan.answered = true;
        }
    }
    return plan;
}

namespace stranger_detail {

storage::result<relation_loaded> load_relation(storage::store& s, const relation_plan& p) {
    relation_loaded out;
    if (p.check_exists) {
        auto exists = s.account_exists(p.d, p.u);
        if (!exists) {
            return hush::unexpected<storage::error>(exists.error());
        }
        out.exists = *exists;
        if (!out.exists) {
            return out;  // nothing else to read: the answer comes from memory, shaped as for an account
        }
    }
    auto rel = related(s, p.d, p.u, p.sender_bare);
    if (!rel) {
        return hush::unexpected<storage::error>(rel.error());
    }
    out.contact = *rel;
    if (out.contact) {
        return out;
    }
    if (p.check_trust) {
        auto created = s.account_created_at(p.sd, p.su);
        if (!created) {
            return hush::unexpected<storage::error>(created.error());
        }
        if (*created && p.now - **created >= p.min_age) {
            std::size_t mutual = 0;
            if (p.min_contacts > 0) {
                auto roster = s.get_roster(p.sd, p.su);
                if (!roster) {
                    return hush::unexpected<storage::error>(roster.error());
                }
                for (const auto& item : *roster) {
                    mutual += item.sub == storage::subscription::both ? 1 : 0;
                }
            }
            out.established = mutual >= p.min_contacts;
        }
    }
    auto record = read_record(s, p.d, p.u, p.sender_bare, p.defaults, false);
    if (!record) {
        return hush::unexpected<storage::error>(record.error());
    }
    out.record = std::move(*record);
    return out;
}

}  // namespace stranger_detail

hush::expected<relation_facts, std::string> antispim_service::finish_relation(relation_plan& plan,
                                                                            storage::result<relation_loaded> got) {
    using result = hush::expected<relation_facts, std::string>;
    if (!got) {
        return hush::unexpected<std::string>(got.error().message);
    }
    relation_facts facts = std::move(plan.facts);
    facts.account_exists = got->exists;
    facts.contact = got->contact;
    facts.related = got->exists && got->contact;
    if (got->exists && got->contact) {
        std::lock_guard lock(engine_mutex_);
        contacts_.insert_or_assign(plan.pair_key, cached_contact{plan.generation, as::clock_type::now()});
    }
    if (got->established) {
        std::lock_guard lock(engine_mutex_);
        established_.insert_or_assign(plan.sender_bare, true);
    }
    facts.trusted_local = !facts.contact && (plan.established_known || got->established);
    if (!got->exists) {
        auto record = phantom_record(plan.receiver, plan.sender_bare);  // from memory: no more storage
        facts.contact = approved_now(record);
        facts.record = std::make_shared<const as::receiver_record>(std::move(record));
        return result(std::move(facts));
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
    return result(std::move(facts));
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
        auto record = read_record(s, d, u, sender_bare, defaults, false);
        if (!record) {
            return hush::unexpected<storage::error>(record.error());
        }
        return loaded{true, std::move(*record)};
    };
    auto got = co_await store_.read(std::move(load));
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

void antispim_service::learn_ham(const stanza& s, const jid& from, const jid& to) {
    // This runs for every such message on the routing path: one in ham_sample_every is looked at (a counter, no
    // lock, no allocation), and each pair teaches once. (A sender keeps writing to someone new until they answer.)
    if (!learner_ || s.kind() != stanza_kind::message ||
        ham_sampled_.fetch_add(1, std::memory_order_relaxed) % ham_sample_every != 0 ||
        s.element().child("body").empty()) {
        return;
    }
    {
        std::lock_guard lock(engine_mutex_);
        if (!taught_.try_emplace(from.bare_string() + " " + to.bare_string(), true).second) {
            return;
        }
    }
    learner_(false, s.element().child_value("body"));
}

void antispim_service::session_ended(const jid& full, const std::set<std::string>& directed) {
    std::lock_guard lock(engine_mutex_);
    for (const auto& to : directed) {
        if (const auto target = jid::parse(to)) {
            joined_.erase(full.full_string() + " " + target->bare_string());
        }
    }
}

asio::awaitable<void> antispim_service::outbound(const stanza& s, const jid& from, const jid& to,
                                                 as::contact_note* defer) {
    const std::string user = from.bare_string();
    const std::string target = to.bare_string();
    {
        // What this user may get answers from (errors, iq results) and which rooms it is in (groupchat).
        std::lock_guard lock(engine_mutex_);
        const auto now = as::clock_type::now();
        addressed_.insert_or_assign(user + " " + target, now);
        if (s.kind() == stanza_kind::presence && !to.is_bare()) {
            // Which resource is in which room: groupchat reaches the resources that joined (not the account).
            if (s.type().empty()) {
                joined_.insert_or_assign(from.full_string() + " " + target, true);
            } else if (s.type() == "unavailable") {
                joined_.erase(from.full_string() + " " + target);
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
    as::contact_note note{from.domain(), from.node(), target, true};
    if (defer != nullptr) {
        *defer = std::move(note);
        co_return;
    }
    co_await store_note(note);
}

asio::awaitable<void> antispim_service::store_note(as::contact_note& note) {
    if (!note.pending) {
        co_return;
    }
    note.pending = false;
    auto write = [d = note.domain, u = note.user, target = note.target](storage::store& st) {
        return docs::note_contact(st, d, u, target);
    };
    noted(note, co_await store_.run(std::move(write)));
}

void antispim_service::noted(const as::contact_note& note, const storage::result<void>& stored) {
    const std::string user = note.user.empty() ? note.domain : note.user + "@" + note.domain;
    if (!stored) {
        spdlog::error("antispim: cannot note that {} wrote to {}: {}", user, note.target, stored.error().message);
        return;
    }
    std::lock_guard lock(engine_mutex_);
    noted_.insert_or_assign(user + " " + note.target, true);  // bounded; forgetting only costs one read later
}

storage::held_limits antispim_service::held_limits() const {
    storage::held_limits limits;
    limits.max_per_sender = cfg_.max_held_per_sender;
    limits.max_per_receiver = cfg_.max_held_per_receiver;
    limits.max_bytes_per_receiver = cfg_.max_held_bytes_per_receiver;
    limits.max_total = cfg_.max_held_total;
    return limits;
}

asio::awaitable<void> antispim_service::sweep() {
    auto run = [now = unix_seconds(as::clock_type::now()), held = held_expiry_seconds(),
                states = std::chrono::duration_cast<std::chrono::seconds>(cfg_.state_expiry).count(),
                contacts = std::chrono::duration_cast<std::chrono::seconds>(cfg_.contact_expiry).count()](
                   storage::store& st) { return docs::sweep(st, now, held, states, contacts); };
    for (;;) {
        auto swept = co_await store_.run(run);
        store_.relations_changed();  // expired contact notes end relationships
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

}  // namespace hush
