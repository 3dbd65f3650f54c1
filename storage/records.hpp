#pragma once
// Plain records the storage interface reads and writes for the IM core (RFC 6121 and its XEPs).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hush::storage {

enum class subscription { none, to, from, both };

// One roster entry (RFC 6121 §2.1) plus the subscription sub-states of Appendix A.
struct roster_item {
    std::string contact;  // bare JID, normalized
    std::string name;
    subscription sub = subscription::none;
    bool pending_out = false;  // we asked the contact (shown to clients as ask='subscribe')
    bool pending_in = false;   // the contact asked us and we have not answered
    bool approved = false;     // pre-approved (RFC 6121 §3.4)
    std::vector<std::string> groups;
    std::int64_t version = 0;  // roster version at which this item last changed
    bool removed = false;      // a tombstone (only returned by roster_changes_since)

    bool operator==(const roster_item&) const = default;
};

// The changes since a roster version, for versioned roster gets (RFC 6121 §2.6).
struct roster_delta {
    std::int64_t current_version = 0;
    std::vector<roster_item> changed;  // including removed ones (removed = true)
};

// An inbound subscription request kept until the user answers it: the "invites" anti-SPIM gates.
struct subscription_request {
    std::string from;    // bare JID of the requester
    std::string stanza;  // the serialized presence stanza, redelivered at the next login
    std::int64_t received_at = 0;
};

struct offline_message {
    std::int64_t id = 0;
    std::string stanza;  // serialized message stanza as it would have been delivered
    std::int64_t stored_at = 0;  // unix seconds, for the XEP-0203 delay stamp
};

struct last_activity {
    std::int64_t logout_at = 0;  // unix seconds
    std::string status;
};

// One entry of the server-wide blocklist.
struct blocklist_entry {
    std::string kind;   // "jid" (bare), "domain" (and its subdomains), "ip" (an address or CIDR range)
    std::string value;  // normalized: nameprepped JID/domain, canonical range "192.0.2.0/24"
    std::string reason;
    std::string source;  // "admin", "user consensus", "dos detector", "report", "import:<url>", ...
    std::int64_t added_at = 0;    // unix seconds
    std::int64_t expires_at = 0;  // unix seconds; 0 = never
    bool contacts_too = false;    // also refuse stanzas from the receivers' existing contacts

    bool operator==(const blocklist_entry&) const = default;
};

}  // namespace hush::storage
