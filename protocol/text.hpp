#pragma once
// Small text helpers for protocol values: decimal numbers as XMPP writes them (XEP-0198's h, archive ids), and
// UTF-8 text cut to a byte limit without splitting a character.
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace hush {

// The whole of `text` as a decimal number of type T; nullopt for anything else (a sign on an unsigned type, spaces,
// trailing bytes, out of range).
template <class T>
std::optional<T> parse_decimal(std::string_view text) {
    T value{};
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// `text` cut to at most `max_bytes`, at a character boundary (never inside a UTF-8 sequence).
inline std::string truncate_utf8(std::string text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) {
        return text;
    }
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    text.resize(cut);
    return text;
}

}  // namespace hush
