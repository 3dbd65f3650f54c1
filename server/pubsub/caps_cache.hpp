#pragma once
// XEP-0115 entity capabilities of the available full JIDs the server hears presence from (its users' sessions and
// their contacts'), for XEP-0163 §4's `+notify` filtering. A ver is asked once (disco#info to one JID announcing
// it), its answer kept only when it hashes to the ver; what a legacy or unknown-hash <c/> answers is believed for
// that one JID only.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/layer.hpp"
#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush {

class caps_cache final : public server_inbox {
public:
    using feature_set = std::vector<std::string>;  // sorted, unique
    using clock = std::chrono::steady_clock;
    using known_fn = std::function<boost::asio::awaitable<void>(jid full, std::shared_ptr<const feature_set>)>;

    // disco#info queries awaiting an answer, server-wide; one left unanswered this long no longer counts.
    static constexpr std::size_t max_outstanding = 1000;
    static constexpr clock::duration query_timeout = std::chrono::seconds(60);

    // `self`: the domain queries come from (and answers go to). `max_entries`: vers kept (least recently
    // announced dropped first); `max_jids`: full JIDs tracked (the longest silent dropped first).
    caps_cache(std::string self, std::size_t max_entries, std::size_t max_jids);

    // An available presence (with or without <c xmlns='http://jabber.org/protocol/caps'/>) from `from`; an
    // unavailable one forgets it (other types are ignored). Returns the disco#info query to send (from `self`, to
    // `from`, node='node#ver') when the ver is not known and none is outstanding for it. When the JID's features are
    // known at once (a ver already cached, announced anew by this JID), on_known is told before this returns.
    boost::asio::awaitable<std::optional<stanza>> presence(const jid& from, const stanza& presence);
    void forget(const jid& full);
    // Null: not known (yet). Empty: the JID announced no caps.
    std::shared_ptr<const feature_set> features(const jid& full) const;
    // The available full JIDs of `bare` whose client has `<node>+notify`.
    std::vector<jid> wanting(const jid& bare, std::string_view node) const;
    // Told when a full JID's features become known (answer verified, or a cached ver announced anew); set once at
    // start, before any stanza flows.
    void on_known(known_fn fn);
    // The result or error answering one of our queries (from the JID asked): true when consumed.
    boost::asio::awaitable<bool> handle(const stanza& s) override;

    // For /metrics and tests.
    std::size_t vers() const;
    std::size_t jids() const;
    std::size_t outstanding() const;
    void set_clock(std::function<clock::time_point()> now) { now_ = std::move(now); }

private:
    struct entry {
        std::shared_ptr<const feature_set> features;
        std::list<std::string>::iterator lru;
    };
    struct jid_state {
        jid full;
        std::string key;                            // hash ' ' ver; "" when no <c/>; '~' node#ver when unverifiable
        std::shared_ptr<const feature_set> own;     // an unverifiable answer, believed for this JID only
        bool refused = false;  // its answer for `key` failed (error, ill-formed, wrong hash): not asked again
        std::list<std::string>::iterator age;
    };
    struct query {
        jid to;
        std::string key;          // the JID's key when asked (of entries_ when verifiable)
        bool verifiable = false;  // else the answer is believed for `to` only
        std::string hash;
        std::string ver;
        std::string dedup;        // in asked_
        clock::time_point sent;
    };

    // Under mutex_.
    jid_state& record(const jid& full);
    void erase_jid(const std::string& full);
    void set_key(jid_state& state, std::string key);
    void expire_queries(clock::time_point now);
    std::shared_ptr<const feature_set> features_locked(const jid_state& state) const;
    void store(const std::string& key, std::shared_ptr<const feature_set> features);
    // The asked JID's answer for `q` failed; it is not asked again while it announces the same.
    void refused(const query& q);

    const std::string self_;
    const std::size_t max_entries_;
    const std::size_t max_jids_;
    std::function<clock::time_point()> now_ = [] { return clock::now(); };
    known_fn known_;

    // Several event-loop threads call in: one mutex, held for map operations only (never across co_await).
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::list<std::string> lru_;  // keys of entries_, least recently announced first
    std::unordered_map<std::string, jid_state> jids_;
    std::list<std::string> ages_;  // full JIDs, longest silent first
    std::map<std::string, std::set<std::string>> by_bare_;
    std::unordered_map<std::string, std::set<std::string>> by_key_;  // key -> full JIDs announcing it
    std::map<std::string, query> outstanding_;  // by iq id
    std::map<std::string, std::string> asked_;  // dedup key -> iq id
    std::uint64_t next_id_ = 0;
};

}  // namespace hush
