#pragma once
// XEP-0363 HTTP File Upload, the payloads: a client's slot <request/>, the service's <slot/> (where to PUT, with
// which headers, and where the file will be fetched from), and the <file-too-large/> error extension. One parser
// and one serializer each; what is allowed is the service's business (server/upload/).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

namespace hush::http_upload {

inline constexpr std::string_view ns = "urn:xmpp:http:upload:0";

// <request xmlns='urn:xmpp:http:upload:0' filename='…' size='…' content-type='…'/>
struct slot_request {
    std::string filename;
    std::uint64_t size = 0;
    std::string content_type;  // "" when the client named none (the attribute is optional)

    bool operator==(const slot_request&) const = default;
};
// nullopt: not a <request/> of this namespace, no filename, or a size that is not a whole number.
std::optional<slot_request> parse_request(pugi::xml_node request);
pugi::xml_node write_request(pugi::xml_node parent, const slot_request& r);

// A header the client must send with its PUT. XEP-0363 §4 allows three: Authorization, Cookie, Expires.
struct header {
    std::string name;
    std::string value;

    bool operator==(const header&) const = default;
};
bool allowed_header(std::string_view name);  // case-insensitive

// <slot><put url='…'><header name='…'>…</header>…</put><get url='…'/></slot>
struct slot {
    std::string put_url;
    std::vector<header> put_headers;
    std::string get_url;

    bool operator==(const slot&) const = default;
};
// nullopt without both URLs. Headers other than the allowed three, and values with a line break (which would
// smuggle more headers into the request), are dropped, as §4 tells clients to.
std::optional<slot> parse_slot(pugi::xml_node slot);
pugi::xml_node write_slot(pugi::xml_node parent, const slot& s);

// <file-too-large><max-file-size>N</max-file-size></file-too-large>, inside an <error/>.
std::optional<std::uint64_t> parse_file_too_large(pugi::xml_node error);
pugi::xml_node write_file_too_large(pugi::xml_node error, std::uint64_t max_file_size);

}  // namespace hush::http_upload
