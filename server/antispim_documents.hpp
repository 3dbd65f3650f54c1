#pragma once
// Where the anti-SPIM layer keeps its per-account data: storage documents of the account (so it survives
// restarts, works on both backends and goes away with the account). Synchronous functions on a storage::store,
// for the server's storage workers and for hushctl alike.
//
//   antispim:settings        the user's <challenge/> settings (absent: the server default)
//   antispim:key             the user's challenge key (a new one whenever the question or answers change)
//   antispim:state:<sender>  the sender's challenge state (antispim::sender_state)
//   antispim:held:<sender>   the sender's held stanzas, oldest first
//   antispim:contact:<jid>   the user wrote to <jid> first (no stranger from then on)
#include <cstdint>
#include <optional>
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

struct held_stanza {
    std::int64_t at = 0;  // unix seconds it arrived
    std::string xml;
};
// Keeps `xml`; false when the sender already has `max_held` (unexpired) stanzas waiting. Expired ones go.
storage::result<bool> add_held(storage::store& s, const std::string& domain, const std::string& user,
                               const std::string& sender_bare, const std::string& xml, std::int64_t now,
                               std::int64_t expiry_seconds, std::size_t max_held);
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

// Marks the sender approved under the current key (a released request, or a passed challenge).
storage::result<void> approve(storage::store& s, const std::string& domain, const std::string& user,
                              const std::string& sender_bare);

}  // namespace hush::antispim_documents
