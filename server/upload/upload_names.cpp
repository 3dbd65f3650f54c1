#include "server/upload/upload_names.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

#include "protocol/ascii.hpp"

namespace hush::upload {

namespace {

std::string hex(const unsigned char* data, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

std::string random_hex(std::size_t bytes) {
    std::array<unsigned char, 64> buffer{};
    // RAND_bytes fails only when the generator cannot be seeded; the process could not have started TLS either.
    if (bytes > buffer.size() || RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) {
        return {};
    }
    return hex(buffer.data(), bytes);
}

}  // namespace

std::string random_id() {
    return random_hex(16);
}

std::string random_secret() {
    return random_hex(32);
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), digest.data(), &n, EVP_sha256(), nullptr);
    return hex(digest.data(), n);
}

bool valid_id(std::string_view id) {
    if (id.size() != 32) {
        return false;
    }
    for (const char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string sanitize_filename(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        out += (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) ? '_' : c;
    }
    if (out.size() > 255) {
        std::size_t cut = 255;
        // Back to the start of a UTF-8 character (never inside one).
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) {
            --cut;
        }
        out.resize(cut);
    }
    if (out.empty() || out == "." || out == "..") {
        return "file";
    }
    return out;
}

std::optional<file_path> parse_file_path(std::string_view path) {
    constexpr std::string_view prefix = "/upload/";
    if (!path.starts_with(prefix)) {
        return std::nullopt;
    }
    path.remove_prefix(prefix.size());
    const auto slash = path.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view id = path.substr(0, slash);
    const std::string_view name = path.substr(slash + 1);
    if (!valid_id(id) || name.empty() || name.find('/') != std::string_view::npos) {
        return std::nullopt;
    }
    auto decoded = percent_decode(name);
    if (!decoded || decoded->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
        return std::nullopt;
    }
    return file_path{std::string(id), std::move(*decoded)};
}

std::string media_type(std::string_view content_type) {
    const auto semicolon = content_type.find(';');
    std::string_view type = content_type.substr(0, semicolon);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) {
        type.remove_prefix(1);
    }
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
        type.remove_suffix(1);
    }
    return ascii_lower(type);
}

bool content_type_allowed(std::string_view content_type, const std::vector<std::string>& allowed) {
    if (allowed.empty()) {
        return true;
    }
    const std::string type = media_type(content_type);
    for (const auto& a : allowed) {
        if (a.ends_with("/*") ? type.starts_with(std::string_view(a).substr(0, a.size() - 1)) : type == a) {
            return true;
        }
    }
    return false;
}

bool shown_inline(std::string_view content_type) {
    const std::string type = media_type(content_type);
    // SVG is a document that can carry script: an attachment, like HTML (the CSP sandbox is the second line).
    return (type.starts_with("image/") && type != "image/svg+xml") || type.starts_with("video/") ||
           type.starts_with("audio/") || type == "text/plain";
}

bool acceptable_content_type(std::string_view content_type) {
    // RFC 9110 §8.3.1: type "/" subtype, both tokens, then parameters. Strict, since a browser reads a list such as
    // "image/png, text/html" by its last type: what is stored and served must be exactly one type.
    if (content_type.size() > 255) {
        return false;
    }
    const auto is_tchar = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    };
    const auto semicolon = content_type.find(';');
    const std::string_view type = content_type.substr(0, semicolon);
    const auto slash = type.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size()) {
        return false;
    }
    for (std::size_t i = 0; i < type.size(); ++i) {
        if (i != slash && !is_tchar(type[i])) {
            return false;
        }
    }
    // Parameters: printable, and no comma (no second type hiding in them).
    for (const char c : content_type.substr(type.size())) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == ',') {
            return false;
        }
    }
    return true;
}

byte_range parse_range(std::string_view header, std::uint64_t size) {
    constexpr std::string_view unit = "bytes=";
    if (!header.starts_with(unit) || header.find(',') != std::string_view::npos) {
        return {};
    }
    header.remove_prefix(unit.size());
    const auto dash = header.find('-');
    if (dash == std::string_view::npos) {
        return {};
    }
    const auto number = [](std::string_view t) -> std::optional<std::uint64_t> {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
            return std::nullopt;
        }
        return v;
    };
    const std::string_view a = header.substr(0, dash);
    const std::string_view b = header.substr(dash + 1);
    if (a.empty()) {
        // The last n bytes.
        const auto n = number(b);
        if (!n) {
            return {};
        }
        if (*n == 0 || size == 0) {
            return {byte_range::kind::unsatisfiable};
        }
        const std::uint64_t take = std::min(*n, size);
        return {byte_range::kind::partial, size - take, size - 1};
    }
    const auto first = number(a);
    const auto last = b.empty() ? std::optional<std::uint64_t>(size == 0 ? 0 : size - 1) : number(b);
    if (!first || !last) {
        return {};
    }
    if (*first >= size) {
        return {byte_range::kind::unsatisfiable};
    }
    if (*last < *first) {
        return {};
    }
    return {byte_range::kind::partial, *first, std::min(*last, size - 1)};
}

}  // namespace hush::upload
