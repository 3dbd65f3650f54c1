#pragma once
// XEP-0115 Entity Capabilities: the <c/> a presence announces, the verification string (§5.1) of a disco#info
// answer and its hash, and the checks §5.4 makes before an answer may be cached. The server's own caps (stream
// features) and the cache of its users' and contacts' caps (server/pubsub/caps_cache) both use these.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "protocol/expected.hpp"
#include "protocol/stanza.hpp"

namespace hush::caps {

inline constexpr std::string_view caps_ns = "http://jabber.org/protocol/caps";

// <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='…' ver='…'/>. `hash` empty: a legacy (pre-1.5)
// announcement, whose ver is no hash at all.
struct announcement {
    std::string hash;
    std::string node;
    std::string ver;
};
// The presence's <c/>; nullopt when there is none or it lacks node or ver.
std::optional<announcement> parse(const stanza& presence);

struct identity {
    std::string category;
    std::string type;
    std::string lang;  // xml:lang
    std::string name;
};
// A field of an XEP-0128 extended form (FORM_TYPE excluded).
struct form_field {
    std::string var;
    std::vector<std::string> values;
};
struct form {
    std::string form_type;
    std::vector<form_field> fields;
};
struct disco_info {
    std::vector<identity> identities;
    std::vector<std::string> features;
    std::vector<form> forms;  // only those with a hidden FORM_TYPE (§5.4 3.6)
};

// Reads a disco#info <query/>. The error (why) when XEP-0115 §5.4 says the answer must not be cached: a duplicate
// identity or feature, two forms with one FORM_TYPE, a FORM_TYPE with differing values; and when the answer is
// not a disco#info query. A form whose FORM_TYPE is not hidden is left out (§5.4 3.6).
expected<disco_info, std::string> read_disco_info(pugi::xml_node query);

// §5.1: identities "category/type/lang/name<" sorted, features "<" sorted, then each form by FORM_TYPE with its
// fields by var and each field's values sorted.
std::string verification_string(const disco_info& info);

// The hash functions of the IANA registry XEP-0115 names them by ("sha-1", "sha-224", "sha-256", "sha-384",
// "sha-512"); md5 is refused as unknown.
bool known_algorithm(std::string_view algorithm);
// Base64 of the hash of `info`'s verification string; nullopt for an unknown algorithm.
std::optional<std::string> ver(std::string_view algorithm, const disco_info& info);

}  // namespace hush::caps
