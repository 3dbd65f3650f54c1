#pragma once
// What a resumed session takes over from the one it resumes (a live connection the client left behind, or a
// detached_session), and the interface both offer for it.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/jid.hpp"
#include "server/sm/sm_state.hpp"
#include "server/stream/session.hpp"

namespace hush::sm {

struct handover {
    jid full;              // the bound resource
    sm_state state;        // counters and the unacknowledged stanzas
    std::chrono::seconds resume_timeout{0};  // the window the client was given
    bool available = false;  // had sent available presence
    std::set<std::string> directed;  // directed-presence recipients (told of the end, if it ever ends)
    std::string last_status;         // of its last unavailable presence (XEP-0012)
    // Presence updates held back (XEP-0352 inactive, or while detached), the latest per sender, oldest first.
    std::vector<std::pair<std::string, shared_bytes>> held_presence;
};

class resumable {
public:
    virtual ~resumable() = default;
    // Gives the session up to `successor`, on this session's own executor: when it still holds the binding of an
    // account whose bare JID is `claimant`, the session registry's binding moves to `successor`, `done` is called
    // with the state, and whatever still reaches this one is passed on to it. Else `done(nullopt)`. `done` runs on
    // this session's executor and must only post; the successor keeps what reaches it before the state does.
    virtual void take_over(const jid& claimant, std::shared_ptr<session> successor,
                           std::function<void(std::optional<handover>)> done) = 0;
};

}  // namespace hush::sm
