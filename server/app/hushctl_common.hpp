#pragma once
// What every hushctl command file shares: the error line and exit status, a whole number argument in range, and
// times as ISO 8601 UTC.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <system_error>

namespace hush::hushctl {

// Prints "hushctl: WHAT" to stderr; returns the exit status 1.
inline int fail(const std::string& what) {
    std::fprintf(stderr, "hushctl: %s\n", what.c_str());
    return 1;
}

inline std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// "2026-12-07T03:10:00Z".
inline std::string stamp(std::int64_t t) {
    const std::time_t seconds = t;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

// The whole decimal number `text` is, within [min, max]; nullopt for anything else.
inline std::optional<long> number(const std::string& text, long min, long max) {
    long n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || n < min || n > max) {
        return std::nullopt;
    }
    return n;
}

}  // namespace hush::hushctl
