#pragma once
// ASCII case folding for protocol tokens (language tags, host names, words): bytes outside A-Z stay as they are,
// whatever the locale (std::tolower's result depends on it).
#include <string>
#include <string_view>

namespace hush {

inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

}  // namespace hush
