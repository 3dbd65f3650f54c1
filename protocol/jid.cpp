#include "protocol/jid.hpp"

#include <arpa/inet.h>
#include <stringprep.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace hush {

namespace {

// RFC 6122 §2.1: each part is at most 1023 bytes once prepared.
constexpr std::size_t max_part = 1023;
// Raw parts may shrink under preparation (mapped-to-nothing code points), so allow some slack before prepping,
// but bound the work stringprep does on hostile input.
constexpr std::size_t max_raw_part = 4 * max_part;

constexpr auto strict = STRINGPREP_NO_UNASSIGNED;
constexpr auto lenient = static_cast<Stringprep_profile_flags>(0);

struct malloc_deleter {
    void operator()(char* p) const { std::free(p); }
};

// Runs a libidn stringprep profile. libidn wants a NUL-terminated string, so an embedded NUL (which would
// silently truncate the input) is rejected here rather than passed on.
std::optional<std::string> run_profile(std::string_view in, const char* profile, Stringprep_profile_flags flags) {
    if (in.find('\0') != std::string_view::npos || !valid_utf8(in)) {
        return std::nullopt;
    }
    const std::string terminated(in);
    char* raw = nullptr;
    const int rc = stringprep_profile(terminated.c_str(), &raw, profile, flags);
    std::unique_ptr<char, malloc_deleter> out(raw);
    if (rc != STRINGPREP_OK || !out) {
        return std::nullopt;
    }
    return std::string(out.get());
}

bool is_ascii_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// ASCII fast paths. For input that is all ASCII the stringprep profiles only fold case (Nodeprep, Nameprep) or do
// nothing (Resourceprep); the ASCII they prohibit — controls, space in a node, the node's "&'/:<>@ — goes to libidn,
// which refuses it. So these give libidn's answer without its ~24 allocations (tests/unit/protocol/jid_test.cpp
// compares them with libidn on random ASCII). nullopt: not a fast case, ask libidn.
std::optional<std::string> ascii_nodeprep(std::string_view in) {
    std::string out(in);
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' || c == '<' ||
            c == '>' || c == '@') {
            return std::nullopt;
        }
        c = ascii_lower(c);
    }
    return out;
}

std::optional<std::string> ascii_resourceprep(std::string_view in) {
    for (const char c : in) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7F) {
            return std::nullopt;
        }
    }
    return std::string(in);
}

// A host name of ASCII letters, digits, '-', '_' and dots: lowercased, one root dot dropped, no empty label.
// nullopt with `decided` false: not a fast case.
std::optional<std::string> ascii_domain(std::string_view in, bool& decided) {
    decided = false;
    for (const char c : in) {
        if (!is_ascii_alnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
            return std::nullopt;
        }
    }
    decided = true;
    std::string out(in);
    if (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    if (out.empty() || out.size() > max_part || out.front() == '.' || out.back() == '.' ||
        out.find("..") != std::string::npos) {
        return std::nullopt;
    }
    for (char& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

// IDNA treats U+3002, U+FF0E and U+FF61 as label separators too; map them to '.' before splitting labels.
std::string map_label_separators(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const std::string_view rest = in.substr(i);
        if (rest.starts_with("\xE3\x80\x82") || rest.starts_with("\xEF\xBC\x8E") ||
            rest.starts_with("\xEF\xBD\xA1")) {
            out += '.';
            i += 3;
        } else {
            out += in[i];
            ++i;
        }
    }
    return out;
}

// "[v6]" -> canonical RFC 5952 text in brackets, so equal addresses compare equal.
std::optional<std::string> prep_ipv6_literal(std::string_view in) {
    if (in.size() < 3 || in.front() != '[' || in.back() != ']') {
        return std::nullopt;
    }
    const std::string_view inner = in.substr(1, in.size() - 2);
    for (const char c : inner) {
        const auto u = static_cast<unsigned char>(c);
        if (!is_ascii_alnum(u) && c != ':' && c != '.') {
            return std::nullopt;  // also keeps NULs away from inet_pton
        }
    }
    in6_addr addr{};
    if (inet_pton(AF_INET6, std::string(inner).c_str(), &addr) != 1) {
        return std::nullopt;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET6, &addr, buf, sizeof buf) == nullptr) {
        return std::nullopt;
    }
    return "[" + std::string(buf) + "]";
}

std::optional<std::string> prep_domain(std::string_view in) {
    if (in.empty() || in.size() > max_raw_part) {
        return std::nullopt;
    }
    bool decided = false;
    if (auto fast = ascii_domain(in, decided); decided) {
        return fast;
    }
    if (!valid_utf8(in)) {
        return std::nullopt;
    }
    std::string mapped = map_label_separators(in);
    // A fully qualified name with its root dot names the same host.
    if (!mapped.empty() && mapped.back() == '.') {
        mapped.pop_back();
    }
    if (mapped.empty()) {
        return std::nullopt;
    }
    if (mapped.front() == '[') {
        return prep_ipv6_literal(mapped);
    }

    // Nameprep applies per label (its bidi rule is per label). IPv4 literals are plain digit labels.
    std::string out;
    const std::string_view whole = mapped;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = whole.find('.', start);
        const std::string_view label =
            whole.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) {
            return std::nullopt;
        }
        auto prepped = run_profile(label, "Nameprep", strict);
        if (!prepped || prepped->empty()) {
            return std::nullopt;
        }
        // Nameprep leaves ASCII punctuation alone; a host name allows only letters, digits, '-' and '_'.
        // This also rejects a '.' produced by NFKC, '@', '/', spaces and controls.
        for (char& c : *prepped) {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x80 && !is_ascii_alnum(u) && c != '-' && c != '_') {
                return std::nullopt;
            }
            c = ascii_lower(c);
        }
        if (!out.empty()) {
            out += '.';
        }
        out += *prepped;
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (out.size() > max_part) {
        return std::nullopt;
    }
    return out;
}

// Node or resource: empty input means "absent"; non-empty input must prepare to 1..1023 bytes.
using prep_fn = std::optional<std::string> (*)(std::string_view);

std::optional<std::string> prep_optional_part(std::string_view in, prep_fn prep) {
    if (in.empty()) {
        return std::string();
    }
    if (in.size() > max_raw_part) {
        return std::nullopt;
    }
    auto out = prep(in);
    if (!out || out->empty() || out->size() > max_part) {
        return std::nullopt;
    }
    return out;
}

}  // namespace

bool valid_utf8(std::string_view text) {
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;  // continuation byte, overlong lead (C0/C1) or beyond U+10FFFF (F5..FF)
        }
        if (n - i < len) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(text[i + k]);
            if ((b & 0xC0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (b & 0x3Fu);
        }
        if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) {
            return false;
        }
        if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

// Node and domain are identifiers (accounts, hosts): unassigned code points are refused so their meaning cannot
// change later. Resources are free-form (devices named with emoji, which are unassigned in Unicode 3.2), so
// they are prepared as queries.
std::optional<std::string> nodeprep(std::string_view in) {
    if (auto fast = ascii_nodeprep(in)) {
        return fast;
    }
    return run_profile(in, "Nodeprep", strict);
}

std::optional<std::string> nameprep(std::string_view in) {
    return run_profile(in, "Nameprep", strict);
}

std::optional<std::string> resourceprep(std::string_view in) {
    if (auto fast = ascii_resourceprep(in)) {
        return fast;
    }
    return run_profile(in, "Resourceprep", lenient);
}

std::optional<std::string> saslprep(std::string_view in) {
    return run_profile(in, "SASLprep", strict);
}

std::optional<jid> jid::parse(std::string_view text) {
    if (text.empty() || text.size() > 3 * max_raw_part + 2) {
        return std::nullopt;
    }
    // Resource: everything after the first '/', which may itself contain '@' and '/'.
    const std::size_t slash = text.find('/');
    const std::string_view head = text.substr(0, slash);
    std::string_view resource;
    if (slash != std::string_view::npos) {
        resource = text.substr(slash + 1);
        if (resource.empty()) {
            return std::nullopt;
        }
    }
    // Node: before the first '@' that precedes the '/'.
    const std::size_t at = head.find('@');
    std::string_view node;
    std::string_view domain = head;
    if (at != std::string_view::npos) {
        node = head.substr(0, at);
        domain = head.substr(at + 1);
        if (node.empty()) {
            return std::nullopt;
        }
    }
    return from_parts(node, domain, resource);
}

std::optional<jid> jid::from_parts(std::string_view node, std::string_view domain, std::string_view resource) {
    auto prepped_domain = prep_domain(domain);
    if (!prepped_domain) {
        return std::nullopt;
    }
    auto prepped_node = prep_optional_part(node, &nodeprep);
    if (!prepped_node) {
        return std::nullopt;
    }
    auto prepped_resource = prep_optional_part(resource, &resourceprep);
    if (!prepped_resource) {
        return std::nullopt;
    }
    jid out;
    out.node_ = std::move(*prepped_node);
    out.domain_ = std::move(*prepped_domain);
    out.resource_ = std::move(*prepped_resource);
    out.join();
    return out;
}

jid jid::bare() const {
    jid out;
    out.node_ = node_;
    out.domain_ = domain_;
    out.bare_ = bare_;
    out.full_ = bare_;
    return out;
}

jid jid::with_resource(std::string_view resource) const {
    jid out = bare();
    out.resource_ = std::string(resource);
    out.join();
    return out;
}

void jid::join() {
    bare_.clear();
    if (!node_.empty()) {
        bare_.reserve(node_.size() + 1 + domain_.size());
        bare_ += node_;
        bare_ += '@';
    }
    bare_ += domain_;
    full_ = bare_;
    if (!resource_.empty()) {
        full_ += '/';
        full_ += resource_;
    }
}

}  // namespace hush
