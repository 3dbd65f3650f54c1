#pragma once
// XEP-0377 (Blocking Command Reports) <report/> inside an XEP-0191 <block><item/>: one parser, one serializer.
// urn:xmpp:reporting:1 is what clients send today; the 0.2 form (urn:xmpp:reporting:0 with a <spam/> or
// <abuse/> child) is still accepted, since deployed clients send it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

namespace hush {

inline constexpr std::string_view reporting_ns = "urn:xmpp:reporting:1";
inline constexpr std::string_view reporting_ns_0 = "urn:xmpp:reporting:0";
inline constexpr std::string_view reporting_spam = "urn:xmpp:reporting:spam";
inline constexpr std::string_view reporting_abuse = "urn:xmpp:reporting:abuse";

struct reported_stanza_id {  // XEP-0359 <stanza-id by='…' id='…'/>
    std::string by;
    std::string id;
    bool operator==(const reported_stanza_id&) const = default;
};

struct report_text {
    std::string lang;
    std::string text;
    bool operator==(const report_text&) const = default;
};

struct spam_report_payload {
    std::string reason;  // a reason URN: reporting_spam, reporting_abuse, or one this server does not know
    std::vector<reported_stanza_id> stanza_ids;
    std::vector<report_text> texts;
    bool report_origin = false;  // the user allows forwarding to the reported JID's server
    bool third_party = false;    // ... and to third-party services (blocklists)

    bool operator==(const spam_report_payload&) const = default;
    // "spam", "abuse", or the reason URN as sent.
    std::string short_reason() const;
    // The texts joined (for storage and admins).
    std::string joined_text() const;
};

// The <report/> child of an XEP-0191 <item/>, if there is one in either namespace. A report without a reason
// counts as spam (0.2 allowed none).
std::optional<spam_report_payload> parse_spam_report(pugi::xml_node item);
// Appends <report xmlns='urn:xmpp:reporting:1' …/> to `parent`.
void serialize_spam_report(const spam_report_payload& report, pugi::xml_node parent);

}  // namespace hush
