#pragma once
// Internal to antispim_service (antispim/stranger_*.cpp, antispim/challenge_policy.cpp): the helpers more than one
// of its files uses.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "antispim/challenge.hpp"
#include "antispim/context.hpp"
#include "antispim/layer.hpp"
#include "protocol/xep0082.hpp"
#include "storage/store.hpp"

namespace hush::stranger_detail {

namespace as = antispim;

// The receiver's challenge data and, unless `sender_bare` is empty, the sender's state (an existing account).
// `make_key`: inside a write, a user without a key gets one; a read only looks (a throwaway key of the same shape
// for a user without one, see peek_key), so it can run on a read-only connection.
storage::result<as::receiver_record> read_record(storage::store& s, const std::string& d, const std::string& u,
                                                 const std::string& sender_bare,
                                                 const as::challenge_settings& defaults, bool make_key);

inline bool approved_now(const as::receiver_record& r) {
    return !r.state.approved_key.empty() && r.state.approved_key == r.key_id;
}

// antispim_service::relation in three steps, so that one read job can serve more than one
// (antispim_service::stranger_to_user): the plan (what memory answered, and what storage must be asked), the
// storage part (load_relation, on a storage thread: it touches nothing but the plan) and the answer made of what
// it read (antispim_service::finish_relation).
struct relation_plan {
    relation_facts facts;   // what memory tells; the whole answer when `answered`
    bool answered = false;  // a cached contact: nothing to read
    jid receiver;           // bare
    std::string receiver_bare;
    std::string sender_bare;
    std::string pair_key;  // "receiver sender"
    std::string d, u;      // the receiver's domain and node
    std::string sd, su;    // the sender's
    bool check_exists = false;
    bool check_trust = false;  // a local sender whose establishment is not known yet
    bool established_known = false;
    std::uint64_t generation = 0;  // the relations generation before the read
    as::challenge_settings defaults;
    std::int64_t min_age = 0;
    std::size_t min_contacts = 0;
    std::int64_t now = 0;
};

struct relation_loaded {
    bool exists = true;
    bool contact = false;
    bool established = false;
    std::optional<as::receiver_record> record;
};

storage::result<relation_loaded> load_relation(storage::store& s, const relation_plan& p);

// Whether what was read makes the sender a contact of an existing account (roster, note, or approved).
inline bool loaded_contact(const relation_loaded& l) {
    return l.contact || (l.record && approved_now(*l.record));
}

}  // namespace hush::stranger_detail
