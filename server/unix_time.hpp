#pragma once
// The wall clock as unix seconds: what stored records (blocklist entries, votes, reports, flags) are stamped with.
#include <chrono>
#include <cstdint>

namespace hush {

inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace hush
