#pragma once
// RFC 3986 §2.1 percent-encoding, for what travels in URLs: XMPP URIs (RFC 5122), upload slots' paths (XEP-0363)
// and the admin API's path segments.
#include <optional>
#include <string>
#include <string_view>

namespace hush {

// Everything but the unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~") encoded: safe as one path segment.
std::string percent_encode(std::string_view s);
// nullopt for a malformed escape ("%", "%4", "%zz").
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace hush
