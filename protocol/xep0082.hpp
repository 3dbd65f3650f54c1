#pragma once
// XEP-0082 date-times, and the wall clock as unix seconds that stored records and stamps are made from.
#include <chrono>
#include <cstdint>
#include <string>

namespace hush {

inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

inline std::int64_t unix_now() { return unix_seconds(std::chrono::system_clock::now()); }

// Unix microseconds now: archive ids, FAST token times.
inline std::int64_t unix_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "2026-11-23T21:00:00Z" (UTC, seconds precision) for a unix time.
std::string xep0082_stamp(std::int64_t unix_seconds);

}  // namespace hush
