#pragma once
// Where the anti-SPIM layer keeps its per-account data: storage documents of the account and the held_stanzas table
// (so it survives restarts, works on both backends and goes away with the account). Synchronous functions on a
// storage::store, for the server's storage workers and for hushctl alike.
//
//   antispim:settings        the user's <challenge/> settings (absent: the server default)
//   antispim:key             the user's challenge key (a new one whenever the question or answers change)
//   antispim:state:<sender>  the sender's challenge state (antispim::sender_state); swept after state_expiry
//                            without a write
//   antispim:contact:<jid>   the user wrote to <jid> first (no stranger from then on); swept after contact_expiry
//                            without a write
//   held stanzas             the held_stanzas table (store::add_held_stanza), one row per stanza
//   antispim:held:<sender>   before schema 6, the sender's held stanzas in one document: moved into the table
//                            when the account's held stanzas are next used, swept after held_expiry otherwise
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "antispim/challenge.hpp"
#include "storage/store.hpp"

namespace hush::antispim_documents {

std::string state_key(const std::string& sender_bare);
std::string held_key(const std::string& sender_bare);
std::string contact_key(const std::string& contact_bare);

// The user's challenge key, made on first use. `id` is a short digest recorded with approvals.
struct challenge_key {
    std::string key;
    std::string id;
};
storage::result<challenge_key> get_key(storage::store& s, const std::string& domain, const std::string& user);
// The key without making one (for reads): a user without one yet gets a throwaway key of the same shape, under
// which nothing was ever approved or given a secret, so it lets nobody in.
storage::result<challenge_key> peek_key(storage::store& s, const std::string& domain, const std::string& user);
// A new key: old secrets and approvals stop working.
storage::result<void> rotate_key(storage::store& s, const std::string& domain, const std::string& user);

// The user's own settings, if any (unparsable ones count as none).
storage::result<std::optional<antispim::challenge_settings>> get_settings(storage::store& s, const std::string& domain,
                                                                         const std::string& user);
storage::result<void> put_settings(storage::store& s, const std::string& domain, const std::string& user,
                                   const antispim::challenge_settings& settings);

storage::result<antispim::sender_state> get_state(storage::store& s, const std::string& domain, const std::string& user,
                                                  const std::string& sender_bare);
storage::result<void> put_state(storage::store& s, const std::string& domain, const std::string& user,
                                const std::string& sender_bare, const antispim::sender_state& state);

// The challenge decision, atomic for the receiver's account: reads the sender's state, calls decide(state) (which
// may change it and returns what was decided, any non-void value) and stores the state when it changed — one write
// transaction holding the account's lock, so parallel stanzas or answers of one sender are decided one after the
// other, each on the state the one before stored (no lost tries). decide runs on the storage worker, inside the
// transaction: keep it to the decision (no I/O, no co_await). Returns decide's value once committed.
template <class Decide>
auto decide_state(storage::store& s, const std::string& domain, const std::string& user,
                  const std::string& sender_bare, Decide&& decide)
    -> storage::result<std::invoke_result_t<Decide&, antispim::sender_state&>>;

struct held_stanza {
    std::int64_t at = 0;  // unix seconds it arrived
    std::string xml;
};
// Holds `xml` within `limits` (limits.expire_before is set from now - expiry_seconds): the outcome says whether it
// was kept and which requests were evicted to make room (tell each evicted sender its messages were dropped).
storage::result<storage::hold_outcome> add_held(storage::store& s, const std::string& domain, const std::string& user,
                                                const std::string& sender_bare, const std::string& xml,
                                                std::int64_t now, std::int64_t expiry_seconds,
                                                const storage::held_limits& limits);
// Removes and returns the sender's held stanzas (unexpired), oldest first.
storage::result<std::vector<held_stanza>> take_held(storage::store& s, const std::string& domain,
                                                    const std::string& user, const std::string& sender_bare,
                                                    std::int64_t now, std::int64_t expiry_seconds);

// Message requests: every sender with held stanzas, in sender order.
struct message_request {
    std::string sender;
    std::vector<held_stanza> held;
};
storage::result<std::vector<message_request>> list_requests(storage::store& s, const std::string& domain,
                                                            const std::string& user, std::int64_t now,
                                                            std::int64_t expiry_seconds);
// Senders with stanzas held for some receiver, over the whole server (the held-requests metric).
storage::result<std::int64_t> count_requests(storage::store& s);

// Notes that the user wrote to `contact_bare` first, or refreshes the note (its age is what contact_expiry counts).
storage::result<void> note_contact(storage::store& s, const std::string& domain, const std::string& user,
                                   const std::string& contact_bare);

// The sweeper: deletes held stanzas older than held_expiry, challenge states not written for state_expiry and
// contact notes not written for contact_expiry (seconds; 0 keeps that kind forever), over all accounts, in
// statements of at most `batch` rows and at most `budget` rows of each kind per call. A state carries approvals
// and blocks too: a swept approved sender is a stranger again, a swept blocked one may try again.
struct sweep_counts {
    std::int64_t held = 0;       // stanzas
    std::int64_t states = 0;
    std::int64_t contacts = 0;
    std::int64_t legacy_held = 0;  // documents from before schema 6
    bool more = false;           // a budget ran out: call again (soon, as a separate storage job)
};
storage::result<sweep_counts> sweep(storage::store& s, std::int64_t now, std::int64_t held_expiry,
                                    std::int64_t state_expiry, std::int64_t contact_expiry,
                                    std::size_t budget = 10000, std::size_t batch = 1000);

// Marks the sender approved under the current key (a released request, or a passed challenge).
storage::result<void> approve(storage::store& s, const std::string& domain, const std::string& user,
                              const std::string& sender_bare);

// ---- template definitions ----

template <class Decide>
auto decide_state(storage::store& s, const std::string& domain, const std::string& user,
                  const std::string& sender_bare, Decide&& decide)
    -> storage::result<std::invoke_result_t<Decide&, antispim::sender_state&>> {
    using T = std::invoke_result_t<Decide&, antispim::sender_state&>;
    static_assert(!std::is_void_v<T>, "decide must return what it decided");
    return storage::atomically(s, domain, user, [&]() -> storage::result<T> {
        auto state = get_state(s, domain, user, sender_bare);
        if (!state) {
            return hush::unexpected<storage::error>(state.error());
        }
        const antispim::sender_state before = *state;
        T decided = decide(*state);
        if (*state != before) {
            if (auto stored = put_state(s, domain, user, sender_bare, *state); !stored) {
                return hush::unexpected<storage::error>(stored.error());
            }
        }
        return decided;
    });
}

}  // namespace hush::antispim_documents
