#pragma once
// XEP-0313 Message Archive Management (urn:xmpp:mam:2) on the wire, with what it is made of: the query and its
// data form, XEP-0059 result set management (<set/>), <fin/>, <result/> around an XEP-0297 <forwarded/> with its
// XEP-0203 <delay/>, <prefs/>, XEP-0359 <stanza-id/>, and XEP-0082 date-times to the microsecond. Pure: parsers and
// serializers over pugixml nodes; what an id means is the server's business.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/expected.hpp"
#include "protocol/stanza.hpp"

namespace hush::mam {

inline constexpr std::string_view ns = "urn:xmpp:mam:2";
inline constexpr std::string_view ns_extended = "urn:xmpp:mam:2#extended";  // before-id, after-id, ids
inline constexpr std::string_view rsm_ns = "http://jabber.org/protocol/rsm";
inline constexpr std::string_view forward_ns = "urn:xmpp:forward:0";
inline constexpr std::string_view sid_ns = "urn:xmpp:sid:0";
inline constexpr std::string_view data_forms_ns = "jabber:x:data";

// XEP-0059 request: <max/>, <after/>, <before/> (present and empty: the last page), <index/> is not supported.
struct rsm_request {
    std::optional<std::size_t> max;
    std::optional<std::string> after;
    std::optional<std::string> before;

    bool operator==(const rsm_request&) const = default;
};

// XEP-0059 answer: first/last are empty for an empty page.
struct rsm_result {
    std::string first;
    std::optional<std::size_t> first_index;
    std::string last;
    std::optional<std::int64_t> count;

    bool operator==(const rsm_result&) const = default;
};

// A <query xmlns='urn:xmpp:mam:2'/>: the form's fields, then the <set/>.
struct query {
    std::string queryid;
    std::string with;                       // a JID as sent (the server decides how it matches)
    std::optional<std::int64_t> start;      // unix microseconds
    std::optional<std::int64_t> end;        // unix microseconds
    std::optional<std::string> after_id;    // #extended
    std::optional<std::string> before_id;   // #extended
    std::vector<std::string> ids;           // #extended
    rsm_request rsm;

    bool operator==(const query&) const = default;
};

// Parses the <query/> element; the error says what is wrong (for <bad-request/>): a form that is no submit form of
// FORM_TYPE urn:xmpp:mam:2, a field this server does not know, a date-time or number that does not parse.
hush::expected<query, std::string> parse_query(pugi::xml_node query_element);
// Appends <query xmlns='urn:xmpp:mam:2'/> with its form and <set/> (what a client sends).
void serialize_query(const query& q, pugi::xml_node parent);
// Appends the form a client gets for <iq type='get'><query xmlns='urn:xmpp:mam:2'/></iq> (XEP-0313 §5.1.1).
void append_query_form(pugi::xml_node parent);

std::optional<rsm_request> parse_rsm(pugi::xml_node set);
void serialize_rsm_request(const rsm_request& r, pugi::xml_node parent);
void serialize_rsm_result(const rsm_result& r, pugi::xml_node parent);
std::optional<rsm_result> parse_rsm_result(pugi::xml_node set);

// <fin xmlns='urn:xmpp:mam:2' complete='true'?><set .../></fin>, appended to the iq result.
void append_fin(pugi::xml_node parent, bool complete, const rsm_result& set);

// The message carrying one archived item to the querying resource:
// <message to=.. from=..><result xmlns=mam queryid=.. id=..><forwarded xmlns=forward><delay stamp=../>
// <message xmlns='jabber:client' .../></forwarded></result></message>. Returns invalid() if `archived` does not parse.
stanza make_result_message(std::string_view to, std::string_view from, std::string_view queryid, std::string_view id,
                           std::int64_t archived_at_us, std::string_view archived);

// XEP-0313 §7 preferences: default "always", "roster" or "never"; JIDs always and never archived.
struct prefs {
    std::string default_mode = "always";
    std::vector<std::string> always;
    std::vector<std::string> never;

    bool operator==(const prefs&) const = default;
};
// Parses <prefs/>; nullopt when `default` is missing or not one of the three.
std::optional<prefs> parse_prefs(pugi::xml_node prefs_element);
void serialize_prefs(const prefs& p, pugi::xml_node parent);

// XEP-0359: removes every <stanza-id xmlns='urn:xmpp:sid:0'/> whose `by` names the bare JID `by` (a claim only
// this server may make): compared as normalized bare JIDs (case, a resource), and a `by` that is no JID is removed
// unless its bare part names someone else. Returns how many.
std::size_t strip_stanza_ids(const stanza& message, std::string_view by);
void add_stanza_id(const stanza& message, std::string_view by, std::string_view id);
// The id of the first <stanza-id/> whose `by` is `by`, or empty.
std::string stanza_id(const stanza& message, std::string_view by);

// XEP-0082 date-time ("1969-07-21T02:56:15Z", fractions of a second and offsets allowed) as unix microseconds;
// nullopt for a date that does not exist (Feb 30, Feb 29 of a common year).
std::optional<std::int64_t> parse_datetime(std::string_view text);
// Unix microseconds as "2026-12-07T05:15:15.123456Z" (no fraction when it is zero).
std::string format_datetime(std::int64_t unix_us);

}  // namespace hush::mam
