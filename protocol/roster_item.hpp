#pragma once
// A roster entry as RFC 6121 defines it (§2.1), with the subscription sub-states of Appendix A: the value the
// roster payloads, the subscription state machine and storage all share.
#include <cstdint>
#include <string>
#include <vector>

namespace hush {

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

}  // namespace hush
