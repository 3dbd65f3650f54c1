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
storage::result<as::receiver_record> read_record(storage::store& s, const std::string& d, const std::string& u,
                                                 const std::string& sender_bare,
                                                 const as::challenge_settings& defaults);

inline bool approved_now(const as::receiver_record& r) {
    return !r.state.approved_key.empty() && r.state.approved_key == r.key_id;
}

}  // namespace hush::stranger_detail
