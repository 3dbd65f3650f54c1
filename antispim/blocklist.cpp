#include "antispim/blocklist.hpp"

#include <arpa/inet.h>

#include <charconv>

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
    return hush::unexpected<std::string>("kind must be jid, domain or ip");
}

blocklist::blocklist(std::vector<storage::blocklist_entry> entries, std::int64_t now) {
    for (auto& e : entries) {
        if (e.expires_at != 0 && e.expires_at <= now) {
            continue;
        }
        if (e.kind == "ip") {
            if (auto r = parse_ip_range(e.value)) {
                ranges_.emplace_back(*r, entries_.size());
            } else {
                continue;  // unreadable: ignore rather than block wrongly
            }
        }
        entries_.push_back(std::move(e));
    }
}

const storage::blocklist_entry* blocklist::match(const jid& sender, std::string_view peer_address,
                                                 std::int64_t now) const {
    auto live = [now](const storage::blocklist_entry& e) { return e.expires_at == 0 || e.expires_at > now; };
    const std::string bare = sender.bare_string();
    const std::string& domain = sender.domain();
    const storage::blocklist_entry* by_domain = nullptr;
    for (const auto& e : entries_) {
        if (!live(e)) {
            continue;
        }
        if (e.kind == "jid" && sender.has_node() && e.value == bare) {
            return &e;
        }
        if (e.kind == "domain" && by_domain == nullptr &&
            (domain == e.value || (domain.size() > e.value.size() && domain.ends_with(e.value) &&
                                   domain[domain.size() - e.value.size() - 1] == '.'))) {
            by_domain = &e;
        }
    }
    if (by_domain != nullptr) {
        return by_domain;
    }
    if (!peer_address.empty()) {
        if (auto address = parse_ip_range(peer_address)) {
            for (const auto& [range, index] : ranges_) {
                if (live(entries_[index]) && range.contains(*address)) {
                    return &entries_[index];
                }
            }
        }
    }
    return nullptr;
}

}  // namespace hush::antispim
