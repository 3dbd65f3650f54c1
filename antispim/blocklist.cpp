#include "antispim/blocklist.hpp"

#include <arpa/inet.h>

#include <openssl/sha.h>

#include <cctype>
#include <charconv>

#include "protocol/scram.hpp"

namespace hush::antispim {

namespace {

std::optional<std::array<std::uint8_t, 16>> parse_address(const std::string& text, bool& v4) {
    std::array<std::uint8_t, 16> out{};
    unsigned char raw[16];
    if (inet_pton(AF_INET, text.c_str(), raw) == 1) {
        v4 = true;
        out[10] = 0xff;
        out[11] = 0xff;
        std::copy(raw, raw + 4, out.begin() + 12);
        return out;
    }
    if (inet_pton(AF_INET6, text.c_str(), raw) == 1) {
        v4 = false;
        std::copy(raw, raw + 16, out.begin());
        return out;
    }
    return std::nullopt;
}

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) {
    for (int i = 0; i < 10; ++i) {
        if (b[i] != 0) {
            return false;
        }
    }
    return b[10] == 0xff && b[11] == 0xff;
}

}  // namespace

bool ip_range::contains(const ip_range& address) const {
    unsigned bits = prefix;
    for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - take));
        if ((bytes[i] & mask) != (address.bytes[i] & mask)) {
            return false;
        }
        bits -= take;
    }
    return true;
}

std::string ip_range::to_string() const {
    char buffer[INET6_ADDRSTRLEN];
    std::string address;
    unsigned shown_prefix = prefix;
    if (is_v4_mapped(bytes) && prefix >= 96) {
        inet_ntop(AF_INET, bytes.data() + 12, buffer, sizeof buffer);
        address = buffer;
        shown_prefix = prefix - 96;
        return shown_prefix == 32 ? address : address + "/" + std::to_string(shown_prefix);
    }
    inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer);
    address = buffer;
    return shown_prefix == 128 ? address : address + "/" + std::to_string(shown_prefix);
}

std::optional<ip_range> parse_ip_range(std::string_view text) {
    const auto slash = text.find('/');
    const std::string address(text.substr(0, slash));
    bool v4 = false;
    auto bytes = parse_address(address, v4);
    if (!bytes) {
        return std::nullopt;
    }
    ip_range r;
    r.bytes = *bytes;
    r.prefix = 128;
    if (slash != std::string_view::npos) {
        const auto bits = text.substr(slash + 1);
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        if (bits.empty() || ec != std::errc{} || end != bits.data() + bits.size() || value > (v4 ? 32u : 128u)) {
            return std::nullopt;
        }
        r.prefix = v4 ? value + 96 : value;
    }
    // Host bits must be zero: "192.0.2.7/24" is more likely a typo than a wish.
    ip_range network = r;
    for (unsigned bit = r.prefix; bit < 128; ++bit) {
        network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    }
    if (network.bytes != r.bytes) {
        return std::nullopt;
    }
    return r;
}

hush::expected<std::string, std::string> normalize_blocklist_value(std::string_view kind, std::string_view value) {
    if (kind == "jid") {
        auto j = jid::parse(value);
        if (!j || !j->has_node()) {
            return hush::unexpected<std::string>("'" + std::string(value) + "' is not a bare JID (user@domain)");
        }
        return j->bare_string();
    }
    if (kind == "domain") {
        auto j = jid::from_parts({}, value);
        if (!j) {
            return hush::unexpected<std::string>("'" + std::string(value) + "' is not a domain name");
        }
        return j->domain();
    }
    if (kind == "ip") {
        auto r = parse_ip_range(value);
        if (!r) {
            return hush::unexpected<std::string>("'" + std::string(value) +
                                                 "' is not an IP address or range (192.0.2.0/24, 2001:db8::/48)");
        }
        return r->to_string();
    }
    if (kind == "jid-sha256") {
        std::string hex(value);
        for (char& c : hex) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
            return hush::unexpected<std::string>("'" + std::string(value) +
                                                 "' is not a SHA-256 digest (64 hexadecimal digits)");
        }
        return hex;
    }
    return hush::unexpected<std::string>("kind must be jid, domain or ip");
}

std::string network_of(std::string_view text, unsigned v4_prefix, unsigned v6_prefix) {
    auto address = parse_ip_range(text);
    if (!address) {
        return {};
    }
    const bool v4 = address->to_string().find(':') == std::string::npos;
    address->prefix = v4 ? 96 + v4_prefix : v6_prefix;
    for (unsigned bit = address->prefix; bit < 128; ++bit) {
        address->bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    }
    return address->to_string();
}

std::string jid_sha256(const jid& sender) {
    const std::string bare = sender.bare_string();
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(bare.data()), bare.size(), digest);
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

blocklist::blocklist(std::vector<storage::blocklist_entry> entries, std::int64_t now) {
    for (auto& e : entries) {
        if (e.expires_at != 0 && e.expires_at <= now) {
            continue;
        }
        const std::size_t index = entries_.size();
        if (e.kind == "ip") {
            if (auto r = parse_ip_range(e.value)) {
                ranges_.emplace_back(*r, index);
            } else {
                continue;  // unreadable: ignore rather than block wrongly
            }
        } else if (e.kind == "jid") {
            by_jid_.try_emplace(e.value, index);  // the first wins: callers put local entries first
        } else if (e.kind == "jid-sha256") {
            by_jid_sha256_.try_emplace(e.value, index);
        } else if (e.kind == "domain") {
            by_domain_.try_emplace(e.value, index);
        } else {
            continue;
        }
        entries_.push_back(std::move(e));
    }
}

std::string_view evidence_of(const storage::blocklist_entry& e) {
    if (e.source == "admin" || e.source.starts_with("admin:")) {
        return "admin";
    }
    if (e.source == "dos detector") {
        return e.kind == "jid" ? "reach" : "challenges";
    }
    if (e.source == "user consensus") {
        return "consensus";
    }
    if (e.source == "report") {
        return "report";
    }
    return "import";
}

int trust_severity(std::string_view trust) { return trust == "challenge" ? 0 : trust == "greylist" ? 1 : 2; }

std::string_view milder_trust(std::string_view a, std::string_view b) {
    return trust_severity(a) <= trust_severity(b) ? a : b;
}

const storage::blocklist_entry* blocklist::match(const jid& sender, std::string_view peer_address,
                                                 std::int64_t now) const {
    // Indexed lookups: imported lists run to many thousands of entries and this runs for every stranger stanza.
    auto live = [&](std::size_t index) -> const storage::blocklist_entry* {
        const auto& e = entries_[index];
        return e.expires_at == 0 || e.expires_at > now ? &e : nullptr;
    };
    if (sender.has_node()) {
        if (auto it = by_jid_.find(sender.bare_string()); it != by_jid_.end()) {
            if (const auto* e = live(it->second)) {
                return e;
            }
        }
        if (!by_jid_sha256_.empty()) {
            if (auto it = by_jid_sha256_.find(jid_sha256(sender)); it != by_jid_sha256_.end()) {
                if (const auto* e = live(it->second)) {
                    return e;
                }
            }
        }
    }
    // The domain, then each parent domain: a service's subdomains belong to it.
    std::string_view domain = sender.domain();
    while (!domain.empty()) {
        if (auto it = by_domain_.find(std::string(domain)); it != by_domain_.end()) {
            if (const auto* e = live(it->second)) {
                return e;
            }
        }
        const auto dot = domain.find('.');
        domain = dot == std::string_view::npos ? std::string_view{} : domain.substr(dot + 1);
    }
    return match_address(peer_address, now);
}

const storage::blocklist_entry* blocklist::match_address(std::string_view peer_address, std::int64_t now) const {
    if (peer_address.empty()) {
        return nullptr;
    }
    const auto address = parse_ip_range(peer_address);
    if (!address) {
        return nullptr;
    }
    // Ranges overlap and their entries do different things: the most severe live one decides, so a greylisted /24
    // never hides a blocked /10 around it.
    const storage::blocklist_entry* found = nullptr;
    for (const auto& [range, index] : ranges_) {
        const auto& e = entries_[index];
        if (range.contains(*address) && (e.expires_at == 0 || e.expires_at > now) &&
            (found == nullptr || trust_severity(e.trust) > trust_severity(found->trust))) {
            found = &e;
        }
    }
    return found;
}

}  // namespace hush::antispim
