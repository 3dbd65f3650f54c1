#pragma once
// Internal to antispim_service (antispim/stranger_*.cpp, antispim/challenge_policy.cpp): the helpers more than one
// of its files uses.
#include <chrono>
#include <cstdint>
#include <string>

#include "antispim/challenge.hpp"
#include "antispim/context.hpp"
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

}  // namespace hush::stranger_detail
