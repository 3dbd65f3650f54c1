#pragma once
// XEP-0220 Server Dialback: key generation and checking (XEP-0185), the <db:result/> and <db:verify/> elements,
// and the urn:xmpp:features:dialback stream feature. Pure protocol: no sessions, no I/O.
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include <pugixml.hpp>

#include "protocol/expected.hpp"
#include "protocol/stanza.hpp"

namespace hush {

namespace dialback_ns {
inline constexpr std::string_view elements = "jabber:server:dialback";
inline constexpr std::string_view feature = "urn:xmpp:features:dialback";
}  // namespace dialback_ns

// XEP-0220 §2.4.1: a server speaking dialback declares the prefix on its stream header. The serializers below
// emit "db:"-prefixed elements (some deployments accept nothing else), so every stream that carries them must
// have this declaration on the header we sent.
inline constexpr std::string_view dialback_prefix_declaration = "xmlns:db='jabber:server:dialback'";

// XEP-0220 §2.4.2 stream feature: we handle dialback errors gracefully (and so accept target multiplexing).
inline constexpr std::string_view dialback_feature = "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>";

// XEP-0185: hex(HMAC-SHA256(key = hex(SHA256(secret)), receiving + ' ' + originating + ' ' + stream_id)),
// 64 lower-case hex digits. Domains as they appear in the dialback element's to/from attributes.
std::string dialback_key(std::string_view secret, std::string_view receiving, std::string_view originating,
                         std::string_view stream_id);

// Recomputes the key and compares it with `presented` in constant time (the Authoritative Server's check).
bool verify_dialback_key(std::string_view secret, std::string_view receiving, std::string_view originating,
                         std::string_view stream_id, std::string_view presented);

// The 'type' attribute; `request` is its absence (the element then carries a key).
enum class dialback_type { request, valid, invalid, error };
std::string_view dialback_type_name(dialback_type type);  // "" for request

// XEP-0220 §2.4 dialback error: <error type=..><condition xmlns=stanzas/>[<text/>]</error>.
struct dialback_error {
    std::string condition = "undefined-condition";  // e.g. item-not-found, remote-server-not-found
    error_type type = error_type::cancel;
    std::string text;

    bool operator==(const dialback_error&) const = default;
};

// <db:result from to [type]>key</db:result>
struct dialback_result {
    std::string from;  // normalized domains (nameprep)
    std::string to;
    dialback_type type = dialback_type::request;
    std::string key;       // requests only; surrounding whitespace trimmed
    dialback_error error;  // type == error only

    bool operator==(const dialback_result&) const = default;
};

// <db:verify from to id [type]>key</db:verify>
struct dialback_verify {
    std::string from;
    std::string to;
    std::string id;  // the stream ID the key was generated for
    dialback_type type = dialback_type::request;
    std::string key;
    dialback_error error;

    bool operator==(const dialback_verify&) const = default;
};

// Longest key accepted: XEP-0185 keys are 64 hex digits; others' keys are opaque but need not be long.
inline constexpr std::size_t max_dialback_key_size = 1024;

// Which dialback element `node` is, if any. The namespace comes from an xmlns attribute on the element (how our
// stream parser hands them over) or from a prefix declared on it or an ancestor.
enum class dialback_element { none, result, verify };
dialback_element classify_dialback(pugi::xml_node node);

// Parsing. Failures carry the stream error to close with: improper-addressing for a missing or malformed
// from/to (RFC 6120 §4.9.3.7), bad-format otherwise. Lenient where a peer's slip costs nothing: text next to a
// valid/invalid type is ignored, and an error without a recognizable condition reads as undefined-condition.
hush::expected<dialback_result, stream_error> parse_dialback_result(pugi::xml_node node);
hush::expected<dialback_verify, stream_error> parse_dialback_verify(pugi::xml_node node);
// Either element (monostate: `node` is no dialback element), for streams that accept both.
using dialback_element_value = std::variant<std::monostate, dialback_result, dialback_verify>;
hush::expected<dialback_element_value, stream_error> parse_dialback(pugi::xml_node node);

// Serialization: appends a "db:"-prefixed element to `parent` (see dialback_prefix_declaration) and returns it;
// the key for requests, an <error/> (in the stream's default namespace) for errors, nothing otherwise.
pugi::xml_node append_dialback(pugi::xml_node parent, const dialback_result& result);
pugi::xml_node append_dialback(pugi::xml_node parent, const dialback_verify& verify);
// The same as one string for the wire.
std::string serialize_dialback(const dialback_result& result);
std::string serialize_dialback(const dialback_verify& verify);

// Answers: from/to swapped (and the id kept), no key, the given type; `error` only for dialback_type::error.
dialback_result answer_dialback(const dialback_result& request, dialback_type type, dialback_error error = {});
dialback_verify answer_dialback(const dialback_verify& request, dialback_type type, dialback_error error = {});

// Whether a peer's <stream:features/> advertise XEP-0220 dialback error handling (the feature with <errors/>).
bool offers_dialback_errors(pugi::xml_node features);
// Appends our feature element to a <stream:features/> node.
void append_dialback_feature(pugi::xml_node features);

}  // namespace hush
