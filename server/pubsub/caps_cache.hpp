#pragma once
// XEP-0115 entity capabilities of the available full JIDs the PEP services hear presence from (the accounts'
// sessions and their contacts'), for XEP-0163 §4's `+notify` filtering. The engine asks (server/pubsub/pubsub_pep);
// this keeps what was announced and what answers verified: an answer is kept only when it hashes to the ver, and
// what a legacy or unknown-hash <c/> answers is believed for that one JID only.
#include <cstddef>
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


#include "protocol/caps.hpp"
#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush {

class caps_cache {
public:
    using feature_set = std::vector<std::string>;  // sorted, unique

    // `max_entries`: vers kept (least recently announced dropped first); `max_jids`: full JIDs tracked (the longest
    // silent dropped first).
    caps_cache(std::size_t max_entries, std::size_t max_jids);

    // An available presence from `from` (with or without <c xmlns='http://jabber.org/protocol/caps'/>): what the
    // JID announces is recorded; returns the announcement, if any (to ask about when features() is still null).
    std::optional<caps::announcement> announce(const jid& from, const stanza& presence);
    // A disco#info result `from` sent about what it announced: kept (server-wide, by ver) when it hashes to the
    // ver; a legacy or unknown-hash announcement's answer is believed for `from` only. True when `from`'s features
    // are known now.
    bool learn(const jid& from, const stanza& answer);
    void forget(const jid& full);
    // Null: not known (yet). Empty: the JID announced no caps.
    std::shared_ptr<const feature_set> features(const jid& full) const;
    // The available full JIDs of `bare` whose client has `<node>+notify`.
    std::vector<jid> wanting(const jid& bare, std::string_view node) const;

    // For /metrics and tests.
    std::size_t vers() const;
    std::size_t jids() const;

private:
    struct entry {
        std::shared_ptr<const feature_set> features;
        std::list<std::string>::iterator lru;
    };
    struct jid_state {
        jid full;
        std::string key;                            // hash ' ' ver; "" when no <c/>; '~' node#ver when unverifiable
        std::shared_ptr<const feature_set> own;     // an unverifiable answer, believed for this JID only
        std::list<std::string>::iterator age;
    };
    // Under mutex_.
    jid_state& record(const jid& full);
    void erase_jid(const std::string& full);
    void set_key(jid_state& state, std::string key);
    std::shared_ptr<const feature_set> features_locked(const jid_state& state) const;
    void store(const std::string& key, std::shared_ptr<const feature_set> features);

    const std::size_t max_entries_;
    const std::size_t max_jids_;

    // Several event-loop threads call in: one mutex, held for map operations only (never across co_await).
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::list<std::string> lru_;  // keys of entries_, least recently announced first
    std::unordered_map<std::string, jid_state> jids_;
    std::list<std::string> ages_;  // full JIDs, longest silent first
    std::map<std::string, std::set<std::string>> by_bare_;
    std::unordered_map<std::string, std::set<std::string>> by_key_;  // key -> full JIDs announcing it
};

}  // namespace hush
