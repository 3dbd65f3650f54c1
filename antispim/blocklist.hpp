#pragma once
// The server-wide blocklist as an immutable, searchable snapshot: bare JIDs, domains (with their subdomains: a
// service's conference and upload hosts belong to it) and IP ranges (an address or CIDR, v4 or v6).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/expected.hpp"
#include "protocol/jid.hpp"
#include "storage/records.hpp"

namespace hush::antispim {

struct ip_range {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as v4-mapped IPv6
    unsigned prefix = 128;                 // in bits of the 128-bit form

    bool contains(const ip_range& address) const;
    std::string to_string() const;  // canonical: "192.0.2.0/24", "2001:db8::/48", "192.0.2.7"
    bool operator==(const ip_range&) const = default;
};

// "192.0.2.7", "192.0.2.0/24", "2001:db8::/48"; host bits must be zero. nullopt when malformed.
std::optional<ip_range> parse_ip_range(std::string_view text);

// The network an address is counted in: its /`v4_prefix` (IPv4) or /`v6_prefix` (IPv6), canonical
// ("192.0.2.0/24"); empty when `address` is no IP address.
std::string network_of(std::string_view address, unsigned v4_prefix, unsigned v6_prefix);

// Normalizes an entry's value for its kind ("jid", "domain", "ip", or "jid-sha256": the lower-case hex SHA-256 of
// a bare JID, as privacy-minded lists and XEP-0060 RTBLs publish them); the error says what is wrong.
hush::expected<std::string, std::string> normalize_blocklist_value(std::string_view kind, std::string_view value);

// Lower-case hex SHA-256 of the bare JID: how hashed entries name a sender.
std::string jid_sha256(const jid& sender);

// What an entry rests on, machine-readable, as /blocklist.xml publishes it (`evidence`) and importers choose by:
// "admin" (an admin listed it), "reach" (one sender reached many users as a stranger), "challenges" (a service or
// network reached many users and its senders failed the challenges), "consensus" (local users in standing
// blocked, reported or locked it out), "report" (a user's report), "import" (another server's list), "unknown"
// (a published entry that does not say).
inline constexpr std::array<std::string_view, 7> evidence_kinds{"admin",  "reach",  "challenges", "consensus",
                                                                "report", "import", "unknown"};
std::string_view evidence_of(const storage::blocklist_entry& e);

// How much a trust level does: "challenge" 0, "greylist" 1, "block" (and anything else) 2.
int trust_severity(std::string_view trust);
// The milder of two trust levels: an importer never makes more of an entry than its publisher did, nor more than it
// trusts the publisher.
std::string_view milder_trust(std::string_view a, std::string_view b);

class blocklist {
public:
    blocklist() = default;
    // Entries already expired at `now` are left out.
    blocklist(std::vector<storage::blocklist_entry> entries, std::int64_t now);

    // The most specific entry (JID, then domain, then IP range) matching the sender or the connection it came
    // from, unless expired at `now`.
    const storage::blocklist_entry* match(const jid& sender, std::string_view peer_address, std::int64_t now) const;
    // The entry for the range a connection came from, unless expired at `now`; of overlapping ones, the most severe.
    const storage::blocklist_entry* match_address(std::string_view peer_address, std::int64_t now) const;

    const std::vector<storage::blocklist_entry>& entries() const { return entries_; }

private:
    std::vector<storage::blocklist_entry> entries_;
    std::vector<std::pair<ip_range, std::size_t>> ranges_;  // parsed "ip" entries → index in entries_
    std::unordered_map<std::string, std::size_t> by_jid_;         // value → index in entries_
    std::unordered_map<std::string, std::size_t> by_jid_sha256_;
    std::unordered_map<std::string, std::size_t> by_domain_;
};

}  // namespace hush::antispim
