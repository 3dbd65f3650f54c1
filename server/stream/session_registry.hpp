#pragma once
// Bound client sessions by JID, shared by all event-loop threads. Holds weak pointers only: a session's own
// coroutines own it. Also keeps each resource's presence state (available, priority) for routing.
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/jid.hpp"
#include "server/stream/session.hpp"

namespace hush {

struct bound_resource {
    hush::jid full;
    std::shared_ptr<session> target;
    bool available = false;
    int priority = 0;
    bool interested = false;  // requested the roster: gets roster pushes and subscription requests
    bool carbons = false;     // XEP-0280 enabled
    shared_bytes presence;  // last broadcast presence, serialized (a parsed one costs a 32 KiB page), for probes
    bool blocklist_requested = false;  // XEP-0191: gets blocklist pushes once it asked for the list
};

class session_registry {
public:
    // Binds `full` to `s`. Returns the session that had the same full JID (to be closed with <conflict/>), if any.
    std::shared_ptr<session> bind(const jid& full, const std::shared_ptr<session>& s);
    // Removes the binding if it still belongs to `s`. Returns false when another live session holds `full` now
    // (`s` was replaced by a new bind of its resource): the resource did not go away.
    bool unbind(const jid& full, const session* s);
    // Moves the binding of `full` from `from` to `to`, keeping its presence, interest and carbons (XEP-0198: a
    // resumed or detached session is the same resource). False when it was not `from`'s.
    bool rebind(const jid& full, const session* from, const std::shared_ptr<session>& to);
    void set_presence(const jid& full, bool available, int priority, shared_bytes presence = {});
    void set_interested(const jid& full, bool interested);
    void set_carbons(const jid& full, bool enabled);
    void set_blocklist_requested(const jid& full);

    std::shared_ptr<session> find(const jid& full) const;
    // Every bound resource of an account (live sessions only).
    std::vector<bound_resource> resources(const jid& bare) const;
    // Whether the account of `account` (bare or full: its bare part counts) has a live session, and whether one of
    // them enabled carbons: the per-message checks, without copying the resources.
    bool online(const jid& account) const;
    bool any_carbons(const jid& account) const;
    // Whether any resource of the account is available (online, in the RFC 6121 sense).
    bool any_available(const jid& bare) const;
    // The available resources with the highest non-negative priority (RFC 6121 §8.5.2.1.1).
    std::vector<bound_resource> best_available(const jid& bare) const;
    std::vector<std::shared_ptr<session>> all() const;
    std::size_t size() const;

private:
    struct entry {
        std::string resource;
        std::weak_ptr<session> target;
        bool available = false;
        int priority = 0;
        bool interested = false;
        bool carbons = false;
        shared_bytes presence;
        bool blocklist_requested = false;
    };
    template <class Fn>
    void update(const jid& full, Fn fn);
    // Whether a live session of the account matches `pred` (one lookup, no copies): online, any_carbons,
    // any_available.
    template <class Pred>
    bool any_live(const jid& account, Pred pred) const;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, std::vector<entry>> by_bare_;  // key: bare JID string
    std::size_t count_ = 0;
};

}  // namespace hush
