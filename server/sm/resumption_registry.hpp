#pragma once
// Which session a XEP-0198 resumption id names, and for whom: only the account that enabled it can resume it, and
// an unknown id, another account's and an expired one get the same <failed/> (nothing tells a guesser which ids
// exist). Bounded: past max_sessions the oldest id is forgotten (that session can no longer be resumed, nothing
// else). A session that ended leaves its last count for a while, for the h of <failed/> (XEP-0198 §5).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "antispim/bounded_map.hpp"
#include "server/sm/handover.hpp"

namespace hush::sm {

class resumption_registry {
public:
    explicit resumption_registry(std::size_t max_sessions, std::size_t max_per_account = 10);

    // A new resumable session (its id is fresh and unguessable).
    void add(const std::string& id, const jid& bare, std::weak_ptr<resumable> holder);
    // The session now holding `id` (a resumed or detached one).
    void replace(const std::string& id, std::weak_ptr<resumable> holder);
    // The holder of `id` when it is `bare`'s and still alive.
    std::shared_ptr<resumable> find(const std::string& id, const jid& bare) const;
    // The session ended for good: the id resumes nothing, but <failed/> still gets its h for a while.
    void ended(const std::string& id, std::uint32_t handled);
    // The last h of an ended session of `bare`'s, if remembered.
    std::optional<std::uint32_t> ended_count(const std::string& id, const jid& bare) const;
    std::size_t size() const;

    // Sessions waiting to be resumed: at most max_sessions server-wide and max_per_account for one account (a client
    // that enables resumption and drops its connection in a loop cannot take the server's places). A connection
    // that drops when none is left ends its session at once (its stanzas rerouted) instead of waiting.
    bool reserve_detached(const jid& account);
    void release_detached(const jid& account);
    std::size_t detached() const { return detached_.load(); }

private:
    struct entry {
        std::string bare;
        std::weak_ptr<resumable> holder;
        std::optional<std::uint32_t> ended_handled;
    };
    mutable std::mutex mutex_;
    antispim::bounded_map<std::string, entry> entries_;
    const std::size_t max_detached_;
    const std::size_t max_per_account_;
    std::atomic<std::size_t> detached_{0};
    std::mutex detached_mutex_;
    std::unordered_map<std::string, std::size_t> detached_by_account_;  // bare JID -> places it holds (bounded by
                                                                        // max_sessions: one entry per place)
};

}  // namespace hush::sm
